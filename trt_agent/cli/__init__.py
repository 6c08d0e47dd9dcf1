"""The ``trt-agent`` command line. Offline commands run the same pipeline as the daemon.

One module per command (``parse``, ``report``, ``check``, ``diff``, ``redact_map``,
``profile``), each with its ``add_parser`` (its flags) and ``run`` (the command); ``inputs``
holds what several of them share. ``trt-agent run`` is the daemon (``trt_agent.daemon``).

When the reader of stdout goes away (``trt-agent parse big.log | head``), an offline command
stops quietly with exit 0, as ``head`` asked for no more: no traceback, no error line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from trt_agent import __version__
from trt_agent.cli import check, diff, parse, profile, redact_map, report
from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from trt_agent.config import Config, ConfigError, load_config
from trt_agent.logs import configure_logging
from trt_agent.redact import NULL_REDACTOR, Redactor, load_redactor

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "main"]

# Every command but ``run``: its name on the command line -> the function that runs it.
OFFLINE: Final[dict[str, Callable[[argparse.Namespace, Config, Redactor], int]]] = {
    "parse": parse.run,
    "report": report.run,
    "check": check.run,
    "diff": diff.run,
    "redact-map": redact_map.run,
    "profile": profile.run,
}


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trt-agent",
        description="Make TensorRT's optimisation decisions and runtime behaviour observable.",
    )
    parser.add_argument("--version", action=_VersionAction)
    # the options and inputs of the commands that read TensorRT logs and artifacts
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="TOML config (same file as the daemon)")
    common.add_argument(
        "--engine", help="engine/build id for every input (default: from config, else file name)"
    )
    common.add_argument(
        "files", nargs="*", default=["-"], help="log, calibration cache or JSON artifact; - = stdin"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parse.add_parser(sub, common)
    report.add_parser(sub, common)
    check.add_parser(sub, common)
    diff.add_parser(sub)
    redact_map.add_parser(sub, common)
    profile.add_parser(sub)
    run = sub.add_parser("run", help="the daemon: tail [[logs]], serve metrics, write events")
    run.add_argument("-c", "--config", required=True, help="TOML config")
    return parser


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
    """Every command but ``run``: the config and its redactor, then the command."""
    try:
        config = load_config(args.config) if args.config else Config()
        redactor = load_redactor(config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(config.log_level, config.log_format, redactor)
    # with [redaction] off the commands get the null redactor (names stay as they are), never
    # None; the agent's own logs keep None: no scrubbing step at all
    return OFFLINE[args.command](args, config, redactor or NULL_REDACTOR)
