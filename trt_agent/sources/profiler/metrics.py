"""The profiler host's own health: ``trt_agent_profiler_*``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trt_agent.sources.profiler.host import ProfilerHost


class ProfilerCollector(Collector):
    """``trt_agent_profiler_*``: registered only when ``[profiler]`` is configured. ``host``
    returns the running host, None while it is not (TensorRT missing, no GPU)."""

    def __init__(self, host: Callable[[], ProfilerHost | None]) -> None:
        self.host = host

    def collect(self) -> Iterator[Metric]:
        yield from self._profiler()

    def _profiler(self) -> list[Metric]:
        """``trt_agent_profiler_*``: only when ``[profiler]`` is configured."""
        host = self.host()
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
