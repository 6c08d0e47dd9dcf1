"""The ``trt-agent`` command line. Offline commands run the same pipeline as the daemon.

One module per command (``parse``, ``report``, ``check``, ``diff``, ``redact_map``,
``profile``), each with its ``add_parser`` (its flags) and ``run`` (the command); ``inputs``
holds what several of them share, ``usage`` the examples and exit status of each ``--help``.
``trt-agent run`` is the daemon (``trt_agent.daemon``). Every command reads ``-c CONFIG`` with
the ``TRT_AGENT_*`` environment overrides (``trt_agent.config.overrides``) written over it.

The commands that read inputs (``parse``, ``report``, ``check``, ``redact-map``) read stdin only
when told (``-``): without an input file they print their usage and exit 2, never wait on a
terminal that nobody types into.

When the reader of stdout goes away (``trt-agent parse big.log | head``), an offline command
stops quietly with exit 0, as ``head`` asked for no more: no traceback, no error line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from trt_agent import __version__
from trt_agent.cli import check, diff, parse, profile, redact_map, report, usage
from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from trt_agent.config import LOG_LEVELS, Config, ConfigError, Override, load_config
from trt_agent.config.overrides import FLAGS, from_environment, from_flags, unknown_variables
from trt_agent.logs import configure_logging, get_logger
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


class _Parser(argparse.ArgumentParser):
    """A parser whose ``--help`` ends with the command's examples and exit status (``usage``),
    written only when asked for."""

    commands: Mapping[str, argparse.ArgumentParser]  # the top level's: name -> its parser

    def format_help(self) -> str:
        self.epilog = usage.epilog(self.prog.rsplit(" ", 1)[-1])
        return super().format_help()


def _parser() -> _Parser:
    parser = _Parser(
        prog="trt-agent",
        description="Make TensorRT's optimisation decisions and runtime behaviour observable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    # the options and inputs of the commands that read TensorRT logs and artifacts
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", help="TOML config (same file as the daemon)")
    common.add_argument(
        "--engine", help="engine/build id for every input (default: from config, else file name)"
    )
    common.add_argument(
        "files", nargs="*", default=[], help="log, calibration cache or JSON artifact; - reads stdin"
    )
    # (its parsers are _Parsers too; the commands' add_parser take any ArgumentParser's)
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )
    parse.add_parser(sub, common)
    report.add_parser(sub, common)
    check.add_parser(sub, common)
    diff.add_parser(sub)
    redact_map.add_parser(sub, common)
    profile.add_parser(sub)
    run = sub.add_parser("run", help="the daemon: tail [[logs]], serve metrics, write events")
    run.add_argument("-c", "--config", required=True, help="TOML config")
    flags = {  # (the keys they set: overrides.FLAGS)
        "--web.listen-address": ("ADDR", "host:port of /metrics; overrides [metrics] listen"),
        "--web.config.file": (
            "FILE",
            "TLS and basic auth (web-config.yml; relative: from the working directory); overrides "
            "[metrics] web_config_file",
        ),
        "--log.level": ("LEVEL", "the agent's own logs; overrides [agent] log_level"),
    }
    for flag, (metavar, text) in flags.items():
        choices = LOG_LEVELS if FLAGS[flag] == ("agent", "log_level") else None
        run.add_argument(flag, dest=flag, metavar=metavar, choices=choices, help=text)
    for subparser in sub.choices.values():
        subparser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.commands = sub.choices
    return parser


def _reader_gone() -> int:
    """stdout's reader went away (``| head``): it wants no more, which is no error of ours.
    stdout is pointed at /dev/null so that Python's flush at exit does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def _overrides(args: argparse.Namespace) -> list[Override]:
    """The keys the environment and (``run``) the flags set over the config file, flags last."""
    flags = {flag: getattr(args, flag, None) for flag in FLAGS}
    return [*from_environment(os.environ), *from_flags(flags)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        overrides = _overrides(args)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "run":
        from trt_agent.daemon import run

        return run(args.config, overrides)
    try:
        return _offline(args, overrides, parser)
    except BrokenPipeError:
        return _reader_gone()


def _no_input(args: argparse.Namespace, config: Config, parser: _Parser) -> bool:
    """No input file named (and, for redact-map, no [[logs]] either): the command's usage and a
    hint on stderr. stdin is read only when asked for with ``-``."""
    if getattr(args, "files", None) != [] or (args.command == "redact-map" and config.logs):
        return False
    parser.commands[args.command].print_usage(sys.stderr)
    print(
        f"trt-agent {args.command}: no input file: name the files to read, or - to read stdin",
        file=sys.stderr,
    )
    return True


def _offline(args: argparse.Namespace, overrides: list[Override], parser: _Parser) -> int:
    """Every command but ``run``: the config and its redactor, then the command."""
    try:
        config = load_config(args.config, overrides) if args.config or overrides else Config()
        redactor = load_redactor(config)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if _no_input(args, config, parser):
        return EXIT_BAD_INPUT
    configure_logging(config.log_level, config.log_format, redactor, deferred=True)
    log = get_logger("trt_agent.cli")
    for warning in unknown_variables(os.environ, config):
        log.warning(warning)
    # with [redaction] off the commands get the null redactor (names stay as they are), never
    # None; the agent's own logs keep None: no scrubbing step at all
    return OFFLINE[args.command](args, config, redactor or NULL_REDACTOR)
