"""Events as JSON lines (orjson), the format log shippers consume."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO

import orjson

from trt_agent.config import EventsConfig
from trt_agent.events import Event
from trt_agent.logs import get_logger
from trt_agent.redact import Redactor
from trt_agent.sources.checkpoint import Checkpoint, CheckpointStore, FileKey

_OPTIONS = orjson.OPT_APPEND_NEWLINE


def encode(event: Event) -> bytes:
    """One event as one JSON line (with its newline).

    orjson refuses integers beyond 64 bits (a log can say ``Total Activation Memory:
    99999999999999999999999``); such an event goes through the standard library instead."""
    try:
        return orjson.dumps(event, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":")).encode() + b"\n"


class JsonlWriter:
    """Buffers encoded events and writes them in batches.

    ``flush`` is meant to run whenever the producer is about to wait for input, so events of a
    pipe reach the reader as soon as their line was read, while big files are written in batches.
    """

    def __init__(self, out: BinaryIO, *, batch: int = 512, redactor: Redactor | None = None) -> None:
        self.out = out
        self.batch = batch
        self.redactor = redactor
        self.written = 0
        self._pending: list[Event] = []

    def write(self, event: Event) -> None:
        self._pending.append(event)
        if len(self._pending) >= self.batch:
            self._drain()

    def _drain(self) -> None:
        if self._pending:
            events = self.redactor.events(self._pending) if self.redactor is not None else self._pending
            self.out.write(b"".join([encode(e) for e in events]))
            self.written += len(self._pending)
            self._pending = []

    def flush(self) -> None:
        self._drain()
        self.out.flush()


class EventStream:
    """The daemon's JSONL event sink, and the one place tailing positions become durable.

    Producers ``offer`` a batch of events with the checkpoints of the lines that made them and
    never wait: the queue holds at most ``queue_events`` events, and a batch that does not fit
    is dropped and counted (``dropped``), never silently. Its checkpoints still advance, so
    the lines are not re-read. A writer thread writes batches in order, rotates the file at
    ``max_bytes`` (``events.jsonl`` -> ``events.jsonl.1`` ...), fsyncs by policy, and saves the
    checkpoints of what it has written every ``checkpoint_interval`` seconds and at close: a
    checkpoint never claims a line whose events are not in the file yet.
    """

    def __init__(
        self,
        settings: EventsConfig,
        store: CheckpointStore | None,
        checkpoints: dict[FileKey, Checkpoint],
        *,
        checkpoint_interval: float = 1.0,
        redactor: Redactor | None = None,
    ) -> None:
        self.settings = settings
        self.redactor = redactor
        self.store = store
        self.checkpoint_interval = checkpoint_interval
        self.checkpoints = dict(checkpoints)
        self.written = 0
        self.dropped_full = 0  # by offer() (the tailer thread), under the lock
        self.dropped_failed = 0  # by the writer thread: writes that failed
        self.write_errors = 0
        self.checkpoint_errors = 0
        self.rotations = 0
        self._log = get_logger("trt_agent.events")
        self._cond = threading.Condition()
        self._items: deque[_Item] = deque()
        self._queued_events = 0
        self._closing = False
        self._dirty = False
        self._out: BinaryIO | None = None
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)

    # -- producer side (the tailer thread) ---------------------------------------------------------

    def offer(self, events: list[Event], marks: dict[FileKey, Checkpoint]) -> None:
        """Queue ``events`` (or count them dropped when the queue is full) and their checkpoints."""
        with self._cond:
            # A batch bigger than the whole queue still goes in when the queue is empty.
            full = self._queued_events + len(events) > self.settings.queue_events and self._queued_events
            if events and full:
                self.dropped_full += len(events)
                events = []
            if not events and self._items and not self._items[-1].events:
                self._items[-1].marks.update(marks)  # consecutive drops: one marks-only item
            else:
                self._items.append(_Item(events, dict(marks)))
                self._queued_events += len(events)
            self._cond.notify()

    def forget(self, key: FileKey) -> None:
        """Drop the checkpoint of a file that is gone (after what was queued before)."""
        with self._cond:
            self._items.append(_Item([], {}, key))
            self._cond.notify()

    @property
    def queued(self) -> int:
        return self._queued_events

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
        """Write what is queued, save checkpoints, close. False if ``timeout`` ran out first."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- writer thread -----------------------------------------------------------------------------

    def _open(self) -> None:
        if self.settings.path == "-":
            self._out = sys.stdout.buffer
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.settings.path)), exist_ok=True)
        self._out = open(self.settings.path, "ab")  # noqa: SIM115 - lives as long as the stream
        self._size = self._out.tell()
        self._cut_torn_line()

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
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    remaining = next_checkpoint - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                items, self._items = self._items, deque()
                self._queued_events = 0
                closing = self._closing
            if items:
                try:
                    self._write(items)
                except Exception:  # a bug: count and report it, never stop writing
                    self.write_errors += 1
                    self._log.exception("unexpected error writing events; please report it")
            if closing or time.monotonic() >= next_checkpoint:
                self._commit(fsync=self.settings.fsync != "never")
                next_checkpoint = time.monotonic() + self.checkpoint_interval
            if closing:
                with self._cond:
                    if not self._items:
                        break
        if self._out is not None and self._out is not sys.stdout.buffer:
            self._out.close()

    def _write(self, items: deque[_Item]) -> None:
        handed = 0  # events handed to the file object; written once the flush succeeds
        for item in items:
            if item.events:
                events = self.redactor.events(item.events) if self.redactor is not None else item.events
                done = self._write_lines([encode(e) for e in events])
                handed += done
                self.dropped_failed += len(item.events) - done
            # Events that could not be written are dropped and counted; their lines count as
            # read (the tailer has moved on), so their checkpoints advance too.
            self.checkpoints.update(item.marks)
            if item.forget is not None:
                self.checkpoints.pop(item.forget, None)
            self._dirty = True
        try:
            if self._out is not None:
                self._out.flush()
                if self.settings.fsync == "always" and self._out is not sys.stdout.buffer:
                    os.fsync(self._out.fileno())
            self.written += handed
        except OSError as exc:
            self.dropped_failed += handed  # still in the buffer, or not on disk: not written
            self._write_failed(exc)

    def _write_lines(self, lines: list[bytes]) -> int:
        """Write encoded events, rotating so no file passes ``max_bytes``; returns how many."""
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
                blob = b"".join(lines[done:end])
                self._out.write(blob)
                self._size += len(blob)
                done = end
        except OSError as exc:
            self._write_failed(exc)
        return done

    def _write_failed(self, exc: OSError) -> None:
        # Disk full, a vanished directory, a closed stdout: count it, reopen on the next batch.
        self.write_errors += 1
        self._log.error("cannot write events", path=self.settings.path, error=str(exc))
        if self._out is not None and self._out is not sys.stdout.buffer:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None

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
        self.rotations += 1
        self._open()

    def _commit(self, *, fsync: bool) -> None:
        """Make written events durable (by policy), then save the checkpoints that cover them."""
        if fsync and self._out is not None and self._out is not sys.stdout.buffer:
            try:
                os.fsync(self._out.fileno())
            except OSError as exc:
                self._write_failed(exc)
                return
        if self.store is None or not self._dirty:
            return
        try:
            self.store.save(self.checkpoints)
            self._dirty = False
        except OSError as exc:
            self.checkpoint_errors += 1
            self._log.error("cannot save checkpoints", path=self.store.path, error=str(exc))


@dataclass
class _Item:
    events: list[Event]
    marks: dict[FileKey, Checkpoint]
    forget: FileKey | None = None
