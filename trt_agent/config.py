"""The TOML configuration shared by the daemon and every command (``-c CONFIG``).

Validation names the file and the key at fault (``ConfigError``); unknown keys are errors, so
a typo never silently falls back to a default.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

LOG_LEVELS: Final = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the file."""


@dataclass(frozen=True)
class LogSource:
    """One ``[[logs]]`` entry."""

    path: str
    engine: str
    read_from: str = "beginning"
    format: str = "auto"

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatch(path, self.path) or Path(path).resolve() == Path(self.path).resolve()


@dataclass(frozen=True)
class Config:
    """The validated configuration."""

    state_dir: str = "/var/lib/trt-agent"
    log_level: str = "info"
    log_format: str = "auto"
    logs: tuple[LogSource, ...] = ()
    metrics_listen: str = "127.0.0.1:9717"
    events_path: str = "-"
    redaction_enabled: bool = False
    redaction_key_file: str | None = None
    max_line_bytes: int = 1 << 20
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def engine_for(self, path: str) -> str | None:
        """The engine id ``[[logs]]`` assigns to ``path``, if any."""
        for source in self.logs:
            if source.matches(path):
                return source.engine
        return None


_SCHEMA: Final[dict[str, dict[str, type | tuple[type, ...]]]] = {
    "agent": {"state_dir": str, "log_level": str, "log_format": str, "engine": str, "max_line_bytes": int},
    "metrics": {"listen": str},
    "events": {"path": str},
    "redaction": {"enabled": bool, "key_file": str, "key_env": str, "allowlist": list, "mode": str},
    "profiler": {},
    "rules": {},
}
_LOG_KEYS: Final[dict[str, type]] = {"path": str, "engine": str, "read_from": str, "format": str}


def _check(file: str, section: str, table: Any, schema: dict[str, type | tuple[type, ...]]) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [{section}] must be a table")
    if not schema:
        return  # sections owned by components not built yet: accepted as-is
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(f"{file}: unknown key {section}.{key} (known: {', '.join(sorted(schema))})")
        expected = schema[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            name = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise ConfigError(f"{file}: {section}.{key} must be {name}, got {type(value).__name__} {value!r}")


def load_config(path: str) -> Config:
    """Read and validate the TOML file at ``path``."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except PermissionError:
        raise ConfigError(f"{path}: config file not readable (permission denied)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for section, table in raw.items():
        if section == "logs":
            continue
        if section not in _SCHEMA:
            raise ConfigError(
                f"{path}: unknown section [{section}] (known: logs, {', '.join(sorted(_SCHEMA))})"
            )
        _check(path, section, table, _SCHEMA[section])
    agent = raw.get("agent", {})
    level = agent.get("log_level", "info")
    if level not in LOG_LEVELS:
        raise ConfigError(f"{path}: agent.log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    log_format = agent.get("log_format", "auto")
    if log_format not in ("auto", "json", "console"):
        raise ConfigError(f"{path}: agent.log_format must be auto, json or console, got {log_format!r}")
    logs_raw = raw.get("logs", [])
    if not isinstance(logs_raw, list):
        raise ConfigError(f"{path}: logs must be an array of tables ([[logs]])")
    logs: list[LogSource] = []
    for index, entry in enumerate(logs_raw):
        where = f"logs[{index}]"
        _check(path, where, entry, dict(_LOG_KEYS))
        if "path" not in entry:
            raise ConfigError(f"{path}: {where}.path is required")
        read_from = entry.get("read_from", "beginning")
        if read_from not in ("beginning", "end"):
            raise ConfigError(f"{path}: {where}.read_from must be 'beginning' or 'end', got {read_from!r}")
        engine = entry.get("engine") or agent.get("engine") or Path(entry["path"]).stem
        logs.append(LogSource(entry["path"], engine, read_from, entry.get("format", "auto")))
    max_line = agent.get("max_line_bytes", 1 << 20)
    if max_line < 1024:
        raise ConfigError(f"{path}: agent.max_line_bytes must be at least 1024, got {max_line}")
    redaction = raw.get("redaction", {})
    return Config(
        state_dir=agent.get("state_dir", "/var/lib/trt-agent"),
        log_level=level,
        log_format=log_format,
        logs=tuple(logs),
        metrics_listen=raw.get("metrics", {}).get("listen", "127.0.0.1:9717"),
        events_path=raw.get("events", {}).get("path", "-"),
        redaction_enabled=redaction.get("enabled", False),
        redaction_key_file=redaction.get("key_file"),
        max_line_bytes=max_line,
        raw=raw,
    )
