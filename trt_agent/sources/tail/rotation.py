"""Rotations that keep or lose track of the bytes not read yet.

- *Truncation* and *copytruncate*: the followed file shrank, or its first bytes changed.
  :meth:`Rotation.restart` finishes the old content from the copy beside the file and reads the
  file again from its beginning.
- *Rotated while stopped*: at start-up, a checkpointed file no ``[[logs]]`` path names any more
  is looked for beside its old path (:meth:`Rotation.recover_orphans`).

Rename rotation and delete/recreate need nothing here: the old file stays open and is read until
``rotate_wait`` passes (the tailer's ``_service``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from typing import Any

from trt_agent.config import LogSource
from trt_agent.parse.log import LogReader
from trt_agent.parse.patterns import UserPatterns
from trt_agent.sources.checkpoint import Checkpoint, FileKey, Forget
from trt_agent.sources.tail.counters import Problems, TailCounters
from trt_agent.sources.tail.files import CHUNK_BYTES, TailedFile, open_regular
from trt_agent.sources.tail.ports import Clock, Pipeline

Copy = tuple[str, int, os.stat_result]  # a rotated copy: its path, open descriptor, stat
# follow(path, source, fd, st, checkpoint): follow an opened copy and resume it at the checkpoint
Follow = Callable[[str, LogSource, int, os.stat_result, Checkpoint], TailedFile]


def truncated(f: TailedFile, size: int) -> bool:
    """``f`` (now ``size`` bytes) shrank below what was read, or no longer starts with the bytes
    read (emptied and grown back past the old offset before anyone looked: inotify coalesces
    modify events, so size alone cannot tell)."""
    return size < f.offset or not f.head_matches()


def find_copy(c: Checkpoint, size: int, exclude: Collection[FileKey]) -> Copy | None:
    """A file beside ``c.path`` that starts with the bytes ``c`` saw and is at least ``size``
    long: where logrotate put a renamed or copied log. Returns it opened."""
    directory = os.path.dirname(c.path) or "."
    stem = os.path.basename(c.path).split(".", 1)[0]
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), glob.escape(stem) + "*"))):
        if path.endswith((".gz", ".bz2", ".xz", ".zst")):
            continue
        opened = open_regular(path)
        if isinstance(opened, OSError):
            continue
        fd, st = opened
        try:
            key = (st.st_dev, st.st_ino)
            if key not in exclude and st.st_size >= size and c.fingerprint_len and c.matches(fd):
                return path, fd, st
        except OSError:
            pass
        os.close(fd)
    return None


class Rotation:
    """Recovers what a rotation took away from a followed file (see the module docstring)."""

    def __init__(
        self, pipeline: Pipeline, counters: TailCounters, problems: Problems, log: Any, clock: Clock
    ) -> None:
        self.pipeline = pipeline
        self.counters = counters
        self.problems = problems
        self._log = log
        self._clock = clock

    def restart(self, f: TailedFile, max_line_bytes: int, patterns: UserPatterns | None = None) -> None:
        """``f`` shrank or its first bytes changed: finish the old content, restart at 0."""
        self.counters.truncations += 1
        if f.reader is not None:
            self.recover_from_copy(f, f.checkpoint(), f.reader, f.offset)
        self._log.info("file truncated; reading it again from the start", file=f.path, was_offset=f.offset)
        f.offset = f.start_offset = 0
        f.start_line = 1
        f.fingerprint_len, f.fingerprint = 0, ""
        if f.kind == "log":
            f.start_reader(0, 1, max_line_bytes, patterns)
        self.pipeline.ingest([], f.mark())  # the checkpoint now says: this file, from its start

    def recover_from_copy(self, f: TailedFile, c: Checkpoint, reader: LogReader, start: int) -> None:
        """Feed ``reader`` what followed ``start`` in a rotated copy of the content ``c`` saw.

        Ends with ``reader`` flushed: the old content is finished either way."""
        copy = find_copy(c, start, exclude={f.key})
        if copy is not None:
            path, fd, st = copy
            pos = start
            try:
                while pos < st.st_size:
                    data = os.pread(fd, CHUNK_BYTES, pos)
                    if not data:
                        break
                    pos += len(data)
                    # Chunk by chunk, so a large copy is not one batch the event queue refuses.
                    self.pipeline.ingest(list(reader.feed(data)), {})
            except OSError as exc:
                self.problems.fail(path, exc)
            finally:
                os.close(fd)
            self.counters.recovered_bytes += pos - start
            self._log.info(
                "read the rest of the old content from its copy", file=f.path, copy=path, bytes=pos - start
            )
        self.pipeline.ingest(list(reader.flush()), {})

    def recover_orphans(
        self,
        checkpoints: MutableMapping[FileKey, Checkpoint],
        found: Collection[FileKey],
        sources: Sequence[LogSource],
        followed: Mapping[FileKey, TailedFile],
        follow: Follow,
    ) -> None:
        """Checkpointed files no glob matches any more: renamed while the agent was down?

        Each one found beside its old path is followed (``follow``) as a rotated file: read to
        its end, closed after ``rotate_wait``. The others' checkpoints are forgotten."""
        for key, c in list(checkpoints.items()):
            if key in found:
                continue
            del checkpoints[key]
            source = next((s for s in sources if s.matches(c.path)), None)
            copy = find_copy(c, c.offset, exclude=followed.keys()) if source is not None else None
            if source is None or copy is None:
                self.pipeline.ingest([], Forget(key))
                continue
            path, fd, st = copy
            f = follow(path, source, fd, st, c)
            f.rotated_at = self._clock()
            if f.key != key:
                self.pipeline.ingest([], Forget(key))
            self._log.info("reading the rest of a file rotated while stopped", file=path, was=c.path)
