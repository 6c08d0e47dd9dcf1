"""``trt-agent redact-map``: every name in the inputs with its pseudonym (or only the asked ones).

Local only: it needs the key, reads files on this machine and prints to the terminal."""

from __future__ import annotations

import argparse
import glob
import sys

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, Inputs
from trt_agent.config import Config
from trt_agent.parse import ParseStats
from trt_agent.redact import NullRedactor, Redactor, learnable_names


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    remap = sub.add_parser(
        "redact-map",
        parents=[common],
        help="map pseudonyms back to names (needs the redaction key; reads the given files or [[logs]])",
    )
    remap.add_argument("--pseudonym", "-p", action="append", default=[], help="pseudonym to look up (repeat)")


def _configured_files(config: Config) -> list[str]:
    return sorted({path for source in config.logs for path in glob.glob(source.path)})


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """0; 2 without the key, with an input that could not be read, or a pseudonym not found."""
    if isinstance(redactor, NullRedactor):  # no key: no pseudonym to map back
        print("trt-agent: redact-map needs [redaction] enabled with its key (-c CONFIG)", file=sys.stderr)
        return EXIT_BAD_INPUT
    files = args.files or _configured_files(config)  # (none named: the [[logs]] files)
    stats = ParseStats()
    inputs = Inputs(files, args.engine, config, stats)
    names: set[str] = set()
    for event in inputs:
        names.update(learnable_names(event))
    wanted = set(args.pseudonym)
    found = 0
    for name in sorted(names):
        pseudonym = redactor.name(name)
        if pseudonym != name and (not wanted or pseudonym in wanted):
            print(f"{pseudonym}\t{name}")
            found += 1
    missing = wanted - {redactor.name(n) for n in names}
    for pseudonym in sorted(missing):
        print(f"trt-agent: {pseudonym}: no name in these inputs has this pseudonym", file=sys.stderr)
    return EXIT_BAD_INPUT if missing or inputs.failed else EXIT_OK
