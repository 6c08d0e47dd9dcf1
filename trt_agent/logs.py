"""The agent's own logs (structlog): readable console output on a terminal, JSON lines otherwise.

Their keys are the event stream's (docs/reference/events.md): ``ts`` (RFC 3339 UTC), ``severity``
(its vocabulary, ``trt_agent.vocab.severities``: a debug line is ``verbose``) and ``msg``, so one
log pipeline reads both; structlog's own ``timestamp``, ``level`` and ``event`` are renamed. A
key of a call that has one of those names keeps its value under the name with a ``_`` after it
(``log.info("an event", msg=line)`` -> ``"msg_": line``), scrubbed like any other.

structlog (with asyncio, ~50 ms) is imported only when something is logged: the offline commands
configure with ``configure_logging(..., deferred=True)``, and their loggers (``get_logger``)
apply that configuration on their first call. A run of ``trt-agent parse`` that logs nothing
never imports it."""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

from trt_agent.vocab.severities import WORD_SEVERITY

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


# configure_logging(..., deferred=True)'s arguments, until a logger is first used
_pending: tuple[str, str, Any] | None = None


def configure_logging(
    level: str = "info", fmt: str = "auto", redactor: Any = None, *, deferred: bool = False
) -> None:
    """Send structlog output to stderr; ``fmt`` is ``auto`` (console on a TTY), ``json`` or ``console``.

    With a ``redactor`` (``trt_agent.redact.Redactor``), every string the agent logs goes
    through its scrubber first: the agent's own logs are a sink like any other.

    ``deferred``: configure (and import structlog) only when a logger of ``get_logger`` is first
    called."""
    global _pending
    if deferred:
        _pending = (level, fmt, redactor)
        return
    _pending = None
    import structlog

    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False, event_key="msg", timestamp_key="ts")
        if console
        else structlog.processors.JSONRenderer()
    )
    processors: list[Any] = [
        _own_keys_aside,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _stream_keys(console),
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


_STREAM_KEYS: Final = ("ts", "severity", "msg")


def _own_keys_aside(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A call's own ``ts``, ``severity`` or ``msg`` -> ``ts_``, ``severity_``, ``msg_``: the
    stream's keys are the log line's own."""
    for key in _STREAM_KEYS:
        if key in event:
            event[f"{key}_"] = event.pop(key)
    return event


def _stream_keys(console: bool) -> Any:
    """structlog's ``event`` and ``level`` -> the event stream's ``msg`` and ``severity``; on the
    console the severity stays under ``level``, which its renderer shows in a column of its own."""
    level_key = "level" if console else "severity"

    def rename(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        level = event.pop("level")
        head = {
            "ts": event.pop("ts", None),
            level_key: WORD_SEVERITY.get(level.upper(), level),
            "msg": event.pop("event", None),
        }
        return {**head, **event}  # in the event stream's order: ts, severity, msg, the rest

    return rename


class _Logger:
    """structlog's logger ``name``, imported and configured (a deferred ``configure_logging``)
    when first called."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if _pending is not None:
            configure_logging(*_pending)
        import structlog

        return getattr(structlog.get_logger(self._name), attr)


def get_logger(name: str) -> Any:
    return _Logger(name)


# Keys whose values are the agent's own words or the operator's own configuration, never names out
# of a log: the message itself ("empty input" must not become "empty L…" once a tensor called
# "input" was seen), and the files and directories the config names (an operator reading the
# agent's logs must recognise them; events' source.file and the metric labels keep them too).
CLEAR_LOG_KEYS: Final = frozenset(
    {
        "msg",
        "severity",
        "level",  # (the console's name of severity)
        "ts",
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
