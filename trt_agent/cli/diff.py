"""``trt-agent diff BASE NEW``: build A against build B; exit 1 when NEW regressed."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Inputs, learning, write_file
from trt_agent.config import Config
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor

if TYPE_CHECKING:  # (imported by run: every other command starts without them)
    from trt_agent.model import EngineModel


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
    diff = sub.add_parser("diff", help="build A vs build B: exit 1 when NEW regressed")
    diff.add_argument("base", metavar="BASE", help="BASE build: a file, or a directory of its artifacts")
    diff.add_argument("new", metavar="NEW", help="NEW build: a file, or a directory of its artifacts")
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


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """0 no regression, 1 regressions, 2 unreadable input."""
    from trt_agent.model import build_models
    from trt_agent.model.diff import Tolerances, diff_models
    from trt_agent.reports.diff import diff_json, diff_text
    from trt_agent.reports.html import LatencySeries, diff_html

    series = LatencySeries()
    sides: list[EngineModel] = []
    for path in (args.base, args.new):
        label = os.path.basename(os.path.normpath(path)) or path
        if sides and label == sides[0].engine:
            label += " (new)"
        inputs = _side(path, label, config, redactor)
        # every input of a side is one build, whatever engine ids an event stream carries
        events = ({**e, "engine": label} for e in learning(inputs, redactor))
        merged = build_models(series.watch(events))
        if inputs.failed:
            return EXIT_BAD_INPUT
        if label not in merged:  # an empty file or directory: "no regression" would be no verdict
            text = f"{'NEW' if sides else 'BASE'} {path} holds no TensorRT facts to compare"
            print(f"trt-agent: diff: {redactor.text(text)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        sides.append(merged[label])
    base, new = sides
    result = diff_models(
        base, new, Tolerances(latency_ratio=args.latency_tolerance, memory_ratio=args.memory_tolerance)
    )
    if args.format == "json":
        sys.stdout.buffer.write(diff_json(result, redactor))
    else:
        sys.stdout.write(diff_text(result, redactor))
    sys.stdout.flush()
    if args.html and not write_file(
        args.html, diff_html(base, new, result, series, redactor).encode(), redactor
    ):
        return EXIT_BAD_INPUT
    return EXIT_FAILED if result.regressions else EXIT_OK
