"""The metrics of ``trt-agent run``: engine facts, per-layer latency, and the agent's own health.

One custom collector reads the engine store when scraped, from a view (``EngineStore.view``:
the models at one moment, taken in O(1) under the store's lock, which nobody changes afterwards:
the store copies a model before changing one a view holds). All values come from that one
moment, and computing and formatting them holds nothing the tailer waits for. What a model gives
is computed and formatted once per model object (``CachedFamily``, ``exposition``): a scrape
formats again only the engines whose models changed since the last one.

Cardinality is bounded by ``[metrics]``: ``max_layer_series`` layers per engine (top by total
time; the rest are summed into ``layer="__other__"``), ``max_engines`` engines,
``max_calibration_series`` calibration ranges per engine.

Every per-engine family is named ``trt_engine_*`` (the agent's own, ``trt_agent_*``). Those that
0.2.0 renamed are also served under their old names until 0.3.0, with the same samples
(``DEPRECATED_NAMES``; ``metrics.deprecated_names = false`` drops them now).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from trt_agent.config import MetricsConfig
from trt_agent.model import EngineModel
from trt_agent.model.engine import LayerTime
from trt_agent.model.store import EngineStore, StoreView
from trt_agent.redact import Redactor
from trt_agent.rules import Result

OTHER_LAYER = "__other__"
BUILD_INFO_COMPONENTS = ("tensorrt", "cuda", "cudnn")
# The per-engine families 0.2.0 renamed to the one ``trt_engine_`` prefix, as scraped: the name
# -> the old name, served as a deprecated alias with the same samples until 0.3.0.
DEPRECATED_NAMES = {
    "trt_engine_fallback_events_total": "trt_fallback_events_total",
    "trt_engine_calibration_range": "trt_calibration_range",
    "trt_engine_build_info": "trt_build_info",
    "trt_engine_version_mismatch": "trt_version_mismatch",
    "trt_engine_log_events_total": "trt_log_events_total",
    "trt_engine_rule_ok": "trt_rule_ok",
    "trt_engine_layer_latency_seconds": "trt_layer_latency_seconds",
}
DEPRECATED_UNTIL = "0.3.0"
# What prometheus-client appends to a family's name in the name scraped.
_TYPE_SUFFIX = {"counter": "_total", "info": "_info"}


def layer_histograms(model: EngineModel, limit: int) -> list[tuple[str, list[tuple[str, float]], float]]:
    """(layer, cumulative buckets, sum in seconds) for the ``limit`` layers with most total
    time, then ``__other__`` for the rest (and for layers the model already folded)."""
    bounds = model.latency_buckets
    ranked = sorted(model.layer_times.items(), key=lambda item: item[1].sum_ms, reverse=True)
    other = LayerTime()
    other.merge(model.other_layer_time)
    if any(name == OTHER_LAYER for name, _ in ranked):
        # a layer really named "__other__" would collide with the fold: it is folded too
        other.merge(model.layer_times[OTHER_LAYER])
        ranked = [item for item in ranked if item[0] != OTHER_LAYER]
    for _name, times in ranked[limit:]:
        other.merge(times)
    shown = ranked[:limit] + ([(OTHER_LAYER, other)] if other.count else [])
    out = []
    for name, times in shown:
        cumulative, running = [], 0
        counts = times.buckets or [0] * (len(bounds) + 1)
        for bound, count in zip((*bounds, float("inf")), counts, strict=True):
            running += count
            cumulative.append((floatToGoString(bound), float(running)))  # type: ignore[no-untyped-call]
        out.append((name, cumulative, times.sum_ms / 1000.0))
    return out


def deprecated_alias(family: Metric) -> Metric | None:
    """The family under its pre-0.2.0 name (``DEPRECATED_NAMES``) with the same samples; None for
    a family that was not renamed."""
    suffix = _TYPE_SUFFIX.get(family.type, "")
    old = DEPRECATED_NAMES.get(family.name + suffix)
    if old is None:
        return None
    alias = Metric(
        old.removesuffix(suffix),
        f"Deprecated alias of {family.name + suffix}; removed in {DEPRECATED_UNTIL}. {family.documentation}",
        family.type,
        family.unit,
    )
    alias.samples = [s._replace(name=alias.name + s.name[len(family.name) :]) for s in family.samples]
    return alias


def version_mismatch(model: EngineModel) -> bool:
    """A component TensorRT was linked against in another version than the one it loaded, or an
    engine plan the runtime refused: built by another TensorRT, in another serialization format
    or for another compute capability (``EngineModel.plan_mismatches``)."""
    plan = model.versions.get("tensorrt_plan")
    return (
        plan not in (None, model.versions.get("tensorrt"))
        or bool(model.plan_mismatches())
        or any(model.versions.get(c) not in (None, linked) for c, linked in model.linked_versions.items())
    )


class CachedFamily(Metric):
    """A family whose samples come in one part per engine, each formatted once per model object
    (``exposition`` writes the parts' cached text; any other reader sees ``samples`` as usual,
    flattened from the parts when first read: a scrape that only writes the cached text never
    builds the list of every sample)."""

    def __init__(self, family: Metric, parts: list[_Part]) -> None:
        super().__init__(family.name, family.documentation, family.type, family.unit)
        self.parts = parts
        self._samples: list[Sample] | None = None

    @property
    def samples(self) -> list[Sample]:
        if self._samples is None:
            self._samples = [sample for part in self.parts for sample in part.samples]
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        # Metric.__init__ sets [] before the parts are known: the parts' samples stand then
        self._samples = value or None


class _Part:
    """One engine's samples of one family, and their exposition by encoder (formatted by that
    encoder, so the bytes are prometheus-client's own).

    A deprecated alias's part (``source``: the part of the family under its new name, and that
    family's name) holds the same samples under the old name: its text is the source's, each
    line's leading name renamed (every sample line starts with the family's name, and both names
    are plain metric names, which no encoder quotes or escapes), not formatted a second time."""

    __slots__ = ("_text", "samples", "source")

    def __init__(self, samples: list[Sample], source: tuple[_Part, Metric] | None = None) -> None:
        self.samples = samples
        self.source = source
        self._text: dict[Any, bytes] = {}

    def exposition(self, family: Metric, encoder: Callable[[Any], bytes], key: Any) -> bytes:
        text = self._text.get(key)
        if text is None:
            if self.source is not None:
                part, original = self.source
                text = _rename(part.exposition(original, encoder, key), original.name, family.name)
            if text is None:
                one = Metric(family.name, family.documentation, family.type, family.unit)
                one.samples = self.samples
                text = _sample_lines(encoder(_Families([one])))
            self._text[key] = text
        return text


def _rename(text: bytes, old: str, new: str) -> bytes | None:
    """Sample lines of family ``old`` as family ``new`` writes them; None if some line does not
    start with ``old`` (then the alias is formatted on its own)."""
    if not text:
        return text
    prefix = b"\n" + old.encode()
    lined = b"\n" + text
    if lined.count(prefix) != text.count(b"\n"):
        return None
    return lined.replace(prefix, b"\n" + new.encode())[1:]


class _Families:
    """What an encoder takes: something whose ``collect()`` yields families."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _sample_lines(text: bytes) -> bytes:
    """``text`` without its comment lines (# HELP, # TYPE, # UNIT, # EOF): a sample line never
    starts with "# "."""
    return b"".join(line for line in text.splitlines(keepends=True) if not line.startswith(b"# "))


_HEADERS: dict[tuple[str, str, str, str, Any], bytes] = {}


def _encoder_key(encoder: Callable[[Any], bytes]) -> Any:
    """What makes two encoders format alike: the function and its keyword arguments (escaping,
    version); choose_encoder makes a new partial for each request."""
    if isinstance(encoder, partial):
        return (encoder.func, encoder.args, tuple(sorted(encoder.keywords.items())))
    return encoder


def exposition(registry: Any, accept: str = "") -> tuple[bytes, str]:
    """The body and content type of a scrape of ``registry`` for an ``Accept`` header: what
    prometheus-client's encoder writes, byte for byte, except that the samples of a
    ``CachedFamily`` are written from the text formatted when its engine's model last changed."""
    encoder, content_type = choose_encoder(accept)
    key = _encoder_key(encoder)
    tail = encoder(_Families([]))  # "# EOF\n" of OpenMetrics, nothing in the text format
    out: list[bytes] = []
    run: list[Metric] = []

    def flush() -> None:
        if run:
            out.append(encoder(_Families(run)).removesuffix(tail))
            run.clear()

    for family in registry.collect():
        if not isinstance(family, CachedFamily):
            run.append(family)
            continue
        flush()
        header_key = (family.name, family.documentation, family.type, family.unit, key)
        header = _HEADERS.get(header_key)
        if header is None:
            empty = Metric(family.name, family.documentation, family.type, family.unit)
            header = _HEADERS[header_key] = encoder(_Families([empty])).removesuffix(tail)
        out.append(header)
        out += [part.exposition(family, encoder, key) for part in family.parts if part.samples]
    flush()
    out.append(tail)
    return b"".join(out), content_type


# Families whose samples hold free text scrubbed of learned names: the redactor learns names as
# the logs go, so these are computed at each scrape, not cached with the model.
_FREE_TEXT = ("fallback_events", "build")


class EngineCollector(Collector):
    """The ``trt_engine_*`` metrics of every engine model, computed at scrape time, and the
    engine store's ``trt_agent_*`` bounds; with ``settings.deprecated_names``, the deprecated
    aliases of renamed families too.

    A scrape takes a view of the store (``EngineStore.view``: O(1) under its lock) and computes
    everything from it without any lock the pipeline takes. What an engine's model gives is
    computed, and formatted (``exposition``), once per model object: the store copies a model
    before changing one a view holds, so the same object means the same samples."""

    def __init__(
        self,
        store: EngineStore,
        settings: MetricsConfig,
        redactor: Redactor | None = None,
        rule_results: Callable[[], list[Result]] = list,
    ) -> None:
        self.store = store
        self.settings = settings
        self.redactor = redactor
        self.rule_results = rule_results
        # engine -> (the model object, family key -> its part; alias parts under "alias:" + key)
        self._cache: dict[str, tuple[EngineModel, dict[str, _Part]]] = {}
        self._cache_lock = threading.Lock()  # the collector's own: the pipeline never takes it

    def collect(self) -> Iterator[Metric]:
        view = self.store.view()
        yield from self._engines(view)
        yield from self._store(view)

    def _families(self) -> dict[str, Any]:
        return {
            "fusion": _gauge("trt_engine_fusion_coverage_ratio", "Source layers absorbed into fused engine layers / all source layers; no sample while Myelin hides how many source layers it absorbed.", ["engine"]),
            "unfused": _gauge("trt_engine_unfused_kernel_ratio", "Engine compute layers made of one source layer / engine compute layers whose fusion the input tells (Myelin-generated kernels left out); no sample when none.", ["engine"]),
            "int8": _gauge("trt_engine_int8_coverage_ratio", "INT8 engine compute layers / engine compute layers whose precision is known; no sample when none is.", ["engine"]),
            "opaque": _gauge("trt_engine_opaque_layers", "Source layers hidden inside Myelin regions whose members are not listed; no sample when the input cannot count them.", ["engine"]),
            "layers": _gauge("trt_engine_layers", "Engine compute layers by the precision they compute in (\"unknown\" where the input does not say).", ["engine", "precision"]),
            "peak": _gauge("trt_engine_peak_memory_bytes", "Peak memory TensorRT reported for the engine (build or runtime).", ["engine"]),
            "memory": _gauge("trt_engine_memory_bytes", "Memory TensorRT reported, by kind.", ["engine", "kind"]),
            "plugins": _gauge("trt_engine_plugins", "Engine layers implemented by plugins.", ["engine"]),
            "fallbacks": _gauge("trt_engine_fallbacks", "Fallbacks TensorRT reported (precision, DLA to GPU, tactic skipped...).", ["engine"]),
            "fallback_events": CounterMetricFamily("trt_engine_fallback_events", "Fallback events, by reason.", labels=["engine", "reason"]),
            "calibration": _gauge("trt_engine_calibration_range", "Calibration range of the widest tensors (metrics.max_calibration_series per engine).", ["engine", "tensor", "bound"]),
            "build": InfoMetricFamily("trt_engine_build", "Versions the engine was built or run with.", labels=["engine"]),
            "mismatch": _gauge("trt_engine_version_mismatch", "1 when TensorRT loaded another version of a component than it was linked against, or read an engine plan built by another TensorRT, serialization format or compute capability.", ["engine"]),
            "events": CounterMetricFamily("trt_engine_log_events", "Events read from TensorRT logs and artifacts, by type and severity.", labels=["engine", "type", "severity"]),
            "rules": _gauge("trt_engine_rule_ok", "1 when the rule passes on the engine, 0 when it fails (skipped rules have no series).", ["engine", "rule", "severity"]),
            "latency": HistogramMetricFamily("trt_engine_layer_latency_seconds", "Per-layer latency (profiler, profile tables and profile JSON).", labels=["engine", "layer"]),
        }  # fmt: skip

    def _engines(self, view: StoreView) -> list[Metric]:
        settings = self.settings
        g = self._families()
        parts: dict[str, list[_Part]] = {key: [] for key in g}
        aliases: dict[str, list[_Part]] = {key: [] for key in g}
        with self._cache_lock:  # one scrape at a time fills the cache
            cache: dict[str, tuple[EngineModel, dict[str, _Part]]] = {}
            for engine, model in sorted(view.models.items()):
                cached = self._cache.get(engine)
                if cached is None or cached[0] is not model:
                    cached = (model, self._render(engine, model))
                cache[engine] = cached
                for key, part in cached[1].items():
                    (aliases[key[6:]] if key.startswith("alias:") else parts[key]).append(part)
                self._engine_text(engine, model, g)
            self._cache = cache
        for (engine, type_, severity), count in sorted(view.event_counts.items()):
            g["events"].add_metric([engine, type_, severity], count)
        for result in self.rule_results():  # judged off the scrape path (rules.monitor)
            if result.status != "skip":
                g["rules"].add_metric(
                    [result.engine, result.rule, result.severity], 0 if result.failed else 1
                )
        families: list[Metric] = [
            CachedFamily(family, parts[key]) if parts[key] else family for key, family in g.items()
        ]
        if settings.deprecated_names:
            for key, family in g.items():
                alias = deprecated_alias(family)
                if alias is not None:
                    families.append(CachedFamily(alias, aliases[key]) if aliases[key] else alias)
        return families

    def _render(self, engine: str, model: EngineModel) -> dict[str, _Part]:
        """What ``model`` gives every family but the free-text ones, as one part per family."""
        g = self._families()
        self._engine(engine, model, g, self.settings)
        out: dict[str, _Part] = {}
        for key, family in g.items():
            if key in _FREE_TEXT or key in ("events", "rules"):
                continue
            part = out[key] = _Part(family.samples)
            if self.settings.deprecated_names:
                alias = deprecated_alias(family)
                if alias is not None:
                    bare = Metric(family.name, family.documentation, family.type, family.unit)
                    out["alias:" + key] = _Part(alias.samples, (part, bare))
        return out

    def _store(self, view: StoreView) -> list[Metric]:
        """The engine store's own bounds at work."""
        return [
            GaugeMetricFamily("trt_agent_engines", "Engines with a model in the agent.", value=len(view.models)),
            CounterMetricFamily("trt_agent_engines_dropped", "Engine models dropped: metrics.max_engines reached, or gone for metrics.series_ttl.", value=view.engines_dropped),
            CounterMetricFamily("trt_agent_layer_series_dropped", "Layer latency series dropped after metrics.series_ttl without observations.", value=view.layers_dropped),
        ]  # fmt: skip

    def _engine_text(self, engine: str, model: EngineModel, g: dict[str, Any]) -> None:
        """The families of free text the logs wrote (versions, a [[patterns]] fallback's reason:
        whatever its group captured), scrubbed of learned names like any message."""
        text = self.redactor.text if self.redactor is not None else str
        for reason, count in sorted(model.fallback_reasons.items()):
            g["fallback_events"].add_metric([engine, text(reason)], count)
        if model.versions:
            versions = {c: text(model.versions.get(c, "")) for c in BUILD_INFO_COMPONENTS}
            g["build"].add_metric([engine], versions)

    def _engine(self, engine: str, model: EngineModel, g: dict[str, Any], settings: MetricsConfig) -> None:
        sources, fused, opaque = model.coverage_counts()
        for key, ratio in (
            ("fusion", model.fusion_ratio(sources, fused, opaque)),
            ("unfused", model.unfused_kernel_ratio()),
            ("int8", model.int8_coverage()),
        ):
            if ratio.value is not None:
                g[key].add_metric([engine], ratio.value)
        if sources and opaque is not None:
            g["opaque"].add_metric([engine], opaque)
        for precision, count in sorted(model.precision_counts().items()):
            g["layers"].add_metric([engine, precision], count)
        peak = model.peak_memory_bytes()
        if peak is not None:
            g["peak"].add_metric([engine], peak)
        for kind, value in sorted(model.memory.items()):
            g["memory"].add_metric([engine, kind], value)
        known = model.layers or model.plugins or model.plugin_layers_dropped
        plugins = model.plugin_layer_count() if known else None
        if plugins is not None:  # None: the plugin layers' own table was capped
            g["plugins"].add_metric([engine], plugins)
        g["fallbacks"].add_metric([engine], sum(model.fallback_reasons.values()))
        widest = sorted(model.calibration.items(), key=lambda kv: kv[1][1] - kv[1][0], reverse=True)
        name = self.redactor.name if self.redactor is not None else str
        for tensor, (low, high) in widest[: settings.max_calibration_series]:
            g["calibration"].add_metric([engine, name(tensor), "min"], low)
            g["calibration"].add_metric([engine, name(tensor), "max"], high)
        if model.versions:
            g["mismatch"].add_metric([engine], 1 if version_mismatch(model) else 0)
        # "drop" leaves no layer names: every layer's time goes to __other__.
        dropped = self.redactor is not None and self.redactor.mode == "drop"
        for layer, buckets, seconds in layer_histograms(model, 0 if dropped else settings.max_layer_series):
            g["latency"].add_metric(
                [engine, layer if layer == OTHER_LAYER else name(layer)], buckets, seconds
            )


def _gauge(name: str, documentation: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))
