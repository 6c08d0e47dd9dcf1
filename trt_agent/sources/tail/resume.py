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
    (the tailer's own dict; a file's entry is taken when it is opened). ``folded``: where the
    engine model stands in a file (the model snapshot's ``position``: restored with it, then
    kept up to date by the pipeline); ``count_replays``: lines replayed where it has no position are counted in its
    event counts (they are not in the counts it was restored with); without a snapshot they
    are not (the counts start over, and old error lines must not fire alerts)."""

    def __init__(
        self,
        checkpoints: MutableMapping[FileKey, Checkpoint],
        pipeline: Pipeline,
        reader: Reader,
        log: Any,
        max_line_bytes: Callable[[], int],
        *,
        folded: Callable[[FileKey], Checkpoint | None] | None = None,
        count_replays: bool = False,
    ) -> None:
        self.checkpoints = checkpoints
        self.folded: Callable[[FileKey], Checkpoint | None] = folded or (lambda key: None)
        self.count_replays = count_replays
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
        f.drained = False

    def resume(self, f: TailedFile, c: Checkpoint) -> None:
        """Continue at checkpoint ``c``. The engine model is brought to where the file's lines
        were written: from the position its snapshot stands at in this content (``folded``),
        lines before ``c`` are replayed into it and lines after ``c`` that it holds already are
        written again; without a position, every line before ``c`` is replayed."""
        f.floor = c
        f.start_offset, f.start_line = c.start_offset, c.start_line
        f.fingerprint_len, f.fingerprint = c.fingerprint_len, c.fingerprint
        folded = self._folded(f, c)
        if folded is None:
            self._replay(f, c.start_offset, c.start_line, c.offset, count=self.count_replays)
        elif folded.offset <= c.offset:
            self._replay(f, folded.offset, folded.line, c.offset, count=True)
        else:
            self._redeliver(f, c, folded)
        st = os.fstat(f.fd)
        f.drained = f.offset >= st.st_size  # (not what the reads up to the checkpoint said)
        if f.drained and (f.reader is None or not f.reader.pending):
            f.last_stat = (st.st_size, st.st_mtime_ns)  # nothing new since: not read (again)
        self._log.info("resuming", file=f.path, offset=c.offset, line=c.line)

    def _folded(self, f: TailedFile, c: Checkpoint) -> Checkpoint | None:
        """Where the models stand in the content ``f`` holds and ``c`` saw: under ``f``'s own
        identity (a rotated copy has its own since it was followed), else under ``c``'s (a copy
        found by the checkpoint of the file it was copied from). A position of other content, or
        one that cannot tell (no fingerprint, where ``c`` has one), is no help."""
        for key in dict.fromkeys((f.key, c.key)):
            found = self.folded(key)
            if (
                found is not None
                and found.start_offset == c.start_offset
                and (found.fingerprint_len or not c.fingerprint_len)
                and found.matches(f.fd)
            ):
                return found
        return None

    def _replay(self, f: TailedFile, offset: int, line: int, until: int, *, count: bool) -> None:
        """Fold the lines from ``offset`` (line number ``line``) to ``until`` into the engine model,
        without writing them; counted in its event counts if ``count``."""
        f.offset, f.first_line = offset, line

        def sink(events: list[Event]) -> None:
            self.pipeline.replay(events, {f.key: f.position()}, count=count)

        self._read_until(f, until, sink)

    def _redeliver(self, f: TailedFile, c: Checkpoint, folded: Checkpoint) -> None:
        """Write the events of the lines from ``c`` to ``folded`` (the engine model holds them)."""
        f.offset, f.first_line = c.offset, c.line

        def sink(events: list[Event]) -> None:
            self.pipeline.redeliver(events, f.mark())

        self._read_until(f, folded.offset, sink)

    def _read_until(self, f: TailedFile, until: int, sink: Callable[[list[Event]], None]) -> None:
        while f.offset < until and self.reader.read(f, until=until, sink=sink) > 0:
            pass  # one read budget at a time
        if f.reader is not None and f.reader.pending and f.offset >= until:
            # The position ends inside a line that was flushed after partial_line_timeout.
            sink(f.reader.flush())

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
