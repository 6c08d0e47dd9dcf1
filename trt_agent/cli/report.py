"""``trt-agent report``: the per-engine summary (a table, or --json), with each engine's rule
results under --rules, and a self-contained HTML page under --html."""

from __future__ import annotations

import argparse
import sys

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, Inputs, learning, progress, write_file
from trt_agent.config import Config, ConfigError
from trt_agent.model import build_models
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor
from trt_agent.reports.html import LatencySeries, report_html
from trt_agent.reports.rule_results import redacted
from trt_agent.reports.summary import report_json, report_text
from trt_agent.rules import Baseline, RuleSet, evaluate, load_baseline, load_rules


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    report = sub.add_parser("report", parents=[common], help="per-engine summary")
    report.add_argument("--json", action="store_true", help="machine-readable JSON instead of the table")
    report.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report to OUT")
    report.add_argument(
        "--rules", help="rules file: each engine's rule results in the report (text, --json, --html)"
    )
    report.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="FILE",
        help="recorded profile layer_latency rules compare against; repeatable",
    )


def _rules(args: argparse.Namespace, config: Config) -> tuple[RuleSet | None, Baseline | None]:
    """``report --rules`` / ``--baseline``, read before any input: a wrong path is exit 2 at once,
    never a report that silently left the rules out."""
    baseline = load_baseline(args.baseline, config.max_line_bytes)
    return (load_rules(args.rules) if args.rules else None), baseline


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """The report on stdout (and in the --html file); 0, or 2 when an input, the rules or the
    page's file could not be read or written."""
    try:
        rules, baseline = _rules(args, config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stats = ParseStats()
    inputs = Inputs(args.files, args.engine, config, stats, None, redactor)
    series = LatencySeries()
    try:
        with progress(stats, streams_to_stdout=False):
            models = build_models(series.watch(learning(inputs, redactor)))
    except KeyboardInterrupt:
        return 130
    results = redacted(evaluate(rules, models, baseline), redactor) if rules is not None else None
    if args.json:
        sys.stdout.buffer.write(report_json(models, stats.as_dict(), redactor, results, series.tables))
    else:
        sys.stdout.write(report_text(models, stats.as_dict(), redactor, results, series.tables))
    sys.stdout.flush()
    if args.html:
        page = report_html(models, series, results or [], redactor)
        if not write_file(args.html, page.encode(), redactor):
            return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK
