"""The Prometheus endpoint of ``trt-agent run``: engine gauges and the agent's own health.

One custom collector reads the daemon's state when scraped; it never parses and never waits
for the tailer longer than one batch takes to apply (the engine models' lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from trt_agent.daemon import Agent


class AgentCollector(Collector):
    """Metrics computed at scrape time from ``agent``."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._engines()
        yield from self._tailing()
        yield from self._events()

    def _engines(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ratios = {
            "fusion_coverage": GaugeMetricFamily(
                "trt_engine_fusion_coverage_ratio",
                "Source layers absorbed into fused engine layers / all source layers.",
                labels=["engine"],
            ),
            "unfused_kernel": GaugeMetricFamily(
                "trt_engine_unfused_kernel_ratio",
                "Engine compute layers made of one source layer / all engine compute layers.",
                labels=["engine"],
            ),
            "int8_coverage": GaugeMetricFamily(
                "trt_engine_int8_coverage_ratio",
                "INT8 engine compute layers / all engine compute layers.",
                labels=["engine"],
            ),
        }
        log_events = CounterMetricFamily(
            "trt_log_events",
            "Events read from TensorRT logs and artifacts, by type and severity.",
            labels=["engine", "type", "severity"],
        )
        with self.agent.state.lock:
            for engine, model in sorted(self.agent.state.models.items()):
                for name, ratio in (
                    ("fusion_coverage", model.fusion_coverage()),
                    ("unfused_kernel", model.unfused_kernel_ratio()),
                    ("int8_coverage", model.int8_coverage()),
                ):
                    if ratio.value is not None:
                        ratios[name].add_metric([engine], ratio.value)
            for (engine, type_, severity), count in sorted(self.agent.state.event_counts.items()):
                log_events.add_metric([engine, type_, severity], count)
        yield from ratios.values()
        yield log_events

    def _tailing(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        tailer = self.agent.tailer
        lines = CounterMetricFamily("trt_agent_lines", "Log lines read, per [[logs]] path.", labels=["file"])
        read = CounterMetricFamily("trt_agent_read_bytes", "Bytes read, per [[logs]] path.", labels=["file"])
        unparsed = CounterMetricFamily(
            "trt_agent_unparsed_lines",
            "Lines that produced no event (tactic timing, option dumps, unknown text).",
            labels=["file"],
        )
        unmatched = CounterMetricFamily(
            "trt_agent_unmatched_candidate_lines",
            "Lines that looked like a known message family but matched no rule (grammar gaps).",
            labels=["file"],
        )
        invalid = CounterMetricFamily(
            "trt_agent_invalid_utf8_lines", "Lines with invalid UTF-8 (replaced).", labels=["file"]
        )
        cut = CounterMetricFamily(
            "trt_agent_truncated_lines", "Lines longer than agent.max_line_bytes (cut).", labels=["file"]
        )
        for path, stats in sorted(tailer.stats.items()):
            lines.add_metric([path], stats.lines)
            read.add_metric([path], stats.bytes)
            unparsed.add_metric([path], stats.unparsed)
            unmatched.add_metric([path], stats.candidates_unmatched)
            invalid.add_metric([path], stats.invalid_utf8_lines)
            cut.add_metric([path], stats.truncated_lines)
        yield from (lines, read, unparsed, unmatched, invalid, cut)
        lag = GaugeMetricFamily(
            "trt_agent_tail_lag_bytes", "Bytes written to the files but not read yet.", labels=["file"]
        )
        for path, value in sorted(tailer.lag_bytes().items()):
            lag.add_metric([path], value)
        yield lag
        yield GaugeMetricFamily("trt_agent_open_files", "Files being followed.", value=len(tailer.files))
        c = tailer.counters
        yield CounterMetricFamily(
            "trt_agent_file_rotations", "Files renamed away or deleted while followed.", value=c.rotations
        )
        yield CounterMetricFamily(
            "trt_agent_file_truncations",
            "Files truncated (or copytruncated) while followed.",
            value=c.truncations,
        )
        yield CounterMetricFamily(
            "trt_agent_recovered_bytes",
            "Bytes read from a rotated copy after the original was truncated.",
            value=c.recovered_bytes,
        )
        yield CounterMetricFamily(
            "trt_agent_partial_lines_flushed",
            "Lines without newline taken as complete after agent.partial_line_timeout.",
            value=c.partial_flushes,
        )
        errors = CounterMetricFamily(
            "trt_agent_tail_errors", "Failures to open or read a file, by reason.", labels=["reason"]
        )
        for reason, count in sorted(c.errors.items()):
            errors.add_metric([reason], count)
        yield errors

    def _events(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stream = self.agent.stream
        yield CounterMetricFamily(
            "trt_agent_events_written", "Events written to the JSONL stream.", value=stream.written
        )
        yield CounterMetricFamily(
            "trt_agent_events_dropped",
            "Events not written: the queue was full (events.queue_events) or the write failed.",
            value=stream.dropped,
        )
        yield GaugeMetricFamily(
            "trt_agent_events_queued", "Events waiting for the JSONL writer.", value=stream.queued
        )
        yield CounterMetricFamily(
            "trt_agent_event_write_errors", "Failed writes of the JSONL stream.", value=stream.write_errors
        )
        yield CounterMetricFamily(
            "trt_agent_checkpoint_errors",
            "Failed saves of the checkpoint store.",
            value=stream.checkpoint_errors,
        )
        reloads = CounterMetricFamily(
            "trt_agent_config_reloads", "Configuration reloads (SIGHUP), by result.", labels=["result"]
        )
        for result in ("success", "failure"):
            reloads.add_metric([result], self.agent.reloads[result])
        yield reloads
        yield GaugeMetricFamily(
            "trt_agent_config_last_reload_successful",
            "1 if the last configuration reload succeeded.",
            value=1 if self.agent.last_reload_ok else 0,
        )
        yield GaugeMetricFamily("trt_agent_up", "1 while the agent runs.", value=1)
