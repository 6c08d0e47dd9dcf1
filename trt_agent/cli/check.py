"""``trt-agent check``: the rules on every engine of the inputs, the CI gate; with ``--push``,
the build's figures and rule results to a Pushgateway, so every CI build leaves its history."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from trt_agent.cli.inputs import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PUSH_FAILED,
    Inputs,
    learning,
    write_file,
)
from trt_agent.cli.report import LABEL_HELP
from trt_agent.config import Config, ConfigError
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor
from trt_agent.text import few

if TYPE_CHECKING:  # (imported by run: every other command starts without them)
    from trt_agent.model.store import EngineStore
    from trt_agent.rules import Result
    from trt_agent.web.client_config import ClientConfig

DEFAULT_JOB = "trt-agent-check"
# trt_agent.sinks.pushgateway.TIMEOUT_SECONDS (its module, with prometheus_client, is imported
# only when check runs; tests/unit/test_cli_lazy_imports.py keeps the two equal)
TIMEOUT_SECONDS = 30.0


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
    check.add_argument(
        "--push",
        metavar="URL",
        help="also push the build's figures and rule results to the Pushgateway at URL (one group "
        "per engine: job and engine; a failed push is exit 3 when the gate passed)",
    )
    check.add_argument("--job", help=f"the pushed group's job label (default {DEFAULT_JOB})")
    check.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help=LABEL_HELP)
    check.add_argument(
        "--push.timeout",
        dest="push_timeout",
        type=float,
        metavar="SECONDS",
        help=f"how long one engine's push may take (default {TIMEOUT_SECONDS:g})",
    )
    check.add_argument(
        "--push.config.file",
        dest="push_config_file",
        metavar="FILE",
        help="basic auth and TLS of the push (YAML: basic_auth and tls_config as in a Prometheus "
        "scrape config; docs/ci.md)",
    )


def _push_settings(args: argparse.Namespace, config: Config) -> tuple[dict[str, str], ClientConfig | None]:
    """``--label`` and ``--push.config.file``, checked before any input is read (a typo is exit 2
    at once, not after a long parse)."""
    from trt_agent.sinks.build_metrics import parse_labels
    from trt_agent.sinks.pushgateway import gateway_url
    from trt_agent.web.client_config import load_client_config

    if args.output == "":
        raise ConfigError("-o: empty path (is the variable it came from set?)")
    if args.push is None:
        given = (args.label, args.push_config_file, args.job is not None, args.push_timeout is not None)
        if any(given):
            raise ConfigError("--job, --label, --push.timeout and --push.config.file go with --push URL")
        return {}, None
    args.push = gateway_url(args.push)
    args.job = DEFAULT_JOB if args.job is None else args.job
    args.push_timeout = TIMEOUT_SECONDS if args.push_timeout is None else args.push_timeout
    if not args.job:
        raise ConfigError("--job must not be empty")
    if not 0 < args.push_timeout <= 3600:
        raise ConfigError(f"--push.timeout must be in (0, 3600] seconds, got {args.push_timeout:g}")
    labels = parse_labels(args.label, config)
    client = load_client_config(args.push_config_file) if args.push_config_file else None
    if client is not None and client.ssl_context is not None and not args.push.lower().startswith("https://"):
        # the TLS settings would go unused, and basic auth with them in cleartext
        raise ConfigError(
            f"--push.config.file {args.push_config_file}: tls_config is set but --push is no https:// URL"
        )
    return labels, client


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """0 pass, 1 a rule of severity error failed, 2 bad rules/config/input (no verdict is given
    on input that could not be read), 3 the gate passed but ``--push`` failed (a failed gate
    is 1 whether or not its push worked: the verdict comes first)."""
    from trt_agent.reports.rule_results import redacted, results_json, results_junit, results_text
    from trt_agent.rules import evaluate, gate, load_baseline, load_rules, strict
    from trt_agent.sinks.build_metrics import fold_events

    rules_path = args.rules or config.rules.file
    if not rules_path:
        print("trt-agent: check needs --rules RULES (or [rules] file in -c CONFIG)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        rules = load_rules(rules_path)
        baseline = load_baseline(args.baseline or config.rules.baseline, config.max_line_bytes)
        labels, client = _push_settings(args, config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stats = ParseStats()
    inputs = Inputs(args.files, args.engine, config, stats, redactor=redactor)
    store = fold_events(learning(inputs, redactor), config)
    models = store.models
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
    passed = gate(results)
    if args.push is not None and not _pushed(args, store, config, redactor, results, labels, client):
        return EXIT_PUSH_FAILED if passed else EXIT_FAILED
    return EXIT_OK if passed else EXIT_FAILED


def _pushed(
    args: argparse.Namespace,
    store: EngineStore,
    config: Config,
    redactor: Redactor,
    results: Sequence[Result],
    labels: dict[str, str],
    client: ClientConfig | None,
) -> bool:
    """Push the build; one line on stderr says what was pushed or why it was not."""
    from trt_agent.sinks.build_metrics import build_families
    from trt_agent.sinks.pushgateway import PushError, push

    families = build_families(store, config, redactor, results, labels)
    engines = sorted(store.models)
    try:
        push(args.push, args.job, engines, families, client, args.push_timeout)
    except PushError as exc:
        print(f"trt-agent: check: --push: {redactor.text(str(exc))}", file=sys.stderr)
        return False
    print(
        f"trt-agent: check: pushed {len(engines)} engine(s) to {args.push} (job {args.job}: {few(engines)})",
        file=sys.stderr,
    )
    return True
