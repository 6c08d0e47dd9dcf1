"""The :class:`Tailer`: the one thread that scans, opens, reads and closes the followed files, and
what other threads ask of it (start, stop, reload, wake, lag, readiness, heartbeat).

Each turn of the thread is :meth:`Tailer.step`: a scan when one is due (every ``poll_interval``,
or at once after a watch notification or a reload), then one read of every followed file, each
within the read budget. Between turns the thread waits on its waker until the next deadline (a
scan, a partial line's timeout, a rotated file's ``rotate_wait``). The read budget, the waker
and the clock are constructor arguments, so a test can drive ``step`` itself.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from typing import Final

from trt_agent.config import Config, LogSource
from trt_agent.logs import get_logger
from trt_agent.parse import ParseStats
from trt_agent.sources.checkpoint import Checkpoint, CheckpointCommitter, FileKey, Forget
from trt_agent.sources.tail import discovery
from trt_agent.sources.tail.counters import Problems, TailCounters
from trt_agent.sources.tail.files import TailedFile, key_of, open_regular
from trt_agent.sources.tail.ports import Clock, Pipeline, Waker
from trt_agent.sources.tail.reader import READ_BUDGET_BYTES, Reader
from trt_agent.sources.tail.resume import Resumer
from trt_agent.sources.tail.rotation import Rotation
from trt_agent.sources.tail.watch import Watcher

BLOCKED_WAIT: Final = 0.1  # seconds between looks while the pipeline cannot take events


class Tailer:
    """Follows the files of ``config.logs`` on its own thread and feeds ``pipeline``.

    ``read_budget``: bytes one file may be read per turn. ``waker``: what the thread waits on
    between turns (a ``threading.Event`` by default). ``clock``: monotonic seconds
    (``time.monotonic`` by default), for every deadline and the heartbeat. ``on_ready``: called
    once, on the tailer's thread, when every file present at start-up has been read;
    ``on_turn``: at the end of every turn, between batches, told whether the turn found
    nothing to read (the daemon's model snapshot: saved at once when the files are caught up).
    ``folded`` and ``count_replays``: where the engine model stands in each file, see
    :class:`~trt_agent.sources.tail.resume.Resumer`."""

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        committer: CheckpointCommitter,
        *,
        read_budget: int = READ_BUDGET_BYTES,
        waker: Waker | None = None,
        clock: Clock = time.monotonic,
        on_ready: Callable[[], None] | None = None,
        on_turn: Callable[[bool], None] | None = None,
        folded: Callable[[FileKey], Checkpoint | None] | None = None,
        count_replays: bool = False,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        # The tailer's durable positions: the event stream acknowledges written batches to it.
        self.committer = committer
        self.checkpoints = dict(committer.checkpoints)  # as found at start; consulted when a file is opened
        self._saved_at_ns = committer.saved_at_ns()  # when those were saved (None: never)
        self.files: dict[FileKey, TailedFile] = {}
        self.stats: dict[str, ParseStats] = {}  # per [[logs]] path
        self.counters = TailCounters()
        self._clock = clock
        self.heartbeat = clock()
        self.ready = False  # every file present at start-up has been read to its end once
        self._on_ready = on_ready  # told once, when ``ready`` turns true
        self._on_turn = on_turn
        self._log = get_logger("trt_agent.tail")
        self._wake: Waker = threading.Event() if waker is None else waker
        self._rescan = True
        self._next_scan = 0.0
        self._stop = False
        self._halt = threading.Event()  # set by stop(): ends a wait for the event stream
        self._started_sources: set[str] = set()
        # Per [[logs]] path, the files it matches at the last scan (trt_agent_log_path_files);
        # replaced whole each scan, so the metrics thread reads one consistent dict.
        self.matched: dict[str, int] = {}
        self._problems = Problems(self.counters, self._log)
        self._cap = discovery.Cap(self.counters, self._log)
        self._unmatched = discovery.Unmatched(self._log)
        self._watcher = Watcher(
            config.tail.watch,
            lambda rescan: self.wake(rescan=rescan),
            self._log,
            lambda: self.config.tail.poll_interval,
        )
        self._rotation = Rotation(
            pipeline, self.counters, self._log, self._follow_rotated, lambda: self.files.keys()
        )
        self._reader = Reader(
            pipeline,
            self.counters,
            self._rotation,
            self._log,
            budget=read_budget,
            max_line_bytes=lambda: self.config.max_line_bytes,
            on_budget_spent=self._budget_spent,
            on_progress=self._beat,
            patterns=lambda: self.config.patterns,
        )
        self._resumer = Resumer(
            self.checkpoints,
            pipeline,
            self._reader,
            self._log,
            lambda: self.config.max_line_bytes,
            folded=folded,
            count_replays=count_replays,
        )
        # Files followed since the last turn whose existence is not durable yet (see _register):
        # the checkpoint they start at, and whether it replaces what the store says of their inode.
        self._unregistered: dict[FileKey, tuple[Checkpoint, bool]] = {}
        self._lock = threading.Lock()  # guards config swaps from SIGHUP
        self._thread = threading.Thread(target=self._run, name="tailer", daemon=True)
        self._first_scan_done = threading.Event()
        self._more_to_read = False
        self._read_any = False  # this turn read something

    @property
    def mode(self) -> str:
        """How files are watched: ``"inotify"``, or ``"poll"`` (configured, or inotify failed)."""
        return self._watcher.mode

    # -- control (other threads) -------------------------------------------------------------------

    def start(self) -> None:
        self._watcher.start()
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
        """Follow the ``[[logs]]`` of a new config; files still matched keep their state, and
        their readers take the new ``[[patterns]]`` from their next line."""
        with self._lock:
            self.config = config
            for f in list(self.files.values()):
                if f.reader is not None:
                    f.reader.parser.patterns = config.patterns or None
        self.wake(rescan=True)

    def stop(self, timeout: float) -> bool:
        """Read what the files hold now, then stop. False if ``timeout`` ran out first."""
        self._stop = True
        self._wake.set()
        self._halt.set()
        self._watcher.stop()
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
        try:
            while not self._stop:
                if not self.step():
                    self._halt.wait(BLOCKED_WAIT)
                    continue
                self._wake.wait(self._timeout())
                self._wake.clear()
            self.drain()  # (not a turn: it stops at a full event queue, and while writes fail)
        except Exception:  # pragma: no cover - a bug; logged so the daemon's watchdog sees it stop
            self._log.exception("tailer thread died")
            raise
        finally:
            self._first_scan_done.set()

    def step(self) -> bool:
        """One turn: a scan if one is due, then one read of every followed file. False (and
        nothing read) while the pipeline is blocked: the event stream cannot write (disk full,
        read-only), so no line's events are lost; the files keep what was not read yet."""
        now = self._clock()
        if self.pipeline.blocked():
            self.heartbeat = now
            return False
        if self._rescan or now >= self._next_scan:
            self._rescan = False
            self._scan(now)
            self._register()  # before any of their lines is read
            self._next_scan = now + self.config.tail.poll_interval
            self._first_scan_done.set()
        self._more_to_read = self._read_any = False
        for f in self._oldest_first():
            try:
                self._service(f, now)
            except Exception:  # a bug, not input: count it, keep the other files going
                self._problems.internal_error(f.path)
        self._register()
        if self._on_turn is not None:
            self._on_turn(not self._read_any)
        if not self._more_to_read and self._first_scan_done.is_set() and not self.ready:
            self.ready = True
            if self._on_ready is not None:
                self._on_ready()
        self.heartbeat = self._clock()
        return True

    def _beat(self) -> None:
        """A chunk was read: the thread is working, however long this turn takes."""
        self.heartbeat = self._clock()

    def _register(self) -> None:
        """Make the files followed since the last turn durable now, not with the marks of their
        first lines (a checkpoint interval later): one renamed away while the agent is down is
        then found by its fingerprint at the next start. An empty file waits for its first bytes
        (without them, nothing tells it from its siblings)."""
        if not self._unregistered:
            return
        new: list[Checkpoint] = []
        replacing: list[Checkpoint] = []
        for key, (start, replaces) in list(self._unregistered.items()):
            f = self.files.get(key)
            if f is not None and not f.fingerprint_len:
                continue
            del self._unregistered[key]
            if f is None:
                continue  # closed already: its Forget is on its way
            c = dataclasses.replace(start, fingerprint_len=f.fingerprint_len, fingerprint=f.fingerprint)
            (replacing if replaces else new).append(c)
        if new or replacing:
            self.committer.register(new, replacing=replacing)

    def _timeout(self) -> float:
        """Seconds until the next turn is due without a wake-up."""
        deadline = self._next_scan
        tail = self.config.tail
        for f in self.files.values():
            if f.partial_since is not None:
                deadline = min(deadline, f.partial_since + tail.partial_line_timeout)
            if f.rotated_at is not None:
                deadline = min(deadline, max(f.rotated_at, f.last_growth) + tail.rotate_wait)
        return max(0.0, deadline - self._clock())

    def drain(self) -> None:
        """At shutdown: read every file to its current end and close it; held partial lines stay
        unread. (Not while the event stream cannot write: the next start reads on from the
        checkpoints.) The thread calls it when stopped; a test driving ``step`` calls it itself."""
        blocked = self.pipeline.blocked()
        for f in self._oldest_first():
            try:
                # Not past what the event queue takes without waiting (events.when_full =
                # "block"): a stop must not wait for a backlog; the checkpoints keep the rest.
                while (
                    not blocked and not self.pipeline.full() and self._reader.read(f) >= self._reader.budget
                ):
                    pass
            except OSError as exc:
                self._problems.fail(f.path, exc)
        self._register()
        for f in self.files.values():
            f.close()
        self.files.clear()
        self._watcher.join(1.0)

    def _oldest_first(self) -> list[TailedFile]:
        """The followed files, each after the rotated generation it waits for (``after``)."""
        files = list(self.files.values())
        if all(f.after is None for f in files):
            return files  # (every turn: no sort unless a generation is waited for)

        def depth(f: TailedFile) -> int:
            n, seen = 0, {f.key}
            while f.after is not None and f.after in self.files and f.after not in seen:
                f = self.files[f.after]
                seen.add(f.key)
                n += 1
            return n

        return sorted(files, key=depth)

    def _budget_spent(self) -> None:
        self._more_to_read = True
        self._wake.set()

    # -- discovery ---------------------------------------------------------------------------------

    def _scan(self, now: float) -> None:
        with self._lock:
            sources = self.config.logs
        found: discovery.Found = {}
        matched: dict[str, int] = {}
        for source in sources:
            self.stats.setdefault(source.path, ParseStats())
            self._watcher.watch(source)
            matched[source.path] = discovery.match(source, sources, found, self._problems)
        self.matched = matched
        self._unmatched.note(matched, profiler=self.config.profiler is not None)
        self._watcher.unwatch_unused({discovery.watch_root(s.path) for s in sources})
        initial = {s.path for s in sources} - self._started_sources
        over_cap: set[str] = set()
        for key, (path, source, seen) in discovery.newest_first(found):
            tracked = self.files.get(key)
            if tracked is not None:
                if tracked.path != path:
                    tracked.path = path
                tracked.rotated_at = None
                continue
            if len(self.files) >= self.config.tail.max_followed_files:
                over_cap.add(path)
                self._cap.leave_out(key, seen.st_size, at_start=source.path in initial)
                continue
            try:
                history = self._cap.history(key)
                self._open(
                    path,
                    source,
                    at_start=source.path in initial or history is not None,
                    expected=key,
                    history=history,
                    found=found,
                )
            except Exception:
                self._problems.internal_error(path)
        self._started_sources.update(initial)
        self._cap.note(over_cap, self.config.tail.max_followed_files)
        for key, f in list(self.files.items()):
            if key in found or f.rotated_at is not None:
                continue
            if key_of(f.path) == key:
                # Still there, but no [[logs]] entry matches it any more (a reload removed it):
                # stop following it; its checkpoint stays, so re-adding it resumes.
                self._reader.read(f)
                f.close()
                del self.files[key]
                self.checkpoints[key] = f.checkpoint()  # re-adding it resumes here
                self._log.info("stopped following", file=f.path)
                continue
            f.rotated_at = now
            self.counters.rotations += 1
            self._log.info("file rotated or deleted; reading what remains", file=f.path)
        if self.checkpoints:
            self._recover_orphans(found, at_start=not self._first_scan_done.is_set())

    def _recover_orphans(self, found: discovery.Found, *, at_start: bool) -> None:
        """Checkpointed files no ``[[logs]]`` path finds any more, rotated while the agent was
        down (``at_start``) or while a reload had taken their entry away: each one is read to its
        end where it went, with the generations rotated after it. At start the checkpoints of
        those not found are forgotten; later, those whose path no entry names yet are kept, so
        that adding the entry back resumes them."""
        for key, c in list(self.checkpoints.items()):
            if key in found:
                continue
            source = next((s for s in self.config.logs if s.matches(c.path)), None)
            if source is None and not at_start:
                continue
            del self.checkpoints[key]
            chain: list[TailedFile] = []
            if source is not None:
                live = next((f for f in self.files.values() if f.path == c.path), None)
                try:
                    chain = self._rotation.recover_at_start(
                        c,
                        source,
                        self._known(found),
                        live=live if live is not None and live.key != key else None,
                    )
                except Exception:
                    self._problems.internal_error(c.path)
            if not chain or chain[0].key != key:
                self.pipeline.ingest([], Forget(key))

    def _known(self, found: discovery.Found) -> set[FileKey]:
        """Files a rotated generation must not be taken for: those a scan found (followed under
        their own name) and those with a checkpoint of their own still to be claimed."""
        return set(found) | set(self.checkpoints)

    def _open(
        self,
        path: str,
        source: LogSource,
        *,
        at_start: bool,
        expected: FileKey | None = None,
        history: int | None = None,
        found: discovery.Found,
    ) -> TailedFile | None:
        """Follow ``path``. ``at_start``: it was there when the agent started (see
        ``Resumer.start`` for ``read_from = "end"`` and ``history``); ``found``: the files of this
        scan, which a rotated generation of ``path`` cannot be."""
        opened = open_regular(path)
        if isinstance(opened, OSError):
            self._problems.fail(path, opened)
            return None
        fd, st = opened
        if expected is not None and (st.st_dev, st.st_ino) != expected:
            os.close(fd)  # replaced (by a symlink?) since the scan looked: the next scan decides
            return None
        self._problems.opened(path)
        if (st.st_dev, st.st_ino) in self.files:
            os.close(fd)  # replaced between the scan's stat and this open: the next scan sorts it out
            return None
        f = TailedFile(path, source, fd, st, self.stats[source.path], now=self._clock())
        self.files[f.key] = f
        previous = self.checkpoints.pop(f.key, None)
        stale = previous is not None and not (previous.matches(fd) and st.st_size >= previous.offset)
        if previous is not None and stale:
            # Same inode, other content: emptied (copytruncate) or the inode was reused while
            # the agent was down. What was not read yet is in a rotated copy, maybe with newer
            # generations; this file is read after them, from its beginning.
            self._rotation.recover_at_start(previous, f.source, self._known(found), live=f)
        elif previous is not None and not previous.fingerprint_len and self._saved_at_ns is not None:
            # Empty when the agent stopped: nothing tells whether a copytruncate emptied it again
            # while it was down, but a generation written since the checkpoints were saved holds
            # what the file held meanwhile.
            self._rotation.follow_generations(
                f.path, f.source, self._saved_at_ns, self._known(found) | {f.key}, None, f
            )
        self._resumer.start(
            f, source, st, None if stale else previous, at_start=at_start, history=history, known=stale
        )
        if previous is None or stale:
            self._unregistered[f.key] = (f.checkpoint(), stale)
        return f

    def _follow_rotated(
        self,
        path: str,
        source: LogSource,
        fd: int,
        st: os.stat_result,
        c: Checkpoint | None,
        *,
        name: str,
        resume: bool,
    ) -> TailedFile:
        """Follow the rotated file ``path`` (opened: ``fd``) as one whose name is gone: read to its
        end, closed ``rotate_wait`` after. From checkpoint ``c`` (``resume``: at start-up, the
        engine model rebuilt as for any restart; else a copy taken a moment ago, where its
        original's reading had got to), or from its beginning; its lines belong to ``name``'s
        engine."""
        f = TailedFile(path, source, fd, st, self.stats[source.path], name=name, now=self._clock())
        self.files[f.key] = f
        f.rotated_at = self._clock()
        if c is None:
            f.update_fingerprint()
            self._unregistered[f.key] = (f.checkpoint(), False)
        elif resume:
            self._resumer.resume(f, c)
            self._unregistered[f.key] = (f.checkpoint(), False)
        else:
            self._resumer.continue_at(f, c)
        return f

    # -- reading -----------------------------------------------------------------------------------

    def _service(self, f: TailedFile, now: float) -> None:
        """Read what ``f`` grew by; flush its partial line after ``partial_line_timeout``; close
        it once rotated away, read to its end and quiet for ``rotate_wait``. Not while the older
        generation it waits for (``after``) has lines left."""
        tail = self.config.tail
        if f.after is not None:
            older = self.files.get(f.after)
            if older is not None and not older.drained:
                self._more_to_read = True
                return
            f.after = None
        try:
            grew = self._reader.read(f) > 0
        except OSError as exc:
            self._problems.fail(f.path, exc)
            return
        self._read_any = self._read_any or grew
        if grew:
            f.last_growth = now
        if f.recovery and f.drained:
            # A copytruncate's copy is complete: what its reader holds (an open block, a last
            # line without newline) is finished now, before the emptied file's lines come.
            self._reader.finish(f)
        reader = f.reader
        if reader is not None and reader.pending:
            if grew or f.partial_since is None:
                f.partial_since = now
            elif now - f.partial_since >= tail.partial_line_timeout:
                self.counters.partial_flushes += 1
                self._reader.deliver(f, reader.flush())
                f.partial_since = None
        else:
            f.partial_since = None
        if (
            f.rotated_at is not None
            and f.drained
            and now - max(f.rotated_at, f.last_growth) >= tail.rotate_wait
        ):
            self._reader.finish(f)
            f.close()
            del self.files[f.key]
            self.pipeline.ingest([], Forget(f.key))  # after its last lines' marks
            self._log.info("closed rotated file", file=f.path, bytes=f.offset)
