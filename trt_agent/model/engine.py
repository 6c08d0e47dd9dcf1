"""One model per engine/build: layers, fusions, precisions, plugins, fallbacks, memory, versions,
calibration ranges and per-layer times, built only from events (sinks never parse).

The ratios follow the definitions in docs/commands.md ("How coverage is computed"); each is
returned with its numerator and denominator so a person can check it, and with the reason when
the input cannot give it (n/a) or some layers could not be judged (left out of both counts).
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from trt_agent.model.precision import math_precision
from trt_agent.text import cut
from trt_agent.vocab.buckets import DEFAULT_LATENCY_BUCKETS as DEFAULT_LATENCY_BUCKETS  # re-exported
from trt_agent.vocab.events import Event
from trt_agent.vocab.names import decompose, is_constant, profile_index
from trt_agent.vocab.severities import ERROR_SEVERITIES

# Engine layers that run no kernel of their own.
NON_COMPUTE_TYPES: Final = frozenset({"noop", "constant", "signal", "wait"})
MAX_FALLBACKS: Final = 1000
# Keys of the per-engine tables a log names only a few of (stages, memory kinds, versions, perf
# figures, fallback reasons, fusion kinds, files): kept up to this many each; beyond, a counter
# folds into OTHER and a table drops the key (counted in ``dropped``), so a hostile log or event
# stream cannot grow them either.
MAX_SMALL_KEYS: Final = 256
OTHER: Final = "__other__"
# What a capped or shed per-name table makes unknown (``EngineModel.truncated``) -> its n/a reason.
_TRUNCATED_WHAT: Final = {
    "layer": "engine layers",
    "layer_time": "profiled layers",
    "source_layer": "source layers",
    "removed": "layers fusions removed",
    "plugin": "plugins",
    "calibration": "calibration ranges",
}
MAX_ERROR_MESSAGES: Final = 20  # kept to name in the ``errors`` rule; the count is exact
ERROR_MESSAGE_CHARS: Final = 300  # each kept one is cut here: a 1 MiB error line must not be held


@dataclass(frozen=True, slots=True)
class Ratio:
    """A ratio with the counts it was computed from, over the items that could be judged.

    ``value`` is None (the figure is n/a) when nothing could be judged: the denominator is 0 and
    ``reason`` says why. ``excluded`` counts the items left out of both counts because the input
    cannot judge them (a Myelin kernel's fusion, a layer's unknown precision); ``reason`` then
    says which. Unknown is not zero: an n/a figure is no sample in /metrics and a skip in check.
    """

    numerator: int
    denominator: int
    excluded: int = 0
    reason: str | None = None

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        return {
            "ratio": round(value, 6) if value is not None else None,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "excluded": self.excluded,
            "reason": self.reason,
        }


@dataclass
class EngineLayer:
    """An engine layer: what TensorRT built and which source layers it absorbed."""

    name: str
    layer_type: str | None
    precision: str | None
    tactic: str | None
    sources: tuple[str, ...]
    kind: str  # single | fused | myelin | myelin_kernel | dla | reformat (from the name)
    origin: str | None = None
    # False for Myelin regions known only by first...last, and for Myelin kernels whose source
    # layers no Metadata lists
    members_listed: bool = True
    ran: bool = True  # False for a layer known only from a profile row that took no time
    math_precision: str | None = None  # the precision it computes in (model/precision.py)
    precision_evidence: str = "unknown"  # what said so: conversion | tactic | input | output | unknown
    # from a detailed layer list (parse/artifacts.py): its weights and constant inputs, its outputs
    weights_bytes: int | None = None
    activation_bytes: int | None = None
    tactic_name: str | None = None  # the kernel's name, where the input printed it
    input_channels: int | None = None  # C of its first input and output, both 4-D (layer list)
    input_precision: str | None = None  # its first input's type (``precision`` is its output's)
    output_channels: int | None = None
    # the names of the tensors it reads and writes, where the input lists them (a layer list, a
    # layer line): the engine graph's edges (reports/graph.py)
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None

    @property
    def is_compute(self) -> bool:
        """Runs a kernel: not a NoOp/Constant/sync layer nor a reformat copy TensorRT inserted, nor
        a profile row that took no time (trtexec's own table leaves such rows out: they did not run)."""
        if self.kind == "reformat" or self.origin == "REFORMAT" or not self.ran:
            return False
        return (self.layer_type or "").lower() not in NON_COMPUTE_TYPES

    @property
    def is_fused(self) -> bool:
        return len(self.sources) > 1 or self.kind in ("myelin", "dla")

    @property
    def fusion_known(self) -> bool:
        """Whether the input says what the layer fused: not for a kernel Myelin generated
        (``__myl_*``, ``…_myl0_1``) unless Metadata lists its source layers."""
        return self.kind != "myelin_kernel" or self.members_listed


@dataclass
class LayerTime:
    """Per-layer time observations (from a profiler, a profile table or a profile JSON).

    ``buckets[i]`` counts observations in ``(bounds[i-1], bounds[i]]`` of the model's latency
    bucket bounds (seconds); the last entry counts those above every bound (``+Inf``).
    """

    count: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0
    median_ms: float | None = None
    buckets: list[int] = field(default_factory=list)
    last_seen: float = 0.0  # time.monotonic() of the last observation
    ran: bool = False  # some observation took time: the layer ran a kernel

    def observe(self, ms: float, median_ms: float | None, bounds: tuple[float, ...], now: float) -> None:
        self.count += 1
        self.sum_ms += ms
        self.max_ms = max(self.max_ms, ms)
        if median_ms is not None:
            self.median_ms = median_ms
        if not self.buckets:
            self.buckets = [0] * (len(bounds) + 1)
        self.buckets[bisect.bisect_left(bounds, ms / 1000.0)] += 1
        self.last_seen = now

    def merge(self, other: LayerTime) -> None:
        """Add ``other``'s observations (folding a layer into ``__other__``)."""
        self.count += other.count
        self.sum_ms += other.sum_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        if not self.buckets:
            self.buckets = [0] * len(other.buckets)
        for i, n in enumerate(other.buckets):
            self.buckets[i] += n
        self.last_seen = max(self.last_seen, other.last_seen)
        self.ran = self.ran or other.ran

    @property
    def avg_ms(self) -> float:
        return self.sum_ms / self.count if self.count else 0.0


@dataclass
class EngineModel:
    """Everything known about one engine (build + runtime), keyed by ``engine`` id."""

    engine: str
    files: list[str] = field(default_factory=list)
    source_layers: dict[str, str] = field(default_factory=dict)  # name -> ONNX op
    layers: dict[str, EngineLayer] = field(default_factory=dict)
    bindings: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> direction, shape, type
    # An engine built with several optimisation profiles lists every profile's layers and
    # bindings, those of profile N > 0 named "X [profile N]". ``layers`` and ``bindings`` are one
    # profile's (``profile``): 0, or the one the first per-layer time names (the profile that
    # ran); the others are kept by profile in ``profile_layers`` and ``profile_bindings``.
    profile: int = 0
    profile_layers: dict[int, dict[str, EngineLayer]] = field(default_factory=dict)
    profile_bindings: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    profile_timed: bool = False  # a per-layer time chose ``profile``
    # times of layers of other profiles (a profiler timing two contexts, two profiles' tables):
    # kept apart, as a sum over profiles would be no inference of either
    profile_times: dict[int, dict[str, LayerTime]] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    fusion_kinds: Counter[str] = field(default_factory=Counter)
    removed: set[str] = field(default_factory=set)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    fallbacks: list[dict[str, Any]] = field(default_factory=list)
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    memory: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    linked_versions: dict[str, str] = field(default_factory=dict)
    perf: dict[str, dict[str, float]] = field(default_factory=dict)
    layer_times: dict[str, LayerTime] = field(default_factory=dict)
    # Layers beyond ``max_tracked_layers`` (least total time first) are folded into this one, so
    # a stream of ever-new layer names cannot grow memory without bound.
    other_layer_time: LayerTime = field(default_factory=LayerTime)
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS
    max_tracked_layers: int = 5000
    last_update: float = 0.0  # time.monotonic() of the last event applied
    build_seconds: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, tuple[float, float]] = field(default_factory=dict)
    quantization: dict[str, str | None] = field(default_factory=dict)
    build_precisions: set[str] = field(default_factory=set)  # what the build asked to allow
    event_types: Counter[str] = field(default_factory=Counter)
    severities: Counter[str] = field(default_factory=Counter)
    error_lines: int = 0  # log lines (or logger messages) of severity error / internal_error
    warning_lines: int = 0  # the same for warnings
    error_messages: list[str] = field(default_factory=list)  # the first ones, with file:line
    # Per-name tables (layers, source layers, removed layers, calibration tensors, quantized
    # layers, plugins) keep at most ``max_names`` names each (0: no cap, the offline commands);
    # a name beyond is not kept and counted in ``dropped`` by kind, and its table is named in
    # ``truncated``: the figures that need the whole table are n/a from then on (docs/daemon.md,
    # "Cardinality"). ``names_closed`` (memory pressure): no new name is kept at all.
    max_names: int = 0
    names_closed: bool = False
    truncated: set[str] = field(default_factory=set)
    dropped: Counter[str] = field(default_factory=Counter)  # the daemon's store shares one
    int8_dropped: bool = False  # a layer or quantization not kept said Int8 (int8_requested)
    plugin_layers_dropped: set[str] = field(default_factory=set)  # plugin layers not in ``layers``
    _last_error_at: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)
    _last_warning_at: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    # -- building --------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one event into the model."""
        kind = event["type"]
        self.last_update = time.monotonic()
        self.event_types[kind] += 1
        self.severities[event["severity"]] += 1
        if event["severity"] in ERROR_SEVERITIES:
            self._error(event)
        elif event["severity"] == "warning":
            at_line = _line_of(event)
            if _new_line(at_line, self._last_warning_at):
                self._last_warning_at = at_line
                self.warning_lines += 1
        file = event["source"].get("file")
        if file and file not in self.files:
            if len(self.files) < MAX_SMALL_KEYS:
                self.files.append(file)
            else:
                self.dropped["file"] += 1
        handler = _APPLY.get(kind)
        if handler is not None:
            handler(self, event)

    def _error(self, e: Event) -> None:
        at_line = _line_of(e)
        if not _new_line(at_line, self._last_error_at):
            return
        self._last_error_at = at_line
        self.error_lines += 1
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            at = f" at {at_line[0]}:{at_line[1]}" if at_line[0] and at_line[1] else ""
            self.error_messages.append(cut((e.get("msg") or "").strip(), ERROR_MESSAGE_CHARS) + at)

    def _room(self, table: dict[str, Any] | set[str], name: str, kind: str, held: int | None = None) -> bool:
        """Whether ``name`` may be kept in ``table``: known already, or under ``max_names`` (and
        names not closed) counting ``held`` names (default: the table's). If not, it is counted
        dropped and the table marked truncated."""
        if name in table or not (self.max_names or self.names_closed):
            return True
        if not self.names_closed and (len(table) if held is None else held) < self.max_names:
            return True
        self.dropped[kind] += 1
        self.truncated.add(kind)
        return False

    def _small(self, table: dict[str, Any], key: str) -> bool:
        """Whether ``key`` may be kept in a table of few keys (MAX_SMALL_KEYS); else counted."""
        if key in table or len(table) < MAX_SMALL_KEYS:
            return True
        self.dropped["fact"] += 1
        return False

    @staticmethod
    def _key_or_other(counts: Counter[str], key: str) -> str:
        """``key``, or OTHER past MAX_SMALL_KEYS keys (counts and sums still add up)."""
        return key if key in counts or len(counts) < MAX_SMALL_KEYS else OTHER

    def _source_layer(self, e: Event) -> None:
        if self._room(self.source_layers, e["name"], "source_layer"):
            self.source_layers[e["name"]] = e.get("op") or ""

    def _layer_count(self, e: Event) -> None:
        if self._small(self.stages, e["stage"]):
            self.stages[e["stage"]] = e["count"]

    def _quantization(self, e: Event) -> None:
        if self._room(self.quantization, e["layer"], "quantization"):
            self.quantization[e["layer"]] = e.get("precision")
        elif e.get("precision") == "Int8":
            self.int8_dropped = True

    def _layer(self, e: Event) -> None:
        name = e["name"]
        parsed = decompose(name)
        listed = e.get("sources")
        sources = tuple(listed) if listed is not None else parsed.sources
        math, evidence = math_precision(
            e.get("layer_type"),
            e.get("tactic_name"),
            e.get("input_precision"),
            e.get("precision"),
            e.get("origin"),
        )
        layers = self._profile_layers(profile_index(name))
        # the cap is per engine: every profile's layers count
        held = len(self.layers) + sum(len(table) for table in self.profile_layers.values())
        if not self._room(layers, name, "layer", held):
            self.int8_dropped = self.int8_dropped or math == "Int8"
            plugins = self.plugin_layers_dropped
            if (e.get("layer_type") or "").startswith("Plugin") and (
                name in plugins or len(plugins) < max(self.max_names, 1)
            ):
                plugins.add(name)  # the plugin count stays exact (a bounded table of its own)
            elif (e.get("layer_type") or "").startswith("Plugin"):
                self.truncated.add("plugin_layer")
            return
        # what another input said of the same layer and this one does not (a layer list's
        # weights, a kernel's name) stays
        before = layers.get(name)
        layers[name] = EngineLayer(
            name=name,
            layer_type=e.get("layer_type"),
            precision=e.get("precision"),
            tactic=e.get("tactic"),
            sources=_layers_only(sources),
            kind=parsed.kind,
            origin=e.get("origin"),
            members_listed=not (parsed.kind in _MYELIN_KINDS and sources == parsed.sources),
            math_precision=math,
            precision_evidence=evidence,
            weights_bytes=_given(e, "weights_bytes", before),
            activation_bytes=_given(e, "activation_bytes", before),
            tactic_name=_given(e, "tactic_name", before),
            input_channels=_given(e, "input_channels", before),
            input_precision=_given(e, "input_precision", before),
            output_channels=_given(e, "output_channels", before),
            inputs=_names_given(e, "inputs", before),
            outputs=_names_given(e, "outputs", before),
        )

    def _profile_layers(self, profile: int) -> dict[str, EngineLayer]:
        """The layer table of optimisation profile ``profile``."""
        return self.layers if profile == self.profile else self.profile_layers.setdefault(profile, {})

    def _profile_bindings(self, profile: int) -> dict[str, dict[str, Any]]:
        return self.bindings if profile == self.profile else self.profile_bindings.setdefault(profile, {})

    def show_profile(self, profile: int) -> None:
        """Make optimisation profile ``profile``'s layers and bindings those the figures are of."""
        if profile == self.profile:
            return
        self.profile_layers[self.profile], self.profile_bindings[self.profile] = self.layers, self.bindings
        self.layers = self.profile_layers.pop(profile, {})
        self.bindings = self.profile_bindings.pop(profile, {})
        self.profile = profile

    def optimization_profiles(self) -> dict[str, Any] | None:
        """How many optimisation profiles the layer list names (the highest ``[profile N]`` + 1),
        which one the figures are of (``shown``), and each one's layers; None (n/a) without a
        layer list: a profile alone names only the profile that ran."""
        counts = {self.profile: len(self.layers)} | {p: len(t) for p, t in self.profile_layers.items()}
        counts = {p: n for p, n in counts.items() if n}
        if not counts:
            return None
        return {
            "count": max(counts) + 1,
            "shown": self.profile,
            "layers": {str(p): counts.get(p, 0) for p in range(max(counts) + 1)},
        }

    def _binding(self, e: Event) -> None:
        bindings = self._profile_bindings(profile_index(e["name"]))
        if self._small(bindings, e["name"]):
            bindings[e["name"]] = {
                "direction": e["direction"],
                "shape": e.get("shape"),
                "precision": e.get("precision"),
                "format": e.get("format"),
            }

    def _fusion(self, e: Event) -> None:
        kind = str(e.get("kind") or "Fusion")  # kind is optional in an event stream
        self.fusion_kinds[self._key_or_other(self.fusion_kinds, kind)] += 1
        if e.get("result") is None:
            for layer in e["layers"]:
                if self._room(self.removed, layer, "removed"):
                    self.removed.add(layer)

    def _plugin(self, e: Event) -> None:
        if e.get("creator"):
            return  # a creator the plugin registry lists ("Registered plugin creator"), not the network's
        if not self._room(self.plugins, e["plugin"], "plugin"):
            return
        entry = self.plugins.setdefault(
            e["plugin"], {"version": e.get("version"), "registered": True, "count": 0}
        )
        entry["count"] += 1
        if e.get("version"):
            entry["version"] = e["version"]
        if e.get("registered") is False:
            entry["registered"] = False

    def _fallback(self, e: Event) -> None:
        reason = e["reason"]
        self.fallback_reasons[self._key_or_other(self.fallback_reasons, reason)] += 1
        if len(self.fallbacks) < MAX_FALLBACKS:
            entry: dict[str, Any] = {
                k: e[k] for k in ("layer", "reason", "from_precision", "to_precision", "tactic") if k in e
            }
            entry["source"] = e["source"]
            self.fallbacks.append(entry)

    def _memory(self, e: Event) -> None:
        kind, size = e["kind"], e["bytes"]
        if not self._small(self.memory, kind):
            return
        if kind.startswith("peak_"):
            self.memory[kind] = max(size, self.memory.get(kind, 0))
        else:
            self.memory[kind] = size

    def _version(self, e: Event) -> None:
        if not self._small(self.versions, e["component"]):
            return
        self.versions[e["component"]] = e["version"]
        if e.get("linked"):
            self.linked_versions[e["component"]] = e["linked"]

    def _perf(self, e: Event) -> None:
        if self._small(self.perf, e["metric"]):
            stats = self.perf.setdefault(e["metric"], {})
            if self._small(stats, e["stat"]):
                stats[e["stat"]] = e["value"]

    def _layer_time(self, e: Event) -> None:
        profile = profile_index(e["layer"])
        if not self.profile_timed:  # the first time says which profile ran
            self.profile_timed = True
            self.show_profile(profile)
        if profile != self.profile:
            other = self.profile_times.setdefault(profile, {})
            entry = other.get(e["layer"])
            if entry is None:
                if len(other) >= self.max_tracked_layers:
                    self.dropped["layer_time"] += 1
                    return
                entry = other[e["layer"]] = LayerTime()
            entry.observe(e["ms"], e.get("median_ms"), self.latency_buckets, time.monotonic())
            return
        times = self.layer_times
        entry = times.get(e["layer"])
        if entry is None:
            if len(times) >= 2 * self.max_tracked_layers:
                self._fold_least_timed_layers()
                times = self.layer_times
            entry = times[e["layer"]] = LayerTime()
        entry.observe(e["ms"], e.get("median_ms"), self.latency_buckets, time.monotonic())
        if e["ms"] > 0 or (e.get("total_ms") or 0) > 0:
            entry.ran = True  # (TensorRT 7 rounds a short layer's average to 0.00, not its Time)

    def _fold_least_timed_layers(self) -> None:
        """Keep the ``max_tracked_layers`` layers with most total time; fold the rest (amortised:
        runs once per ``max_tracked_layers`` new names)."""
        self._fold_layer_times(self.max_tracked_layers)

    def _fold_layer_times(self, keep: int) -> None:
        ranked = sorted(self.layer_times.items(), key=lambda item: item[1].sum_ms, reverse=True)
        for _name, dropped in ranked[keep:]:
            self.other_layer_time.merge(dropped)
        if len(ranked) > keep:
            self.truncated.add("layer_time")  # a profile's engine layers are no longer all known
            self.dropped["layer_time"] += len(ranked) - keep
        self.layer_times = dict(ranked[:keep])

    def drop_stale_layers(self, ttl: float, now: float) -> int:
        """Forget layer timings not observed for ``ttl`` seconds while the engine's other layers
        were (the engine was reloaded with other layers). Returns how many were dropped."""
        newest = max((t.last_seen for t in self.layer_times.values()), default=0.0)
        if now - newest > ttl:
            return 0  # nothing observed lately at all: static data (a profile read once) stays
        stale = [name for name, t in self.layer_times.items() if newest - t.last_seen > ttl]
        for name in stale:
            del self.layer_times[name]
        return len(stale)

    def _build(self, e: Event) -> None:
        stage = e.get("stage") or "engine_generation"
        if self._small(self.build_seconds, stage):
            self.build_seconds[stage] = e["seconds"]

    def _build_config(self, e: Event) -> None:
        for precision in e["precisions"]:
            if precision in self.build_precisions or len(self.build_precisions) < MAX_SMALL_KEYS:
                self.build_precisions.add(precision)

    def _calibration(self, e: Event) -> None:
        """Past ``max_names`` tensors the widest are kept (amortised: pruned at twice the cap),
        so the widest ranges /metrics exports stay right; how many there are becomes unknown."""
        if e.get("min") is None or e.get("max") is None:
            return
        table, tensor = self.calibration, e["tensor"]
        if self.names_closed and tensor not in table:
            self.dropped["calibration"] += 1
            self.truncated.add("calibration")
            return
        table[tensor] = (e["min"], e["max"])
        if self.max_names and len(table) >= 2 * self.max_names:
            self.keep_widest_calibration(self.max_names)

    def keep_widest_calibration(self, keep: int) -> None:
        widest = sorted(self.calibration.items(), key=lambda kv: kv[1][1] - kv[1][0], reverse=True)
        if len(widest) > keep:
            self.dropped["calibration"] += len(widest) - keep
            self.truncated.add("calibration")
            self.calibration = dict(widest[:keep])

    def detail_entries(self, keep: int) -> int:
        """The entries ``shed_detail(keep)`` would forget."""
        return (
            len(self.layers)
            + sum(len(table) for table in self.profile_layers.values())
            + sum(len(table) for table in self.profile_times.values())
            + len(self.source_layers)
            + len(self.removed)
            + len(self.quantization)
            + max(0, len(self.layer_times) - keep)
            + max(0, len(self.calibration) - keep)
        )

    def shed_detail(self, keep: int) -> int:
        """Under memory pressure: forget the per-name detail (layers, source layers, removed
        layers, quantization), keeping the ``keep`` most-timed layer times and widest calibration
        ranges; the figures that need that detail are n/a from then on. Returns the entries
        forgotten (also counted in ``dropped`` by kind)."""
        forgotten = 0
        for kind, table in (
            ("layer", {name for t in (self.layers, *self.profile_layers.values()) for name in t}),
            ("source_layer", self.source_layers),
            ("removed", self.removed),
            ("quantization", self.quantization),
        ):
            if table:
                forgotten += len(table)
                self.dropped[kind] += len(table)
                self.truncated.add(kind)
        self.int8_dropped = self.int8_dropped or self.int8_requested()
        plugin_layers = self.plugin_layers()
        self.layers, self.source_layers, self.removed, self.quantization = {}, {}, set(), {}
        self.profile_layers, self.profile_bindings, self.profile_times = {}, {}, {}
        self.plugin_layers_dropped = set(plugin_layers)
        before = len(self.layer_times) + len(self.calibration)
        self._fold_layer_times(keep)
        self.keep_widest_calibration(keep)
        forgotten += before - len(self.layer_times) - len(self.calibration)
        self.truncated.add("shed")
        return forgotten

    # -- derived facts ---------------------------------------------------------------------------

    def engine_layers(self) -> list[EngineLayer]:
        """Engine layers from a layer list; failing that, the layers a profile named."""
        if self.layers:
            return list(self.layers.values())
        return [self.profiled_layer(name) for name in self.layer_times]

    def profiled_layer(self, name: str) -> EngineLayer:
        """The engine layer a profile row names, as ``engine_layers`` builds it without a list."""
        parsed = decompose(name)
        times = self.layer_times.get(name)
        return EngineLayer(
            name,
            None,
            None,
            None,
            _layers_only(parsed.sources),
            parsed.kind,
            members_listed=parsed.kind not in _MYELIN_KINDS,
            ran=times.ran if times is not None else True,
        )

    def compute_layers(self) -> list[EngineLayer]:
        return [layer for layer in self.engine_layers() if layer.is_compute]

    def unknown_because(self, *kinds: str) -> str | None:
        """Why a figure that needs the whole of the tables ``kinds`` (``layer``: the engine
        layers, from the layer list or else the profile; ``source_layer``; ``removed``) is n/a:
        some of them were capped (``max_names``) or shed under memory pressure. None: whole."""
        if "layer" in kinds and not self.layers:
            kinds = (*kinds, "layer_time")  # without a layer list, the profile names the layers
        missing = [kind for kind in dict.fromkeys(kinds) if kind in self.truncated]
        if not missing:
            return None
        what = " and ".join(_TRUNCATED_WHAT.get(kind, kind) for kind in missing)
        if "shed" in self.truncated:
            return f"{what} were dropped to stay under agent.memory_limit_bytes: the figure is unknown"
        return (
            f"{what} past the agent's cap of {self.max_names} names per engine were not kept "
            "(metrics.max_layer_names): the figure is unknown"
        )

    def engine_layers_known(self) -> bool:
        """Every engine layer is known (no cap or memory shedding left some out)."""
        return self.unknown_because("layer") is None

    def _myelin_absorbed(self, regions: int) -> int | None:
        """Layers Myelin swallowed, from the layer counts around "After Myelin optimization"."""
        stages = list(self.stages.items())
        for index, (stage, count) in enumerate(stages):
            if stage == "after_myelin_optimization" and index > 0:
                return stages[index - 1][1] - count + regions
        return None

    def _hiding(self, layers: list[EngineLayer]) -> tuple[list[EngineLayer], list[EngineLayer]]:
        """(Myelin regions known by first...last only, Myelin kernels no Metadata explains)."""
        regions = [layer for layer in layers if layer.kind == "myelin" and not layer.members_listed]
        kernels = [layer for layer in layers if layer.is_compute and not layer.fusion_known]
        return regions, kernels

    def coverage_counts(self) -> tuple[set[str], set[str], int | None]:
        """(source layers, source layers absorbed into fused engine layers, opaque layers).

        Opaque layers are None when Myelin hides source layers and the input cannot count them:
        no source-layer list, and for regions no layer counts around Myelin (nothing counts what
        a generated kernel absorbed)."""
        layers = self.engine_layers()
        listed: set[str] = set()
        fused: set[str] = set()
        for layer in layers:
            if not layer.fusion_known:
                continue  # a Myelin kernel's name is not a source layer
            listed.update(layer.sources)
            if layer.is_fused:
                fused.update(layer.sources)
        regions, kernels = self._hiding(layers)
        if self.unknown_because("layer", "source_layer") is not None:
            return listed, fused, None  # a capped table: what is hidden cannot be counted
        if self.source_layers:
            sources = set(self.source_layers)
            fused &= sources
            if (regions or kernels) and "removed" in self.truncated:
                return sources, fused, None
            opaque = len(sources - listed - self.removed) if regions or kernels else 0
            return sources, fused, opaque
        if kernels:
            return listed, fused, None
        if not regions:
            return listed, fused, 0
        absorbed = self._myelin_absorbed(len(regions))
        if absorbed is None:
            return listed, fused, None
        endpoints = {s for layer in regions for s in layer.sources}
        return listed, fused, max(0, absorbed - len(endpoints))

    def fusion_coverage(self) -> Ratio:
        """Source layers absorbed into fused engine layers / all source layers."""
        return self.fusion_ratio(*self.coverage_counts())

    def fusion_ratio(self, sources: set[str], fused: set[str], opaque: int | None) -> Ratio:
        """Fusion coverage from ``coverage_counts()`` (callers that need the counts too pass them)."""
        capped = self.unknown_because("layer", "source_layer", "removed")
        if capped is not None and (opaque is None or self.unknown_because("layer", "source_layer")):
            return Ratio(0, 0, reason=capped)
        if opaque is None:
            regions, kernels = self._hiding(self.engine_layers())
            what = " and ".join(
                text
                for text in (
                    f"{len(kernels)} Myelin-generated kernel(s)" if kernels else "",
                    f"{len(regions)} Myelin region(s) named by first...last" if regions else "",
                )
                if text
            )
            reason = f"{what} hide how many source layers they absorbed; no source-layer list counts them"
            return Ratio(0, 0, reason=reason)
        if self.source_layers:
            if not self.engine_layers():
                # the network is known but not the engine (a build log cut before its layer list)
                return Ratio(0, 0, reason="no engine layer: no layer list or profile in the input")
            return Ratio(len(fused) + opaque, len(sources))
        if not sources and not opaque:
            return Ratio(0, 0, reason="no engine layer names a source layer: no layer list or profile")
        return Ratio(len(fused) + opaque, len(sources) + opaque)

    def opaque_layers(self) -> int | None:
        """Source layers hidden in Myelin; None when the input cannot count them."""
        return self.coverage_counts()[2]

    def unfused_kernel_ratio(self) -> Ratio:
        """Compute layers made of one source layer / compute layers whose fusion is known (a kernel
        Myelin generated says nothing of what it fused: it is left out, and counted)."""
        capped = self.unknown_because("layer")
        if capped is not None:
            return Ratio(0, 0, reason=capped)
        compute = self.compute_layers()
        judged = [layer for layer in compute if layer.fusion_known]
        excluded = len(compute) - len(judged)
        reason = None
        if not compute:
            reason = "no compute layer: no layer list or profile"
        elif excluded:
            reason = f"{excluded} Myelin-generated kernel(s) left out: their names do not say what they fused"
        return Ratio(sum(1 for layer in judged if not layer.is_fused), len(judged), excluded, reason)

    def layer_precision(self, layer: EngineLayer) -> str | None:
        """The precision ``layer`` computes in (``None``: a conversion, or unknown)."""
        return layer.math_precision

    def int8_coverage(self) -> Ratio:
        """INT8 compute layers / compute layers whose precision is known (``layer_precision``).
        A layer of unknown precision (no type in the input) is left out, and counted: unknown is
        not "not INT8"; a layer with a type but no precision of its own (a conversion) is not
        counted at all."""
        capped = self.unknown_because("layer")
        if capped is not None:
            return Ratio(0, 0, reason=capped)
        compute = self.compute_layers()
        known: list[str] = []
        unknown = 0
        for layer in compute:
            precision = self.layer_precision(layer)
            if precision is not None:
                known.append(precision)
            elif layer.precision is None:
                unknown += 1
        reason = None
        if not compute:
            reason = "no compute layer: no layer list or profile"
        elif not known:
            reason = (
                f"the precision of none of the {len(compute)} compute layer(s) is known: a profile "
                "gives none; add the build log or --exportLayerInfo"
            )
        elif unknown:
            reason = f"{unknown} compute layer(s) of unknown precision left out"
        return Ratio(sum(1 for p in known if p == "Int8"), len(known), unknown, reason)

    def precision_counts(self) -> dict[str, int]:
        """Compute layers by ``layer_precision``: ``unknown`` where the input gives no type,
        ``conversion`` for a layer with a type but no precision of its own (a Q/DQ or reformat
        layer computes nothing). Empty when some engine layers are not known (``unknown_because``)."""
        if not self.engine_layers_known():
            return {}
        counts = Counter(self.precision_word(layer) for layer in self.compute_layers())
        return dict(counts.most_common())

    def layer_memory(self) -> dict[str, Any] | None:
        """Weights and activations per engine layer, from a detailed layer list: ``layers``, a
        list of ``{layer, weights_bytes, activation_bytes}`` in plan order (None where the list
        does not say: a dynamic shape, one layer's JSON), and their sums (None when a layer's is
        unknown). Activations are each layer's outputs, summed over layers: what the layers write,
        not the engine's activation memory, which TensorRT reuses between layers. None (n/a)
        when no layer of the list gives either, or the agent's caps left layers out."""
        if not self.engine_layers_known() or not self.layers:
            return None
        layers = list(self.layers.values())
        if all(layer.weights_bytes is None and layer.activation_bytes is None for layer in layers):
            return None
        rows = [
            {
                "layer": layer.name,
                "weights_bytes": layer.weights_bytes,
                "activation_bytes": layer.activation_bytes,
            }
            for layer in layers
        ]
        totals: dict[str, Any] = {}
        for key in ("weights_bytes", "activation_bytes"):
            values = [row[key] for row in rows]
            totals[key] = None if any(v is None for v in values) else sum(values)
        return {"layers": rows, "totals": totals}

    def precision_word(self, layer: EngineLayer) -> str:
        """``layer_precision``, else ``conversion`` (a type but no precision of its own: a Q/DQ or
        reformat layer computes nothing) or ``unknown`` (the input gives no type)."""
        return self.layer_precision(layer) or ("unknown" if layer.precision is None else "conversion")

    def int8_requested(self) -> bool:
        """The build asked for INT8: said so (trtexec ``Precision: …+INT8``), calibrated, set a
        layer to INT8, built INT8 layers, or warned about missing INT8 scales."""
        return (
            self.int8_dropped
            or "Int8" in self.build_precisions
            or bool(self.calibration)
            or "Int8" in self.quantization.values()
            or any(self.layer_precision(layer) == "Int8" for layer in self.layers.values())
            or any(f.get("from_precision") == "Int8" for f in self.fallbacks)
        )

    def plugin_layers(self) -> list[str]:
        """Engine layers implemented by plugins, also those a cap kept out of ``layers`` (their
        names are kept on their own, up to ``max_names`` more)."""
        kept = [layer.name for layer in self.engine_layers() if (layer.layer_type or "").startswith("Plugin")]
        return kept + sorted(self.plugin_layers_dropped.difference(kept))

    def plugin_layer_count(self) -> int | None:
        """``len(plugin_layers())``; None when even the plugin layers' own table was capped."""
        return None if "plugin_layer" in self.truncated else len(self.plugin_layers())

    def slowest_layers(self, limit: int = 10) -> list[dict[str, Any]]:
        total = sum(t.sum_ms for t in self.layer_times.values()) or 1.0
        ranked = sorted(self.layer_times.items(), key=lambda item: item[1].sum_ms, reverse=True)[:limit]
        rows = []
        for name, t in ranked:
            layer = self.layers.get(name)
            rows.append(
                {
                    "layer": name,
                    "avg_ms": round(t.avg_ms, 6),
                    "median_ms": t.median_ms,
                    "max_ms": t.max_ms,
                    "count": t.count,
                    "share": round(t.sum_ms / total, 6),
                    "precision": self.layer_precision(layer) if layer else None,
                    "fused": _fused_column(layer or self.profiled_layer(name)),
                }
            )
        return rows

    def plan_mismatches(self) -> list[tuple[str, str, str]]:
        """``(component, plan's version, runtime's version)`` for each fact about an engine plan
        (``X_plan``: the TensorRT that built it, its serialization version, the compute capability
        it was built for) that differs from what the runtime reported for ``X``."""
        out = []
        for component, plan in sorted(self.versions.items()):
            if component.endswith("_plan"):
                runtime = self.versions.get(component.removesuffix("_plan"))
                if runtime is not None and runtime != plan:
                    out.append((component.removesuffix("_plan"), plan, runtime))
        return out

    def peak_memory_bytes(self) -> int | None:
        for kind in ("peak_gpu", "trt_managed_gpu", "activation"):
            if kind in self.memory:
                return self.memory[kind]
        return None

    def summary(self) -> dict[str, Any]:
        """The ``report --json`` document for this engine (stable keys, see README)."""
        sources, fused, opaque = self.coverage_counts()
        widest = sorted(self.calibration.items(), key=lambda kv: kv[1][1] - kv[1][0], reverse=True)[:5]
        return {
            "engine": self.engine,
            "files": self.files,
            "layers": {
                "source": len(sources) if self.unknown_because("layer", "source_layer") is None else None,
                "engine": len(self.engine_layers()) if self.engine_layers_known() else None,
                "compute": len(self.compute_layers()) if self.engine_layers_known() else None,
                "stages": dict(self.stages),
            },
            "fusion_coverage": self.fusion_ratio(sources, fused, opaque).as_dict()
            | {"opaque_layers": opaque},
            "unfused_kernel_ratio": self.unfused_kernel_ratio().as_dict(),
            "int8_coverage": self.int8_coverage().as_dict(),
            "precisions": self.precision_counts(),
            "fusions": {
                "events": sum(self.fusion_kinds.values()),
                "by_kind": dict(self.fusion_kinds.most_common()),
            },
            "slowest_layers": self.slowest_layers(),
            "plugins": {
                "layers": self.plugin_layers(),
                "created": {name: dict(info) for name, info in sorted(self.plugins.items())},
            },
            "fallbacks": {
                "count": sum(self.fallback_reasons.values()),
                "by_reason": dict(self.fallback_reasons),
                "items": self.fallbacks[:50],
            },
            "memory": dict(sorted(self.memory.items())),
            "peak_memory_bytes": self.peak_memory_bytes(),
            "versions": dict(sorted(self.versions.items())),
            "linked_versions": dict(sorted(self.linked_versions.items())),
            "perf": self.perf,
            "build_seconds": self.build_seconds,
            "calibration": {
                "tensors": len(self.calibration) if "calibration" not in self.truncated else None,
                "widest": [{"tensor": t, "min": lo, "max": hi} for t, (lo, hi) in widest],
            },
            "events": {
                "total": sum(self.event_types.values()),
                # lines, not events: one error line may give an error and two version events
                "warnings": self.warning_lines,
                "errors": self.error_lines,
                "by_type": dict(sorted(self.event_types.items())),
            },
            "source_layer_names_known": bool(sources),
        }


_MYELIN_KINDS: Final = ("myelin", "myelin_kernel")


def _given(e: Event, key: str, before: EngineLayer | None) -> Any:
    """``e[key]``, else what an earlier event said of the same layer."""
    value = e.get(key)
    return value if value is not None or before is None else getattr(before, key)


def _names_given(e: Event, key: str, before: EngineLayer | None) -> tuple[str, ...] | None:
    """``e[key]`` (a list of names) as a tuple, else what an earlier event said of the layer."""
    value = e.get(key)
    if value is None:
        return getattr(before, key) if before is not None else None
    return tuple(value)


def _layers_only(sources: Iterable[str]) -> tuple[str, ...]:
    """The source layers among a name's members: weights and biases are constants, not layers."""
    return tuple(s for s in sources if not is_constant(s))


def fallback_label(fallback: dict[str, Any]) -> str:
    """What fell back, for people: the layer, else the tactic (``Skipping tactic`` names none)."""
    what = fallback.get("layer") or (
        f"tactic {fallback['tactic']}" if fallback.get("tactic") else "(no layer named)"
    )
    return f"{what} [{fallback['reason']}]"


_APPLY: Final[dict[str, Callable[[EngineModel, Event], None]]] = {
    "source_layer": EngineModel._source_layer,
    "layer": EngineModel._layer,
    "binding": EngineModel._binding,
    "layer_count": EngineModel._layer_count,
    "fusion": EngineModel._fusion,
    "plugin": EngineModel._plugin,
    "fallback": EngineModel._fallback,
    "memory": EngineModel._memory,
    "version": EngineModel._version,
    "perf_summary": EngineModel._perf,
    "layer_time": EngineModel._layer_time,
    "build_complete": EngineModel._build,
    "calibration": EngineModel._calibration,
    "quantization": EngineModel._quantization,
    "build_config": EngineModel._build_config,
}


def fold(
    models: dict[str, EngineModel],
    events: Iterable[Event],
    new_model: Callable[[str], EngineModel] = EngineModel,
) -> None:
    """Apply ``events`` to ``models`` (one model per engine id); ``new_model(engine)`` makes
    the model of an engine seen for the first time."""
    for event in events:
        engine = event["engine"]
        model = models.get(engine)
        if model is None:
            model = models[engine] = new_model(engine)
        model.apply(event)


def build_models(events: Iterable[Event]) -> dict[str, EngineModel]:
    """Fold a stream of events into one model per engine id."""
    models: dict[str, EngineModel] = {}
    fold(models, events)
    return models


def _fused_column(layer: EngineLayer) -> bool | None:
    """A layer's "fused" for the slowest-layers rows: None where its fusion is not judged (a
    Myelin-generated kernel), as the unfused-kernel ratio counts it."""
    return layer.is_fused if layer.fusion_known else None


def _line_of(event: Event) -> tuple[Any, Any]:
    where = event["source"]
    return where.get("file"), where.get("line")


def _new_line(at_line: tuple[Any, Any], last: tuple[Any, Any] | None) -> bool:
    """A warning or error line counts once, whatever number of events it made (a plan-version
    error is an error and two version events); a logger message without a line counts each time.
    Events of one line arrive together, so the last line counted is all there is to remember."""
    return at_line[1] is None or at_line != last
