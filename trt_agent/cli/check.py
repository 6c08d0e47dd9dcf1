"""``trt-agent check``: the rules on every engine of the inputs, the CI gate."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Inputs, learning, write_file
from trt_agent.config import Config, ConfigError
from trt_agent.model import build_models
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor
from trt_agent.reports.rule_results import redacted, results_json, results_junit, results_text
from trt_agent.rules import Result, evaluate, gate, load_baseline, load_rules, strict
from trt_agent.text import few


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    check = sub.add_parser("check", parents=[common], help="evaluate rules: the CI gate (exit 1 on failure)")
    check.add_argument("--rules", help="rules file (default: [rules] file of -c CONFIG)")
    check.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="FILE",
        help="recorded profile (JSON, --dumpProfile log) layer_latency rules compare against; repeatable",
    )
    check.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="text for people (default), json for scripts, junit (XML) for CI test reports",
    )
    check.add_argument("-o", "--output", metavar="FILE", help="write the result there instead of stdout")
    check.add_argument(
        "--strict",
        action="store_true",
        help="a rule of severity error that has no data to judge fails instead of being skipped",
    )


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """0 pass, 1 a rule of severity error failed, 2 bad rules/config/input (no verdict is given
    on input that could not be read)."""
    rules_path = args.rules or config.rules.file
    if not rules_path:
        print("trt-agent: check needs --rules RULES (or [rules] file in -c CONFIG)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        rules = load_rules(rules_path)
        baseline = load_baseline(args.baseline or config.rules.baseline, config.max_line_bytes)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stats = ParseStats()
    inputs = Inputs(args.files, args.engine, config, stats, redactor=redactor)
    models = build_models(learning(inputs, redactor))
    if inputs.failed:
        print("trt-agent: check: not judged, an input could not be read", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not models:
        print("trt-agent: check: the inputs hold no TensorRT facts to judge", file=sys.stderr)
        return EXIT_BAD_INPUT
    results = redacted(evaluate(rules, models, baseline), redactor)
    if args.strict:
        results = strict(results)
    formats: dict[str, Callable[[Sequence[Result], str], bytes]] = {
        "text": lambda r, p: results_text(r, p).encode(),
        "json": results_json,
        "junit": results_junit,
    }
    data = formats[args.format](results, rules_path)
    if args.output:
        # OUT first: when it cannot be written there is no verdict (a CI report step would find
        # no file), so none is printed either, only why
        if not write_file(args.output, data, redactor):
            return EXIT_BAD_INPUT
        if args.format != "text":
            sys.stdout.write(results_text(results, rules_path))
    else:
        sys.stdout.buffer.write(data)
    sys.stdout.flush()
    if not results:  # a gate that judged nothing is misconfigured, not passed
        print(
            f"trt-agent: check: no rule of {rules_path} applies to the engines of the input "
            f"({few(sorted(models))}): nothing was judged; see the rules' engines = [...]",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK if gate(results) else EXIT_FAILED
