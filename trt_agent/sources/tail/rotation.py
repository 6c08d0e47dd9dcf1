"""Rotations that keep or lose track of the bytes not read yet.

- *Truncation* and *copytruncate*: the followed file shrank, or its first bytes changed.
  :meth:`Rotation.restart` follows the copy beside the file (where logrotate put the old
  content) from where reading had got to, as a file of its own with its own checkpoints, and
  reads the file again from its beginning once the copy is read.
- *Rotated while stopped*: at start-up, a checkpointed file no ``[[logs]]`` path names any more,
  or whose inode now holds other content, is looked for by its fingerprint among the files
  beside its old path; every newer generation rotated while the agent was down (``app.log.1``
  after ``app.log.2``, ``app.log-20261206``; never a compressed one) is read too, oldest first,
  before the live file (:meth:`Rotation.recover_at_start`).

Rename rotation and delete/recreate need nothing here: the old file stays open and is read until
``rotate_wait`` passes (the tailer's ``_service``).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any, Final, Protocol

from trt_agent.config import LogSource
from trt_agent.parse.patterns import UserPatterns
from trt_agent.sources.checkpoint import Checkpoint, FileKey
from trt_agent.sources.tail.counters import TailCounters
from trt_agent.sources.tail.files import TailedFile, open_regular
from trt_agent.sources.tail.ports import Pipeline

Copy = tuple[str, int, os.stat_result]  # a rotated copy: its path, open descriptor, stat

COMPRESSED: Final = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z", ".zip")
# What logrotate and loggers append to a rotated log's name: a number or a date after the whole
# name (app.log.1, app.log-20261206, app.log.2026-12-06, app.log.1733472000); with logrotate's
# `extension`, a date before the extension (app-20261206.log) — only a date there: app-2.log
# beside app.log is another log (another rank's, another worker's), not a generation of it.
_GENERATION_SUFFIX: Final = r"[._-][0-9][0-9A-Za-z._:-]*"
_DATE_SUFFIX: Final = r"[._-](?:[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{10})[0-9A-Za-z._:-]*"


class Follow(Protocol):
    """Follow an opened rotated file: from checkpoint ``c`` (``resume``: rebuilding the engine
    model as a restart does, else continuing a reader that was just cut short), or from its
    beginning without ``c``; ``name`` is the path whose engine its lines belong to."""

    def __call__(
        self,
        path: str,
        source: LogSource,
        fd: int,
        st: os.stat_result,
        c: Checkpoint | None,
        *,
        name: str,
        resume: bool,
    ) -> TailedFile: ...


def truncated(f: TailedFile, size: int) -> bool:
    """``f`` (now ``size`` bytes) shrank below what was read, or no longer starts with the bytes
    read (emptied and grown back past the old offset before anyone looked: inotify coalesces
    modify events, so size alone cannot tell)."""
    return size < f.offset or not f.head_matches()


def _siblings(path: str) -> list[str]:
    directory = os.path.dirname(path) or "."
    stem = os.path.basename(path).split(".", 1)[0]
    names = glob.glob(os.path.join(glob.escape(directory), glob.escape(stem) + "*"))
    return sorted(p for p in names if not p.endswith(COMPRESSED))


def _holds(c: Checkpoint, fd: int, st: os.stat_result, size: int) -> bool:
    """Whether the open file ``fd`` starts with the bytes ``c`` saw and is at least ``size``
    long: it holds what ``c`` read (the file itself, renamed, or a copy)."""
    return bool(c.fingerprint_len) and st.st_size >= size and c.matches(fd)


def find_copy(c: Checkpoint, size: int, exclude: Collection[FileKey]) -> Copy | None:
    """A file beside ``c.path`` that starts with the bytes ``c`` saw and is at least ``size``
    long: where logrotate put a renamed or copied log (the file ``c`` names itself first, if it
    is still there under another name). Returns it opened."""
    if not c.fingerprint_len:
        return None  # (_holds would be false for every file: none is opened)
    found: Copy | None = None
    for path in _siblings(c.path):
        opened = open_regular(path)
        if isinstance(opened, OSError):
            continue
        fd, st = opened
        try:
            key = (st.st_dev, st.st_ino)
            if key not in exclude and _holds(c, fd, st, size):
                if key == c.key:
                    if found is not None:
                        os.close(found[1])
                    return path, fd, st
                if found is None:
                    found = path, fd, st
                    continue
        except OSError:
            pass
        os.close(fd)
    return found


def is_generation_of(candidate: str, path: str) -> bool:
    """Whether the name ``candidate`` is a rotated generation of the log ``path``."""
    base = os.path.basename(path)
    stem, dot, ext = base.rpartition(".")
    forms = [re.escape(base) + _GENERATION_SUFFIX]
    if dot and stem:
        forms.append(re.escape(stem) + _DATE_SUFFIX + re.escape(dot + ext))
    name = os.path.basename(candidate)
    return os.path.dirname(candidate) == os.path.dirname(path) and any(re.fullmatch(f, name) for f in forms)


def newer_generations(path: str, since_ns: int, exclude: Collection[FileKey]) -> list[Copy]:
    """The rotated generations of ``path`` modified at ``since_ns`` or later (the generation a
    checkpoint knew was still written then; older ones stopped being written before it began),
    not ``exclude``d (followed, or known by a checkpoint), oldest first, opened."""
    out: list[Copy] = []
    for candidate in _siblings(path):
        if not is_generation_of(candidate, path):
            continue
        opened = open_regular(candidate)
        if isinstance(opened, OSError):
            continue
        fd, st = opened
        if (st.st_dev, st.st_ino) in exclude or st.st_mtime_ns < since_ns:
            os.close(fd)
            continue
        out.append((candidate, fd, st))
    out.sort(key=lambda copy: copy[2].st_mtime_ns)
    return out


class Rotation:
    """Recovers what a rotation took away from a followed file (see the module docstring).

    ``follow`` (the tailer's) follows a rotated file; ``followed`` says which files are followed
    now (their identities), so a copy is never followed twice."""

    def __init__(
        self,
        pipeline: Pipeline,
        counters: TailCounters,
        log: Any,
        follow: Follow,
        followed: Callable[[], Collection[FileKey]],
    ) -> None:
        self.pipeline = pipeline
        self.counters = counters
        self._log = log
        self._follow = follow
        self._followed = followed

    def restart(
        self, f: TailedFile, max_line_bytes: int, patterns: UserPatterns | None = None
    ) -> TailedFile | None:
        """``f`` shrank or its first bytes changed: follow the old content's copy from where
        ``f``'s lines were handed on (returned, if one is found), and restart ``f`` at 0."""
        self.counters.truncations += 1
        copy: TailedFile | None = None
        if f.kind != "artifact":  # (a file not read yet, even not sniffed, has content to find too)
            c = f.checkpoint()
            found = find_copy(c, c.offset, exclude=self._followed())
            if found is None:
                if f.reader is not None:
                    self.pipeline.ingest(f.reader.flush(), {})  # the old content ends here
            else:
                path, fd, st = found
                copy = self._follow(path, f.source, fd, st, c, name=f.path, resume=False)
                copy.recovery = True
                # In order behind the marks of f's last lines: until it is written, a restart
                # finds the copy by f's old checkpoint; after, by the copy's own.
                self.pipeline.ingest([], copy.mark())
                self._log.info("reading the rest of the old content from its copy", file=f.path, copy=path)
        self._log.info("file truncated; reading it again from the start", file=f.path, was_offset=f.offset)
        f.offset = f.start_offset = 0
        f.start_line, f.first_line = 1, None
        f.fingerprint_len, f.fingerprint = 0, ""
        f.floor = None
        if f.kind == "log":
            f.start_reader(0, 1, max_line_bytes, patterns)
        f.after = None if copy is None else copy.key
        self.pipeline.ingest([], f.mark())  # the checkpoint now says: this file, from its start
        return copy

    def recover_at_start(
        self, c: Checkpoint, source: LogSource, exclude: Iterable[FileKey], live: TailedFile | None = None
    ) -> list[TailedFile]:
        """At start-up, the content checkpoint ``c`` saw is no longer at ``c.path``: follow it
        where it went (resumed at ``c``), then every generation rotated after it while the agent
        was down, oldest first; ``live`` (the file at ``c.path`` now, if followed) waits for
        them. Returns the rotated files followed (none: the content is gone, or compressed)."""
        excluded = set(exclude) | set(self._followed())
        found = find_copy(c, c.offset, exclude=excluded)
        if found is None:
            return []
        path, fd, st = found
        first = self._follow(path, source, fd, st, c, name=c.path, resume=True)
        first.recovery = first.key != c.key  # a copy (copytruncate): complete, read back
        self._log.info("reading the rest of a file rotated while stopped", file=path, was=c.path)
        excluded.add(first.key)
        return [first, *self.follow_generations(c.path, source, st.st_mtime_ns, excluded, first, live)]

    def follow_generations(
        self,
        path: str,
        source: LogSource,
        since_ns: int,
        exclude: Collection[FileKey],
        after: TailedFile | None,
        live: TailedFile | None,
    ) -> list[TailedFile]:
        """Follow the generations of ``path`` rotated since ``since_ns`` (while the agent was
        down) from their beginning, each after the one before (the first after ``after``), and
        make ``live`` wait for the last. Returns them."""
        chain: list[TailedFile] = []
        # live's own content, copied by a copytruncate that came after live was resumed (during
        # the start-up): not a generation to read from its beginning, but what live's restart
        # reads from where live had got to, once it sees live emptied
        ours = live.checkpoint() if live is not None and live.offset else None
        for generation_path, fd, st in newer_generations(path, since_ns, exclude):
            if ours is not None and _holds(ours, fd, st, ours.offset):
                os.close(fd)
                continue
            generation = self._follow(generation_path, source, fd, st, None, name=path, resume=False)
            previous = chain[-1] if chain else after
            generation.after = None if previous is None else previous.key
            chain.append(generation)
            self._log.info("reading a generation rotated while stopped", file=generation_path, was=path)
        last = chain[-1] if chain else after
        if live is not None and last is not None:
            live.after = last.key
        return chain
