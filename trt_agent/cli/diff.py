"""``trt-agent diff BASE NEW [MORE ...]``: build A against build B (and C …); exit 1 when a build
regressed against the first (or, ``--against previous``, the one before it)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING, Final

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Inputs, learning, write_file
from trt_agent.config import Config
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor

if TYPE_CHECKING:  # (imported by run: every other command starts without them)
    from trt_agent.model import EngineModel


# model.diff.AGAINST, copied: the engine model is imported only when diff runs (a test keeps
# the two equal)
AGAINST: Final = ("first", "previous")


def _tolerance(text: str) -> float:
    """A ``diff`` tolerance: a finite ratio, 0 or more (-1 or nan would make every change, or
    none, a regression)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite ratio, 0 or more (0.1 = 10 %), got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diff = sub.add_parser("diff", help="build A vs build B (vs C …): exit 1 when a build regressed")
    diff.add_argument("base", metavar="BASE", help="BASE build: a file, or a directory of its artifacts")
    diff.add_argument(
        "new",
        metavar="NEW",
        nargs="+",
        help="NEW build: a file, or a directory of its artifacts; more than one: more builds of "
        "the same network, shown side by side, each judged as NEW is (--against)",
    )
    diff.add_argument(
        "--against",
        choices=AGAINST,
        default="first",
        help="with three builds or more, judge each against the first (a reference build) or the "
        "one before it (a history, oldest first); default %(default)s",
    )
    diff.add_argument("-c", "--config", help="TOML config ([redaction] applies)")
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.add_argument("--html", metavar="OUT", help="also write a self-contained HTML page to OUT")
    diff.add_argument(
        "--latency-tolerance",
        type=_tolerance,
        default=0.10,
        help="a layer this much slower regresses (ratio; default %(default)s = 10 %%)",
    )
    diff.add_argument(
        "--memory-tolerance",
        type=_tolerance,
        default=0.05,
        help="memory this much larger regresses (ratio; default %(default)s = 5 %%)",
    )


def _side(path: str, label: str, config: Config, redactor: Redactor) -> Inputs:
    """The inputs of one side: the file, or the regular files of the directory."""
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f) for f in os.listdir(path) if os.path.isfile(os.path.join(path, f))
        )
    else:
        files = [path]
    return Inputs(files, label, config, ParseStats(), redactor=redactor)


def _label(path: str, taken: list[str]) -> str:
    """A build's name: its file or directory name, made unique among the builds before it."""
    label = os.path.basename(os.path.normpath(path)) or path
    unique, n = label, 1
    while unique in taken:
        n += 1
        unique = f"{label} ({n})"
    return unique


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """0 no regression, 1 regressions, 2 unreadable input."""
    from trt_agent.model import build_models
    from trt_agent.model.diff import Tolerances, diff_builds
    from trt_agent.reports.diff import builds_json, builds_text
    from trt_agent.reports.html import LatencySeries, builds_html

    series = LatencySeries()
    sides: list[EngineModel] = []
    for n, path in enumerate((args.base, *args.new)):
        label = _label(path, [m.engine for m in sides])
        inputs = _side(path, label, config, redactor)
        # every input of a side is one build, whatever engine ids an event stream carries
        events = ({**e, "engine": label} for e in learning(inputs, redactor))
        merged = build_models(series.watch(events))
        if inputs.failed:
            return EXIT_BAD_INPUT
        if label not in merged:  # an empty file or directory: "no regression" would be no verdict
            role = "BASE" if n == 0 else "NEW" if n == 1 else f"build {n + 1}"
            text = f"{role} {path} holds no TensorRT facts to compare"
            print(f"trt-agent: diff: {redactor.text(text)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        sides.append(merged[label])
    result = diff_builds(
        sides,
        [series.tables.engines.get(m.engine) for m in sides],
        Tolerances(latency_ratio=args.latency_tolerance, memory_ratio=args.memory_tolerance),
        args.against,
    )
    if args.format == "json":
        sys.stdout.buffer.write(builds_json(result, redactor))
    else:
        sys.stdout.write(builds_text(result, redactor))
    sys.stdout.flush()
    if args.html and not write_file(
        args.html, builds_html(sides, result, series, redactor).encode(), redactor
    ):
        return EXIT_BAD_INPUT
    return EXIT_FAILED if result.regressed else EXIT_OK
