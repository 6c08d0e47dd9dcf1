"""The metrics of ``trt-agent run``: engine facts, per-layer latency, and the agent's own health.

One custom collector reads the engine store when scraped. It takes the store's lock
once, copies out what the metrics need (a consistent snapshot: all values come from the same
moment of the model) and formats after releasing it, so a scrape holds the tailer up for no
longer than the copy, and never waits on parsing (the tailer parses outside the lock).

Cardinality is bounded by ``[metrics]``: ``max_layer_series`` layers per engine (top by total
time; the rest are summed into ``layer="__other__"``), ``max_engines`` engines,
``max_calibration_series`` calibration ranges per engine.

Every per-engine family is named ``trt_engine_*`` (the agent's own, ``trt_agent_*``). Those that
0.2.0 renamed are also served under their old names until 0.3.0, with the same samples
(``DEPRECATED_NAMES``; ``metrics.deprecated_names = false`` drops them now).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from trt_agent.config import MetricsConfig
from trt_agent.model import EngineModel
from trt_agent.model.engine import LayerTime
from trt_agent.model.store import EngineStore
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


class EngineCollector(Collector):
    """The ``trt_engine_*`` metrics of every engine model, computed at scrape time, and the
    engine store's ``trt_agent_*`` bounds; with ``settings.deprecated_names``, the deprecated
    aliases of renamed families too."""

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

    def collect(self) -> Iterator[Metric]:
        # Families are built completely before the first is yielded: the lock is not held while
        # prometheus-client formats them.
        yield from self._engines()
        yield from self._store()

    def _engines(self) -> list[Metric]:
        store, settings = self.store, self.settings
        g: dict[str, Any] = {
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
        with store.lock:
            for engine, model in sorted(store.models.items()):
                self._engine(engine, model, g, settings)
            for (engine, type_, severity), count in sorted(store.event_counts.items()):
                g["events"].add_metric([engine, type_, severity], count)
        for result in self.rule_results():  # judged off the scrape path (rules.monitor)
            if result.status != "skip":
                g["rules"].add_metric(
                    [result.engine, result.rule, result.severity], 0 if result.failed else 1
                )
        families: list[Metric] = list(g.values())
        if settings.deprecated_names:
            families += [alias for family in families if (alias := deprecated_alias(family)) is not None]
        return families

    def _store(self) -> list[Metric]:
        """The engine store's own bounds at work."""
        store = self.store
        return [
            GaugeMetricFamily("trt_agent_engines", "Engines with a model in the agent.", value=len(store.models)),
            CounterMetricFamily("trt_agent_engines_dropped", "Engine models dropped: metrics.max_engines reached, or gone for metrics.series_ttl.", value=store.engines_dropped),
            CounterMetricFamily("trt_agent_layer_series_dropped", "Layer latency series dropped after metrics.series_ttl without observations.", value=store.layers_dropped),
        ]  # fmt: skip

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
        if model.layers or model.plugins:
            g["plugins"].add_metric([engine], len(model.plugin_layers()))
        g["fallbacks"].add_metric([engine], sum(model.fallback_reasons.values()))
        # Free text the logs wrote (versions, a [[patterns]] fallback's reason: whatever its
        # group captured) is scrubbed of learned names like any message.
        text = self.redactor.text if self.redactor is not None else str
        for reason, count in sorted(model.fallback_reasons.items()):
            g["fallback_events"].add_metric([engine, text(reason)], count)
        widest = sorted(model.calibration.items(), key=lambda kv: kv[1][1] - kv[1][0], reverse=True)
        name = self.redactor.name if self.redactor is not None else str
        for tensor, (low, high) in widest[: settings.max_calibration_series]:
            g["calibration"].add_metric([engine, name(tensor), "min"], low)
            g["calibration"].add_metric([engine, name(tensor), "max"], high)
        if model.versions:
            versions = {c: text(model.versions.get(c, "")) for c in BUILD_INFO_COMPONENTS}
            g["build"].add_metric([engine], versions)
            g["mismatch"].add_metric([engine], 1 if version_mismatch(model) else 0)
        # "drop" leaves no layer names: every layer's time goes to __other__.
        dropped = self.redactor is not None and self.redactor.mode == "drop"
        for layer, buckets, seconds in layer_histograms(model, 0 if dropped else settings.max_layer_series):
            g["latency"].add_metric(
                [engine, layer if layer == OTHER_LAYER else name(layer)], buckets, seconds
            )


def _gauge(name: str, documentation: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))
