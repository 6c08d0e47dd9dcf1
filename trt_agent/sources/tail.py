"""The log tailer of ``trt-agent run``: follows the files and globs of ``[[logs]]``.

Files are tracked by identity (device, inode), not by name, and read with ``pread`` from an
offset the tailer owns, so every rotation style reduces to a few cases:

- *rename rotation* (logrotate's default) and *delete/recreate*: the path now names another
  file or none. The old file stays open and is still read (writers often write a little more
  before they reopen) until it has not grown for ``rotate_wait`` seconds; the new file at the
  path is a new file, read from its beginning.
- *truncation* and *copytruncate*: the file shrank, or its first bytes changed (it was emptied
  and grew back past the old offset before anyone looked: inotify coalesces modify events, so
  size alone cannot tell). The bytes between the old offset and the truncation are looked for
  in a copy beside the file (``app.log.1``, ``app.log-20261126``...) whose first bytes match,
  then the file is read again from its beginning.
- *partial lines* are held until their newline arrives or ``partial_line_timeout`` passes.

Watchdog (inotify on Linux) only says *when* to look; what changed is always read from the
file itself with ``fstat``/``pread``, and a re-scan every ``poll_interval`` catches whatever a
notification missed (``watch = "poll"`` relies on that re-scan alone: network filesystems,
some container overlays). All reading and parsing happens on the one tailer thread.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import io
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from trt_agent.config import Config, LogSource
from trt_agent.logs import get_logger
from trt_agent.parse import ParseStats, parse_stream
from trt_agent.parse.artifacts import ArtifactError, looks_like_json
from trt_agent.parse.calibration import is_calibration_cache
from trt_agent.parse.dispatch import MAX_ARTIFACT_BYTES, SNIFF_BYTES, engine_id_for
from trt_agent.parse.log import LogReader
from trt_agent.sources.checkpoint import (
    FINGERPRINT_BYTES,
    Checkpoint,
    FileKey,
    fingerprint,
    read_head,
    starts_with,
)
from trt_agent.vocab.events import Event

CHUNK_BYTES: Final = 1 << 20
# Reasons of trt_agent_tail_errors_total, every one exported from the start (at 0) so that
# increase() and rate() see the first error.
TAIL_ERROR_REASONS: Final = (
    "permission_denied",
    "not_found",
    "not_a_regular_file",
    "symlink_loop",
    "symlink_outside_logs",
    "too_many_files",
    "io_error",
    "internal_error",
)
# Bytes read from one file per pass, so one busy file cannot starve the others or a shutdown.
READ_BUDGET_BYTES: Final = 16 << 20
_WATCHED_EVENTS: Final = (
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
)


class Pipeline(Protocol):
    """Where the tailer hands what it read (the daemon's engine model and event stream)."""

    def ingest(self, events: list[Event], mark: dict[FileKey, Checkpoint]) -> None:
        """New events, with the checkpoint of the lines that made them."""

    def replay(self, events: list[Event]) -> None:
        """Events of lines already delivered before a restart: for the engine model only."""

    def forget(self, key: FileKey) -> None:
        """A file is gone for good; its checkpoint can go."""

    def blocked(self) -> bool:
        """True while events cannot be written (disk full...): reading waits, nothing is lost."""


@dataclass
class TailCounters:
    """What the tailer did, for self-metrics (read by the metrics thread; ints only)."""

    rotations: int = 0
    truncations: int = 0
    recovered_bytes: int = 0
    partial_flushes: int = 0
    artifact_errors: int = 0
    parse_reads: int = 0
    parse_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TAIL_ERROR_REASONS, 0))

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1


class TailedFile:
    """One open file being followed, from ``offset`` on."""

    def __init__(
        self, path: str, source: LogSource, fd: int, st: os.stat_result, stats: ParseStats, name: str = ""
    ) -> None:
        self.path = path
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
        self.fingerprint_len = 0
        self.fingerprint = ""
        self.rotated_at: float | None = None  # when the path stopped naming this file
        self.last_growth = time.monotonic()
        self.partial_since: float | None = None
        self.last_stat: tuple[int, int] = (-1, -1)

    @property
    def committed(self) -> int:
        """File offset up to which every line has been handed on."""
        if self.reader is None:
            return self.offset
        return self.reader_base + self.reader.consumed

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(
            path=self.path,
            dev=self.key[0],
            ino=self.key[1],
            offset=self.committed,
            line=self.reader.line_no if self.reader is not None else 1,
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
        if self.fingerprint_len < FINGERPRINT_BYTES and self.offset > self.fingerprint_len:
            head = read_head(self.fd, min(self.offset, FINGERPRINT_BYTES))
            self.fingerprint_len, self.fingerprint = len(head), fingerprint(head)

    def start_reader(self, offset: int, line: int, max_line_bytes: int) -> None:
        self.reader = LogReader(
            self.path, self.source.engine, self.stats, max_line_bytes=max_line_bytes, first_line=line
        )
        self.reader_base = offset
        self.offset = offset
        self.partial_since = None

    def close(self) -> None:
        os.close(self.fd)


class _Wakeup(FileSystemEventHandler):
    def __init__(self, tailer: Tailer) -> None:
        self.tailer = tailer

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.tailer.wake(rescan=not isinstance(event, FileModifiedEvent | FileClosedEvent))


class Tailer:
    """Follows the files of ``config.logs`` on its own thread and feeds ``pipeline``."""

    def __init__(self, config: Config, pipeline: Pipeline, checkpoints: dict[FileKey, Checkpoint]) -> None:
        self.config = config
        self.pipeline = pipeline
        self.checkpoints = dict(checkpoints)  # as found at start; consulted when a file is opened
        self.files: dict[FileKey, TailedFile] = {}
        self.stats: dict[str, ParseStats] = {}  # per [[logs]] path
        self.counters = TailCounters()
        self.heartbeat = time.monotonic()
        self.ready = False  # every file present at start-up has been read to its end once
        self.mode = config.tail.watch
        self._log = get_logger("trt_agent.tail")
        self._wake = threading.Event()
        self._rescan = True
        self._stop = False
        self._halt = threading.Event()  # set by stop(): ends a wait for the event stream
        self._started_sources: set[str] = set()
        self._failing: dict[str, str] = {}  # path -> reason it cannot be read
        self._over_cap: set[str] = set()  # paths not followed: max_followed_files reached
        # Files present at start that the cap kept out: opened later, they are still "present at
        # start" for read_from = "end" (their history is not news).
        self._capped_at_start: dict[FileKey, int] = {}  # -> its size then: the history to skip
        # Per [[logs]] path, the files it matches at the last scan (trt_agent_log_path_files);
        # replaced whole each scan, so the metrics thread reads one consistent dict.
        self.matched: dict[str, int] = {}
        self._unmatched: set[str] = set()  # [[logs]] paths warned about: they match no file
        self._warned_no_logs = False
        self._observer: BaseObserver | None = None
        self._watches: dict[str, tuple[FileKey, ObservedWatch]] = {}
        self._lock = threading.Lock()  # guards config swaps from SIGHUP
        self._thread = threading.Thread(target=self._run, name="tailer", daemon=True)
        self._first_scan_done = threading.Event()
        self._more_to_read = False

    # -- control (other threads) -------------------------------------------------------------------

    def start(self) -> None:
        if self.mode == "inotify":
            try:
                observer = Observer()
                observer.start()
                self._observer = observer
            except OSError as exc:
                self._fall_back_to_polling(exc)
        self._thread.start()

    def wait_started(self, timeout: float) -> bool:
        """Wait until the files present at start-up were opened (and checkpoints replayed)."""
        return self._first_scan_done.wait(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self, *, rescan: bool = False) -> None:
        if rescan:
            self._rescan = True
        self._wake.set()

    def reload(self, config: Config) -> None:
        """Follow the ``[[logs]]`` of a new config; files still matched keep their state."""
        with self._lock:
            self.config = config
        self.wake(rescan=True)

    def stop(self, timeout: float) -> bool:
        """Read what the files hold now, then stop. False if ``timeout`` ran out first."""
        self._stop = True
        self._wake.set()
        self._halt.set()
        if self._observer is not None:
            self._observer.stop()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def lag_bytes(self) -> dict[str, int]:
        """Bytes written but not yet read, per ``[[logs]]`` path (as of the last look)."""
        lag: dict[str, int] = {}
        for f in list(self.files.values()):
            lag[f.source.path] = lag.get(f.source.path, 0) + max(0, f.size - f.committed)
        return lag

    # -- the tailer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        next_scan = 0.0
        try:
            while True:
                now = time.monotonic()
                if self.pipeline.blocked() and not self._stop:
                    # The event stream cannot write (disk full, read-only): read nothing until it
                    # can, so no line's events are lost; the files keep what was not read yet.
                    self.heartbeat = now
                    self._halt.wait(0.1)
                    continue
                if self._rescan or now >= next_scan:
                    self._rescan = False
                    self._scan(now)
                    next_scan = now + self.config.tail.poll_interval
                    self._first_scan_done.set()
                self._more_to_read = False
                for f in list(self.files.values()):
                    try:
                        self._service(f, now)
                    except Exception:  # a bug, not input: count it, keep the other files going
                        self._internal_error(f.path)
                if not self._more_to_read and self._first_scan_done.is_set():
                    self.ready = True
                self.heartbeat = time.monotonic()
                if self._stop:
                    break
                self._wake.wait(self._timeout(next_scan))
                self._wake.clear()
            self._drain()
        except Exception:  # pragma: no cover - a bug; logged so the daemon's watchdog sees it stop
            self._log.exception("tailer thread died")
            raise
        finally:
            self._first_scan_done.set()

    def _timeout(self, next_scan: float) -> float:
        deadline = next_scan
        tail = self.config.tail
        for f in self.files.values():
            if f.partial_since is not None:
                deadline = min(deadline, f.partial_since + tail.partial_line_timeout)
            if f.rotated_at is not None:
                deadline = min(deadline, max(f.rotated_at, f.last_growth) + tail.rotate_wait)
        return max(0.0, deadline - time.monotonic())

    def _drain(self) -> None:
        """At shutdown: read every file to its current end; held partial lines stay unread.
        (Not while the event stream cannot write: the next start reads on from the checkpoints.)"""
        blocked = self.pipeline.blocked()
        for f in list(self.files.values()):
            try:
                while not blocked and self._read(f) >= READ_BUDGET_BYTES:
                    pass
            except OSError as exc:
                self._fail(f.path, exc)
            f.close()
        self.files.clear()
        if self._observer is not None:
            self._observer.join(1.0)

    # -- discovery ---------------------------------------------------------------------------------

    def _scan(self, now: float) -> None:
        with self._lock:
            sources = self.config.logs
        found: dict[FileKey, tuple[str, LogSource, os.stat_result]] = {}
        matched: dict[str, int] = {}
        for source in sources:
            self.stats.setdefault(source.path, ParseStats())
            self._watch_dir(source)
            matched[source.path] = 0
            for path in _expand(source.path):
                try:
                    st = os.lstat(path)
                    if stat.S_ISLNK(st.st_mode):
                        # Followed only to a file a [[logs]] path names too: whoever can write
                        # the log directory must not make the agent read (and ship) any file.
                        target = os.path.realpath(path)
                        if target != os.path.abspath(path) and not any(
                            _names(s.path, target) for s in sources
                        ):
                            self._refuse_symlink(path, target)
                            continue
                        st = os.stat(path)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._fail(path, exc)
                    continue
                if not _is_regular(st):
                    if not glob.has_magic(source.path):  # named on its own: say why it is not read
                        self._fail(path, OSError(errno.EISDIR, "not a regular file", path))
                    continue
                matched[source.path] += 1
                found.setdefault((st.st_dev, st.st_ino), (path, source, st))
        self.matched = matched
        self._note_unmatched(matched)
        self._unwatch_unused({_watch_root(s.path) for s in sources})
        initial = {s.path for s in sources} - self._started_sources
        over_cap: set[str] = set()
        # Newest first: when more files match than may be open, the ones being written win.
        for key, (path, source, seen) in sorted(found.items(), key=lambda item: -item[1][2].st_mtime):
            tracked = self.files.get(key)
            if tracked is not None:
                if tracked.path != path:
                    tracked.path = path
                tracked.rotated_at = None
                continue
            if len(self.files) >= self.config.tail.max_followed_files:
                over_cap.add(path)
                if source.path in initial:
                    self._capped_at_start.setdefault(key, seen.st_size)
                continue
            try:
                history = self._capped_at_start.pop(key, None)
                self._open(
                    path,
                    source,
                    at_start=source.path in initial or history is not None,
                    expected=key,
                    history=history,
                )
            except Exception:
                self._internal_error(path)
        self._started_sources.update(initial)
        self._note_over_cap(over_cap)
        for key, f in list(self.files.items()):
            if key in found or f.rotated_at is not None:
                continue
            if _key_of(f.path) == key:
                # Still there, but no [[logs]] entry matches it any more (a reload removed it):
                # stop following it; its checkpoint stays, so re-adding it resumes.
                self._read(f)
                f.close()
                del self.files[key]
                self.checkpoints[key] = f.checkpoint()  # re-adding it resumes here
                self._log.info("stopped following", file=f.path)
                continue
            f.rotated_at = now
            self.counters.rotations += 1
            self._log.info("file rotated or deleted; reading what remains", file=f.path)
        if not self._first_scan_done.is_set():
            try:
                self._recover_orphans(found)
            except Exception:
                self._internal_error("(files rotated while stopped)")

    def _open(
        self,
        path: str,
        source: LogSource,
        *,
        at_start: bool,
        expected: FileKey | None = None,
        history: int | None = None,
    ) -> TailedFile | None:
        """Follow ``path``. ``at_start``: it was there when the agent started, so ``read_from =
        "end"`` skips its history: its size now, or ``history`` bytes (its size at start, for a
        file ``max_followed_files`` kept out until now)."""
        opened = _open_regular(path)
        if isinstance(opened, OSError):
            self._fail(path, opened)
            return None
        fd, st = opened
        if expected is not None and (st.st_dev, st.st_ino) != expected:
            os.close(fd)  # replaced (by a symlink?) since the scan looked: the next scan decides
            return None
        if self._failing.pop(path, None) is not None:
            self._log.info("file readable again", file=path)
        if (st.st_dev, st.st_ino) in self.files:
            os.close(fd)  # replaced between the scan's stat and this open: the next scan sorts it out
            return None
        f = TailedFile(path, source, fd, st, self.stats[source.path])
        self.files[f.key] = f
        previous = self.checkpoints.pop(f.key, None)
        if previous is not None and previous.matches(fd) and st.st_size >= previous.offset:
            self._resume(f, previous)
            return f
        if previous is not None:
            # Same inode, other content: emptied (copytruncate) or the inode was reused while
            # the agent was down. What was not read yet may be in a rotated copy.
            reader = LogReader(
                path,
                source.engine,
                f.stats,
                max_line_bytes=self.config.max_line_bytes,
                first_line=previous.line,
            )
            self._recover_from_copy(f, previous, reader, previous.offset)
            self._deliver(f, [])  # the old checkpoint is replaced: a restart must not recover again
        rotated_while_down = any(c.path == path for c in self.checkpoints.values())
        if at_start and source.read_from == "end" and previous is None and not rotated_while_down:
            self._skip_history(f, st.st_size if history is None else min(history, st.st_size))
        self._log.info("following", file=path, engine=source.engine, offset=f.offset)
        return f

    def _resume(self, f: TailedFile, c: Checkpoint) -> None:
        """Continue at checkpoint ``c``; lines before it go to the engine model only."""
        f.start_offset, f.start_line = c.start_offset, c.start_line
        f.fingerprint_len, f.fingerprint = c.fingerprint_len, c.fingerprint
        f.offset = c.start_offset
        if c.offset > c.start_offset:
            replay: Callable[[list[Event]], None] = self.pipeline.replay
            while f.offset < c.offset and self._read(f, until=c.offset, sink=replay) > 0:
                pass  # one read budget at a time
            if f.reader is not None and f.reader.pending:
                # The checkpoint ends inside a line that was flushed after partial_line_timeout.
                self.pipeline.replay(list(f.reader.flush()))
            if f.kind == "artifact" and f.offset == c.offset:
                st = os.fstat(f.fd)
                f.last_stat = (st.st_size, st.st_mtime_ns)  # unchanged since: not new
        self._log.info("resuming", file=f.path, offset=c.offset, line=c.line)

    def _skip_history(self, f: TailedFile, size: int) -> None:
        """``read_from = "end"``: start after the last complete line, counting lines for provenance.

        Artifacts (JSON, calibration caches) are whole documents: they are always read."""
        if not self._sniff(f, size) or f.kind != "log":
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
        f.start_reader(start, lines + 1, self.config.max_line_bytes)
        f.update_fingerprint()

    def _recover_orphans(self, found: dict[FileKey, Any]) -> None:
        """Checkpointed files no glob matches any more: renamed while the agent was down?"""
        for key, c in list(self.checkpoints.items()):
            if key in found:
                continue
            del self.checkpoints[key]
            source = next((s for s in self.config.logs if s.matches(c.path)), None)
            copy = _find_copy(c, c.offset, exclude=self.files.keys()) if source is not None else None
            if source is None or copy is None:
                self.pipeline.forget(key)
                continue
            path, fd, st = copy
            f = TailedFile(path, source, fd, st, self.stats[source.path], name=c.path)
            self.files[f.key] = f
            self._resume(f, c)
            f.rotated_at = time.monotonic()
            if f.key != key:
                self.pipeline.forget(key)
            self._log.info("reading the rest of a file rotated while stopped", file=path, was=c.path)

    # -- reading -----------------------------------------------------------------------------------

    def _service(self, f: TailedFile, now: float) -> None:
        tail = self.config.tail
        try:
            grew = self._read(f) > 0
        except OSError as exc:
            self._fail(f.path, exc)
            return
        if grew:
            f.last_growth = now
        reader = f.reader
        if reader is not None and reader.pending:
            if grew or f.partial_since is None:
                f.partial_since = now
            elif now - f.partial_since >= tail.partial_line_timeout:
                self.counters.partial_flushes += 1
                self._deliver(f, list(reader.flush()))
                f.partial_since = None
        else:
            f.partial_since = None
        if f.rotated_at is not None and now - max(f.rotated_at, f.last_growth) >= tail.rotate_wait:
            if reader is not None:
                self._deliver(f, list(reader.flush()))
            f.close()
            del self.files[f.key]
            self.pipeline.forget(f.key)
            self._log.info("closed rotated file", file=f.path, bytes=f.offset)

    def _read(
        self,
        f: TailedFile,
        *,
        until: int | None = None,
        sink: Callable[[list[Event]], None] | None = None,
    ) -> int:
        """Read what ``f`` grew by (up to ``until``); returns the bytes read."""
        st = os.fstat(f.fd)
        stat = (st.st_size, st.st_mtime_ns)
        if until is not None:
            f.last_stat = (-1, -1)  # a replay stops early: the next pass reads on
        elif stat == f.last_stat:
            return 0
        else:
            f.last_stat = stat
        f.size = st.st_size
        if until is None and f.kind != "artifact" and (st.st_size < f.offset or not f.head_matches()):
            self._truncated(f)
        if f.kind is None and not self._sniff(f, st.st_size):
            return 0
        if f.kind == "artifact":
            return self._read_artifact(f, st.st_size, sink)
        assert f.reader is not None
        limit = st.st_size if until is None else until
        total = 0
        while f.offset < limit and total < READ_BUDGET_BYTES:
            data = os.pread(f.fd, min(CHUNK_BYTES, limit - f.offset), f.offset)
            if not data:
                break
            f.offset += len(data)
            total += len(data)
            f.stats.bytes += len(data)
            f.update_fingerprint()  # before the checkpoint of this chunk is taken
            started = time.perf_counter()
            events = list(f.reader.feed(data))
            self.counters.parse_seconds += time.perf_counter() - started
            self.counters.parse_reads += 1
            if sink is not None:
                sink(events)
            else:
                self._deliver(f, events)
        f.update_fingerprint()
        if total >= READ_BUDGET_BYTES:
            f.last_stat = (-1, -1)  # more to read: look again next pass
            self._more_to_read = True
            self._wake.set()
        return total

    def _deliver(self, f: TailedFile, events: list[Event]) -> None:
        self.pipeline.ingest(events, f.mark())

    def _sniff(self, f: TailedFile, size: int) -> bool:
        """Decide whether ``f`` is a log or a whole-file artifact; False until there is enough to tell."""
        if size == 0:
            return False
        fmt = f.source.format
        head = os.pread(f.fd, SNIFF_BYTES, 0) if fmt == "auto" else b""
        if fmt == "auto" and b"\n" not in head and (head.startswith(b"TRT-") or b"TRT-".startswith(head)):
            return False  # maybe a calibration cache's header line, not complete yet
        if fmt == "auto" and head.strip() in (b"[", b"\xef\xbb\xbf["):
            return False  # a JSON array or a "[date] [TRT]" line: the next bytes tell
        if fmt in ("json", "calibration_cache") or looks_like_json(head) or is_calibration_cache(head):
            f.kind = "artifact"
        else:
            f.kind = "log"
            if f.reader is None:
                f.start_reader(f.offset, f.start_line, self.config.max_line_bytes)
        return True

    def _read_artifact(self, f: TailedFile, size: int, sink: Callable[[list[Event]], None] | None) -> int:
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
            self._deliver(f, events)
        return len(data)

    def _truncated(self, f: TailedFile) -> None:
        """``f`` shrank or its first bytes changed: finish the old content, restart at 0."""
        self.counters.truncations += 1
        if f.reader is not None:
            self._recover_from_copy(f, f.checkpoint(), f.reader, f.offset)
        self._log.info("file truncated; reading it again from the start", file=f.path, was_offset=f.offset)
        f.offset = f.start_offset = 0
        f.start_line = 1
        f.fingerprint_len, f.fingerprint = 0, ""
        if f.kind == "log":
            f.start_reader(0, 1, self.config.max_line_bytes)
        self._deliver(f, [])  # the checkpoint now says: this file, from its start

    def _recover_from_copy(self, f: TailedFile, c: Checkpoint, reader: LogReader, start: int) -> None:
        """Feed ``reader`` what followed ``start`` in a rotated copy of the content ``c`` saw.

        Ends with ``reader`` flushed: the old content is finished either way."""
        copy = _find_copy(c, start, exclude={f.key})
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
                self._fail(path, exc)
            finally:
                os.close(fd)
            self.counters.recovered_bytes += pos - start
            self._log.info(
                "read the rest of the old content from its copy", file=f.path, copy=path, bytes=pos - start
            )
        self.pipeline.ingest(list(reader.flush()), {})

    # -- problems and watches ----------------------------------------------------------------------

    def _fail(self, path: str, exc: OSError) -> None:
        reason = {
            13: "permission_denied",
            2: "not_found",
            21: "not_a_regular_file",
            errno.ELOOP: "symlink_loop",
        }.get(exc.errno or 0, "io_error")
        self.counters.error(reason)
        if self._failing.get(path) != reason:
            self._failing[path] = reason
            self._log.warning("cannot read file; will retry", file=path, reason=reason, error=exc.strerror)

    def _note_over_cap(self, paths: set[str]) -> None:
        """Each file left out for ``max_followed_files`` is counted once; one warning while any is
        (a glob over a directory of thousands of files must not spend every descriptor)."""
        for _ in paths - self._over_cap:
            self.counters.error("too_many_files")
        if paths and not self._over_cap:
            self._log.warning(
                "more files match the [[logs]] paths than agent.max_followed_files; the rest are "
                "not followed until followed ones go away",
                max_followed_files=self.config.tail.max_followed_files,
                not_followed=len(paths),
                example=min(paths),
            )
        elif self._over_cap and not paths:
            self._log.info("every matching file is followed again")
        self._over_cap = paths

    def _note_unmatched(self, matched: dict[str, int]) -> None:
        """One warning per ``[[logs]]`` path while it matches no file (a typo, a missing mount),
        one info when it matches again; one warning when there is no ``[[logs]]`` at all."""
        if not matched and self.config.profiler is None:
            if not self._warned_no_logs:
                self._warned_no_logs = True
                self._log.warning("no [[logs]] in the config: no file is followed")
        else:
            self._warned_no_logs = False
        for path, count in matched.items():
            if count == 0 and path not in self._unmatched:
                self._unmatched.add(path)
                self._log.warning(
                    "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)",
                    path=path,
                )
            elif count and path in self._unmatched:
                self._unmatched.discard(path)
                self._log.info("[[logs]] path matches files now", path=path, files=count)
        self._unmatched &= set(matched)  # a reload removed the path

    def _refuse_symlink(self, path: str, target: str) -> None:
        self.counters.error("symlink_outside_logs")
        if self._failing.get(path) != "symlink_outside_logs":
            self._failing[path] = "symlink_outside_logs"
            self._log.warning(
                "symlink to a file outside the configured [[logs]] paths; not followed",
                file=path,
                target=target,
                hint="add a [[logs]] path that matches the target to follow it",
            )

    def _internal_error(self, path: str) -> None:
        self.counters.error("internal_error")
        if self._failing.get(path) != "internal_error":
            self._failing[path] = "internal_error"
            self._log.exception("unexpected error following a file; please report it", file=path)

    def _fall_back_to_polling(self, exc: OSError) -> None:
        self.mode = "poll"
        self._observer = None
        self._log.warning(
            "inotify unavailable, polling instead",
            error=str(exc),
            poll_interval=self.config.tail.poll_interval,
        )

    def _unwatch_unused(self, needed: set[str]) -> None:
        """Drop the directory watches of ``[[logs]]`` entries a reload removed."""
        if self._observer is None:
            return
        for directory in [d for d in self._watches if d not in needed]:
            self._observer.unschedule(self._watches.pop(directory)[1])

    def _watch_dir(self, source: LogSource) -> None:
        if self._observer is None:
            return
        directory = _watch_root(source.path)
        key = _key_of(directory)
        current = self._watches.get(directory)
        if current is not None and current[0] == key:
            return
        if current is not None:
            self._observer.unschedule(current[1])
            del self._watches[directory]
        if key is None:
            return  # not there yet: the periodic scan tries again
        try:
            watch = self._observer.schedule(
                _Wakeup(self), directory, recursive=False, event_filter=list(_WATCHED_EVENTS)
            )
        except OSError as exc:
            self._observer.stop()
            self._fall_back_to_polling(exc)
            return
        self._watches[directory] = (key, watch)


def _expand(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def _key_of(path: str) -> FileKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _names(pattern: str, target: str) -> bool:
    """True when the ``[[logs]]`` path ``pattern`` (its directory resolved) matches the absolute,
    resolved path ``target``."""
    root = _watch_root(pattern)
    resolved = os.path.join(os.path.realpath(root), os.path.relpath(pattern, root))
    return fnmatch.fnmatchcase(target, resolved)


def _watch_root(pattern: str) -> str:
    """The deepest directory of ``pattern`` without glob characters."""
    directory = os.path.dirname(pattern) or "."
    while glob.has_magic(directory):
        directory = os.path.dirname(directory) or "."
    return directory


def _find_copy(c: Checkpoint, size: int, exclude: Any) -> tuple[str, int, os.stat_result] | None:
    """A file beside ``c.path`` that starts with the bytes ``c`` saw and is at least ``size``
    long: where logrotate put a renamed or copied log. Returns it opened."""
    directory = os.path.dirname(c.path) or "."
    stem = os.path.basename(c.path).split(".", 1)[0]
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), glob.escape(stem) + "*"))):
        if path.endswith((".gz", ".bz2", ".xz", ".zst")):
            continue
        opened = _open_regular(path)
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


def _open_regular(path: str) -> tuple[int, os.stat_result] | OSError:
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
