"""The model snapshot (trt_agent/snapshot.py): what a restart restores instead of re-reading the
logs. Built from real corpus logs; read back only by this agent's version, schema and buckets,
and only the model's own classes (a snapshot is a pickle: nothing else may be built from it)."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path

import orjson
import pytest
from conftest import ROOT

from trt_agent.model.store import EngineStore
from trt_agent.parse import ParseStats, parse_stream
from trt_agent.pipeline import Batch
from trt_agent.snapshot import COST_SHARE, SNAPSHOT_FILE, Snapshot, Snapshotter, decode, encode, header, load
from trt_agent.sources.checkpoint import Checkpoint, Forget

CORPUS = ROOT / "tests" / "data" / "corpus"


def corpus_store() -> EngineStore:
    store = EngineStore()
    for path in sorted(CORPUS.glob("0[1-6]_*")):
        with path.open("rb") as fh:
            store.fold(list(parse_stream(fh, str(path), "alexnet", ParseStats())), count=True)
    return store


def checkpoint(ino: int, offset: int) -> Checkpoint:
    return Checkpoint("/logs/a.log", 1, ino, offset, 3, 0, 1, 10, "ab" * 32)


def test_a_snapshot_gives_back_the_models_counts_positions_and_names() -> None:
    store = corpus_store()
    positions = {(1, 7): checkpoint(7, 4096)}
    data = encode(Snapshot(store.models, store.event_counts, positions, ["conv1"]), store.latency_buckets)
    back = decode(data, store.latency_buckets)
    assert back.models == store.models
    assert back.event_counts == store.event_counts and sum(back.event_counts.values()) > 100
    assert back.positions == positions and back.names == ["conv1"]
    model = back.models["alexnet"]
    assert model.fusion_coverage() == store.models["alexnet"].fusion_coverage()


@pytest.mark.parametrize("field", ["format", "agent", "schema", "buckets"])
def test_a_snapshot_of_another_version_schema_or_bucket_layout_is_not_used(field: str) -> None:
    store = corpus_store()
    data = encode(Snapshot(store.models, store.event_counts, {}), store.latency_buckets)
    _, _, body = data.partition(b"\n")
    other = header(store.latency_buckets) | {field: "other"}
    with pytest.raises(ValueError, match=f"another {field}"):
        decode(orjson.dumps(other) + b"\n" + body, store.latency_buckets)


def test_a_snapshot_that_would_build_anything_else_is_refused() -> None:
    """A pickle naming os.system (a state dir someone else could write) is refused, not run."""
    buckets = EngineStore().latency_buckets
    hostile = pickle.dumps((os.system, Counter(), [], []))
    with pytest.raises(ValueError, match=r"damaged .*os.*not part of a model snapshot"):
        decode(orjson.dumps(header(buckets)) + b"\n" + hostile, buckets)


def test_a_damaged_or_missing_snapshot_says_why(tmp_path: Path) -> None:
    buckets = EngineStore().latency_buckets
    assert load(str(tmp_path), buckets) == (None, "missing")
    store = corpus_store()
    data = encode(Snapshot(store.models, store.event_counts, {}), buckets)
    (tmp_path / SNAPSHOT_FILE).write_bytes(data[: len(data) // 2])  # cut short
    snapshot, why = load(str(tmp_path), buckets)
    assert snapshot is None and why.startswith("damaged")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_snapshotter_notes_where_the_models_stand_and_saves_when_due(tmp_path: Path) -> None:
    store = corpus_store()
    clock = Clock()
    known = {(1, 7), (1, 8)}  # what the checkpoint store names
    snapshots = Snapshotter(
        str(tmp_path), store, names=lambda: ["conv1"], known=known.__contains__, min_interval=1.0, clock=clock
    )
    snapshots(Batch([], [], "file", {(1, 7): checkpoint(7, 100)}))
    snapshots(Batch([], [], "replay", {(1, 8): checkpoint(8, 50)}))
    snapshots(Batch([], [], "redeliver", {(1, 7): checkpoint(7, 10)}))  # folded already: no move back
    snapshots(Batch([], [], "profiler"))
    assert [snapshots.position(k).offset for k in ((1, 7), (1, 8))] == [100, 50]  # type: ignore[union-attr]
    snapshots.tick()
    assert snapshots.saves == 1
    restored, _ = load(str(tmp_path), store.latency_buckets)
    assert restored is not None and restored.names == ["conv1"]
    assert {k: c.offset for k, c in restored.positions.items()} == {(1, 7): 100, (1, 8): 50}
    # A closed file keeps its last position (closed) until a snapshot holding it is saved and
    # the checkpoint store has forgotten it too.
    snapshots(Batch([], [], "file", Forget((1, 8))))
    assert not snapshots.forgettable((1, 8)) and snapshots.position((1, 8)) is not None
    snapshots.tick()
    assert snapshots.saves == 1  # not due yet
    clock.now += 1.0
    snapshots.tick()
    assert snapshots.saves == 2 and snapshots.forgettable((1, 8))
    restored, _ = load(str(tmp_path), store.latency_buckets)
    assert restored is not None and set(restored.positions) == {(1, 7)} and set(restored.closed) == {(1, 8)}
    clock.now += 5.0
    snapshots.tick()
    assert snapshots.saves == 2  # nothing changed: nothing to save
    known.discard((1, 8))  # the checkpoint store forgot it
    snapshots(Batch([], [], "file", {(1, 7): checkpoint(7, 200)}))
    snapshots.tick(idle=True)
    assert snapshots.saves == 3  # the tailer caught up: at once, not due or not
    snapshots.tick(idle=True)
    assert snapshots.saves == 3
    restored, _ = load(str(tmp_path), store.latency_buckets)
    assert restored is not None and {k: c.offset for k, c in restored.positions.items()} == {(1, 7): 200}
    assert restored.closed == {} and snapshots.position((1, 8)) is None
    assert (tmp_path / SNAPSHOT_FILE).stat().st_mode & 0o777 == 0o600


def test_idle_saves_keep_to_the_cost_bound(tmp_path: Path) -> None:
    """Caught up, a save is due at once, but never more often than pickling costs 1/COST_SHARE of
    the time: a trickle of lines (every other turn idle) must not snapshot per line."""
    store = corpus_store()

    class SlowClock(Clock):
        def __call__(self) -> float:
            self.now += 0.025  # each look at the clock takes time: a save costs 25-50 ms here
            return self.now

    clock = SlowClock()
    snapshots = Snapshotter(str(tmp_path), store, min_interval=1.0, clock=clock)
    start = clock.now
    for n in range(100):  # 10 lines/s for 10 s, each followed by an idle turn
        clock.now += 0.1
        snapshots(Batch([], [], "file", {(1, 7): checkpoint(7, n)}))
        snapshots.tick(idle=True)
    elapsed = clock.now - start
    assert 5 <= snapshots.saves < 100
    assert snapshots.seconds <= elapsed / COST_SHARE + 0.05, (snapshots.saves, snapshots.seconds, elapsed)


def test_a_snapshot_that_cannot_be_saved_is_counted_and_tried_again(tmp_path: Path) -> None:
    store = corpus_store()
    clock = Clock()
    state = tmp_path / "state"
    state.write_bytes(b"")  # a file where the directory should be: every save fails
    snapshots = Snapshotter(str(state), store, min_interval=1.0, clock=clock)
    snapshots.tick()
    assert (snapshots.saves, snapshots.errors) == (0, 1)
    state.unlink()
    clock.now += 1.0
    snapshots.tick()
    assert (snapshots.saves, snapshots.errors) == (1, 1)


def test_restored_models_start_their_clocks_now() -> None:
    """A snapshot's time.monotonic() values are another process's: series_ttl counts anew."""
    store = corpus_store()
    data = encode(Snapshot(store.models, store.event_counts, {}), store.latency_buckets)
    back = decode(data, store.latency_buckets)
    fresh = EngineStore(series_ttl=60.0)
    fresh.restore(back.models, back.event_counts, now=5000.0)
    assert {m.last_update for m in fresh.models.values()} == {5000.0}
    assert fresh.expire(set(), now=5030.0) == set() and "alexnet" in fresh.models
