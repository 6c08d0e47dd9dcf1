"""The tailer's own health: lines, bytes, files, rotations, lag, errors, checkpoint saves."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from trt_agent.sources.tail.counters import TAIL_ERROR_REASONS
from trt_agent.sources.tail.tailer import Tailer


class TailerCollector(Collector):
    """The tailer's own health (``trt_agent_*`` of lines, files, rotations, lag)."""

    def __init__(self, tailer: Tailer) -> None:
        self.tailer = tailer

    def collect(self) -> Iterator[Metric]:
        yield from self._tailing()

    def _tailing(self) -> list[Metric]:
        tailer = self.tailer
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
        lag = GaugeMetricFamily(
            "trt_agent_tail_lag_bytes", "Bytes written to the files but not read yet.", labels=["file"]
        )
        for path, value in sorted(tailer.lag_bytes().items()):
            lag.add_metric([path], value)
        c = tailer.counters
        errors = CounterMetricFamily(
            "trt_agent_tail_errors", "Failures to open or read a file, by reason.", labels=["reason"]
        )
        counts = dict(c.errors)
        for reason in (*TAIL_ERROR_REASONS, *sorted(set(counts) - set(TAIL_ERROR_REASONS))):
            errors.add_metric([reason], counts.get(reason, 0))
        matched = GaugeMetricFamily(
            "trt_agent_log_path_files",
            "Files each [[logs]] path matches (at the last re-scan); 0: a typo, or the files are not there yet.",
            labels=["file"],
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
            CounterMetricFamily("trt_agent_checkpoint_errors", "Failed saves of the checkpoint store.", value=tailer.committer.errors),
        ]  # fmt: skip
