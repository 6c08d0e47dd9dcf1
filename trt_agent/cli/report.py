"""``trt-agent report``: the per-engine summary (a table, or JSON), with each engine's rule
results under --rules, and a self-contained HTML page under --html; or the build's metrics
(``--format prometheus|openmetrics``, labelled with ``--label``) for node_exporter's textfile
collector (``--output DIR/NAME.prom``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, Inputs, learning, progress, write_file
from trt_agent.config import Config, ConfigError
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor

if TYPE_CHECKING:  # (imported by run: every other command starts without them)
    from trt_agent.rules import Baseline, RuleSet

# trt_agent.sinks.build_metrics.FORMATS (its module, with prometheus_client, is imported only when
# report runs; tests/unit/test_cli_lazy_imports.py keeps the two equal)
FORMATS = ("prometheus", "openmetrics")

LABEL_HELP = "KEY=VALUE on every series of the build's metrics (commit, branch, build id); repeatable"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    report = sub.add_parser("report", parents=[common], help="per-engine summary")
    report.add_argument(
        "--format",
        choices=("text", "json", *FORMATS),
        help="text (the table, default), json, or the build's metrics: prometheus (text format "
        "0.0.4, for node_exporter's textfile collector) or openmetrics",
    )
    report.add_argument("--json", action="store_true", help="the same as --format json")
    report.add_argument(
        "-o", "--output", metavar="FILE", help="write the report there (atomically) instead of stdout"
    )
    report.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help=LABEL_HELP)
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
    from trt_agent.rules import load_baseline, load_rules

    baseline = load_baseline(args.baseline, config.max_line_bytes)
    return (load_rules(args.rules) if args.rules else None), baseline


def _format(args: argparse.Namespace) -> str:
    """``--format``, with ``--json`` as its shorthand; ``ConfigError`` when they disagree or
    ``--label`` is given to a format without labels."""
    if args.json and args.format not in (None, "json"):
        raise ConfigError(f"--json and --format {args.format} contradict each other")
    fmt: str = "json" if args.json else (args.format or "text")
    if args.output == "":
        raise ConfigError("-o: empty path (is the variable it came from set?)")
    if args.label and fmt not in FORMATS:
        raise ConfigError(f"--label labels the metrics of --format {' or '.join(FORMATS)}, not {fmt}")
    return fmt


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """The report on stdout or in the --output file (and in the --html file); 0, or 2 when an
    input, the rules or an output file could not be read or written."""
    from trt_agent.reports.html import LatencySeries, report_html
    from trt_agent.reports.rule_results import redacted
    from trt_agent.reports.summary import report_json, report_text
    from trt_agent.rules import evaluate
    from trt_agent.sinks.build_metrics import build_families, exposition, fold_events, parse_labels

    try:
        fmt = _format(args)
        labels = parse_labels(args.label, config)
        rules, baseline = _rules(args, config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stats = ParseStats()
    inputs = Inputs(args.files, args.engine, config, stats, None, redactor)
    series = LatencySeries()
    try:
        with progress(stats, streams_to_stdout=False):
            store = fold_events(series.watch(learning(inputs, redactor)), config)
    except KeyboardInterrupt:
        return 130
    models = store.models
    results = redacted(evaluate(rules, models, baseline), redactor) if rules is not None else None
    if fmt in FORMATS and (inputs.failed or not models):
        # a textfile or a scrape would take a partial (or empty) build for the build: the last
        # complete one stays where it is
        why = "an input could not be read" if inputs.failed else "the inputs hold no TensorRT facts"
        print(f"trt-agent: report: no metrics written, {why}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if fmt in FORMATS:
        data = exposition(build_families(store, config, redactor, results, labels), fmt)
    elif fmt == "json":
        data = report_json(models, stats.as_dict(), redactor, results, series.tables)
    else:
        data = report_text(models, stats.as_dict(), redactor, results, series.tables).encode()
    if args.output:
        if not write_file(args.output, data, redactor):
            return EXIT_BAD_INPUT
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if args.html:
        page = report_html(models, series, results or [], redactor)
        if not write_file(args.html, page.encode(), redactor):
            return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK
