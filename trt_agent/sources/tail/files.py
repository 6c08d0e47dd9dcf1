"""One followed file (:class:`TailedFile`): its descriptor and identity (device, inode), how far it
was read and up to where every line was handed on, the fingerprint of its first bytes, its line
reader, and when it last grew, began holding a partial line, or stopped being named by its path.
Also how a path is opened (regular files only, never blocking on a FIFO)."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import replace
from typing import Final

from trt_agent.config import LogSource
from trt_agent.parse import ParseStats
from trt_agent.parse.dispatch import engine_id_for
from trt_agent.parse.log import LogReader
from trt_agent.parse.patterns import UserPatterns
from trt_agent.sources.checkpoint import (
    FINGERPRINT_BYTES,
    Checkpoint,
    FileKey,
    fingerprint,
    read_head,
    starts_with,
)

CHUNK_BYTES: Final = 1 << 20  # bytes asked of one pread


class TailedFile:
    """One open file being followed, from ``offset`` on."""

    def __init__(
        self,
        path: str,
        source: LogSource,
        fd: int,
        st: os.stat_result,
        stats: ParseStats,
        name: str = "",
        *,
        now: float | None = None,
    ) -> None:
        self.path = path
        # The log this file is a rotated generation of (a copy, a file rotated while the agent
        # was down), whose [[logs]] entry and checkpoint it goes by; "": the file at ``path``.
        self.name = name
        # a glob entry without an engine id: each file is its own engine, named after the file
        # (``name``: the path it was followed under, for a rotated copy found later)
        self.source = source if source.engine else replace(source, engine=engine_id_for(name or path))
        self.fd = fd
        self.key: FileKey = (st.st_dev, st.st_ino)
        self.stats = stats
        self.offset = 0  # bytes read from the file
        self.size = st.st_size  # at the last look
        self.kind: str | None = None  # "log" or "artifact" once the first bytes told
        self.reader: LogReader | None = None
        self.reader_base = 0  # file offset where ``reader`` started
        self.start_offset = 0
        self.start_line = 1
        self.first_line: int | None = None  # the line at ``offset`` when not ``start_line``
        self.fingerprint_len = 0
        self.fingerprint = ""
        self.rotated_at: float | None = None  # when the path stopped naming this file
        self.last_growth = time.monotonic() if now is None else now  # (the tailer passes its clock)
        self.partial_since: float | None = None
        self.last_stat: tuple[int, int] = (-1, -1)
        # A rotated generation that holds older lines of the same log (the copy a copytruncate
        # left, a generation rotated while the agent was down): this file is not read while
        # that one, still followed, has bytes left, so the events keep the order of the lines.
        self.after: FileKey | None = None
        self.drained = False  # the last look found nothing new to read
        self.recovery = False  # a rotated copy read back: its bytes count as recovered
        # The checkpoint this file was resumed at, while reading has not passed it yet (lines
        # re-read to rebuild the engine model, or delivered again): never give a position
        # below it as this file's checkpoint, whatever happens meanwhile (a copytruncate).
        self.floor: Checkpoint | None = None

    @property
    def committed(self) -> int:
        """File offset up to which every line has been handed on."""
        if self.reader is None:
            return self.offset
        return self.reader_base + self.reader.consumed

    def checkpoint(self) -> Checkpoint:
        """Where a restart must go on reading this file: ``position``, or the checkpoint it was
        resumed at while reading has not passed it."""
        floor = self.floor
        if floor is not None:
            if self.committed < floor.offset:
                return replace(floor, path=self.name or self.path, dev=self.key[0], ino=self.key[1])
            self.floor = None
        return self.position()

    def position(self) -> Checkpoint:
        """Up to where this file's lines were handed on, now."""
        return Checkpoint(
            path=self.name or self.path,
            dev=self.key[0],
            ino=self.key[1],
            offset=self.committed,
            line=self.reader.line_no if self.reader is not None else self.first_line or self.start_line,
            start_offset=self.start_offset,
            start_line=self.start_line,
            fingerprint_len=self.fingerprint_len,
            fingerprint=self.fingerprint,
        )

    def mark(self) -> dict[FileKey, Checkpoint]:
        return {self.key: self.checkpoint()}

    def head_matches(self) -> bool:
        return starts_with(self.fd, self.fingerprint_len, self.fingerprint)

    def update_fingerprint(self) -> None:
        """Fingerprint the file's first bytes as soon as they exist, read or not: a checkpoint
        taken when the file is opened already tells it apart from its rotated siblings."""
        if self.fingerprint_len < FINGERPRINT_BYTES:
            head = read_head(self.fd)
            if len(head) > self.fingerprint_len:
                self.fingerprint_len, self.fingerprint = len(head), fingerprint(head)

    def start_reader(
        self, offset: int, line: int, max_line_bytes: int, patterns: UserPatterns | None = None
    ) -> None:
        self.reader = LogReader(
            self.path,
            self.source.engine,
            self.stats,
            max_line_bytes=max_line_bytes,
            first_line=line,
            patterns=patterns,
        )
        self.reader_base = offset
        self.offset = offset
        self.partial_since = None

    def close(self) -> None:
        os.close(self.fd)


def open_regular(path: str) -> tuple[int, os.stat_result] | OSError:
    """Open ``path`` for reading if it is a regular file (never blocking on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        return exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return IsADirectoryError(21, "not a regular file", path)
    return fd, st


def is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def key_of(path: str) -> FileKey | None:
    """The identity of the file ``path`` names now, if any."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
