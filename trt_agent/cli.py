"""The ``trt-agent`` command line. Offline commands run the same pipeline as the daemon.

When the reader of stdout goes away (``trt-agent parse big.log | head``), an offline command
stops quietly with exit 0, as ``head`` asked for no more: no traceback, no error line.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from trt_agent import __version__
from trt_agent.config import Config, ConfigError, load_config
from trt_agent.logs import configure_logging, get_logger
from trt_agent.model import EngineModel, build_models
from trt_agent.model.diff import Tolerances, diff_models
from trt_agent.parse import ParseStats, parse_path
from trt_agent.parse.artifacts import ArtifactError
from trt_agent.progress import Progress
from trt_agent.redact import Redactor, learnable_names, load_redactor
from trt_agent.reports.diff import diff_json, diff_text
from trt_agent.reports.html import LatencySeries, diff_html, report_html
from trt_agent.reports.rule_results import redacted, results_json, results_junit, results_text
from trt_agent.reports.summary import report_json, report_text
from trt_agent.rules import (
    Baseline,
    Result,
    RuleSet,
    evaluate,
    gate,
    load_baseline,
    load_rules,
    strict,
)
from trt_agent.sinks.jsonl import JsonlWriter
from trt_agent.text import few
from trt_agent.vocab.events import Event

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _versions() -> str:
    lines = [f"trt-agent {__version__}"]
    try:
        import tensorrt  # type: ignore[import-not-found,unused-ignore]

        # ``tensorrt-stubs`` alone leaves a ``tensorrt`` namespace package without a version
        version = getattr(tensorrt, "__version__", None)
    except (ImportError, OSError):  # OSError: the wheel is there, its CUDA libraries are not
        version = None
    lines.append(f"tensorrt {version}" if version else "tensorrt not installed")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """``--version``: looks for TensorRT only when asked (importing it is slow, and it may be broken)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print versions and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(_versions())
        parser.exit()


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trt-agent",
        description="Make TensorRT's optimisation decisions and runtime behaviour observable.",
    )
    parser.add_argument("--version", action=_VersionAction)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="TOML config (same file as the daemon)")
    common.add_argument(
        "--engine", help="engine/build id for every input (default: from config, else file name)"
    )
    common.add_argument(
        "files", nargs="*", default=["-"], help="log, calibration cache or JSON artifact; - = stdin"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("parse", parents=[common], help="print one JSON event per line")
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
    remap = sub.add_parser(
        "redact-map",
        parents=[common],
        help="map pseudonyms back to names (needs the redaction key; reads the given files or [[logs]])",
    )
    remap.add_argument("--pseudonym", "-p", action="append", default=[], help="pseudonym to look up (repeat)")
    prof = sub.add_parser(
        "profile",
        help="run ENGINE on the GPU with the profiler; per-layer median/p90/p99 (needs the [gpu] extra)",
    )
    prof.add_argument("engine_file", metavar="ENGINE", help="serialized TensorRT engine (.plan / .engine)")
    prof.add_argument("-c", "--config", help="TOML config ([redaction]; [profiler] shapes and inputs)")
    prof.add_argument("--iterations", type=int, default=100, help="profiled inferences (default 100)")
    prof.add_argument("--warmup", type=int, default=10, help="inferences before profiling (default 10)")
    prof.add_argument(
        "--shapes",
        help="input shapes for dynamic inputs: name:1x3x224x224[,name2:...] (default: profile 0's opt)",
    )
    prof.add_argument("--inputs", help=".npz with one array per input (default: random within [-1, 1])")
    prof.add_argument("--engine-id", help="engine id in the output (default: the file name)")
    prof.add_argument("--json", action="store_true", help="machine-readable JSON instead of the table")
    run = sub.add_parser("run", help="the daemon: tail [[logs]], serve metrics, write events")
    run.add_argument("-c", "--config", required=True, help="TOML config")
    return parser


class _Inputs:
    """Events of every input file, in order; unreadable files are reported and remembered."""

    def __init__(
        self,
        files: Sequence[str],
        engine: str | None,
        config: Config,
        stats: ParseStats,
        before_read: Callable[[], None] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.files = files
        self.redactor = redactor
        self.before_read = before_read
        self.engine = engine
        self.config = config
        self.stats = stats
        self.failed = False
        self.log = get_logger("trt_agent.cli")

    def __iter__(self) -> Iterator[Event]:
        for path in self.files:
            engine = self.engine or self.config.engine_for(path)
            before = self.stats.bytes
            cut, invalid = self.stats.truncated_lines, self.stats.invalid_utf8_lines
            try:
                yield from parse_path(
                    path,
                    engine,
                    self.stats,
                    max_line_bytes=self.config.max_line_bytes,
                    before_read=self.before_read,
                )
            except (FileNotFoundError, PermissionError, IsADirectoryError, ArtifactError) as exc:
                self.failed = True
                reason = exc if isinstance(exc, ArtifactError) else f"{path}: {exc.strerror}"
                text = str(reason) if self.redactor is None else self.redactor.text(str(reason))
                print(f"trt-agent: {text}", file=sys.stderr)
                continue
            if self.stats.bytes == before:
                self.log.warning("empty input", file=path)
            # per file, named: with several inputs, "3 lines were cut" alone says not where
            if self.stats.truncated_lines > cut:
                self.log.warning(
                    "lines longer than max_line_bytes were cut",
                    file=path,
                    count=self.stats.truncated_lines - cut,
                    max_line_bytes=self.config.max_line_bytes,
                )
            if self.stats.invalid_utf8_lines > invalid:
                self.log.warning(
                    "invalid UTF-8 replaced with U+FFFD",
                    file=path,
                    lines=self.stats.invalid_utf8_lines - invalid,
                )


def _reader_gone() -> int:
    """stdout's reader went away (``| head``): it wants no more, which is no error of ours.
    stdout is pointed at /dev/null so that Python's flush at exit does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        from trt_agent.daemon import run

        return run(args.config)
    try:
        return _offline(args)
    except BrokenPipeError:
        return _reader_gone()


def _offline(args: argparse.Namespace) -> int:
    """Every command but ``run``."""
    try:
        config = load_config(args.config) if args.config else Config()
        redactor = load_redactor(config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(config.log_level, config.log_format, redactor)
    if args.command == "redact-map":
        return _redact_map(args, config, redactor)
    if args.command == "check":
        return _check(args, config, redactor)
    if args.command == "diff":
        return _diff(args, config, redactor)
    if args.command == "profile":
        return _profile(args, config, redactor)
    if args.command == "parse":
        return _parse(args, config, redactor)
    return _report(args, config, redactor)


def _progress(stats: ParseStats, streams_to_stdout: bool) -> Progress:
    """Progress on a terminal's stderr, unless the output streams to that terminal too (the
    line would be torn by every event printed)."""
    return Progress(stats, enabled=sys.stderr.isatty() and not (streams_to_stdout and sys.stdout.isatty()))


def _parse(args: argparse.Namespace, config: Config, redactor: Redactor | None) -> int:
    """``parse``: one JSON event per line, streamed (flushed before each read that may block)."""
    stats = ParseStats()
    writer = JsonlWriter(sys.stdout.buffer, redactor=redactor)
    inputs = _Inputs(args.files, args.engine, config, stats, writer.flush, redactor)
    try:
        with _progress(stats, streams_to_stdout=True):
            for event in inputs:
                writer.write(event)
            writer.flush()
    except KeyboardInterrupt:
        return 130
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK


def _report_rules(args: argparse.Namespace, config: Config) -> tuple[RuleSet | None, Baseline | None]:
    """``report --rules`` / ``--baseline``, read before any input: a wrong path is exit 2 at once,
    never a report that silently left the rules out."""
    baseline = load_baseline(args.baseline, config.max_line_bytes)
    return (load_rules(args.rules) if args.rules else None), baseline


def _report(args: argparse.Namespace, config: Config, redactor: Redactor | None) -> int:
    """``report``: the per-engine summary (text or --json), with the rule results under --rules,
    and the HTML page under --html."""
    try:
        rules, baseline = _report_rules(args, config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stats = ParseStats()
    inputs = _Inputs(args.files, args.engine, config, stats, None, redactor)
    series = LatencySeries()
    try:
        with _progress(stats, streams_to_stdout=False):
            models = build_models(series.watch(_learning(inputs, redactor)))
    except KeyboardInterrupt:
        return 130
    results = redacted(evaluate(rules, models, baseline), redactor) if rules is not None else None
    if args.json:
        sys.stdout.buffer.write(report_json(models, stats.as_dict(), redactor, results))
    else:
        sys.stdout.write(report_text(models, stats.as_dict(), redactor, results))
    sys.stdout.flush()
    if args.html:
        page = report_html(models, series, results or [], redactor)
        if not _write(args.html, page.encode(), redactor):
            return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK


def _learning(events: Iterable[Event], redactor: Redactor | None) -> Iterator[Event]:
    """Pass ``events`` through, teaching the redactor their names (for free-text outputs)."""
    for event in events:
        if redactor is not None:
            redactor.learn_events((event,))
        yield event


def _write(path: str, data: bytes, redactor: Redactor | None = None) -> bool:
    """Write an output file whole (a reader never sees half a report). False, with one line on
    stderr, when it cannot be written (a missing directory, permission denied, a full disk)."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        text = f"{path}: cannot write the output: {exc.strerror or exc}"
        print(f"trt-agent: {redactor.text(text) if redactor is not None else text}", file=sys.stderr)
        return False
    return True


def _check(args: argparse.Namespace, config: Config, redactor: Redactor | None) -> int:
    """``check``: rules on every engine of the inputs; 0 pass, 1 a rule of severity error
    failed, 2 bad rules/config/input (no verdict is given on input that could not be read)."""
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
    inputs = _Inputs(args.files, args.engine, config, stats, redactor=redactor)
    models = build_models(_learning(inputs, redactor))
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
        if not _write(args.output, data, redactor):
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


def _side(path: str, label: str, config: Config, redactor: Redactor | None) -> tuple[_Inputs, list[str]]:
    """The files of one side of ``diff``: the file, or the regular files of the directory."""
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f) for f in os.listdir(path) if os.path.isfile(os.path.join(path, f))
        )
    else:
        files = [path]
    return _Inputs(files, label, config, ParseStats(), redactor=redactor), files


def _diff(args: argparse.Namespace, config: Config, redactor: Redactor | None) -> int:
    """``diff BASE NEW``: 0 no regression, 1 regressions, 2 unreadable input."""
    series = LatencySeries()
    sides: list[EngineModel] = []
    for path in (args.base, args.new):
        label = os.path.basename(os.path.normpath(path)) or path
        if sides and label == sides[0].engine:
            label += " (new)"
        inputs, _ = _side(path, label, config, redactor)
        # every input of a side is one build, whatever engine ids an event stream carries
        events = ({**e, "engine": label} for e in _learning(inputs, redactor))
        merged = build_models(series.watch(events))
        if inputs.failed:
            return EXIT_BAD_INPUT
        if label not in merged:  # an empty file or directory: "no regression" would be no verdict
            text = f"{'NEW' if sides else 'BASE'} {path} holds no TensorRT facts to compare"
            print(f"trt-agent: diff: {redactor.text(text) if redactor else text}", file=sys.stderr)
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
    if args.html and not _write(args.html, diff_html(base, new, result, series, redactor).encode(), redactor):
        return EXIT_BAD_INPUT
    return EXIT_FAILED if result.regressions else EXIT_OK


def _redact_map(args: argparse.Namespace, config: Config, redactor: Redactor | None) -> int:
    """``redact-map``: every name in the inputs with its pseudonym (or only the asked ones).

    Local only: it needs the key, reads files on this machine and prints to the terminal."""
    if redactor is None:
        print("trt-agent: redact-map needs [redaction] enabled with its key (-c CONFIG)", file=sys.stderr)
        return EXIT_BAD_INPUT
    files = args.files if args.files != ["-"] or not config.logs else _configured_files(config)
    stats = ParseStats()
    inputs = _Inputs(files, args.engine, config, stats)
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


def _configured_files(config: Config) -> list[str]:
    import glob

    return sorted({path for source in config.logs for path in glob.glob(source.path)})


def _shapes(text: str | None) -> dict[str, tuple[int, ...]]:
    """``input:1x3x224x224,mask:1x128`` -> {name: shape} (trtexec's --shapes spelling)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in filter(None, (text or "").split(",")):
        name, sep, dims = item.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise ConfigError(f"--shapes {item!r}: expected name:1x3x224x224")
        shapes[name] = shape
    return shapes


def _profile(args: argparse.Namespace, config: Config, redactor: Redactor | None) -> int:
    """``profile ENGINE``: 0 done; 2 no TensorRT/GPU, an engine it cannot load, bad options."""
    from trt_agent.config import ProfilerConfig
    from trt_agent.reports.profile_table import profile_json, profile_rows, profile_text
    from trt_agent.sources.profiler import ProfilerError, run_profile

    if not os.path.isfile(args.engine_file):  # before TensorRT is looked for: the first thing to fix
        reason = "no such file" if not os.path.exists(args.engine_file) else "not a file"
        text = f"{args.engine_file}: {reason}"
        print(f"trt-agent: {redactor.text(text) if redactor else text}", file=sys.stderr)
        return EXIT_BAD_INPUT
    base = config.profiler
    try:
        shapes = (base.shapes if base else {}) | _shapes(args.shapes)
        if args.iterations < 1 or args.warmup < 0:
            raise ConfigError("--iterations must be at least 1 and --warmup 0 or more")
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine_id = args.engine_id or os.path.splitext(os.path.basename(args.engine_file))[0]
    settings = ProfilerConfig(
        engine_file=args.engine_file,
        engine_id=engine_id,
        shapes=shapes,
        inputs=args.inputs or (base.inputs if base else "random"),
        input_range=base.input_range if base else (-1.0, 1.0),
        device=base.device if base else 0,
        log_severity=base.log_severity if base else "warning",
    )
    try:
        times, events, iterations = run_profile(settings, args.iterations, warmup=args.warmup)
    except ProfilerError as exc:
        print(f"trt-agent: {redactor.text(str(exc)) if redactor else exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    models = build_models(_learning(events, redactor))
    model = models.get(engine_id) or EngineModel(engine_id)
    if redactor is not None:
        redactor.learn(times)
    for event in events:
        if event["type"] in ("warning", "error"):
            text = event.get("msg") or ""
            print(
                f"trt-agent: TensorRT {event['severity']}: {redactor.text(text) if redactor else text}",
                file=sys.stderr,
            )
    rows = profile_rows(times, model)
    if args.json:
        sys.stdout.buffer.write(profile_json(engine_id, iterations, rows, redactor))
    else:
        sys.stdout.write(profile_text(engine_id, iterations, rows, redactor))
    return EXIT_OK
