"""Delivery acknowledges, the tailer's committer saves: a checkpoint never claims a line whose
events are not written, and a save that failed is tried again at the next interval even when no
new line arrives (a short state_dir outage must not leave positions unsaved until more logs come)."""

from __future__ import annotations

from pathlib import Path

from harness import wait_for

from trt_agent.config import EventsConfig
from trt_agent.sinks.event_stream import EventStream
from trt_agent.sources.checkpoint import Checkpoint, CheckpointCommitter, CheckpointStore, Forget


class FailingOnce(CheckpointStore):
    """The first save fails as a full or read-only state_dir would make it."""

    def __init__(self, state_dir: str) -> None:
        super().__init__(state_dir)
        self.failures_left = 1

    def save(self, checkpoints: dict[tuple[int, int], Checkpoint]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise OSError(28, "No space left on device")
        super().save(checkpoints)


def _checkpoint(path: str, ino: int, offset: int) -> Checkpoint:
    return Checkpoint(path, 1, ino, offset, 1, 0, 1, 0, "")


def _stream(tmp_path: Path, committer: CheckpointCommitter) -> EventStream:
    stream = EventStream(
        EventsConfig(path=str(tmp_path / "events.jsonl")),
        on_written=committer.acknowledge,
        checkpoint_interval=0.05,
    )
    stream.start()
    return stream


def test_a_failed_save_is_retried_without_new_events(tmp_path: Path) -> None:
    store = FailingOnce(str(tmp_path / "state"))
    committer = CheckpointCommitter(store, {})
    stream = _stream(tmp_path, committer)
    stream.offer([], {(1, 7): _checkpoint("a.log", 7, 100)})  # marks only: nothing else comes
    wait_for(lambda: committer.errors == 1, 5, "the failed save")
    wait_for(lambda: store.load(), 5, "the save tried again")
    assert stream.close(5)
    assert store.load()[(1, 7)].offset == 100
    assert committer.errors == 1


def test_tokens_are_applied_in_order(tmp_path: Path) -> None:
    """A file's Forget travels behind the marks of its last lines: it is gone from the store."""
    store = CheckpointStore(str(tmp_path / "state"))
    committer = CheckpointCommitter(store, {})
    stream = _stream(tmp_path, committer)
    stream.offer([], {(1, 7): _checkpoint("a.log", 7, 100), (1, 8): _checkpoint("b.log", 8, 5)})
    stream.offer([], {(1, 7): _checkpoint("a.log", 7, 200)})
    stream.offer([], Forget((1, 8)))
    assert stream.close(5)
    assert {key: c.offset for key, c in store.load().items()} == {(1, 7): 200}
