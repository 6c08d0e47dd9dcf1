"""Reading the TOML file and validating it into the dataclasses of ``schema``.

Validation names the file and the key at fault (``ConfigError``); unknown keys are errors, so a
typo never silently falls back to a default. Defaults and accepted TOML types come from the
schema: nothing here repeats them.

Keys set outside the file (``Override``: a flag of ``trt-agent run``, a ``TRT_AGENT_*`` variable,
read by ``trt_agent.config.overrides``) are written over the file's document before it is
validated, so they get the file's checks; a message about such a key names the flag or variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from trt_agent.config.schema import (
    ARRAY_SECTIONS,
    FSYNC_POLICIES,
    LOG_FORMATS,
    LOG_FORMATS_OWN,
    LOG_LEVELS,
    PROFILER_LOG_SEVERITIES,
    READ_FROM,
    REDACTION_MODES,
    SECTIONS,
    WATCH_MODES,
    WHEN_FULL,
    Config,
    EventsConfig,
    LogSource,
    MetricsConfig,
    ProfilerConfig,
    Range,
    RedactionConfig,
    RulesConfig,
    TailConfig,
    keys,
)
from trt_agent.parse.patterns import UserPatterns, compile_patterns


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the file."""


_TypeSpec = type | tuple[type, ...]
# section -> key -> the TOML types it accepts, from the schema's dataclasses.
_SCHEMA: Final[dict[str, dict[str, _TypeSpec]]] = {
    section: {k.name: k.toml_type for k in keys(section)}
    for section in SECTIONS
    if section not in ARRAY_SECTIONS
}
_LOG_KEYS: Final[dict[str, _TypeSpec]] = {k.name: k.toml_type for k in keys("logs")}
_PATTERN_KEYS: Final[dict[str, _TypeSpec]] = {k.name: k.toml_type for k in keys("patterns")}
# section -> key -> the values a numeric key accepts (``schema.Range``: the one home of ranges).
_RANGES: Final[dict[str, dict[str, Range]]] = {
    section: {k.name: k.allowed for k in keys(section) if k.allowed is not None}
    for section in SECTIONS
    if section not in ARRAY_SECTIONS
}


def _check(file: str, section: str, table: Any, schema: dict[str, _TypeSpec]) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [{section}] must be a table")
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(f"{file}: unknown key {section}.{key} (known: {', '.join(sorted(schema))})")
        expected = schema[key]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            name = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise ConfigError(f"{file}: {section}.{key} must be {name}, got {type(value).__name__} {value!r}")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:  # TOML integers are 64-bit
            raise ConfigError(f"{file}: {section}.{key} is out of range, got {value}")


def _in_range(file: str, section: str, table: dict[str, Any]) -> None:
    """Every numeric key of ``table`` (types already checked) within its ``Range``: a timer or a
    count beyond it would melt the host (a spinning core, a rotation loop without end)."""
    for key, allowed in _RANGES[section].items():
        if key not in table:
            continue
        value = table[key]
        if allowed.items is None:
            if value not in allowed:
                raise ConfigError(f"{file}: {section}.{key} {allowed.complaint(value)}")
            continue
        if len(value) > allowed.items:
            raise ConfigError(
                f"{file}: {section}.{key} must hold at most {allowed.items} values, got {len(value)}"
            )
        for index, item in enumerate(value):  # (not numbers: the key's own check names them)
            if isinstance(item, int | float) and not isinstance(item, bool) and item not in allowed:
                raise ConfigError(f"{file}: {section}.{key}[{index}] {allowed.complaint(item)}")


MAX_FILE_BYTES: Final = 16 << 20  # a config or rules file larger than this is refused, not read
_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    """What a file of ``mode`` is when it is not a regular file ("a FIFO"), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular_file(
    path: str, what: str, error: type[ConfigError] = ConfigError, limit: int = MAX_FILE_BYTES
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; anything else is an
    ``error`` naming the file (``what``: "config file", "rules file"). Never blocks on what is
    not a regular file: a FIFO (or a tty) named as a config file would hang the thread that reads
    it, which for a SIGHUP is the one that handles SIGTERM. So it is opened with ``O_NONBLOCK``
    and checked with ``fstat`` on the open descriptor (no race with a rename) before one byte
    is read."""
    try:
        kind = _not_regular(os.stat(path).st_mode)  # a device is not even opened
        if kind is None:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
            try:
                st = os.fstat(fd)
                kind = _not_regular(st.st_mode)
                if kind is None and st.st_size <= limit:
                    with os.fdopen(fd, "rb", closefd=False) as fh:
                        data = fh.read(limit + 1)
                    if len(data) <= limit:
                        return data
            finally:
                os.close(fd)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except PermissionError:
        raise error(f"{path}: {what} not readable (permission denied)") from None
    except OSError as exc:  # an I/O error, a socket
        raise error(f"{path}: {what} not readable ({exc.strerror or exc})") from None
    if kind is not None:
        why = "" if kind == "a directory" else " (refused: reading it could block the agent)"
        raise error(f"{path}: {what} not readable: it is {kind}, not a regular file{why}")
    raise error(f"{path}: {what} not readable: larger than {limit} bytes")


def read_toml(path: str, what: str, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """The TOML document at ``path`` (a regular file: ``read_regular_file``); any problem is an
    ``error`` naming the file (``what``: "config file", "rules file")."""
    data = read_regular_file(path, what, error)
    try:
        doc: dict[str, Any] = tomllib.loads(data.decode())
        return doc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None


@dataclass(frozen=True)
class Override:
    """A key set outside the config file, over what the file says: ``value`` as the file would
    give it (a TOML value), ``source`` the flag or variable that set it, as messages name it
    (``--web.listen-address``, ``$TRT_AGENT_METRICS_LISTEN``)."""

    section: str  # "agent" for the keys of [agent]
    key: str
    value: Any
    source: str


# The keys holding file paths that the loader resolves from the config file's directory when the
# file sets them. Set by a flag or variable, such a path is relative to the working directory, as
# on any command line.
FILE_RELATIVE_KEYS: Final = frozenset(
    {
        ("metrics", "web_config_file"),
        ("redaction", "key_file"),
        ("rules", "file"),
        ("rules", "baseline"),
        ("profiler", "engine"),
        ("profiler", "inputs"),
    }
)


def _from_cwd(override: Override) -> Any:
    """The value of ``override``, its relative paths made absolute from the working directory
    (the file's own resolution then leaves them as they are)."""
    value = override.value
    if (override.section, override.key) not in FILE_RELATIVE_KEYS:
        return value
    if isinstance(value, list):
        return [os.path.abspath(v) if isinstance(v, str) and v else v for v in value]
    if isinstance(value, str) and value and value != ProfilerConfig.inputs:  # inputs = "random"
        return os.path.abspath(value)
    return value


def _override(raw: dict[str, Any], overrides: Sequence[Override]) -> dict[str, str]:
    """Write ``overrides`` over the document ``raw``, later ones winning; returns what set each
    key (``metrics.listen`` -> ``$TRT_AGENT_METRICS_LISTEN``)."""
    sources: dict[str, str] = {}
    for override in overrides:
        table = raw.setdefault(override.section, {})
        if isinstance(table, dict):  # (not a table: the file's own error names it)
            table[override.key] = _from_cwd(override)
            sources[f"{override.section}.{override.key}"] = override.source
    return sources


def _blamed(exc: ConfigError, where: str, sources: dict[str, str]) -> ConfigError:
    """``exc``, naming the flag or variable instead of the file where it set the key at fault.
    (The loader's messages name that key right after the file: ``FILE: metrics.listen must …``.)"""
    text = str(exc)
    rest = text.removeprefix(f"{where}: ")
    at_fault = re.match(r"([a-z_]+\.[a-z_]+)", rest)
    if rest != text and at_fault and at_fault.group(1) in sources:
        return ConfigError(f"{sources[at_fault.group(1)]}: {rest}")
    return exc


NO_FILE: Final = "(no config file)"  # what messages name when the keys come from overrides alone


def load_config(path: str | None, overrides: Sequence[Override] = ()) -> Config:
    """Read and validate the TOML file at ``path`` (None: no file, every key at its default),
    with ``overrides`` written over it (flag > environment > file > default)."""
    raw = read_toml(path, "config file") if path is not None else {}
    where = path if path is not None else NO_FILE
    sources = _override(raw, overrides)
    try:
        return _validate(where, raw)
    except ConfigError as exc:
        raise _blamed(exc, where, sources) from None


def _validate(path: str, raw: dict[str, Any]) -> Config:
    """The ``Config`` of the TOML document ``raw`` (``path``: the file messages name)."""
    for section, table in raw.items():
        if section in ARRAY_SECTIONS:
            continue
        if section not in _SCHEMA:
            raise ConfigError(
                f"{path}: unknown section [{section}] "
                f"(known: {', '.join(sorted([*ARRAY_SECTIONS, *_SCHEMA]))})"
            )
        _check(path, section, table, _SCHEMA[section])
        _in_range(path, section, table)
    agent = raw.get("agent", {})
    level = agent.get("log_level", Config.log_level)
    if level not in LOG_LEVELS:
        raise ConfigError(f"{path}: agent.log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    log_format = agent.get("log_format", Config.log_format)
    if log_format not in LOG_FORMATS_OWN:
        raise ConfigError(f"{path}: agent.log_format must be auto, json or console, got {log_format!r}")
    logs = _logs(path, raw.get("logs", []), agent.get("engine", Config.engine))
    patterns = _patterns(path, raw.get("patterns", []))
    memory_limit = agent.get("memory_limit_bytes", Config.memory_limit_bytes)
    max_line = agent.get("max_line_bytes", Config.max_line_bytes)
    tail = _tail(path, agent)
    events = _events(path, raw.get("events", {}))
    return Config(
        state_dir=agent.get("state_dir", Config.state_dir),
        log_level=level,
        log_format=log_format,
        engine=agent.get("engine", Config.engine),
        logs=logs,
        patterns=patterns,
        metrics=_metrics(path, raw.get("metrics", {})),
        events=events,
        tail=tail,
        redaction=_redaction(path, raw.get("redaction", {})),
        rules=_rules(path, raw.get("rules", {})),
        profiler=_profiler(path, raw.get("profiler"), agent.get("engine", Config.engine)),
        max_line_bytes=max_line,
        memory_limit_bytes=memory_limit,
    )


def _logs(file: str, logs_raw: Any, default_engine: str | None) -> tuple[LogSource, ...]:
    if not isinstance(logs_raw, list):
        raise ConfigError(f"{file}: logs must be an array of tables ([[logs]])")
    logs: list[LogSource] = []
    for index, entry in enumerate(logs_raw):
        where = f"logs[{index}]"
        _check(file, where, entry, dict(_LOG_KEYS))
        if "path" not in entry:
            raise ConfigError(f"{file}: {where}.path is required")
        if not entry["path"].strip():
            raise ConfigError(f"{file}: {where}.path is empty (a file or a glob, e.g. /var/log/trt/*.log)")
        read_from = entry.get("read_from", LogSource.read_from)
        if read_from not in READ_FROM:
            raise ConfigError(f"{file}: {where}.read_from must be 'beginning' or 'end', got {read_from!r}")
        fmt = entry.get("format", LogSource.format)
        _choice(file, f"{where}.format", fmt, LOG_FORMATS)
        # A glob without an engine id names each file's engine after the file (see TailedFile).
        glob_chars = any(c in entry["path"] for c in "*?[")
        engine = entry.get("engine") or default_engine or ("" if glob_chars else Path(entry["path"]).stem)
        logs.append(LogSource(entry["path"], engine, read_from, fmt))
    return tuple(logs)


def _patterns(file: str, raw: Any) -> UserPatterns:
    """``[[patterns]]``, compiled: a bad regex, type, severity or key is an error naming it."""
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: patterns must be an array of tables ([[patterns]])")
    for index, entry in enumerate(raw):
        _check(file, f"patterns[{index}]", entry, dict(_PATTERN_KEYS))
    try:
        return UserPatterns(compile_patterns(raw))
    except ValueError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _tail(file: str, agent: dict[str, Any]) -> TailConfig:
    tail = TailConfig(**{k: v for k, v in agent.items() if k in TailConfig.__dataclass_fields__})
    _choice(file, "agent.watch", tail.watch, WATCH_MODES)
    return tail


def _events(file: str, table: dict[str, Any]) -> EventsConfig:
    events = EventsConfig(**table)
    _choice(file, "events.fsync", events.fsync, FSYNC_POLICIES)
    _choice(file, "events.when_full", events.when_full, WHEN_FULL)
    if events.max_bytes > 0 and events.max_files < 1:
        raise ConfigError(
            f"{file}: events.max_files must be at least 1 when events.max_bytes rotates the event "
            f"file (max_bytes = {events.max_bytes}): with 0, each full file would be deleted, its events "
            "lost; set events.max_bytes = 0 to never rotate"
        )
    if not events.path:
        raise ConfigError(f'{file}: events.path must be a file path or "-" (stdout)')
    return events


def _choice(file: str, key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{file}: {key} must be one of {', '.join(allowed)}, got {value!r}")


def _finite(value: object) -> bool:
    """A number a float can hold (not a bool, NaN, infinity, nor an integer beyond float range)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= sys.float_info.max


def split_listen(listen: str) -> tuple[str, int] | None:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces) -> (host, port); None when
    ``listen`` is none of these."""
    host, sep, port = listen.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        return None
    return host.strip("[]") or "0.0.0.0", int(port)


def _metrics(file: str, table: dict[str, Any]) -> MetricsConfig:
    metrics = MetricsConfig(**table)
    if split_listen(metrics.listen) is None:
        raise ConfigError(
            f"{file}: metrics.listen must be host:port, [ipv6]:port or :port (all interfaces), "
            f"port 0-65535, got {metrics.listen!r}"
        )
    buckets = metrics.latency_buckets
    if not buckets or not all(_finite(b) and b > 0 for b in buckets) or list(buckets) != sorted(set(buckets)):
        raise ConfigError(
            f"{file}: metrics.latency_buckets must be increasing positive numbers of seconds, got {buckets!r}"
        )
    web_config = metrics.web_config_file
    return dataclasses.replace(
        metrics,
        latency_buckets=tuple(float(b) for b in buckets),
        web_config_file=None if web_config is None else _relative_to(file, web_config),
    )


def _relative_to(file: str, path: str) -> str:
    """``path`` as written in the config file ``file``: relative paths are relative to the file."""
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(os.path.abspath(file)), path)


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
    input_range = table.get("input_range", ProfilerConfig.input_range)
    if len(input_range) != 2 or not all(_finite(v) for v in input_range) or input_range[0] > input_range[1]:
        raise ConfigError(f"{file}: profiler.input_range must be [low, high], got {input_range!r}")
    inputs = table.get("inputs", ProfilerConfig.inputs)
    # The other keys, with the schema's defaults, are checked on the dataclass they build.
    options = {
        k: v for k, v in table.items() if k not in ("engine", "engine_id", "shapes", "input_range", "inputs")
    }
    settings = ProfilerConfig(
        engine_file=engine_file,
        engine_id=table.get("engine_id") or default_engine or Path(engine_file).stem,
        shapes=shapes,
        inputs=inputs if inputs == "random" else _relative_to(file, inputs),
        input_range=(float(input_range[0]), float(input_range[1])),
        **options,
    )
    _choice(file, "profiler.log_severity", settings.log_severity, PROFILER_LOG_SEVERITIES)
    return settings


def _rules(file: str, table: dict[str, Any]) -> RulesConfig:
    baseline = table.get("baseline", RulesConfig.baseline)
    if not all(isinstance(p, str) for p in baseline):
        raise ConfigError(f"{file}: rules.baseline must be a list of file paths")
    rules_file = table.get("file", RulesConfig.file)
    return RulesConfig(
        file=_relative_to(file, rules_file) if rules_file else None,
        baseline=tuple(_relative_to(file, p) for p in baseline),
    )


def _redaction(file: str, table: dict[str, Any]) -> RedactionConfig:
    settings = RedactionConfig(**table)
    _choice(file, "redaction.mode", settings.mode, REDACTION_MODES)
    for index, pattern in enumerate(settings.allowlist):
        if not isinstance(pattern, str):
            raise ConfigError(f"{file}: redaction.allowlist[{index}] must be a string (a regex)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{file}: redaction.allowlist[{index}] is not a valid regex: {exc}") from None
    key_file = None if settings.key_file is None else _relative_to(file, settings.key_file)
    key_env = settings.key_env
    if settings.enabled and key_file is not None and key_env is not None:  # a disabled table is inert
        raise ConfigError(
            f"{file}: redaction.key_file and redaction.key_env are both set; the key comes from one: "
            "remove one of them"
        )
    if settings.enabled and not (key_file or key_env):
        raise ConfigError(f"{file}: redaction.enabled needs redaction.key_file or redaction.key_env")
    if settings.enabled and key_env and not os.environ.get(key_env):
        raise ConfigError(
            f"{file}: redaction.key_env: ${key_env} is "
            + ("empty" if key_env in os.environ else "not set")
            + " (it must hold the redaction key, at least 16 bytes)"
        )
    return dataclasses.replace(settings, allowlist=tuple(settings.allowlist), key_file=key_file)
