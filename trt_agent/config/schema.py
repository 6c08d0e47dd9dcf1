"""The configuration's shape: one dataclass per TOML section, and the one home of every key's
default and description.

Each field that is a config key carries its description in ``metadata["doc"]``; the loader
(``load.py``) takes its defaults and accepted TOML types from here, and
``scripts/gen_reference.py`` writes ``docs/reference/config.md`` from the same fields. A field
with ``metadata["key"] = None`` is an internal setting, not a key of the file.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar

from trt_agent.parse.log import DEFAULT_MAX_LINE_BYTES
from trt_agent.parse.patterns import UserPatterns
from trt_agent.vocab.buckets import DEFAULT_LATENCY_BUCKETS
from trt_agent.vocab.severities import SEVERITIES

_T = TypeVar("_T")

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMATS_OWN: Final = ("auto", "json", "console")  # agent.log_format: the agent's own logs
READ_FROM: Final = ("beginning", "end")
FSYNC_POLICIES: Final = ("never", "interval", "always")
WHEN_FULL: Final = ("auto", "block", "drop")  # events.when_full; auto: block for a file, drop for stdout
WATCH_MODES: Final = ("inotify", "poll")
LOG_FORMATS: Final = ("auto", "log", "json", "calibration_cache")  # [[logs]] format
REDACTION_MODES: Final = ("pseudonym", "structure", "drop")
PROFILER_LOG_SEVERITIES: Final = tuple(reversed(SEVERITIES))  # as TensorRT orders them
# The longest wait a timer key may ask for (agent.poll_interval...). The threads' waits cannot
# hold much more (threading.TIMEOUT_MAX is ~292 years; inf or 1e10 raised OverflowError in the
# tailer and event writer, and the agent crash-looped); a day is already far beyond any use.
MAX_WAIT_SECONDS: Final = 86400.0


_NAMED: Final = {86400: "a day", 3600: "an hour", 31536000: "a year"}  # seconds, as the messages say them


@dataclass(frozen=True)
class Range:
    """The values a numeric key accepts: ``low`` to ``high`` (both included), and 0 as well where
    ``zero`` says what 0 means ("never", "no limit"); ``unit``: "seconds", "bytes" or "". For an
    array key, each value, and at most ``items`` of them. The loader refuses a value outside it
    (exit 2, naming the key and this range) and the reference shows it: a timer or count beyond
    it melts the host (``poll_interval = 1e-9`` spins a core, ``events.max_files = 1e9`` never
    leaves the rotation loop)."""

    low: float
    high: float
    unit: str = ""
    zero: str | None = None
    items: int | None = None

    def _say(self, value: float) -> str:
        """``value`` with its unit: ``1048576 bytes (1 MiB)``, ``86400 seconds (a day)``, ``0.01``."""
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        if not self.unit:
            return text
        text += " " + (self.unit.removesuffix("s") if value == 1 else self.unit)
        if self.unit == "seconds" and value in _NAMED:
            return f"{text} ({_NAMED[int(value)]})"
        if self.unit == "bytes" and value >= 1 << 20:
            for size, name in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB")):
                if value % size == 0:
                    return f"{text} ({int(value) // size} {name})"
        return text

    @property
    def text(self) -> str:
        """``0.01 to 86400 seconds (a day)``; ``0 (never), or 1 to …``."""
        low = self._say(self.low) if self.unit == "bytes" else self._say(self.low).split(" ")[0]
        span = f"{low} to {self._say(self.high)}"
        if self.zero is not None:
            span = f"0 ({self.zero}), or {span}"
        if self.items is not None:
            span = f"at most {self.items} values, each {span}"
        return span

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return (self.zero is not None and value == 0) or self.low <= value <= self.high

    def complaint(self, value: float) -> str:
        """What is wrong with ``value`` (not in the range): ``must be …, got … (allowed: …)``."""
        seconds = self.unit == "seconds"
        nan = isinstance(value, float) and math.isnan(value)  # (an int may be beyond a float)
        bad_sign = nan or value < 0 or value == math.inf
        if seconds and self.zero is not None and bad_sign:
            head = f"0 ({self.zero}) or more seconds, a finite number"
        elif value > self.high:  # (inf too)
            head = (
                f"a finite number of seconds, at most {self._say(self.high).replace(' seconds', '')}"
                if seconds
                else f"at most {self._say(self.high)}"
            )
        elif seconds and nan:
            head = "more than 0 seconds"
        else:
            head = (
                f"0 ({self.zero}) or " if self.zero is not None else ""
            ) + f"at least {self._say(self.low)}"
        return f"must be {head}, got {value!r} (allowed: {self.text})"


def key(default: _T, doc: str, *, shown: str | None = None, allowed: Range | None = None) -> _T:
    """A config key with its ``default`` and one-line ``doc``; ``shown``: how the reference
    shows a default that is long; ``allowed``: the values a numeric key accepts."""
    return field(default=default, metadata={"doc": doc, "shown": shown, "allowed": allowed})


def required(doc: str, *, shown: str, name: str | None = None) -> Any:
    """A config key without a default: the loader demands it or computes it (``shown`` says
    which); ``name``: the TOML key where it is not the field's name."""
    meta: dict[str, Any] = {"doc": doc, "shown": shown}
    if name is not None:
        meta["key"] = name
    return field(metadata=meta)


def internal(default: _T, doc: str) -> _T:
    """A setting that is not a key of the file (tests and benchmarks set it)."""
    return field(default=default, metadata={"doc": doc, "key": None})


@dataclass(frozen=True)
class LogSource:
    """One ``[[logs]]`` entry."""

    path: str = required(
        "file or glob (relative paths: from the working directory; the command line matches it "
        "against its inputs however either is spelled)",
        shown="required, not empty",
    )
    engine: str = required("engine/build id of these files", shown="`agent.engine`, else the file stem")
    read_from: str = key(
        "beginning",
        "daemon: `beginning` or `end` for files present at start without a checkpoint (`end` starts "
        "after the last complete line)",
    )
    format: str = key(
        "auto",
        "`auto`, `log`, `json` (trtexec/inspector JSON, read whole each time it changes), "
        "`calibration_cache`",
    )

    def matches(self, path: str) -> bool:
        """``path`` is this entry's file or matches its glob, whichever way either is spelled
        (``dir/01.log``, ``./dir/01.log`` and ``/abs/dir/01.log`` are the same file)."""
        return (
            fnmatch.fnmatch(path, self.path)
            or fnmatch.fnmatch(os.path.abspath(path), os.path.abspath(self.path))
            or Path(path).resolve() == Path(self.path).resolve()
        )


@dataclass(frozen=True)
class PatternConfig:
    """One ``[[patterns]]`` entry: a team's own log line -> events (docs/patterns.md). The
    loader checks the entries against these keys and compiles them
    (``trt_agent.parse.patterns.compile_patterns``); ``Config.patterns`` holds them compiled."""

    regex: str = required(
        "RE2 regex (linear time: no backreferences, no lookaround), searched in each line, header "
        "included; its named groups are the event's fields, numbers as numbers; groups `value` + "
        "`unit` (B, KB, KiB, MB, MiB, GB, GiB) make `bytes` (docs/patterns.md)",
        shown="required",
    )
    type: str = required(
        "the event type (docs/reference/events.md); the regex's groups and `fields` must give every "
        "key it requires, and no key it does not have",
        shown="required",
    )
    severity: str | None = key(
        None,
        "`verbose`, `info`, `warning`, `error` or `internal_error`",
        shown="the line's own severity, else `info`",
    )
    engine: str | None = key(None, "engine/build id of its events", shown="the file's engine id")
    fields: dict[str, Any] = field(
        default_factory=dict,
        metadata={"doc": 'constant fields of its events, e.g. `{ kind = "peak" }`', "shown": None},
    )


# The ranges of the timers and counts (``Range``): the loader refuses a value outside, the
# reference shows them. Floors keep a timer from spinning a core (or fsyncing without pause);
# ceilings keep a count from holding memory, descriptors or a loop without end.
_FAST_TIMER: Final = Range(0.01, MAX_WAIT_SECONDS, "seconds")  # a scan, a deadline
_SLOW_TIMER: Final = Range(0.1, MAX_WAIT_SECONDS, "seconds")  # a save (fsync), a probe, a drain
_SERIES: Final = Range(1, 10_000)  # metric series (or engines) per engine


@dataclass(frozen=True)
class TailConfig:
    """How ``trt-agent run`` follows files (keys of ``[agent]``)."""

    watch: str = key("inotify", "`inotify` (watchdog; re-scan as a safety net) or `poll`")
    poll_interval: float = key(1.0, "seconds between re-scans of globs and files", allowed=_FAST_TIMER)
    rotate_wait: float = key(
        5.0, "seconds a renamed/deleted file is still read after its last growth", allowed=_FAST_TIMER
    )
    partial_line_timeout: float = key(
        5.0, "seconds a line without newline waits before it is taken as complete", allowed=_FAST_TIMER
    )
    checkpoint_interval: float = key(1.0, "seconds between checkpoint saves", allowed=_SLOW_TIMER)
    shutdown_timeout: float = key(10.0, "most seconds SIGTERM waits for the drain", allowed=_SLOW_TIMER)
    max_followed_files: int = key(
        1000,
        "files followed at once (one descriptor each); further matches wait, newest first, counted in "
        '`trt_agent_tail_errors_total{reason="too_many_files"}`',
        allowed=Range(1, 65536),
    )


@dataclass(frozen=True)
class EventsConfig:
    """The JSONL event stream of ``trt-agent run`` (``[events]``)."""

    path: str = key("-", "JSONL event stream: a file, or `-` for stdout")
    max_bytes: int = key(
        100 * 1024 * 1024,
        "rotate the event file at this size",
        allowed=Range(4096, 1 << 40, "bytes", zero="never rotate"),
    )
    max_files: int = key(
        5,
        "rotated event files kept (`events.jsonl.1` … `.N`); at least 1 while `events.max_bytes` > 0 "
        "(0 would delete each rotated file)",
        allowed=Range(0, 1000),
    )
    fsync: str = key("interval", "`never`, `interval` (before each checkpoint), `always` (every batch)")
    queue_events: int = key(
        65536,
        "events waiting for the writer; more wait or are dropped (`when_full`)",
        allowed=Range(1, 1 << 24),
    )
    queue_bytes: int = key(
        64 << 20,
        "the same bound on their memory (its strings at their real size plus 512 bytes per event), so "
        "a log of long lines cannot fill memory before `queue_events` is reached",
        allowed=Range(1 << 20, 16 << 30, "bytes"),
    )
    when_full: str = key(
        "auto",
        "when a batch of log lines does not fit the queue: `block` (the tailer waits for the writer; "
        "the log files hold what is not read yet, nothing is dropped; the wait is counted in "
        "`trt_agent_events_blocked_seconds_total`) or `drop` (dropped and counted in "
        "`trt_agent_events_dropped_total`; its lines count as read). `auto`: `block` for a file, "
        "`drop` for stdout (`-`), whose reader may never come back. The profiler's events never wait",
        shown="`auto` (`block` for a file, `drop` for `-`)",
    )

    @property
    def blocks(self) -> bool:
        """A full queue makes the tailer wait (``when_full``, ``auto`` resolved by ``path``)."""
        if self.when_full == "auto":
            return self.path != "-"
        return self.when_full == "block"


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint of ``trt-agent run`` (``[metrics]``)."""

    listen: str = key(
        "127.0.0.1:9717",
        "`host:port`, `[v6]:port` or `:port` of `/metrics` (`:9717` = all interfaces); checked when "
        "the config is read",
    )
    web_config_file: str | None = key(
        None,
        "TLS and basic auth (exporter-toolkit `web-config.yml`; relative: from the config file)",
    )
    max_layer_series: int = key(
        100,
        'per engine: top layers by total time; the rest fold into `layer="__other__"`',
        allowed=_SERIES,
    )
    max_engines: int = key(
        50, "engine models kept; beyond, the least recently updated is dropped", allowed=_SERIES
    )
    latency_buckets: tuple[float, ...] = key(
        DEFAULT_LATENCY_BUCKETS,
        "histogram bounds of `trt_engine_layer_latency_seconds`, seconds, increasing (one series per "
        "bound and layer)",
        allowed=Range(1e-9, MAX_WAIT_SECONDS, "seconds", items=64),
    )
    series_ttl: float = key(
        3600.0,
        "seconds before vanished engines / layers are dropped (docs/daemon.md#cardinality)",
        allowed=Range(1, 31_536_000, "seconds", zero="never"),
    )
    max_calibration_series: int = key(20, "widest calibration ranges exported per engine", allowed=_SERIES)
    max_layer_names: int = key(
        20_000,
        "per engine: names each per-name table of the daemon's model keeps (engine layers, source "
        "layers, removed layers, quantized layers, plugins; calibration keeps the widest); beyond, "
        "new names are dropped, counted in `trt_agent_model_entries_dropped_total`, and the figures "
        "that need the whole table (coverage ratios, layer counts) become n/a "
        "(docs/daemon.md#cardinality)",
        allowed=Range(1000, 10_000_000),
    )
    deprecated_names: bool = key(
        True,
        "also serve the families renamed in 0.2.0 under their old names, as deprecated aliases "
        "(removed in 0.3.0; docs/daemon.md#renamed-metrics)",
    )


@dataclass(frozen=True)
class RedactionConfig:
    """``[redaction]``: keyed pseudonyms for layer and tensor names in every output."""

    enabled: bool = key(False, "pseudonyms for layer/tensor names in every output (docs/redaction.md)")
    key_file: str | None = key(
        None,
        "the HMAC key (≥ 16 bytes) in a file (relative: from the config file); this or `key_env`, not "
        "both; required when enabled",
    )
    key_env: str | None = key(
        None, "or: an environment variable holding the key (set and not empty when enabled)"
    )
    allowlist: tuple[str, ...] = key((), "regexes (full match) of names that stay clear")
    mode: str = key("pseudonym", "`pseudonym`, `structure` (fusion shape and op words stay), `drop`")
    scrub_paths: bool = key(True, "absolute paths and model/engine file names in free text become `P…`")
    max_learned_names: int = key(
        50_000,
        "names free text is scrubbed of, at most; beyond, the least recently seen is forgotten "
        "(counted: `trt_agent_redaction_names_evicted_total`; docs/redaction.md#learned-names)",
        allowed=Range(100, 10_000_000, zero="no limit"),
    )


@dataclass(frozen=True)
class ProfilerConfig:
    """``[profiler]``: the engine the daemon hosts and profiles (docs/profiler.md)."""

    engine_file: str = required(
        "serialized engine the daemon hosts and profiles (relative: from the config file); the "
        "section enables the host",
        shown="required in `[profiler]`",
        name="engine",
    )
    engine_id: str = required(
        "engine label of its metrics and events", shown="`agent.engine`, else the file stem"
    )
    shapes: dict[str, tuple[int, ...]] = field(
        default_factory=dict,
        metadata={
            "doc": "`{ input = [8, 3, 224, 224] }` for dynamic inputs (lists of positive integers)",
            "shown": "optimisation profile 0's opt shape",
        },
    )
    inputs: str = key(
        "random",
        "`random` (within `input_range`), or a `.npz` with one array per input name (relative: from the "
        "config file)",
    )
    input_range: tuple[float, float] = key((-1.0, 1.0), "`[low, high]` of the random inputs")
    max_duty_cycle: float = key(
        0.05,
        "most fraction of wall time spent running profiled inferences",
        allowed=Range(0.001, 1),
    )
    max_inferences_per_second: float = key(
        20.0, "and at most this many a second", allowed=Range(0.001, 10_000)
    )
    gpu_busy_percent: float = key(
        90.0, "NVML utilisation at which the host backs off (nvidia-ml-py)", allowed=Range(1, 100)
    )
    busy_backoff: float = key(5.0, "seconds to back off while the GPU is that busy", allowed=_SLOW_TIMER)
    reload_check_interval: float = key(
        2.0, "seconds between looks at the engine file (hot reload)", allowed=_SLOW_TIMER
    )
    log_severity: str = key(
        "warning", "TensorRT logger messages at this severity or more severe become events"
    )
    device: int = key(0, "CUDA device", allowed=Range(0, 1023))
    events_every: int = key(
        100,
        "one inference in N goes to the event stream (all of them feed the metrics)",
        allowed=Range(1, 1_000_000, zero="none"),
    )
    ring_capacity: int = internal(1 << 16, "layer reports held between aggregations")
    aggregate_interval: float = internal(0.05, "seconds between drains of the ring")


@dataclass(frozen=True)
class RulesConfig:
    """``[rules]``: the rules file the daemon evaluates (the one ``check --rules`` takes)."""

    file: str | None = key(
        None,
        "the rules file the daemon evaluates (relative: from the config file); `check` uses it when "
        "`--rules` is not given. SIGHUP re-reads it; a bad one (including one without any `[[rule]]`) "
        "is refused at start (exit 2) and, on SIGHUP, reported while the running rules are kept",
    )
    baseline: tuple[str, ...] = key(
        (),
        "recorded profiles (files) `layer_latency` rules compare against (relative: from the config "
        "file); one that holds no layer timings is refused like a bad rules file",
    )


_SECTION: Final = {"key": None}  # a field holding a whole section, not a key of [agent]


@dataclass(frozen=True)
class Config:
    """The validated configuration. Its own keys are those of ``[agent]`` (with ``TailConfig``)."""

    state_dir: str = key("/var/lib/trt-agent", "checkpoints of the daemon (must be writable)")
    log_level: str = key("info", "the agent's own logs: `debug`, `info`, `warning`, `error`")
    log_format: str = key("auto", "`auto` (console on a TTY, else JSON), `json`, `console`")
    engine: str | None = key(None, "default engine id for `[[logs]]` entries (and `[profiler]`) without one")
    logs: tuple[LogSource, ...] = field(default_factory=tuple, metadata=_SECTION)
    patterns: UserPatterns = field(default_factory=UserPatterns, metadata=_SECTION)
    metrics: MetricsConfig = field(default_factory=MetricsConfig, metadata=_SECTION)
    events: EventsConfig = field(default_factory=EventsConfig, metadata=_SECTION)
    tail: TailConfig = field(default_factory=TailConfig, metadata=_SECTION)
    redaction: RedactionConfig = field(default_factory=RedactionConfig, metadata=_SECTION)
    rules: RulesConfig = field(default_factory=RulesConfig, metadata=_SECTION)
    profiler: ProfilerConfig | None = field(default=None, metadata=_SECTION)
    max_line_bytes: int = key(
        DEFAULT_MAX_LINE_BYTES,
        "longer lines are cut and counted",
        allowed=Range(1024, 64 << 20, "bytes"),
    )
    memory_limit_bytes: int = key(
        0,
        "resident memory above which the agent sheds verbose events (the bulk of a verbose build log; "
        "warnings, errors and info facts still go through; `trt_agent_shed_events_total`), keeps no "
        "new layer name in its models (`trt_agent_model_entries_dropped_total`), bounds the event "
        "queue to 1/8 of the limit, and while it still grows forgets the least recently updated "
        "engine models' per-name detail, then engines (`trt_agent_memory_relief_total`), until it "
        "is back under 90 % of the limit (docs/daemon.md#memory). Set it below the container's "
        "memory limit",
        allowed=Range(32 << 20, 1 << 40, "bytes", zero="no limit"),
    )

    def engine_for(self, path: str) -> str | None:
        """The engine id ``[[logs]]`` assigns to ``path``, if any."""
        for source in self.logs:
            if source.matches(path):
                return source.engine
        return None


# The TOML sections, in the order the reference lists them, and the dataclasses holding their
# keys (``logs`` and ``patterns`` are arrays of tables).
SECTIONS: Final[dict[str, tuple[type, ...]]] = {
    "agent": (Config, TailConfig),
    "logs": (LogSource,),
    "patterns": (PatternConfig,),
    "metrics": (MetricsConfig,),
    "events": (EventsConfig,),
    "redaction": (RedactionConfig,),
    "rules": (RulesConfig,),
    "profiler": (ProfilerConfig,),
}
ARRAY_SECTIONS: Final = ("logs", "patterns")  # [[logs]], [[patterns]]

_SECONDS: Final = (int, float)
# A field's annotation -> the TOML value types the file may give it (``bool`` is never an int).
_TOML_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "str": str,
    "str | None": str,
    "int": int,
    "float": _SECONDS,
    "bool": bool,
}


@dataclass(frozen=True)
class Key:
    """One key of the file, as the loader checks it and the reference shows it."""

    section: str
    name: str  # the TOML key
    attribute: str  # the dataclass field
    toml_type: type | tuple[type, ...]
    annotation: str  # the field's Python type, as written
    default: Any  # MISSING when computed or required
    doc: str
    shown: str | None  # the reference's text for the default, where it is not the value itself
    allowed: Range | None = None  # a numeric key's values (the loader checks, the doc says it)


def toml_type(annotation: str) -> type | tuple[type, ...]:
    """The TOML value types a field with this (string) annotation accepts."""
    if annotation.startswith("tuple["):
        return list
    if annotation.startswith("dict["):
        return dict
    return _TOML_TYPES[annotation]


def keys(section: str) -> Iterator[Key]:
    """The keys of ``section``, in the order their dataclasses declare them."""
    for cls in SECTIONS[section]:
        for f in fields(cls):
            name = f.metadata.get("key", f.name)
            if name is None:
                continue
            if f.default is not MISSING:
                default: Any = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                default = MISSING
            allowed = f.metadata.get("allowed")
            doc = f.metadata["doc"] + (f"; allowed: {allowed.text}" if allowed is not None else "")
            yield Key(
                section,
                name,
                f.name,
                toml_type(str(f.type)),
                str(f.type),
                default,
                doc,
                f.metadata.get("shown"),
                allowed,
            )
