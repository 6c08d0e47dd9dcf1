"""Reading followed files (:class:`Reader`): what a file grew by, read with ``pread`` from the
offset the tailer owns, at most ``budget`` bytes a turn; whether the file is a log (read line by
line, a partial last line held by its ``LogReader``) or a whole-file artifact (trtexec/inspector
JSON, calibration cache: parsed whole each time it changes); and handing the events on with the
checkpoint of the lines that made them."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from typing import Any, Final

from trt_agent.parse import ParseStats, parse_stream
from trt_agent.parse.artifacts import ArtifactError
from trt_agent.parse.dispatch import MAX_ARTIFACT_BYTES, SNIFF_BYTES, WHOLE_FILE_KINDS, sniff
from trt_agent.parse.patterns import NO_PATTERNS, UserPatterns
from trt_agent.sources.tail.counters import TailCounters
from trt_agent.sources.tail.files import CHUNK_BYTES, TailedFile
from trt_agent.sources.tail.ports import Pipeline
from trt_agent.sources.tail.rotation import Rotation, truncated
from trt_agent.vocab.events import Event

# Bytes read from one file per pass, so one busy file cannot starve the others or a shutdown.
READ_BUDGET_BYTES: Final = 16 << 20

Sink = Callable[[list[Event]], None]


class Reader:
    """Reads followed files for one tailer and hands their events to ``pipeline``.

    ``budget``: bytes one file may be read per turn; a read that spends it calls
    ``on_budget_spent`` (the tailer then looks again at once); every chunk read calls
    ``on_progress`` (the tailer's heartbeat: a long read is work, not a stall). ``max_line_bytes`` and
    ``patterns`` (``[[patterns]]``) are asked each time a line reader starts (a reload may change
    them)."""

    def __init__(
        self,
        pipeline: Pipeline,
        counters: TailCounters,
        rotation: Rotation,
        log: Any,
        *,
        budget: int,
        max_line_bytes: Callable[[], int],
        on_budget_spent: Callable[[], None],
        on_progress: Callable[[], None] = lambda: None,
        patterns: Callable[[], UserPatterns] = lambda: NO_PATTERNS,
    ) -> None:
        self.pipeline = pipeline
        self.counters = counters
        self.rotation = rotation
        self._log = log
        self.budget = budget
        self._max_line_bytes = max_line_bytes
        self._on_budget_spent = on_budget_spent
        self._on_progress = on_progress
        self.patterns = patterns

    def read(self, f: TailedFile, *, until: int | None = None, sink: Sink | None = None) -> int:
        """Read what ``f`` grew by (up to ``until``); returns the bytes read. ``f.drained`` says
        afterwards whether that was all it holds."""
        st = os.fstat(f.fd)
        seen = (st.st_size, st.st_mtime_ns)
        if until is not None:
            f.last_stat = (-1, -1)  # a replay stops early: the next pass reads on
        elif seen == f.last_stat:
            f.drained = True
            return 0
        else:
            f.last_stat = seen
        f.size = st.st_size
        if until is None and f.kind != "artifact" and truncated(f, st.st_size):
            copy = self.rotation.restart(f, self._max_line_bytes(), self.patterns())
            if copy is not None:
                self.read(copy)  # at once: a small copy is finished within this turn
                if not copy.drained:
                    f.drained = False
                    f.last_stat = (-1, -1)  # not read yet: whatever it holds is new
                    return 0  # f waits for its copy (f.after): the old lines come first
                self.finish(copy)
                f.after = None
        f.drained = True
        if f.kind is None and not self.sniff(f, st.st_size):
            return 0
        if f.kind == "artifact":
            return self._read_artifact(f, st.st_size, sink)
        assert f.reader is not None
        limit = st.st_size if until is None else until
        total = 0
        while f.offset < limit and total < self.budget:
            data = os.pread(f.fd, min(CHUNK_BYTES, limit - f.offset), f.offset)
            if not data:
                break
            f.offset += len(data)
            total += len(data)
            f.stats.bytes += len(data)
            if f.recovery:
                self.counters.recovered_bytes += len(data)
            f.update_fingerprint()  # before the checkpoint of this chunk is taken
            started = time.perf_counter()
            events = f.reader.feed(data)
            self.counters.parse_seconds += time.perf_counter() - started
            self.counters.parse_reads += 1
            if sink is not None:
                sink(events)
            else:
                self.deliver(f, events)
            self._on_progress()
        f.update_fingerprint()
        if total >= self.budget:
            f.last_stat = (-1, -1)  # more to read: look again next pass
            f.drained = False
            self._on_budget_spent()
        return total

    def deliver(self, f: TailedFile, events: list[Event]) -> None:
        self.pipeline.ingest(events, f.mark())

    def finish(self, f: TailedFile) -> None:
        """Hand on what ``f``'s line reader still holds (an open block, a line without newline)
        as complete: the file will not grow (a complete copy), or has waited long enough."""
        if f.reader is not None and f.reader.pending:
            self.deliver(f, f.reader.flush())

    def sniff(self, f: TailedFile, size: int) -> bool:
        """Decide whether ``f`` is a log or a whole-file artifact; False until there is enough to tell."""
        if size == 0:
            return False
        fmt = f.source.format
        kind = sniff(os.pread(f.fd, SNIFF_BYTES, 0), complete=False) if fmt == "auto" else fmt
        if kind is None:
            return False  # a calibration cache's header line, or a "[" that the next bytes explain
        if kind in WHOLE_FILE_KINDS:
            f.kind = "artifact"
        else:
            f.kind = "log"
            if f.reader is None:
                line = f.start_line if f.first_line is None else f.first_line
                f.start_reader(f.offset, line, self._max_line_bytes(), self.patterns())
        return True

    def _read_artifact(self, f: TailedFile, size: int, sink: Sink | None) -> int:
        """JSON artifacts and calibration caches are parsed whole, each time they change."""
        data = os.pread(f.fd, min(size, MAX_ARTIFACT_BYTES), 0)
        stats = ParseStats()
        try:
            events = list(parse_stream(io.BytesIO(data), f.path, f.source.engine, stats))
        except ArtifactError as exc:
            # Usually still being written; tried again when it changes.
            self.counters.artifact_errors += 1
            self._log.warning("artifact not readable yet", file=f.path, error=str(exc))
            return 0
        f.stats.bytes += len(data)
        f.stats.events += stats.events
        f.offset = len(data)
        f.fingerprint_len = 0
        f.update_fingerprint()
        if sink is not None:
            sink(events)
        else:
            self.deliver(f, events)
        return len(data)
