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
    ) -> None:
        self.files = files
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
                print(f"trt-agent: {reason}", file=sys.stderr)
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
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(config.log_level, config.log_format)
    stats = ParseStats()
    writer = JsonlWriter(sys.stdout.buffer)
    inputs = _Inputs(
        args.files, args.engine, config, stats, writer.flush if args.command == "parse" else None
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
                    sys.stdout.buffer.write(report_json(models, stats.as_dict()))
                else:
                    sys.stdout.write(report_text(models, stats.as_dict()))
                sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK
