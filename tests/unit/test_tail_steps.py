"""Tailing hazards driven step by step, in-process: real files in ``tmp_path``, a Tailer whose
thread is never started, a clock moved by hand, and a pipeline that records what it is handed.
Each test calls ``Tailer.step`` (one scan + one read of every file) where the daemon's thread
would, so no test sleeps or waits on a thread."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from trt_agent.config import Config, LogSource, TailConfig
from trt_agent.sources.checkpoint import Ack, Checkpoint, CheckpointCommitter, FileKey, Forget
from trt_agent.sources.tail import Tailer
from trt_agent.vocab.events import Event

PARTIAL_LINE_TIMEOUT = 5.0
ROTATE_WAIT = 3.0
POLL_INTERVAL = 1.0


def line(n: int) -> bytes:
    return b"[11/26/2026-10:00:00] [TRT] [W] probe %08d\n" % n


def probes(events: list[Event]) -> list[int]:
    """The probe numbers of ``events``, in the order they were handed on."""
    return [int(str(e["msg"]).rsplit(" ", 1)[1]) for e in events if "probe" in str(e.get("msg"))]


class Recorder:
    """A Pipeline that keeps everything it is handed."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.replayed: list[Event] = []
        self.replays_counted: list[bool] = []
        self.redelivered: list[Event] = []
        self.marks: dict[FileKey, Checkpoint] = {}
        self.forgotten: list[FileKey] = []
        self.is_blocked = False

    def ingest(self, events: list[Event], ack: Ack) -> None:
        self.events.extend(events)
        if isinstance(ack, Forget):
            self.forgotten.append(ack.key)
            self.marks.pop(ack.key, None)
        else:
            self.marks.update(ack)

    def replay(self, events: list[Event], ack: Ack | None = None, *, count: bool = False) -> None:
        self.replayed.extend(events)
        self.replays_counted.append(count)

    def redeliver(self, events: list[Event], ack: Ack) -> None:
        self.redelivered.extend(events)
        self.ingest(events, ack)

    def blocked(self) -> bool:
        return self.is_blocked

    def full(self) -> bool:
        return False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Waker:
    """Counts the wake-ups; the thread that would wait on it is never started."""

    def __init__(self) -> None:
        self.sets = 0

    def set(self) -> None:
        self.sets += 1

    def wait(self, timeout: float | None = None) -> bool:
        raise AssertionError("no thread waits in these tests")

    def clear(self) -> None:
        pass


class Harness:
    def __init__(self, root: Path) -> None:
        self.log = root / "app.log"
        self.clock = Clock()
        self.waker = Waker()
        self.pipeline = Recorder()
        self.tailers: list[Tailer] = []

    def tailer(
        self,
        checkpoints: dict[FileKey, Checkpoint] | None = None,
        folded: dict[FileKey, Checkpoint] | None = None,
        **kwargs: int,
    ) -> Tailer:
        config = Config(
            logs=(LogSource(str(self.log), "e"),),
            tail=TailConfig(
                watch="poll",
                poll_interval=POLL_INTERVAL,
                rotate_wait=ROTATE_WAIT,
                partial_line_timeout=PARTIAL_LINE_TIMEOUT,
            ),
        )
        tailer = Tailer(
            config,
            self.pipeline,
            CheckpointCommitter(None, checkpoints or {}),
            waker=self.waker,
            clock=self.clock,
            folded=None if folded is None else folded.get,
            count_replays=folded is not None,
            **kwargs,
        )
        self.tailers.append(tailer)
        return tailer

    def step(self, tailer: Tailer, *, at: float) -> list[int]:
        """Move the clock to ``at`` seconds after the start and take one turn; the probes so far."""
        self.clock.now = 1000.0 + at
        assert tailer.step()
        return probes(self.pipeline.events)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    for tailer in harness.tailers:
        tailer.drain()  # closes the files


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def test_partial_line_is_held_until_partial_line_timeout(h: Harness) -> None:
    h.log.write_bytes(line(1) + line(2).rstrip(b"\n"))
    tailer = h.tailer()
    assert h.step(tailer, at=0) == [1]
    assert h.step(tailer, at=PARTIAL_LINE_TIMEOUT - 0.1) == [1]  # not yet: the newline may come
    assert h.step(tailer, at=PARTIAL_LINE_TIMEOUT) == [1, 2]
    assert tailer.counters.partial_flushes == 1
    # The flushed line ends at the file's end: the checkpoint says so, and nothing is read twice.
    key = next(iter(tailer.files))
    assert h.pipeline.marks[key].offset == h.log.stat().st_size
    append(h.log, b"\n" + line(3))
    assert h.step(tailer, at=PARTIAL_LINE_TIMEOUT + 1) == [1, 2, 3]


def test_partial_line_completed_in_time_is_one_line(h: Harness) -> None:
    h.log.write_bytes(line(1)[:20])
    tailer = h.tailer()
    assert h.step(tailer, at=0) == []
    append(h.log, line(1)[20:])
    assert h.step(tailer, at=PARTIAL_LINE_TIMEOUT - 1) == [1]
    assert h.step(tailer, at=3 * PARTIAL_LINE_TIMEOUT) == [1]
    assert tailer.counters.partial_flushes == 0


def test_rename_rotation_finishes_the_old_file(h: Harness) -> None:
    h.log.write_bytes(line(1) + line(2))
    tailer = h.tailer()
    assert h.step(tailer, at=0) == [1, 2]
    old_key = next(iter(tailer.files))
    rotated = h.log.with_name("app.log.1")
    os.rename(h.log, rotated)
    append(rotated, line(3))  # the writer has not reopened yet
    h.log.write_bytes(line(4))
    tailer.wake(rescan=True)  # what the watch notification of the rename does
    assert sorted(h.step(tailer, at=0.5)) == [1, 2, 3, 4]
    assert tailer.counters.rotations == 1
    assert len(tailer.files) == 2  # the renamed file is still followed ...
    append(rotated, line(5))  # ... and still read while the writer writes to it
    assert sorted(h.step(tailer, at=1.0)) == [1, 2, 3, 4, 5]
    assert h.step(tailer, at=1.0 + ROTATE_WAIT - 0.1) and len(tailer.files) == 2
    h.step(tailer, at=1.0 + ROTATE_WAIT)  # quiet for rotate_wait since its last growth: closed
    assert old_key not in tailer.files and len(tailer.files) == 1
    assert h.pipeline.forgotten == [old_key]
    assert sorted(probes(h.pipeline.events)) == [1, 2, 3, 4, 5]


def test_copytruncate_recovers_the_unread_bytes_from_the_copy(h: Harness) -> None:
    h.log.write_bytes(line(1) + line(2))
    tailer = h.tailer()
    assert h.step(tailer, at=0) == [1, 2]
    append(h.log, line(3) + line(4))  # written, not read yet when logrotate copies and truncates
    shutil.copyfile(h.log, h.log.with_name("app.log.1"))
    os.truncate(h.log, 0)
    append(h.log, line(5))
    assert h.step(tailer, at=0.5) == [1, 2, 3, 4, 5]
    assert tailer.counters.truncations == 1
    assert tailer.counters.recovered_bytes == len(line(3) + line(4))


def test_copytruncate_grown_back_past_the_offset_is_seen_by_its_first_bytes(h: Harness) -> None:
    """Emptied and grown back past the old offset before the tailer looked: size alone cannot
    tell, the fingerprint of the first bytes does."""
    h.log.write_bytes(line(1))
    tailer = h.tailer()
    assert h.step(tailer, at=0) == [1]
    append(h.log, line(2))
    shutil.copyfile(h.log, h.log.with_name("app.log-20261126"))
    os.truncate(h.log, 0)
    append(h.log, line(3) + line(4) + line(5))
    assert h.step(tailer, at=0.5) == [1, 2, 3, 4, 5]
    assert tailer.counters.truncations == 1


def test_read_budget_spreads_a_large_file_over_turns(h: Harness) -> None:
    filler = b"x" * 1000 + b"\n"  # lines that make no event
    h.log.write_bytes(line(1) + filler * 1100 + line(2))  # over one 1 MiB read
    tailer = h.tailer(read_budget=1 << 20)  # one read of CHUNK_BYTES
    assert h.step(tailer, at=0) == [1]
    assert not tailer.ready and h.waker.sets == 1  # more to read: the thread looks again at once
    assert h.step(tailer, at=0) == [1, 2]
    assert tailer.ready


def test_a_blocked_pipeline_is_not_read_until_it_unblocks(h: Harness) -> None:
    h.log.write_bytes(line(1))
    tailer = h.tailer()
    h.pipeline.is_blocked = True
    h.clock.now += 1
    assert not tailer.step()
    assert tailer.heartbeat == h.clock.now and h.pipeline.events == []
    h.pipeline.is_blocked = False
    assert h.step(tailer, at=2) == [1]


def test_restart_resumes_at_the_checkpoint_and_finds_a_file_renamed_while_stopped(h: Harness) -> None:
    h.log.write_bytes(line(1) + line(2))
    first = h.tailer()
    assert h.step(first, at=0) == [1, 2]
    first.drain()
    checkpoints = dict(h.pipeline.marks)
    os.rename(h.log, h.log.with_name("app.log.1"))
    append(h.log.with_name("app.log.1"), line(3))  # written after the agent stopped
    h.log.write_bytes(line(4))
    h.pipeline.events.clear()
    second = h.tailer(checkpoints)
    assert sorted(h.step(second, at=10)) == [3, 4]
    assert probes(h.pipeline.replayed) == [1, 2]  # the engine model sees the history again


def _read_and_stop(h: Harness, lines: range) -> dict[FileKey, Checkpoint]:
    """A first run reads ``lines``; returns the checkpoints of each line's end, by line number."""
    h.log.write_bytes(b"".join(line(n) for n in lines))
    first = h.tailer()
    assert h.step(first, at=0) == list(lines)
    first.drain()
    return dict(h.pipeline.marks)


def _at_line(marks: dict[FileKey, Checkpoint], n: int) -> dict[FileKey, Checkpoint]:
    """The checkpoints moved back to the start of line ``n`` (every probe line is as long)."""
    from dataclasses import replace

    return {key: replace(c, offset=(n - 1) * len(line(0)), line=n) for key, c in marks.items()}


def test_restart_with_the_models_ahead_of_the_checkpoint_writes_the_gap_without_folding_it(
    h: Harness,
) -> None:
    """The snapshot's models had folded lines 1-6 but only 1-3 were written when the agent died:
    4-6 are written again (redelivered, not folded again), 7 is new, nothing is replayed."""
    marks = _read_and_stop(h, range(1, 7))
    checkpoints, folded = _at_line(marks, 4), _at_line(marks, 7)
    h.pipeline.events.clear()
    append(h.log, line(7))
    second = h.tailer(checkpoints, folded)
    assert h.step(second, at=10) == [4, 5, 6, 7]
    assert probes(h.pipeline.redelivered) == [4, 5, 6]
    assert h.pipeline.replayed == []


def test_restart_with_the_models_behind_the_checkpoint_replays_only_the_gap(h: Harness) -> None:
    """A snapshot older than the checkpoint (lines 1-2 folded, 1-5 written): lines 3-5 are folded
    and counted (the restored counts lack them), not written again; 6 is new."""
    marks = _read_and_stop(h, range(1, 6))
    checkpoints, folded = _at_line(marks, 6), _at_line(marks, 3)
    h.pipeline.events.clear()
    append(h.log, line(6))
    second = h.tailer(checkpoints, folded)
    assert h.step(second, at=10) == [6]
    assert probes(h.pipeline.replayed) == [3, 4, 5]
    assert set(h.pipeline.replays_counted) == {True}


def test_a_file_the_snapshot_does_not_know_is_replayed_from_its_start(h: Harness) -> None:
    marks = _read_and_stop(h, range(1, 4))
    h.pipeline.events.clear()
    second = h.tailer(marks, folded={})
    assert h.step(second, at=10) == []
    assert probes(h.pipeline.replayed) == [1, 2, 3]


def test_a_snapshot_position_of_other_content_is_not_used(h: Harness) -> None:
    """The inode now holds other bytes than the snapshot saw (its fingerprint differs): replay."""
    from dataclasses import replace

    marks = _read_and_stop(h, range(1, 4))
    other = {key: replace(c, fingerprint="0" * 64) for key, c in marks.items()}
    h.pipeline.events.clear()
    second = h.tailer(marks, other)
    assert h.step(second, at=10) == []
    assert probes(h.pipeline.replayed) == [1, 2, 3] and h.pipeline.redelivered == []


def test_a_new_file_is_registered_before_its_lines_are_read(h: Harness) -> None:
    """The store knows a file (inode, fingerprint, start) from its first turn, before any mark
    of its lines is acknowledged: renamed away while the agent is down, it is found again."""
    h.log.write_bytes(line(1))
    tailer = h.tailer()
    committer = tailer.committer
    assert committer.checkpoints == {}
    h.step(tailer, at=0)
    (c,) = committer.checkpoints.values()
    assert (c.offset, c.line, c.path) == (0, 1, str(h.log))
    assert c.fingerprint_len == len(line(1))


def test_an_empty_file_is_registered_once_it_has_bytes(h: Harness) -> None:
    h.log.write_bytes(b"")
    tailer = h.tailer()
    h.step(tailer, at=0)
    assert tailer.committer.checkpoints == {}  # nothing tells it from its siblings yet
    append(h.log, line(1))
    h.step(tailer, at=1)
    (c,) = tailer.committer.checkpoints.values()
    assert c.offset == 0 and c.fingerprint_len == len(line(1))


def test_copy_recovery_is_checkpointed_as_it_goes_and_the_live_file_waits(h: Harness) -> None:
    """A copytruncate's copy larger than one read budget: it is followed as a file of its own,
    with its own checkpoints as it is read; the emptied file's new lines come after it."""
    filler = b"x" * 1000 + b"\n"  # lines that make no event
    h.log.write_bytes(line(1))
    tailer = h.tailer(read_budget=1 << 20)
    assert h.step(tailer, at=0) == [1]
    append(h.log, filler * 2100 + line(2))  # two budgets, not read yet
    copy = h.log.with_name("app.log.1")
    shutil.copyfile(h.log, copy)
    os.truncate(h.log, 0)
    append(h.log, line(3))
    assert h.step(tailer, at=0.5) == [1]  # one budget of the copy; the live file waits
    copy_key = (copy.stat().st_dev, copy.stat().st_ino)
    assert h.pipeline.marks[copy_key].offset > len(line(1))  # its progress is a checkpoint
    assert h.pipeline.marks[copy_key].path == str(h.log)  # of the log it is a generation of
    assert h.step(tailer, at=0.6) == [1]
    assert h.step(tailer, at=0.7) == [1, 2, 3]  # the copy's end, then the live file
    assert tailer.counters.recovered_bytes == copy.stat().st_size - len(line(1))


def test_copytruncate_of_a_file_not_read_yet_is_recovered_from_its_copy(h: Harness) -> None:
    """A file the agent resumed at its checkpoint but has not read since (the models came from
    the snapshot, nothing new until the copytruncate): its reader does not exist yet, and the
    copy's unread lines still come."""
    marks = _read_and_stop(h, range(1, 3))
    h.pipeline.events.clear()
    second = h.tailer(marks, folded=marks)
    assert h.step(second, at=10) == []  # resumed; nothing new to read
    append(h.log, line(3) + line(4))
    shutil.copyfile(h.log, h.log.with_name("app.log.1"))
    os.truncate(h.log, 0)
    append(h.log, line(5))
    assert h.step(second, at=11) == [3, 4, 5]
    (c,) = (c for key, c in h.pipeline.marks.items() if key == next(iter(marks)))
    assert c.offset == len(line(5))


def test_copytruncate_while_stopped_reads_the_copy_before_the_emptied_file(h: Harness) -> None:
    """At start the checkpoint's inode holds other content: the copy (larger than a read budget,
    so several turns) is followed from the checkpoint, and the emptied file's new lines come
    after all of it, whatever the checkpoint's replay said of the copy's end."""
    filler = b"x" * 1000 + b"\n"
    marks = _read_and_stop(h, range(1, 3))
    append(h.log, filler * 2100 + line(3))  # written while the agent was down
    shutil.copyfile(h.log, h.log.with_name("app.log.1"))
    os.truncate(h.log, 0)
    append(h.log, line(4))
    h.pipeline.events.clear()
    second = h.tailer(marks, read_budget=1 << 20)
    for turn in range(6):
        h.step(second, at=10 + turn)
    assert probes(h.pipeline.events) == [3, 4]


@pytest.mark.parametrize(
    ("name", "generation"),
    [
        ("app.log.1", True),
        ("app.log.12", True),
        ("app.log-20261206", True),
        ("app.log.2026-12-06", True),
        ("app.log-1733472000", True),
        ("app-20261206.log", True),
        ("app-2026-12-06.log", True),
        ("app.log.1.gz", True),  # a generation (compressed ones are left out where they are listed)
        ("app-2.log", False),  # another worker's log beside it
        ("app-10.log", False),
        ("app.log", False),
        ("application.log.1", False),
        ("app.txt.1", False),
    ],
)
def test_what_is_a_rotated_generation_of_a_log(name: str, generation: bool) -> None:
    from trt_agent.sources.tail.rotation import is_generation_of

    assert is_generation_of(f"/logs/{name}", "/logs/app.log") is generation


def test_an_entry_removed_by_a_reload_then_rotated_then_added_back_loses_nothing(h: Harness) -> None:
    """A reload takes the file's [[logs]] entry away (its checkpoint is kept); while it is not
    followed the file gets more lines and is renamed away (logrotate); the entry comes back: the
    renamed file is read from the checkpoint on, then the new file."""
    h.log.write_bytes(line(1))
    tailer = h.tailer()
    assert h.step(tailer, at=0) == [1]
    followed = tailer.config
    tailer.reload(Config(logs=(), tail=followed.tail))
    h.step(tailer, at=1)
    assert tailer.files == {}
    append(h.log, line(2))  # written while not followed ...
    os.rename(h.log, h.log.with_name("app.log.1"))  # ... then rotated away
    append(h.log.with_name("app.log.1"), line(3))
    h.log.write_bytes(line(4))
    tailer.reload(followed)
    for turn in range(3):
        h.step(tailer, at=2 + turn)
    assert probes(h.pipeline.events) == [1, 2, 3, 4]
