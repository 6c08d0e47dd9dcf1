"""The agent's own logs (structlog): readable console output on a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", fmt: str = "auto", redactor: Any = None) -> None:
    """Send structlog output to stderr; ``fmt`` is ``auto`` (console on a TTY), ``json`` or ``console``.

    With a ``redactor`` (``trt_agent.redact.Redactor``), every string the agent logs goes
    through its scrubber first: the agent's own logs are a sink like any other."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False) if console else structlog.processors.JSONRenderer()
    )
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if redactor is not None:
        processors.append(structlog.processors.format_exc_info)
        processors.append(_scrubber(redactor))
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


# Keys whose values are the agent's own words or the operator's own configuration, never names out
# of a log: the message itself ("empty input" must not become "empty L…" once a tensor called
# "input" was seen), and the files and directories the config names (an operator reading the
# agent's logs must recognise them; events' source.file and the metric labels keep them too).
CLEAR_LOG_KEYS: Final = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "file",
        "path",
        "copy",
        "state_dir",
        "logs",
        "events",
        "address",
    }
)


def _scrubber(redactor: Any) -> Any:
    def scrub(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        for key, value in event.items():
            if key in CLEAR_LOG_KEYS:
                continue
            if isinstance(value, str):
                event[key] = redactor.text(value)
            elif isinstance(value, list | tuple):
                event[key] = [redactor.text(v) if isinstance(v, str) else v for v in value]
        return event

    return scrub
