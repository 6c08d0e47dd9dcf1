"""The ``trt-agent`` command line. Offline commands run the same pipeline as the daemon."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence

from trt_agent import __version__
from trt_agent.config import Config, ConfigError, load_config
from trt_agent.events import Event
from trt_agent.logs import configure_logging, get_logger
from trt_agent.model import build_models
from trt_agent.parse import ParseStats, parse_path
from trt_agent.parse.artifacts import ArtifactError
from trt_agent.progress import Progress
from trt_agent.redact import Redactor, event_names, load_redactor
from trt_agent.sinks.jsonl import JsonlWriter
from trt_agent.sinks.report import report_json, report_text

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _versions() -> str:
    lines = [f"trt-agent {__version__}"]
    try:
        import tensorrt  # type: ignore[import-not-found]

        lines.append(f"tensorrt {tensorrt.__version__}")
    except ImportError:
        lines.append("tensorrt not installed")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trt-agent",
        description="Make TensorRT's optimisation decisions and runtime behaviour observable.",
    )
    parser.add_argument("--version", action="version", version=_versions())
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
    remap = sub.add_parser(
        "redact-map",
        parents=[common],
        help="map pseudonyms back to names (needs the redaction key; reads the given files or [[logs]])",
    )
    remap.add_argument("--pseudonym", "-p", action="append", default=[], help="pseudonym to look up (repeat)")
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
        if self.stats.truncated_lines:
            self.log.warning(
                "lines longer than max_line_bytes were cut",
                count=self.stats.truncated_lines,
                max_line_bytes=self.config.max_line_bytes,
            )
        if self.stats.invalid_utf8_lines:
            self.log.warning("invalid UTF-8 replaced with U+FFFD", lines=self.stats.invalid_utf8_lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        from trt_agent.daemon import run

        return run(args.config)
    try:
        config = load_config(args.config) if args.config else Config()
        redactor = load_redactor(config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(config.log_level, config.log_format, redactor)
    if args.command == "redact-map":
        return _redact_map(args, config, redactor)
    stats = ParseStats()
    writer = JsonlWriter(sys.stdout.buffer, redactor=redactor)
    inputs = _Inputs(
        args.files, args.engine, config, stats, writer.flush if args.command == "parse" else None, redactor
    )
    try:
        with Progress(stats):
            if args.command == "parse":
                for event in inputs:
                    writer.write(event)
                writer.flush()
            else:
                models = build_models(inputs)
                if args.json:
                    sys.stdout.buffer.write(report_json(models, stats.as_dict(), redactor))
                else:
                    sys.stdout.write(report_text(models, stats.as_dict(), redactor))
                sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK


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
        names.update(event_names(event))
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
