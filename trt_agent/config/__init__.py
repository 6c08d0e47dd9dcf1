"""The TOML configuration shared by the daemon and every command (``-c CONFIG``).

Validation names the file and the key at fault (``ConfigError``); unknown keys are errors, so
a typo never silently falls back to a default.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from trt_agent.model.engine import DEFAULT_LATENCY_BUCKETS
from trt_agent.vocab.severities import SEVERITIES

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
# The longest wait a timer key may ask for (agent.poll_interval...). The threads' waits cannot
# hold much more (threading.TIMEOUT_MAX is ~292 years; inf or 1e10 raised OverflowError in the
# tailer and event writer, and the agent crash-looped); a day is already far beyond any use.
MAX_WAIT_SECONDS: Final = 86400.0


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
        """``path`` is this entry's file or matches its glob, whichever way either is spelled
        (``dir/01.log``, ``./dir/01.log`` and ``/abs/dir/01.log`` are the same file)."""
        return (
            fnmatch.fnmatch(path, self.path)
            or fnmatch.fnmatch(os.path.abspath(path), os.path.abspath(self.path))
            or Path(path).resolve() == Path(self.path).resolve()
        )


FSYNC_POLICIES: Final = ("never", "interval", "always")
WATCH_MODES: Final = ("inotify", "poll")
LOG_FORMATS: Final = ("auto", "log", "json", "calibration_cache")


@dataclass(frozen=True)
class TailConfig:
    """How ``trt-agent run`` follows files (keys of ``[agent]``)."""

    watch: str = "inotify"  # inotify (watchdog; falls back to poll if unavailable) | poll
    poll_interval: float = 1.0  # seconds; with inotify a safety re-check, else the only one
    rotate_wait: float = 5.0  # seconds a renamed/deleted file is still read after its last growth
    partial_line_timeout: float = 5.0  # a line without newline is taken as complete after this
    checkpoint_interval: float = 1.0
    shutdown_timeout: float = 10.0
    max_followed_files: int = 1000  # files open at once; more matches wait, counted (too_many_files)


@dataclass(frozen=True)
class EventsConfig:
    """The JSONL event stream of ``trt-agent run`` (``[events]``)."""

    path: str = "-"
    max_bytes: int = 100 * 1024 * 1024  # rotate at this size; 0 = never
    max_files: int = 5  # rotated files kept (events.jsonl.1 ... .N)
    fsync: str = "interval"  # never | interval (before each checkpoint) | always (every batch)
    queue_events: int = 65536  # events waiting for the writer; beyond this they are dropped, counted
    queue_bytes: int = 64 << 20  # ... and their memory (sinks.jsonl.footprint), bounded the same way


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint of ``trt-agent run`` (``[metrics]``)."""

    listen: str = "127.0.0.1:9717"
    web_config_file: str | None = None  # TLS and basic auth, exporter-toolkit web-config.yml format
    max_layer_series: int = 100  # per engine: top layers by total time; the rest -> layer="__other__"
    max_engines: int = 50  # engines beyond this (least recently updated first) are dropped
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS  # seconds
    series_ttl: float = 3600.0  # seconds; see README "Cardinality"
    max_calibration_series: int = 20  # widest calibration ranges exported per engine


REDACTION_MODES: Final = ("pseudonym", "structure", "drop")


@dataclass(frozen=True)
class RedactionConfig:
    """``[redaction]``: keyed pseudonyms for layer and tensor names in every output."""

    enabled: bool = False
    key_file: str | None = None  # the HMAC key (>= 16 bytes); or key_env names a variable holding it
    key_env: str | None = None
    allowlist: tuple[str, ...] = ()  # regexes (full match) of names that stay clear
    mode: str = "pseudonym"  # pseudonym | structure | drop
    scrub_paths: bool = True  # absolute paths and model/engine file names in free text too


@dataclass(frozen=True)
class ProfilerConfig:
    """``[profiler]``: the engine the daemon hosts and profiles (README "The TensorRT host")."""

    engine_file: str
    engine_id: str
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # input -> shape (dynamic inputs)
    inputs: str = "random"  # random | a .npz file with one array per input name
    input_range: tuple[float, float] = (-1.0, 1.0)  # random inputs are drawn from this range
    max_duty_cycle: float = 0.05  # GPU wall time spent on profiled inferences / all wall time
    max_inferences_per_second: float = 20.0
    gpu_busy_percent: float = 90.0  # NVML utilisation at which the host backs off
    busy_backoff: float = 5.0  # seconds
    reload_check_interval: float = 2.0  # seconds between looks at the engine file
    log_severity: str = "warning"  # TensorRT logger messages at or above this become events
    device: int = 0
    events_every: int = 100  # one inference in N goes to the event stream (all feed the metrics)
    ring_capacity: int = 1 << 16  # layer reports held between aggregations
    aggregate_interval: float = 0.05  # seconds


@dataclass(frozen=True)
class RulesConfig:
    """``[rules]``: the rules file the daemon evaluates (the one ``check --rules`` takes)."""

    file: str | None = None
    baseline: tuple[str, ...] = ()  # recorded profiles layer_latency rules compare against


@dataclass(frozen=True)
class Config:
    """The validated configuration."""

    state_dir: str = "/var/lib/trt-agent"
    log_level: str = "info"
    log_format: str = "auto"
    logs: tuple[LogSource, ...] = ()
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    tail: TailConfig = field(default_factory=TailConfig)
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    profiler: ProfilerConfig | None = None
    max_line_bytes: int = 1 << 20
    memory_limit_bytes: int = 0  # RSS above which verbose events are shed (0: no limit)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def engine_for(self, path: str) -> str | None:
        """The engine id ``[[logs]]`` assigns to ``path``, if any."""
        for source in self.logs:
            if source.matches(path):
                return source.engine
        return None


_SECONDS: Final = (int, float)
_SCHEMA: Final[dict[str, dict[str, type | tuple[type, ...]]]] = {
    "agent": {
        "state_dir": str,
        "log_level": str,
        "log_format": str,
        "engine": str,
        "max_line_bytes": int,
        "memory_limit_bytes": int,
        "watch": str,
        "poll_interval": _SECONDS,
        "rotate_wait": _SECONDS,
        "partial_line_timeout": _SECONDS,
        "checkpoint_interval": _SECONDS,
        "shutdown_timeout": _SECONDS,
        "max_followed_files": int,
    },
    "metrics": {
        "listen": str,
        "web_config_file": str,
        "max_layer_series": int,
        "max_engines": int,
        "latency_buckets": list,
        "series_ttl": _SECONDS,
        "max_calibration_series": int,
    },
    "events": {
        "path": str,
        "max_bytes": int,
        "max_files": int,
        "fsync": str,
        "queue_events": int,
        "queue_bytes": int,
    },
    "redaction": {
        "enabled": bool,
        "key_file": str,
        "key_env": str,
        "allowlist": list,
        "mode": str,
        "scrub_paths": bool,
    },
    "profiler": {
        "engine": str,
        "engine_id": str,
        "shapes": dict,
        "inputs": str,
        "input_range": list,
        "max_duty_cycle": (int, float),
        "max_inferences_per_second": (int, float),
        "gpu_busy_percent": (int, float),
        "busy_backoff": (int, float),
        "reload_check_interval": (int, float),
        "log_severity": str,
        "device": int,
        "events_every": int,
    },
    "rules": {"file": str, "baseline": list},
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
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            name = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise ConfigError(f"{file}: {section}.{key} must be {name}, got {type(value).__name__} {value!r}")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:  # TOML integers are 64-bit
            raise ConfigError(f"{file}: {section}.{key} is out of range, got {value}")


def read_toml(path: str, what: str, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """The TOML document at ``path``; any problem is an ``error`` naming the file (``what``:
    "config file", "rules file")."""
    try:
        with open(path, "rb") as fh:
            doc: dict[str, Any] = tomllib.load(fh)
            return doc
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except PermissionError:
        raise error(f"{path}: {what} not readable (permission denied)") from None
    except OSError as exc:  # a directory, an I/O error
        raise error(f"{path}: {what} not readable ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None


def load_config(path: str) -> Config:
    """Read and validate the TOML file at ``path``."""
    raw = read_toml(path, "config file")
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
        if not entry["path"].strip():
            raise ConfigError(f"{path}: {where}.path is empty (a file or a glob, e.g. /var/log/trt/*.log)")
        read_from = entry.get("read_from", "beginning")
        if read_from not in ("beginning", "end"):
            raise ConfigError(f"{path}: {where}.read_from must be 'beginning' or 'end', got {read_from!r}")
        fmt = entry.get("format", "auto")
        _choice(path, f"{where}.format", fmt, LOG_FORMATS)
        # A glob without an engine id names each file's engine after the file (see TailedFile).
        glob_chars = any(c in entry["path"] for c in "*?[")
        engine = (
            entry.get("engine") or agent.get("engine") or ("" if glob_chars else Path(entry["path"]).stem)
        )
        logs.append(LogSource(entry["path"], engine, read_from, fmt))
    memory_limit = agent.get("memory_limit_bytes", 0)
    if memory_limit and memory_limit < 32 << 20:
        raise ConfigError(
            f"{path}: agent.memory_limit_bytes must be 0 (no limit) or at least 33554432 (32 MiB), got {memory_limit}"
        )
    max_line = agent.get("max_line_bytes", 1 << 20)
    if max_line < 1024:
        raise ConfigError(f"{path}: agent.max_line_bytes must be at least 1024, got {max_line}")
    redaction = raw.get("redaction", {})
    _choice(path, "agent.watch", agent.get("watch", "inotify"), WATCH_MODES)
    for key in (
        "poll_interval",
        "rotate_wait",
        "partial_line_timeout",
        "checkpoint_interval",
        "shutdown_timeout",
    ):
        _wait(path, f"agent.{key}", agent.get(key, 1.0))
    if agent.get("max_followed_files", 1) < 1:
        raise ConfigError(
            f"{path}: agent.max_followed_files must be at least 1, got {agent['max_followed_files']}"
        )
    tail = TailConfig(**{k: v for k, v in agent.items() if k in TailConfig.__dataclass_fields__})
    events_raw = raw.get("events", {})
    _choice(path, "events.fsync", events_raw.get("fsync", "interval"), FSYNC_POLICIES)
    for key in ("max_bytes", "max_files"):
        if events_raw.get(key, 0) < 0:
            raise ConfigError(f"{path}: events.{key} must be 0 or more, got {events_raw[key]}")
    max_bytes = events_raw.get("max_bytes", EventsConfig.max_bytes)
    if max_bytes > 0 and events_raw.get("max_files", EventsConfig.max_files) < 1:
        raise ConfigError(
            f"{path}: events.max_files must be at least 1 when events.max_bytes rotates the event "
            f"file (max_bytes = {max_bytes}): with 0, each full file would be deleted, its events "
            "lost; set events.max_bytes = 0 to never rotate"
        )
    if events_raw.get("queue_events", 1) < 1:
        raise ConfigError(f"{path}: events.queue_events must be at least 1, got {events_raw['queue_events']}")
    if events_raw.get("queue_bytes", 1 << 20) < 1 << 20:
        raise ConfigError(
            f"{path}: events.queue_bytes must be at least 1048576 (1 MiB), got {events_raw['queue_bytes']}"
        )
    if not events_raw.get("path", "-"):
        raise ConfigError(f'{path}: events.path must be a file path or "-" (stdout)')
    metrics = _metrics(path, raw.get("metrics", {}))
    return Config(
        state_dir=agent.get("state_dir", "/var/lib/trt-agent"),
        log_level=level,
        log_format=log_format,
        logs=tuple(logs),
        metrics=metrics,
        events=EventsConfig(**events_raw),
        tail=tail,
        redaction=_redaction(path, redaction),
        rules=_rules(path, raw.get("rules", {})),
        profiler=_profiler(path, raw.get("profiler"), agent.get("engine")),
        max_line_bytes=max_line,
        memory_limit_bytes=memory_limit,
        raw=raw,
    )


def _choice(file: str, key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{file}: {key} must be one of {', '.join(allowed)}, got {value!r}")


def _finite(value: object) -> bool:
    """A number a float can hold (not a bool, NaN, infinity, nor an integer beyond float range)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= sys.float_info.max


def _positive(file: str, key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{file}: {key} must be more than 0 seconds, got {value!r}")


def split_listen(listen: str) -> tuple[str, int] | None:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces) -> (host, port); None when
    ``listen`` is none of these."""
    host, sep, port = listen.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        return None
    return host.strip("[]") or "0.0.0.0", int(port)


def _wait(file: str, key: str, value: float) -> None:
    """A timer's seconds: more than 0, at most ``MAX_WAIT_SECONDS`` (not NaN nor infinite)."""
    _positive(file, key, value)
    if not value <= MAX_WAIT_SECONDS:
        raise ConfigError(
            f"{file}: {key} must be a finite number of seconds, at most {MAX_WAIT_SECONDS:.0f} "
            f"(a day), got {value!r}"
        )


def _metrics(file: str, table: dict[str, Any]) -> MetricsConfig:
    for key in ("max_layer_series", "max_engines", "max_calibration_series"):
        if table.get(key, 1) < 1:
            raise ConfigError(f"{file}: metrics.{key} must be at least 1, got {table[key]}")
    ttl = table.get("series_ttl", 1)
    if not (ttl >= 0 and _finite(ttl)):  # NaN compared false everywhere: it meant "never", silently
        raise ConfigError(
            f"{file}: metrics.series_ttl must be 0 (never) or more seconds, a finite number, got {ttl!r}"
        )
    listen = table.get("listen", MetricsConfig.listen)
    if split_listen(listen) is None:
        raise ConfigError(
            f"{file}: metrics.listen must be host:port, [ipv6]:port or :port (all interfaces), "
            f"port 0-65535, got {listen!r}"
        )
    buckets = table.get("latency_buckets", DEFAULT_LATENCY_BUCKETS)
    if not buckets or not all(_finite(b) and b > 0 for b in buckets) or list(buckets) != sorted(set(buckets)):
        raise ConfigError(
            f"{file}: metrics.latency_buckets must be increasing positive numbers of seconds, got {buckets!r}"
        )
    web_config = table.get("web_config_file")
    if web_config is not None:
        web_config = _relative_to(file, web_config)
    return MetricsConfig(
        **(table | {"latency_buckets": tuple(float(b) for b in buckets), "web_config_file": web_config})
    )


def _relative_to(file: str, path: str) -> str:
    """``path`` as written in the config file ``file``: relative paths are relative to the file."""
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(os.path.abspath(file)), path)


PROFILER_LOG_SEVERITIES: Final = tuple(reversed(SEVERITIES))  # as TensorRT orders them


def _profiler(file: str, table: dict[str, Any] | None, default_engine: str | None) -> ProfilerConfig | None:
    if not table:
        return None
    if "engine" not in table:
        raise ConfigError(f"{file}: profiler.engine (the serialized engine file) is required in [profiler]")
    engine_file = _relative_to(file, table["engine"])
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in table.get("shapes", {}).items():
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise ConfigError(
                f"{file}: profiler.shapes.{name} must be a list of positive integers, got {shape!r}"
            )
        shapes[name] = tuple(shape)
    input_range = table.get("input_range", [-1.0, 1.0])
    if len(input_range) != 2 or not all(_finite(v) for v in input_range) or input_range[0] > input_range[1]:
        raise ConfigError(f"{file}: profiler.input_range must be [low, high], got {input_range!r}")
    duty = table.get("max_duty_cycle", 0.05)
    if not 0 < duty <= 1:
        raise ConfigError(f"{file}: profiler.max_duty_cycle must be in (0, 1], got {duty!r}")
    _positive(file, "profiler.max_inferences_per_second", table.get("max_inferences_per_second", 1.0))
    for key in ("busy_backoff", "reload_check_interval"):  # waited for: inf overflows Event.wait
        _wait(file, f"profiler.{key}", table.get(key, 1.0))
    if not 0 < table.get("gpu_busy_percent", 90) <= 100:
        raise ConfigError(
            f"{file}: profiler.gpu_busy_percent must be in (0, 100], got {table['gpu_busy_percent']!r}"
        )
    _choice(file, "profiler.log_severity", table.get("log_severity", "warning"), PROFILER_LOG_SEVERITIES)
    if table.get("events_every", 1) < 0 or table.get("device", 0) < 0:
        raise ConfigError(f"{file}: profiler.events_every and profiler.device must be 0 or more")
    inputs = table.get("inputs", "random")
    options = {
        k: v for k, v in table.items() if k not in ("engine", "engine_id", "shapes", "input_range", "inputs")
    }
    return ProfilerConfig(
        engine_file=engine_file,
        engine_id=table.get("engine_id") or default_engine or Path(engine_file).stem,
        shapes=shapes,
        inputs=inputs if inputs == "random" else _relative_to(file, inputs),
        input_range=(float(input_range[0]), float(input_range[1])),
        **options,
    )


def _rules(file: str, table: dict[str, Any]) -> RulesConfig:
    baseline = table.get("baseline", [])
    if not all(isinstance(p, str) for p in baseline):
        raise ConfigError(f"{file}: rules.baseline must be a list of file paths")
    rules_file = table.get("file")
    return RulesConfig(
        file=_relative_to(file, rules_file) if rules_file else None,
        baseline=tuple(_relative_to(file, p) for p in baseline),
    )


def _redaction(file: str, table: dict[str, Any]) -> RedactionConfig:
    _choice(file, "redaction.mode", table.get("mode", "pseudonym"), REDACTION_MODES)
    allowlist = table.get("allowlist", [])
    for index, pattern in enumerate(allowlist):
        if not isinstance(pattern, str):
            raise ConfigError(f"{file}: redaction.allowlist[{index}] must be a string (a regex)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{file}: redaction.allowlist[{index}] is not a valid regex: {exc}") from None
    key_file = table.get("key_file")
    if key_file is not None:
        key_file = _relative_to(file, key_file)
    key_env = table.get("key_env")
    if table.get("enabled") and key_file is not None and key_env is not None:  # a disabled table is inert
        raise ConfigError(
            f"{file}: redaction.key_file and redaction.key_env are both set; the key comes from one: "
            "remove one of them"
        )
    if table.get("enabled") and not (key_file or key_env):
        raise ConfigError(f"{file}: redaction.enabled needs redaction.key_file or redaction.key_env")
    if table.get("enabled") and key_env and not os.environ.get(key_env):
        raise ConfigError(
            f"{file}: redaction.key_env: ${key_env} is "
            + ("empty" if key_env in os.environ else "not set")
            + " (it must hold the redaction key, at least 16 bytes)"
        )
    return RedactionConfig(**(table | {"allowlist": tuple(allowlist), "key_file": key_file}))
