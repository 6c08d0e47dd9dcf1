"""The model snapshot against the checkpoints, across crashes, in-process: a tailer, the engine
store, the snapshotter and the checkpoint committer wired as the daemon wires them, an event
writer whose commits the test makes by hand, and a "crash" that drops the process's state. Each
scenario crashes in the window where the snapshot and the checkpoint store disagree about a file
(rotated and closed, copytruncated), and the next start must fold each line into the models
exactly once: trt_engine_log_events_total is the count checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from test_tail_steps import ROTATE_WAIT, Clock, Waker, line

from trt_agent.config import Config, LogSource, TailConfig
from trt_agent.model.store import EngineStore
from trt_agent.pipeline import Pipeline, deliver, fold_models
from trt_agent.snapshot import Snapshotter, load
from trt_agent.sources.checkpoint import CheckpointCommitter, CheckpointStore
from trt_agent.sources.tail import Tailer


class HeldWriter:
    """The event writer: takes batches, acknowledges them when the test commits."""

    failing = False

    def __init__(self) -> None:
        self.acks: list[Any] = []

    def offer(self, events: list[Any], ack: Any = None) -> None:
        if ack is not None:
            self.acks.append(ack)

    def would_block(self) -> bool:
        return False

    def commit(self, committer: CheckpointCommitter) -> None:
        acks, self.acks = self.acks, []
        committer.acknowledge(acks)


class Run:
    """One life of the agent on ``log``, its state in ``state``."""

    def __init__(self, state: Path, log: Path, clock: Clock, *, min_interval: float = 1.0) -> None:
        self.store = EngineStore()
        restored, _ = load(str(state), self.store.latency_buckets)
        if restored is not None:
            self.store.restore(restored.models, restored.event_counts, 0.0)
        checkpoints = CheckpointStore(str(state))
        snapshots = Snapshotter(
            str(state),
            self.store,
            restored=restored,
            known=lambda key: key in self.committer.checkpoints,
            clock=clock,
            min_interval=min_interval,
        )
        self.committer = CheckpointCommitter(
            checkpoints, checkpoints.load(), forgettable=snapshots.forgettable
        )
        self.writer = HeldWriter()
        pipeline = Pipeline([fold_models(self.store), snapshots, deliver(self.writer)], self.writer)
        config = Config(
            logs=(LogSource(str(log), "e"),),
            tail=TailConfig(
                watch="poll", poll_interval=1.0, rotate_wait=ROTATE_WAIT, partial_line_timeout=5.0
            ),
        )
        self.tailer = Tailer(
            config,
            pipeline,
            self.committer,
            waker=Waker(),
            clock=clock,
            on_turn=snapshots.tick,
            folded=snapshots.position,
            count_replays=restored is not None,
        )

    def step(self) -> None:
        self.tailer.step()

    def commit(self) -> None:
        self.writer.commit(self.committer)

    def crash(self) -> None:
        for f in self.tailer.files.values():
            f.close()

    @property
    def counted(self) -> int:
        return sum(n for (engine, _, _), n in self.store.event_counts.items() if engine == "e")


def test_a_rotated_file_closed_just_before_a_crash_is_counted_once(tmp_path: Path) -> None:
    """The renamed file is read to its end and closed (its Forget on the way to the writer); the
    snapshot saved on the idle turn after; the crash comes before the writer commits the Forget."""
    state, log, clock = tmp_path / "state", tmp_path / "app.log", Clock()
    log.write_bytes(line(1) + line(2) + line(3))
    first = Run(state, log, clock)
    first.step()
    first.commit()
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(line(4))
    first.tailer.wake(rescan=True)
    clock.now += 0.5
    first.step()
    first.commit()
    clock.now += ROTATE_WAIT + 0.1
    first.step()  # app.log.1 closed
    clock.now += 0.1
    first.step()  # idle: the snapshot is saved
    assert first.counted == 4
    first.crash()
    second = Run(state, log, clock)
    clock.now += 10
    second.step()
    second.crash()
    assert second.counted == 4


def test_a_copytruncate_just_before_a_crash_is_counted_once(tmp_path: Path) -> None:
    """The emptied file and its copy have their positions in the snapshot; the checkpoint store
    still has the old content under the original inode: the copy is resumed from it, and its
    own position says the models hold it all."""
    state, log, clock = tmp_path / "state", tmp_path / "app.log", Clock()
    log.write_bytes(b"".join(line(n) for n in range(1, 11)))
    first = Run(state, log, clock)
    first.step()
    first.commit()
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    clock.now += 0.5
    first.step()  # the truncation seen, the copy followed
    clock.now += 0.1
    first.step()  # idle: the snapshot is saved; the writer has not committed
    assert first.counted == 10
    first.crash()
    second = Run(state, log, clock)
    clock.now += 10
    second.step()
    second.crash()
    assert second.counted == 10


def test_a_rotated_file_is_forgotten_only_after_a_snapshot_holds_all_its_lines(tmp_path: Path) -> None:
    """Busy turns (no snapshot due for 5 s): the rotated file gets lines 4-5, is closed and its
    Forget reaches the writer before any snapshot has those lines. The checkpoint store keeps the
    file until one does, so the crash's restart folds 4-5 from it."""
    state, log, clock = tmp_path / "state", tmp_path / "app.log", Clock()
    log.write_bytes(line(1) + line(2) + line(3))
    first = Run(state, log, clock, min_interval=5.0)
    first.step()
    clock.now += 0.1
    first.step()  # idle: the snapshot is saved, after line 3
    first.commit()
    rotated = tmp_path / "app.log.1"
    os.rename(log, rotated)
    with rotated.open("ab") as fh:
        fh.write(line(4) + line(5))  # the application has not reopened yet
    log.write_bytes(b"")
    first.tailer.wake(rescan=True)
    clock.now += 0.1
    first.step()
    first.commit()
    clock.now += ROTATE_WAIT + 0.1
    with log.open("ab") as fh:
        fh.write(line(6))
    first.step()  # app.log.1 closed in a busy turn: no snapshot is due
    first.commit()
    key = (rotated.stat().st_dev, rotated.stat().st_ino)
    assert key in first.committer.checkpoints  # not forgotten: no snapshot holds lines 4-5 yet
    assert first.counted == 6
    first.crash()
    second = Run(state, log, clock)
    clock.now += 10
    second.step()
    second.crash()
    assert second.counted == 6


def test_a_closed_file_is_forgotten_once_a_snapshot_was_saved(tmp_path: Path) -> None:
    """The Forget waits in the committer for a snapshot (previous test); on an idle turn the
    snapshot is saved in the very turn that closes the file, so it goes at the next commit."""
    state, log, clock = tmp_path / "state", tmp_path / "app.log", Clock()
    log.write_bytes(line(1))
    run = Run(state, log, clock)
    run.step()
    rotated = tmp_path / "app.log.1"
    os.rename(log, rotated)
    log.write_bytes(b"")
    run.tailer.wake(rescan=True)
    clock.now += 0.1
    run.step()  # renamed away: still read until rotate_wait
    run.commit()
    key = (rotated.stat().st_dev, rotated.stat().st_ino)
    assert key in run.committer.checkpoints
    clock.now += ROTATE_WAIT + 0.1
    run.step()  # closed, and (nothing read) the snapshot saved with it
    run.commit()
    assert key not in run.committer.checkpoints
    run.crash()


def test_a_file_empty_at_stop_and_copytruncated_while_down_is_read_from_its_copy(tmp_path: Path) -> None:
    """A copytruncate left the file empty; its checkpoint (offset 0, no fingerprint) fits any
    content. While the agent is down the application writes lines 3-4, logrotate copytruncates
    again (3-4 in app.log.1), then 5: the generation written since the checkpoints were saved is
    read before the file."""
    state, log, clock = tmp_path / "state", tmp_path / "app.log", Clock()
    log.write_bytes(line(1) + line(2))
    first = Run(state, log, clock)
    first.step()
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)  # copytruncate; the application is quiet afterwards
    clock.now += 1
    first.step()
    clock.now += ROTATE_WAIT + 1
    first.step()  # the copy is closed
    first.tailer.drain()
    first.commit()
    (c,) = first.committer.checkpoints.values()
    assert (c.offset, c.fingerprint_len) == (0, 0)
    with log.open("ab") as fh:  # while the agent is down
        fh.write(line(3) + line(4))
    os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    with log.open("ab") as fh:
        fh.write(line(5))
    second = Run(state, log, clock)
    delivered: list[Any] = []
    second.writer.offer = lambda events, ack=None: delivered.extend(events)  # type: ignore[method-assign]
    for _ in range(4):
        clock.now += 1
        second.step()
    second.crash()
    assert [int(str(e["msg"]).rsplit(" ", 1)[1]) for e in delivered] == [3, 4, 5]
