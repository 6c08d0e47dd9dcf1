"""The metrics of ``trt-agent run``: engine facts, per-layer latency, and the agent's own health.

One custom collector reads the daemon's state when scraped. It takes the engine models' lock
once, copies out what the metrics need (a consistent snapshot: all values come from the same
moment of the model) and formats after releasing it, so a scrape holds the tailer up for no
longer than the copy, and never waits on parsing (the tailer parses outside the lock).

Cardinality is bounded by ``[metrics]``: ``max_layer_series`` layers per engine (top by total
time; the rest are summed into ``layer="__other__"``), ``max_engines`` engines,
``max_calibration_series`` calibration ranges per engine.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from trt_agent.config import MetricsConfig
from trt_agent.model import EngineModel
from trt_agent.model.engine import LayerTime
from trt_agent.redact import Redactor
from trt_agent.rules import Result
from trt_agent.sources.tail import TAIL_ERROR_REASONS
from trt_agent.web.server import REJECT_REASONS

if TYPE_CHECKING:
    from trt_agent.daemon import Agent

OTHER_LAYER = "__other__"
BUILD_INFO_COMPONENTS = ("tensorrt", "cuda", "cudnn")


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


def version_mismatch(model: EngineModel) -> bool:
    """A component TensorRT was linked against in another version than the one it loaded, or an
    engine plan built by another TensorRT than the runtime that read it."""
    plan = model.versions.get("tensorrt_plan")
    return plan not in (None, model.versions.get("tensorrt")) or any(
        model.versions.get(c) not in (None, linked) for c, linked in model.linked_versions.items()
    )


class EngineState(Protocol):
    """What the engine collector reads (the daemon's ``AgentState``)."""

    lock: threading.Lock
    models: dict[str, EngineModel]
    event_counts: Counter[tuple[str, str, str]]
    settings: MetricsConfig
    redactor: Redactor | None

    def rule_results(self) -> list[Result]: ...


class EngineCollector(Collector):
    """The ``trt_*`` metrics of every engine model, computed at scrape time."""

    def __init__(self, state: EngineState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        # Families are built completely before the first is yielded: the lock is not held while
        # prometheus-client formats them.
        yield from self._engines()

    def _engines(self) -> list[Metric]:
        state = self.state
        settings = state.settings
        g: dict[str, Any] = {
            "fusion": _gauge("trt_engine_fusion_coverage_ratio", "Source layers absorbed into fused engine layers / all source layers.", ["engine"]),
            "unfused": _gauge("trt_engine_unfused_kernel_ratio", "Engine compute layers made of one source layer / all engine compute layers.", ["engine"]),
            "int8": _gauge("trt_engine_int8_coverage_ratio", "INT8 engine compute layers / all engine compute layers.", ["engine"]),
            "opaque": _gauge("trt_engine_opaque_layers", "Source layers hidden inside Myelin regions whose members are not listed.", ["engine"]),
            "layers": _gauge("trt_engine_layers", "Engine compute layers by output precision.", ["engine", "precision"]),
            "peak": _gauge("trt_engine_peak_memory_bytes", "Peak memory TensorRT reported for the engine (build or runtime).", ["engine"]),
            "memory": _gauge("trt_engine_memory_bytes", "Memory TensorRT reported, by kind.", ["engine", "kind"]),
            "plugins": _gauge("trt_engine_plugins", "Engine layers implemented by plugins.", ["engine"]),
            "fallbacks": _gauge("trt_engine_fallbacks", "Fallbacks TensorRT reported (precision, DLA to GPU, tactic skipped...).", ["engine"]),
            "fallback_events": CounterMetricFamily("trt_fallback_events", "Fallback events, by reason.", labels=["engine", "reason"]),
            "calibration": _gauge("trt_calibration_range", "Calibration range of the widest tensors (metrics.max_calibration_series per engine).", ["engine", "tensor", "bound"]),
            "build": InfoMetricFamily("trt_build", "Versions the engine was built or run with.", labels=["engine"]),
            "mismatch": _gauge("trt_version_mismatch", "1 when TensorRT loaded another version of a component than it was linked against, or read an engine plan built by another TensorRT.", ["engine"]),
            "events": CounterMetricFamily("trt_log_events", "Events read from TensorRT logs and artifacts, by type and severity.", labels=["engine", "type", "severity"]),
            "rules": _gauge("trt_rule_ok", "1 when the rule passes on the engine, 0 when it fails (skipped rules have no series).", ["engine", "rule", "severity"]),
            "latency": HistogramMetricFamily("trt_layer_latency_seconds", "Per-layer latency (profiler, profile tables and profile JSON).", labels=["engine", "layer"]),
        }  # fmt: skip
        with state.lock:
            for engine, model in sorted(state.models.items()):
                self._engine(engine, model, g, settings)
            for (engine, type_, severity), count in sorted(state.event_counts.items()):
                g["events"].add_metric([engine, type_, severity], count)
            for result in state.rule_results():
                if result.status != "skip":
                    g["rules"].add_metric(
                        [result.engine, result.rule, result.severity], 0 if result.failed else 1
                    )
        return list(g.values())

    def _engine(self, engine: str, model: EngineModel, g: dict[str, Any], settings: MetricsConfig) -> None:
        sources, fused, opaque = model.coverage_counts()
        for key, ratio in (
            ("fusion", model.fusion_ratio(sources, fused, opaque)),
            ("unfused", model.unfused_kernel_ratio()),
            ("int8", model.int8_coverage()),
        ):
            if ratio.value is not None:
                g[key].add_metric([engine], ratio.value)
        if sources:
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
        for reason, count in sorted(model.fallback_reasons.items()):
            g["fallback_events"].add_metric([engine, reason], count)
        widest = sorted(model.calibration.items(), key=lambda kv: kv[1][1] - kv[1][0], reverse=True)
        name = self.state.redactor.name if self.state.redactor is not None else str
        for tensor, (low, high) in widest[: settings.max_calibration_series]:
            g["calibration"].add_metric([engine, name(tensor), "min"], low)
            g["calibration"].add_metric([engine, name(tensor), "max"], high)
        if model.versions:
            g["build"].add_metric([engine], {c: model.versions.get(c, "") for c in BUILD_INFO_COMPONENTS})
            g["mismatch"].add_metric([engine], 1 if version_mismatch(model) else 0)
        # "drop" leaves no layer names: every layer's time goes to __other__.
        dropped = self.state.redactor is not None and self.state.redactor.mode == "drop"
        for layer, buckets, seconds in layer_histograms(model, 0 if dropped else settings.max_layer_series):
            g["latency"].add_metric(
                [engine, layer if layer == OTHER_LAYER else name(layer)], buckets, seconds
            )


class AgentCollector(Collector):
    """The agent's own health (``trt_agent_*``): tailing, event stream, reloads."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        yield from self._tailing()
        yield from self._self()
        yield from self._http()

    def _tailing(self) -> list[Metric]:
        tailer = self.agent.tailer
        per_file = {
            "lines": CounterMetricFamily("trt_agent_lines", "Log lines read, per [[logs]] path.", labels=["file"]),
            "bytes": CounterMetricFamily("trt_agent_read_bytes", "Bytes read, per [[logs]] path.", labels=["file"]),
            "unparsed": CounterMetricFamily("trt_agent_unparsed_lines", "Lines that produced no event (tactic timing, option dumps, unknown text).", labels=["file"]),
            "unmatched": CounterMetricFamily("trt_agent_unmatched_candidate_lines", "Lines that looked like a known message family but matched no rule (grammar gaps).", labels=["file"]),
            "invalid": CounterMetricFamily("trt_agent_invalid_utf8_lines", "Lines with invalid UTF-8 (replaced).", labels=["file"]),
            "cut": CounterMetricFamily("trt_agent_truncated_lines", "Lines longer than agent.max_line_bytes (cut).", labels=["file"]),
            "errors": CounterMetricFamily("trt_agent_parse_errors", "Lines a grammar rule failed on (skipped; please report).", labels=["file"]),
        }  # fmt: skip
        for path, stats in sorted(tailer.stats.items()):
            per_file["lines"].add_metric([path], stats.lines)
            per_file["bytes"].add_metric([path], stats.bytes)
            per_file["unparsed"].add_metric([path], stats.unparsed)
            per_file["unmatched"].add_metric([path], stats.candidates_unmatched)
            per_file["invalid"].add_metric([path], stats.invalid_utf8_lines)
            per_file["cut"].add_metric([path], stats.truncated_lines)
            per_file["errors"].add_metric([path], stats.parse_errors)
        lag = _gauge("trt_agent_tail_lag_bytes", "Bytes written to the files but not read yet.", ["file"])
        for path, value in sorted(tailer.lag_bytes().items()):
            lag.add_metric([path], value)
        c = tailer.counters
        errors = CounterMetricFamily(
            "trt_agent_tail_errors", "Failures to open or read a file, by reason.", labels=["reason"]
        )
        counts = dict(c.errors)
        for reason in (*TAIL_ERROR_REASONS, *sorted(set(counts) - set(TAIL_ERROR_REASONS))):
            errors.add_metric([reason], counts.get(reason, 0))
        matched = _gauge(
            "trt_agent_log_path_files",
            "Files each [[logs]] path matches (at the last re-scan); 0: a typo, or the files are not there yet.",
            ["file"],
        )
        for path, count in sorted(tailer.matched.items()):
            matched.add_metric([path], count)
        parse = SummaryMetricFamily(
            "trt_agent_parse_seconds",
            "Time the tailer spent reading and parsing, per read.",
            count_value=c.parse_reads,
            sum_value=c.parse_seconds,
        )
        return [
            *per_file.values(),
            lag,
            parse,
            GaugeMetricFamily("trt_agent_open_files", "Files being followed.", value=len(tailer.files)),
            matched,
            CounterMetricFamily("trt_agent_file_rotations", "Files renamed away or deleted while followed.", value=c.rotations),
            CounterMetricFamily("trt_agent_file_truncations", "Files truncated (or copytruncated) while followed.", value=c.truncations),
            CounterMetricFamily("trt_agent_recovered_bytes", "Bytes read from a rotated copy after the original was truncated.", value=c.recovered_bytes),
            CounterMetricFamily("trt_agent_partial_lines_flushed", "Lines without newline taken as complete after agent.partial_line_timeout.", value=c.partial_flushes),
            CounterMetricFamily("trt_agent_artifact_errors", "JSON artifacts and calibration caches that could not be parsed when they changed (usually still being written; read again on the next change).", value=c.artifact_errors),
            errors,
        ]  # fmt: skip

    def _self(self) -> list[Metric]:
        agent, stream = self.agent, self.agent.stream
        reloads = CounterMetricFamily(
            "trt_agent_config_reloads", "Configuration reloads (SIGHUP), by result.", labels=["result"]
        )
        for result in ("success", "failure"):
            reloads.add_metric([result], agent.reloads[result])
        shed = CounterMetricFamily("trt_agent_shed_events", "Events dropped to stay under agent.memory_limit_bytes, by severity.", labels=["severity"])  # fmt: skip
        shed.add_metric(["verbose"], agent.state.shed["verbose"])
        return [
            CounterMetricFamily("trt_agent_events_written", "Events written to the JSONL stream.", value=stream.written),
            CounterMetricFamily("trt_agent_events_dropped", "Events not written: the queue was full (events.queue_events or queue_bytes) or the write failed.", value=stream.dropped),
            GaugeMetricFamily("trt_agent_events_queued", "Events waiting for the JSONL writer.", value=stream.queued),
            GaugeMetricFamily("trt_agent_events_queued_bytes", "Memory of the events waiting for the JSONL writer (an estimate: its strings plus 512 bytes per event).", value=stream.queued_bytes),
            CounterMetricFamily("trt_agent_event_write_errors", "Failed writes of the JSONL stream.", value=stream.write_errors),
            CounterMetricFamily("trt_agent_checkpoint_errors", "Failed saves of the checkpoint store.", value=stream.checkpoint_errors),
            GaugeMetricFamily("trt_agent_engines", "Engines with a model in the agent.", value=len(agent.state.models)),
            CounterMetricFamily("trt_agent_engines_dropped", "Engine models dropped: metrics.max_engines reached, or gone for metrics.series_ttl.", value=agent.state.engines_dropped),
            CounterMetricFamily("trt_agent_layer_series_dropped", "Layer latency series dropped after metrics.series_ttl without observations.", value=agent.state.layers_dropped),
            reloads,
            GaugeMetricFamily("trt_agent_config_last_reload_successful", "1 if the last configuration reload succeeded.", value=1 if agent.last_reload_ok else 0),
            GaugeMetricFamily("trt_agent_ready", "1 once every file present at start-up has been read once.", value=1 if agent.tailer.ready else 0),
            GaugeMetricFamily("trt_agent_up", "1 while the agent runs.", value=1),
            GaugeMetricFamily("trt_agent_memory_shedding", "1 while RSS is over agent.memory_limit_bytes and verbose events are shed.", value=1 if agent.state.shedding else 0),
            shed,
            *self._redaction(),
            *self._profiler(),
        ]  # fmt: skip

    def _http(self) -> list[Metric]:
        """The metrics endpoint's own connections (limits: trt_agent/web/server.py)."""
        server = getattr(self.agent, "_server", None)  # None until it listens
        rejected = CounterMetricFamily(
            "trt_agent_http_rejected_connections",
            "Connections to the metrics endpoint closed or refused, by reason (timeout, too_large, bad_request, tls_handshake, evicted, capacity).",
            labels=["reason"],
        )
        counts = server.rejected() if server is not None else {}
        for reason in REJECT_REASONS:
            rejected.add_metric([reason], counts.get(reason, 0))
        return [
            GaugeMetricFamily("trt_agent_http_connections", "Connections the metrics endpoint holds.", value=server.open_connections() if server is not None else 0),
            rejected,
        ]  # fmt: skip

    def _redaction(self) -> list[Metric]:
        """``trt_agent_redaction_collisions_total``: only with ``[redaction]`` on."""
        redactor = self.agent.state.redactor
        if redactor is None:
            return []
        return [
            CounterMetricFamily(
                "trt_agent_redaction_collisions",
                "Names whose 10-hex-digit pseudonym was already another name's (given 16 digits instead).",
                value=redactor.collisions,
            )
        ]

    def _profiler(self) -> list[Metric]:
        """``trt_agent_profiler_*``: only when ``[profiler]`` is configured."""
        agent = self.agent
        if agent.config.profiler is None:
            return []
        host = agent.profiler
        up = GaugeMetricFamily(
            "trt_agent_profiler_up",
            "1 while the profiler host runs an engine (0: see the agent's log).",
            value=1 if host is not None and host.stats.up else 0,
        )
        if host is None:
            return [up]
        stats = host.stats
        loads = CounterMetricFamily(
            "trt_agent_profiler_engine_loads",
            "Engine loads (start and hot reload), by result.",
            labels=["result"],
        )
        for result in ("success", "failure"):
            loads.add_metric([result], stats.engine_loads[result])
        backoffs = CounterMetricFamily(
            "trt_agent_profiler_backoffs",
            "Pauses of the profiler, by reason (gpu_busy: NVML utilisation at profiler.gpu_busy_percent; "
            "failure: a failed inference, backing off exponentially).",
            labels=["reason"],
        )
        for reason in ("gpu_busy", "failure"):
            backoffs.add_metric([reason], stats.backoffs[reason])
        return [
            up,
            CounterMetricFamily("trt_agent_profiler_reports", "Per-layer reports TensorRT made to the profiler callback.", value=stats.reports),
            CounterMetricFamily("trt_agent_profiler_inferences", "Inferences the profiler host ran.", value=stats.inferences),
            CounterMetricFamily("trt_agent_profiler_failed_inferences", "Inferences TensorRT refused (execute_async_v3 or report_to_profiler returned false).", value=stats.failed_inferences),
            GaugeMetricFamily("trt_agent_profiler_duty_cycle_ratio", "Wall time the profiler's inferences took / wall time since it started (bounded by profiler.max_duty_cycle).", value=stats.duty_cycle),
            CounterMetricFamily("trt_agent_profiler_logger_messages", "Messages TensorRT's logger gave the agent (at profiler.log_severity or more severe).", value=stats.logger_messages),
            loads,
            backoffs,
        ]  # fmt: skip


def _gauge(name: str, documentation: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))
