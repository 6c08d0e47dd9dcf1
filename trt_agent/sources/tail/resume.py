"""Where reading of a newly followed file starts (:class:`Resumer`): at its checkpoint, the lines
before it replayed into the engine model only; after its history (``read_from = "end"``); at
its beginning; or, for a rotated copy, where reading of the original had got to."""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from typing import Any

from trt_agent.config import LogSource
from trt_agent.sources.checkpoint import Checkpoint, FileKey
from trt_agent.sources.tail.files import CHUNK_BYTES, TailedFile
from trt_agent.sources.tail.ports import Pipeline
from trt_agent.sources.tail.reader import Reader
from trt_agent.vocab.events import Event


class Resumer:
    """Positions newly opened files. ``checkpoints``: those found at start and not claimed yet
    (the tailer's own dict; a file's entry is taken when it is opened)."""

    def __init__(
        self,
        checkpoints: MutableMapping[FileKey, Checkpoint],
        pipeline: Pipeline,
        reader: Reader,
        log: Any,
        max_line_bytes: Callable[[], int],
    ) -> None:
        self.checkpoints = checkpoints
        self.pipeline = pipeline
        self.reader = reader
        self._log = log
        self._max_line_bytes = max_line_bytes

    def start(
        self,
        f: TailedFile,
        source: LogSource,
        st: os.stat_result,
        previous: Checkpoint | None,
        *,
        at_start: bool,
        history: int | None,
        known: bool = False,
    ) -> None:
        """Position the just opened ``f`` (``source``: the [[logs]] entry naming it; ``st``: its
        stat at the open): at ``previous``, its checkpoint, if any. ``at_start``: it was there
        when the agent started, so ``read_from = "end"`` skips its history: its size now, or
        ``history`` bytes (its size at start, for a file ``max_followed_files`` kept out) —
        unless the agent ``known``s the path from before (its old content was rotated away
        while it was down: the new file holds only lines it has not read)."""
        if previous is not None:
            self.resume(f, previous)
            return
        known = known or any(c.path == f.path for c in self.checkpoints.values())
        if at_start and source.read_from == "end" and not known:
            self.skip_history(f, st.st_size if history is None else min(history, st.st_size))
        f.update_fingerprint()
        self._log.info("following", file=f.path, engine=source.engine, offset=f.offset)

    def continue_at(self, f: TailedFile, c: Checkpoint) -> None:
        """Go on reading a log at ``c``, taken of another file with the same content a moment
        ago (a copytruncate's copy): nothing to re-read, the engine model has it all."""
        f.start_offset, f.start_line = c.start_offset, c.start_line
        f.fingerprint_len, f.fingerprint = c.fingerprint_len, c.fingerprint
        f.kind = "log"
        f.start_reader(c.offset, c.line, self._max_line_bytes(), self.reader.patterns())
        f.update_fingerprint()

    def resume(self, f: TailedFile, c: Checkpoint) -> None:
        """Continue at checkpoint ``c``; lines before it go to the engine model only."""
        f.floor = c
        f.start_offset, f.start_line = c.start_offset, c.start_line
        f.fingerprint_len, f.fingerprint = c.fingerprint_len, c.fingerprint
        f.offset = c.start_offset
        if c.offset > c.start_offset:
            replay: Callable[[list[Event]], None] = self.pipeline.replay
            while f.offset < c.offset and self.reader.read(f, until=c.offset, sink=replay) > 0:
                pass  # one read budget at a time
            if f.reader is not None and f.reader.pending:
                # The checkpoint ends inside a line that was flushed after partial_line_timeout.
                self.pipeline.replay(list(f.reader.flush()))
            if f.kind == "artifact" and f.offset == c.offset:
                st = os.fstat(f.fd)
                f.last_stat = (st.st_size, st.st_mtime_ns)  # unchanged since: not new
        self._log.info("resuming", file=f.path, offset=c.offset, line=c.line)

    def skip_history(self, f: TailedFile, size: int) -> None:
        """``read_from = "end"``: start after the last complete line, counting lines for provenance.

        Artifacts (JSON, calibration caches) are whole documents: they are always read."""
        if not self.reader.sniff(f, size) or f.kind != "log":
            return
        lines, pos, last_nl = 0, 0, -1
        while pos < size:
            data = os.pread(f.fd, min(CHUNK_BYTES, size - pos), pos)
            if not data:
                break
            lines += data.count(b"\n")
            nl = data.rfind(b"\n")
            if nl >= 0:
                last_nl = pos + nl
            pos += len(data)
        start = last_nl + 1
        f.start_offset, f.start_line = start, lines + 1
        f.start_reader(start, lines + 1, self._max_line_bytes(), self.reader.patterns())
        f.update_fingerprint()
