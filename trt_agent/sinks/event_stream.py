"""The daemon's event stream: a bounded queue in front of one writer thread that writes JSONL,
rotates the file, reopens it when someone else deleted or renamed it, fsyncs by policy and
acknowledges written batches to their source."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trt_agent.config import EventsConfig
from trt_agent.logs import get_logger
from trt_agent.redact import Redactor
from trt_agent.sinks.jsonl import encode_lines, footprint
from trt_agent.statedir import make_dirs
from trt_agent.vocab.events import Event


class EventStream:
    """The daemon's JSONL event sink, and the one place tailing positions become durable.

    Producers ``offer`` a batch of events with an acknowledgement token (the tailer's: the
    checkpoints of the lines that made them; opaque here). The queue holds at most
    ``queue_events`` events and about ``queue_bytes`` bytes (``footprint``); a batch bigger than
    the whole queue still goes in when the queue is empty. A batch that does not fit:

    - with ``when_full`` = block (``auto`` for a file) and a token (the tailer's), waits for room
      (``waiting``; the wait counted in ``blocked_seconds``), or until ``close``: the log files
      are the buffer, nothing is lost;
    - otherwise (``drop``, ``auto`` for stdout, and always the profiler's batches, which come
      without a token and must never wait) is dropped and counted (``dropped``), never silently.
      Its token is still acknowledged, so the lines are not re-read.

    A writer thread writes batches in order, rotates the file at ``max_bytes`` (``events.jsonl``
    -> ``events.jsonl.1`` ...), fsyncs by policy, and hands the tokens of what it has written to
    ``on_written`` every ``checkpoint_interval`` seconds and at close, after the fsync: the
    source never commits a position whose events are not in the file. Before each write it
    checks that the path still names the file it holds open: one deleted or renamed by someone
    else (a cleanup job, a logrotate without ``copytruncate``) is opened again at the path
    (``reopens``), so events do not go on into a file nobody can see.

    A write that fails (disk full, read-only filesystem) loses nothing: the writer cuts what
    it wrote of an unfinished event, keeps the batches it could not write, in order, and tries
    them again (every second at most), and ``failing`` tells the tailer to stop reading until
    they are written. Only stdout, which does not heal, drops what it cannot write.
    """

    def __init__(
        self,
        settings: EventsConfig,
        *,
        on_written: Callable[[list[Any]], None] | None = None,
        checkpoint_interval: float = 1.0,
        redactor: Redactor | None = None,
    ) -> None:
        self.settings = settings
        self.redactor = redactor
        self.on_written = on_written
        self.checkpoint_interval = checkpoint_interval
        self._acked: list[Any] = []  # tokens of written batches, not handed to on_written yet
        self.written = 0
        self.dropped_full = 0  # by offer() (the tailer thread), under the lock
        self.dropped_failed = 0  # by the writer thread: writes that failed
        self.write_errors = 0
        self.reopens = 0  # the event file found deleted or replaced by someone else, and reopened
        self.last_progress = time.monotonic()  # the writer's last write or commit that worked
        self.failing = False  # writes to the file fail: batches are held and retried; the tailer waits
        self._erroring = False  # the last write failed (the file, or stdout)
        self._failed_at = 0.0
        self._error_logged_at = 0.0
        self._log = get_logger("trt_agent.events")
        self._blocked_seconds = 0.0  # producers' waits that ended
        self._waiting_since: float | None = None  # a producer waits for room since then
        # One lock, two conditions: the writer waits for items (``_cond``), a producer for room
        # (``_room``); a notify meant for one never wakes the other instead.
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._room = threading.Condition(lock)
        self._items: deque[_Item] = deque()
        self._queued_events = 0
        self._queued_bytes = 0
        # Under memory pressure (agent.memory_limit_bytes) the daemon bounds the queue tighter
        # than events.queue_bytes; None: the setting alone.
        self.pressure_bytes: int | None = None
        self._closing = False
        self._out: BinaryIO | None = None
        self._size = 0
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open event file
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)

    # -- producer side (the tailer thread) ---------------------------------------------------------

    def offer(self, events: list[Event], ack: Any = None) -> None:
        """Queue ``events`` and their token. When they do not fit: wait for room if the policy
        blocks and ``ack`` is given (a file's batch), else count them dropped."""
        size = footprint(events)
        with self._cond:
            if events and ack is not None and self.settings.blocks:
                self._wait_for_room(len(events), size)  # then queued, even past the bound at close
            elif events and not self._fits(len(events), size):
                self.dropped_full += len(events)
                events, size = [], 0
            acks = [] if ack is None else [ack]
            if not events and self._items and not self._items[-1].events:
                self._items[-1].acks += acks  # consecutive drops: one tokens-only item
            else:
                self._items.append(_Item(events, acks, size=size))
                self._queued_events += len(events)
                self._queued_bytes += size
            self._cond.notify()

    def _fits(self, count: int, size: int) -> bool:
        """Room for ``count`` events of ``size``; under the lock. A batch bigger than the whole
        queue fits when the queue is empty."""
        return not self._queued_events or (
            self._queued_events + count <= self.settings.queue_events
            and self._queued_bytes + size <= self.byte_bound
        )

    @property
    def byte_bound(self) -> int:
        """The queue's bound in bytes: events.queue_bytes, or less under memory pressure."""
        pressure = self.pressure_bytes
        return self.settings.queue_bytes if pressure is None else min(pressure, self.settings.queue_bytes)

    def _wait_for_room(self, count: int, size: int) -> None:
        """Under the lock: wait until the batch fits or the stream closes (never once closing:
        what is queued then is written at close, or read again after the restart), or writes
        fail: the batch is then held past the bound, and the tailer, seeing ``failing``, stops
        reading until they work again (waiting here would stall its heartbeat, and a stop, for
        as long as the disk is full)."""
        if self._closing or self.failing or self._fits(count, size):
            return
        started = time.monotonic()
        self._waiting_since = started
        try:
            while not self._closing and not self.failing and not self._fits(count, size):
                self._room.wait(1.0)  # the writer notifies; the timeout only guards a missed one
        finally:
            self._waiting_since = None
            self._blocked_seconds += time.monotonic() - started

    def would_block(self) -> bool:
        """A file's batch offered now would wait: the policy blocks and the queue has no room
        for one more event (a bigger batch may wait even when this is False). The tailer's
        drain at shutdown stops reading instead of waiting."""
        with self._cond:
            return (
                self.settings.blocks
                and not self._closing
                and self._queued_events > 0
                and (
                    self._queued_events >= self.settings.queue_events or self._queued_bytes >= self.byte_bound
                )
            )

    @property
    def waiting(self) -> bool:
        """A producer waits in ``offer`` for room now."""
        return self._waiting_since is not None

    @property
    def blocked_seconds(self) -> float:
        """Seconds producers spent waiting for room, the wait going on now included."""
        since = self._waiting_since
        return self._blocked_seconds + (time.monotonic() - since if since is not None else 0.0)

    @property
    def queued(self) -> int:
        """Events waiting for the writer, including those held while writes fail."""
        return self._queued_events

    @property
    def queued_bytes(self) -> int:
        """The ``footprint`` of the queued events."""
        return self._queued_bytes

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_failed

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the event file (``OSError`` if it cannot be) and start the writer thread."""
        self._open()
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float) -> bool:
        """Write what is queued, acknowledge it, close. False if ``timeout`` ran out first."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            self._room.notify_all()  # a producer waiting for room queues its batch and goes
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- writer thread -----------------------------------------------------------------------------

    def _open(self) -> None:
        if self.settings.path == "-":
            self._out = sys.stdout.buffer
            return
        directory = os.path.dirname(os.path.abspath(self.settings.path))
        make_dirs(directory, 0o755)  # (not writable by the group or others whatever the umask)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        # The start-up check lets the file live only in a directory of the agent's user or root
        # that other users cannot write, unless it is sticky (/tmp, a tmpfs); its group may
        # (/var/log, root:syslog 0775; a volume with a Kubernetes fsGroup). Wherever anyone but
        # the agent's user can write the directory, others can add names, so a link at the path,
        # or a file another user put there to collect the events, is refused. Elsewhere a link
        # was put there by the agent's user (or root) and is followed (/dev/stdout).
        dir_st = os.stat(directory)
        shared = bool(dir_st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)) or (
            dir_st.st_uid != os.geteuid() and dir_st.st_uid != 0 and bool(dir_st.st_mode & stat.S_IWUSR)
        )
        if shared:
            flags |= os.O_NOFOLLOW
        try:
            fd = os.open(self.settings.path, flags, 0o666)
        except OSError as exc:
            if shared and exc.errno == errno.ELOOP:
                raise OSError(
                    exc.errno, "a symbolic link in a directory other users can write: not followed"
                ) from None
            raise
        st = os.fstat(fd)
        if shared and stat.S_ISREG(st.st_mode) and st.st_uid not in (os.geteuid(), 0):
            os.close(fd)
            raise OSError(
                errno.EPERM, f"a file of uid {st.st_uid} in a directory other users can write: not used"
            )
        # Unbuffered: a write that fails halfway says how far it got, so exactly the events
        # that are not in the file are held and written again.
        self._out = open(fd, "ab", buffering=0)  # noqa: SIM115 - lives as long as the stream
        self._identity = (st.st_dev, st.st_ino)
        self._size = self._out.tell()
        try:
            self._cut_torn_line()
        except OSError:
            self._out.close()
            self._out = None
            raise

    def _cut_torn_line(self) -> None:
        """A crash or a timed-out shutdown can leave half an event at the end of the file; its
        lines were not checkpointed, so they are read again: cut the half, don't glue to it."""
        assert self._out is not None
        if self._size == 0:
            return
        with open(self.settings.path, "rb") as fh:
            fh.seek(max(0, self._size - 65536))
            tail = fh.read()
        if tail.endswith(b"\n"):
            return
        nl = tail.rfind(b"\n")
        if nl < 0 and self._size > len(tail):
            # An unfinished event longer than 64 KiB: end it rather than search for its start.
            self._out.write(b"\n")
            self._size += 1
            cut = 0
        else:
            keep = self._size - len(tail) + nl + 1
            os.truncate(self.settings.path, keep)
            cut, self._size = self._size - keep, keep
        self._log.warning(
            "unfinished event at the end of the event file", path=self.settings.path, cut_bytes=cut
        )

    def _run(self) -> None:
        next_checkpoint = time.monotonic() + self.checkpoint_interval
        held: deque[_Item] = deque()  # taken from the queue, not written yet (oldest first)
        retry_at = 0.0
        while True:
            with self._cond:
                while not self._closing:
                    now = time.monotonic()
                    retrying = bool(held) or self.failing
                    if (retrying and now >= retry_at) or (self._items and not retrying):
                        break
                    remaining = min(next_checkpoint, retry_at if retrying else next_checkpoint) - now
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                held.extend(self._items)
                self._items = deque()
                closing = self._closing
            if (held or self.failing) and (time.monotonic() >= retry_at or closing):
                # What the queue holds now: a failure below takes all of it off, so the counters
                # cannot keep phantom events that would make every later offer "full".
                taken, taken_size = sum(len(item.events) for item in held), sum(item.size for item in held)
                try:
                    left, freed = self._write(held)
                except Exception:  # a bug: count and report it, never stop writing
                    self.write_errors += 1
                    self._log.exception("unexpected error writing events; please report it")
                    self.dropped_failed += sum(len(item.events) for item in held)
                    left, freed = taken, taken_size
                    held.clear()
                with self._cond:
                    self._queued_events -= left
                    self._queued_bytes -= freed
                    if left or freed:
                        self._room.notify_all()
                if held or self.failing:
                    # Back off: the next try waits one second at most (the tailer waits too).
                    retry_at = time.monotonic() + min(1.0, max(0.1, self.checkpoint_interval))
            if closing or time.monotonic() >= next_checkpoint:
                self._commit(fsync=self.settings.fsync != "never")
                next_checkpoint = time.monotonic() + self.checkpoint_interval
            if closing:
                with self._cond:
                    if not self._items:
                        break
                    if held:  # still failing: what is left is read again after a restart
                        break
        if held:
            self._log.error(
                "events not written at shutdown; their lines are read again at the next start",
                events=sum(len(item.events) for item in held),
            )
        if self._out is not None and self._out is not sys.stdout.buffer:
            self._out.close()

    def _write(self, held: deque[_Item]) -> tuple[int, int]:
        """Write the ``held`` batches in order, taking each one off once it is in the file (and
        its checkpoints with it). At the first failure the rest stays held, the unwritten
        events of a batch that was cut short included. Returns the events that left the queue
        and their footprint."""
        left = freed = 0
        if any(item.events for item in held):
            self._reopen_if_replaced()
        while held:
            item = held[0]
            if item.events:
                events = self.redactor.events(item.events) if self.redactor is not None else item.events
                done = self._write_lines(encode_lines(events))
                self.written += done
                left += done
                if done:
                    self.last_progress = time.monotonic()
                if done < len(item.events):
                    if self._out is sys.stdout.buffer:
                        # stdout does not heal (a closed pipe): drop and count, as before.
                        self.dropped_failed += len(item.events) - done
                        left += len(item.events) - done
                    else:
                        item.events = item.events[done:]
                        size = footprint(item.events)
                        freed += item.size - size
                        item.size = size
                        return left, freed
            freed += item.size
            self._acked += item.acks
            held.popleft()
        try:
            if self._out is None:
                self._open()  # after a failure, even with nothing to write: the stream works again
            if self._out is not None:
                self._out.flush()
                if self.settings.fsync == "always" and self._out is not sys.stdout.buffer:
                    os.fsync(self._out.fileno())
        except OSError as exc:
            self._write_failed(exc)
            return left, freed
        if self._erroring:
            self.failing = self._erroring = False
            self._log.info(
                "events written again",
                path=self.settings.path,
                outage_seconds=round(time.monotonic() - self._failed_at, 3),
            )
        return left, freed

    def _write_lines(self, lines: list[bytes]) -> int:
        """Write encoded events, rotating so no file passes ``max_bytes``; returns how many
        are wholly in the file (a failure leaves the half of the next one, cut at reopen)."""
        done = 0
        try:
            while done < len(lines):
                if self._out is None:
                    self._open()
                assert self._out is not None
                end = len(lines)
                limit = self.settings.max_bytes
                if limit and self._out is not sys.stdout.buffer:
                    room, end = limit - self._size, done
                    while end < len(lines) and (len(lines[end]) <= room or (end == done and self._size == 0)):
                        room -= len(lines[end])
                        end += 1
                    if end == done:
                        self._rotate()
                        continue
                view = memoryview(b"".join(lines[done:end]))
                pos = 0
                try:
                    while pos < len(view):
                        pos += self._out.write(view[pos:]) or 0
                finally:
                    self._size += pos
                    while done < end and pos >= len(lines[done]):  # whole events written
                        pos -= len(lines[done])
                        done += 1
        except OSError as exc:
            self._write_failed(exc)
        return done

    def _write_failed(self, exc: OSError) -> None:
        # Disk full, a read-only or vanished directory, a closed stdout: count it, log it once
        # per outage (and every minute while it lasts), reopen on the next try.
        self.write_errors += 1
        now = time.monotonic()
        if self.settings.path != "-":
            self.failing = True
        if not self._erroring:
            self._erroring, self._failed_at = True, now
            self._error_logged_at = now
            self._log.error(
                "cannot write events",
                path=self.settings.path,
                error=str(exc),
                action="dropping them" if self.settings.path == "-" else "holding them, retrying",
            )
        elif now - self._error_logged_at >= 60:
            self._error_logged_at = now
            self._log.error(
                "still cannot write events",
                path=self.settings.path,
                error=str(exc),
                seconds=round(now - self._failed_at),
                queued=self._queued_events,
            )
        if self._out is not None and self._out is not sys.stdout.buffer:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None

    def _reopen_if_replaced(self) -> None:
        """Someone else deleted the event file, or renamed it away (a cleanup job, a logrotate
        without copytruncate): close it, so the next write opens the path again, a new file.
        One ``stat`` of the path against the inode held open; not for stdout."""
        out = self._out
        if out is None or out is sys.stdout.buffer or self._identity is None:
            return
        try:
            st = os.stat(self.settings.path)
        except FileNotFoundError:
            found = "missing"  # deleted, or renamed away
        except OSError:
            return  # cannot tell (a permission change): keep writing; a write that fails is handled
        else:
            if (st.st_dev, st.st_ino) == self._identity:
                return
            found = "replaced"  # renamed away and another file put at the path
        self.reopens += 1
        self._log.warning(
            "event file deleted or replaced by someone else; opening it again",
            path=self.settings.path,
            found=found,
        )
        with contextlib.suppress(OSError):
            # A renamed file keeps what was written to it: make that durable before the
            # checkpoints of its events are committed (they are fsynced in the new file only).
            if self.settings.fsync != "never":
                os.fsync(out.fileno())
            out.close()
        self._out, self._identity = None, None  # opened again by the write that follows

    def _rotate(self) -> None:
        assert self._out is not None
        self._out.flush()
        if self.settings.fsync != "never":
            os.fsync(self._out.fileno())
        self._out.close()
        self._out = None
        path, keep = self.settings.path, self.settings.max_files
        for n in range(keep - 1, 0, -1):
            if os.path.exists(f"{path}.{n}"):
                os.replace(f"{path}.{n}", f"{path}.{n + 1}")
        if keep > 0:
            os.replace(path, f"{path}.1")
        else:
            os.unlink(path)
        self._open()

    def _commit(self, *, fsync: bool) -> None:
        """Make written events durable (by policy), then acknowledge the tokens that came with
        them."""
        if fsync and self._out is not None and self._out is not sys.stdout.buffer:
            try:
                os.fsync(self._out.fileno())
            except OSError as exc:
                self._write_failed(exc)
                return
        if not self.failing:
            self.last_progress = time.monotonic()
        if self.on_written is None:
            return
        # every interval, even with nothing new: the source retries a save that failed
        acked, self._acked = self._acked, []
        self.on_written(acked)


class EventStreamCollector(Collector):
    """The event stream's own health (``trt_agent_events_*``, write and checkpoint errors)."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream

    def collect(self) -> Iterator[Metric]:
        stream = self.stream
        yield from [
            CounterMetricFamily("trt_agent_events_written", "Events written to the JSONL stream.", value=stream.written),
            CounterMetricFamily("trt_agent_events_dropped", "Events not written: the queue was full (events.queue_events or queue_bytes) or the write failed.", value=stream.dropped),
            GaugeMetricFamily("trt_agent_events_queued", "Events waiting for the JSONL writer.", value=stream.queued),
            GaugeMetricFamily("trt_agent_events_queued_bytes", "Memory of the events waiting for the JSONL writer (an estimate: its strings plus 512 bytes per event).", value=stream.queued_bytes),
            CounterMetricFamily("trt_agent_event_write_errors", "Failed writes of the JSONL stream.", value=stream.write_errors),
            CounterMetricFamily("trt_agent_events_blocked_seconds", "Seconds the tailer waited for room in the event queue (events.when_full = block).", value=stream.blocked_seconds),
            CounterMetricFamily("trt_agent_event_file_reopens", "Times the event file was found deleted or replaced by someone else and opened again.", value=stream.reopens),
        ]  # fmt: skip


@dataclass
class _Item:
    events: list[Event]
    acks: list[Any]  # the producers' tokens, handed back once the events are written
    size: int = 0  # footprint(events)
