"""The event queue between the pipeline and the event writer: its byte estimate, a batch the
writer fails on, what a full queue does (events.when_full: the tailer waits, or the batch is
dropped and counted; the profiler never waits), and the event file deleted or renamed by someone
else while the writer holds it open."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import wait_for

from trt_agent.config import EventsConfig, RedactionConfig
from trt_agent.redact import Redactor
from trt_agent.sinks.event_stream import EventStream, EventStreamCollector


def test_a_batch_the_writer_fails_on_leaves_no_phantom_events_in_the_queue(tmp_path: Path) -> None:
    """A bug while writing one batch (here: a redactor that raises) is counted and the batch
    dropped; the queue's counters go back to 0, so later batches are not refused as 'full'."""
    from trt_agent.config import EventsConfig
    from trt_agent.redact import Redactor
    from trt_agent.sinks.event_stream import EventStream

    class Failing(Redactor):
        def events(self, events: Any) -> Any:
            if any(e["msg"] == "boom" for e in events):
                raise IndexError("a bug")
            return events

    def batch(msg: str) -> list[dict[str, Any]]:
        event = {"type": "warning", "ts": None, "severity": "warning", "engine": "e"}
        return [event | {"source": {"file": "x", "line": i}, "msg": msg} for i in range(5)]

    path = tmp_path / "events.jsonl"
    stream = EventStream(
        EventsConfig(path=str(path), queue_events=100),
        redactor=Failing(RedactionConfig(), b"k" * 16),
    )
    stream.start()
    for msg in ("ok", "ok", "boom", "ok"):
        stream.offer(batch(msg), {})
        wait_for(lambda: stream.queued == 0, 5, "the writer")
    assert stream.close(5)
    assert (stream.queued, stream.queued_bytes) == (0, 0)
    assert (stream.written, stream.dropped, stream.write_errors) == (15, 5, 1)
    assert len(path.read_text().splitlines()) == 15


def test_the_footprint_counts_every_string_at_its_real_size() -> None:
    """The byte bound's estimate: name fields and source lists too, not only msg, and a name in
    emoji at four bytes a character (was: len(msg) + 1 KiB, 5-15x under the truth)."""
    import sys
    import tracemalloc

    from trt_agent.sinks.jsonl import footprint

    def layer(i: int) -> dict[str, Any]:
        name = f"{i}" + "\U0001f600" * 1000 + " + " + "b" * 1000
        return {
            "type": "layer",
            "ts": None,
            "severity": "verbose",
            "engine": "e",
            "source": {"file": "x.log", "line": i},
            "msg": f"Layer(CaskConvolution): {name}, Tactic: 0x1",
            "name": name,
            "layer_type": "CaskConvolution",
            "precision": "Half",
            "tactic": "0x1",
            "sources": name.split(" + "),
        }

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    events = [layer(i) for i in range(200)]
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    estimate = footprint(events)
    print(f"\n[resource-bounds] footprint {estimate / 2**20:.2f} MiB, tracemalloc {held / 2**20:.2f} MiB")
    assert 0.8 * held <= estimate <= 1.5 * held
    assert estimate > 200 * 3 * sys.getsizeof("\U0001f600" * 1000)


# -- a full queue: events.when_full ------------------------------------------------------------------


def _batch(tag: str, count: int) -> list[dict[str, Any]]:
    event = {"type": "warning", "ts": None, "severity": "warning", "engine": "e"}
    return [event | {"source": {"file": "x", "line": i}, "msg": f"{tag} {i}"} for i in range(count)]


class _Gate(Redactor):
    """Holds the writer inside its write (after it took the batches off the queue, before they
    leave its count) until ``open``: a writer slower than the tailer, on demand."""

    def __init__(self) -> None:
        super().__init__(RedactionConfig(), b"k" * 16)
        self.opened = threading.Event()
        self.entered = threading.Event()

    def events(self, events: Any) -> Any:
        self.entered.set()
        assert self.opened.wait(10), "the test never opened the gate"
        return events

    def open(self) -> None:
        self.opened.set()


class _Stream:
    """An EventStream on ``tmp_path/events.jsonl`` whose acknowledged tokens are kept."""

    def __init__(self, tmp_path: Path, *, redactor: Redactor | None = None, **settings: Any) -> None:
        self.path = tmp_path / "events.jsonl"
        self.acked: list[Any] = []
        self.stream = EventStream(
            EventsConfig(**({"path": str(self.path), "queue_events": 10} | settings)),
            on_written=self.acked.extend,
            checkpoint_interval=0.05,
            redactor=redactor,
        )
        self.stream.start()

    def offer_in_thread(self, events: list[dict[str, Any]], ack: Any) -> threading.Thread:
        thread = threading.Thread(target=self.stream.offer, args=(events, ack), daemon=True)
        thread.start()
        return thread

    def lines(self, path: Path | None = None) -> list[str]:
        return [json.loads(line)["msg"] for line in (path or self.path).read_text().splitlines()]


@pytest.fixture
def gate() -> Iterator[_Gate]:
    gate = _Gate()
    yield gate
    gate.open()  # never leave a writer thread stuck behind a failed test


def _full(tmp_path: Path, gate: _Gate, **settings: Any) -> _Stream:
    """A stream whose queue (10 events) is full: batch 'a' taken by a writer held at the gate."""
    s = _Stream(tmp_path, redactor=gate, **settings)
    s.stream.offer(_batch("a", 10), "a")
    assert gate.entered.wait(5)
    assert s.stream.queued == 10
    return s


def test_when_full_auto_blocks_for_a_file_and_drops_for_stdout() -> None:
    assert EventsConfig().when_full == "auto"
    assert EventsConfig(path="events.jsonl").blocks
    assert not EventsConfig(path="-").blocks
    assert EventsConfig(path="-", when_full="block").blocks
    assert not EventsConfig(path="events.jsonl", when_full="drop").blocks


def test_when_full_is_validated(tmp_path: Path) -> None:
    from trt_agent.config import ConfigError, load_config

    config = tmp_path / "agent.toml"
    config.write_text('[events]\npath = "e.jsonl"\nwhen_full = "wait"\n')
    with pytest.raises(ConfigError, match=r"events\.when_full must be one of auto, block, drop, got 'wait'"):
        load_config(str(config))
    config.write_text('[events]\npath = "e.jsonl"\nwhen_full = "drop"\n')
    assert load_config(str(config)).events.when_full == "drop"


def test_block_a_file_batch_waits_for_room_and_nothing_is_dropped(tmp_path: Path, gate: _Gate) -> None:
    """A full queue makes the tailer's batch wait (not drop it and acknowledge its lines, which
    a restart would never read again); it goes in once the writer made room."""
    s = _full(tmp_path, gate)
    stream = s.stream
    assert not stream.waiting
    assert stream.would_block()
    producer = s.offer_in_thread(_batch("b", 5), "b")
    wait_for(lambda: stream.waiting, 5, "the producer to wait")
    assert producer.is_alive()
    assert (stream.dropped, stream.queued) == (0, 10)
    wait_for(lambda: stream.blocked_seconds > 0.05, 5, "blocked seconds to count the wait")
    gate.open()
    producer.join(5)
    assert not producer.is_alive()
    assert not stream.waiting
    assert stream.close(5)
    assert (stream.written, stream.dropped) == (15, 0)
    assert s.lines() == [f"a {i}" for i in range(10)] + [f"b {i}" for i in range(5)]
    assert s.acked == ["a", "b"]
    blocked = {m.name: m.samples[0].value for m in EventStreamCollector(stream).collect()}
    assert blocked["trt_agent_events_blocked_seconds"] >= 0.05
    assert blocked["trt_agent_events_dropped"] == 0


def test_drop_a_file_batch_that_does_not_fit_is_dropped_and_counted(tmp_path: Path, gate: _Gate) -> None:
    """when_full = drop: as before, the batch is counted dropped at once and its token still
    acknowledged (its lines count as read); nobody waits."""
    s = _full(tmp_path, gate, when_full="drop")
    stream = s.stream
    assert not stream.would_block()
    stream.offer(_batch("b", 5), "b")  # returns at once (a wait would hang the test here)
    assert (stream.dropped, stream.waiting, stream.blocked_seconds) == (5, False, 0.0)
    gate.open()
    assert stream.close(5)
    assert (stream.written, stream.dropped) == (10, 5)
    assert s.lines() == [f"a {i}" for i in range(10)]
    assert s.acked == ["a", "b"]


def test_profiler_batches_never_wait(tmp_path: Path, gate: _Gate) -> None:
    """The profiler host's batches come without a token: with the policy at block they are
    still dropped and counted, never waited on (the host must not stall its inferences)."""
    s = _full(tmp_path, gate)
    stream = s.stream
    producer = s.offer_in_thread(_batch("p", 5), None)
    producer.join(5)
    assert not producer.is_alive(), "a profiler batch waited for room"
    assert (stream.dropped, stream.waiting) == (5, False)
    gate.open()
    assert stream.close(5)
    assert s.lines() == [f"a {i}" for i in range(10)]


def test_close_while_a_producer_waits_does_not_hang(tmp_path: Path, gate: _Gate) -> None:
    """close() releases a producer waiting for room: its batch is queued (not dropped: its lines
    were not acknowledged), and written if the writer still can."""
    s = _full(tmp_path, gate)
    stream = s.stream
    producer = s.offer_in_thread(_batch("b", 5), "b")
    wait_for(lambda: stream.waiting, 5, "the producer to wait")
    assert not stream.close(0.1)  # the writer is still held at the gate
    producer.join(5)
    assert not producer.is_alive(), "close() left the producer waiting"
    assert not stream.would_block()  # closing: nothing waits any more
    stream.offer(_batch("c", 5), "c")  # after close: queued at once, past the bound
    assert (stream.dropped, stream.queued) == (0, 20)
    gate.open()
    assert stream.close(5)
    assert s.lines() == [f"{tag} {i}" for tag, n in (("a", 10), ("b", 5), ("c", 5)) for i in range(n)]
    assert s.acked == ["a", "b", "c"]


def test_a_producer_does_not_wait_while_writes_fail(tmp_path: Path) -> None:
    """Writes fail (/dev/full: every write is ENOSPC), the writer holds the queue full and
    retries: a file's batch offered now is held past the bound instead of waiting (the tailer,
    seeing ``failing``, stops reading; waiting would stall its heartbeat and a stop for as long as
    the disk is full), nothing is dropped, and the writer's last_progress does not move."""
    stream = EventStream(
        EventsConfig(path="/dev/full", queue_events=10, fsync="never"), checkpoint_interval=0.05
    )
    stream.start()
    stream.offer(_batch("a", 10), "a")
    wait_for(lambda: stream.failing, 5, "the writes to fail")
    stalled_at = stream.last_progress
    producer = threading.Thread(target=stream.offer, args=(_batch("b", 5), "b"), daemon=True)
    producer.start()
    producer.join(5)
    assert not producer.is_alive(), "the producer waits on a failing writer"
    assert stream.queued == 15 and not stream.waiting
    errors = stream.write_errors
    wait_for(lambda: stream.write_errors >= errors + 2, 5, "two more failed tries")
    assert stream.last_progress == stalled_at
    assert stream.close(5)
    assert (stream.written, stream.dropped) == (0, 0)  # held, not dropped: read again after a restart


def test_last_progress_moves_with_the_writer(tmp_path: Path, gate: _Gate) -> None:
    s = _full(tmp_path, gate)
    stream = s.stream
    before = stream.last_progress  # the writer is held at the gate: no write, no commit
    gate.open()
    wait_for(lambda: stream.queued == 0, 5, "the writer")
    assert stream.last_progress > before
    assert stream.close(5)


# -- the event file deleted or renamed by someone else ----------------------------------------------


@pytest.mark.parametrize("change", ["unlink", "rename", "rename_and_create"])
def test_the_event_file_deleted_or_renamed_is_opened_again(tmp_path: Path, change: str) -> None:
    """A cleanup job deletes events.jsonl, or a logrotate renames it (and maybe creates an empty
    one): the next batch goes to the file at the path, not on into the file nobody sees."""
    s = _Stream(tmp_path, queue_events=100)
    stream = s.stream
    stream.offer(_batch("a", 5), "a")
    wait_for(lambda: stream.written == 5, 5, "batch a")
    moved = tmp_path / "events.jsonl.old"
    if change == "unlink":
        s.path.unlink()
    else:
        s.path.rename(moved)
        if change == "rename_and_create":
            s.path.touch()
    stream.offer(_batch("b", 5), "b")
    wait_for(lambda: stream.written == 10, 5, "batch b")
    assert stream.reopens == 1
    stream.offer(_batch("c", 5), "c")  # the new file is the file: no further reopen
    assert stream.close(5)
    assert stream.reopens == 1
    assert s.lines() == [f"{tag} {i}" for tag in "bc" for i in range(5)]
    if change != "unlink":
        assert s.lines(moved) == [f"a {i}" for i in range(5)]
    reopens = {m.name: m.samples[0].value for m in EventStreamCollector(stream).collect()}
    assert reopens["trt_agent_event_file_reopens"] == 1


def test_the_agents_own_rotation_is_not_a_reopen(tmp_path: Path) -> None:
    s = _Stream(tmp_path, queue_events=1000, max_bytes=2000, max_files=100)
    stream = s.stream
    for n in range(20):
        stream.offer(_batch(f"r{n}", 5), n)
    assert stream.close(5)
    rotated = sorted(tmp_path.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(rotated) >= 5
    got = [msg for path in [*rotated, s.path] for msg in s.lines(path)]
    assert got == [f"r{n} {i}" for n in range(20) for i in range(5)]
    assert (stream.reopens, stream.written) == (0, 100)


def test_stdout_is_never_reopened(capfd: pytest.CaptureFixture[str]) -> None:
    stream = EventStream(EventsConfig(path="-"))
    stream.start()
    stream.offer(_batch("o", 3), "o")
    assert stream.close(5)
    assert (stream.reopens, stream.written) == (0, 3)
    assert [json.loads(line)["msg"] for line in capfd.readouterr().out.splitlines()] == ["o 0", "o 1", "o 2"]
