"""The daemon's model snapshot (``<state_dir>/models.snapshot``): the engine models, their event
counts, the redactor's learned names and the position in each followed file the models stand
at, saved beside the checkpoints so that a restart restores them instead of re-reading every
followed file from its start (a 300 MB log took 17 s to replay).

The positions are where the models stand (lines folded), which runs ahead of the checkpoints
(lines whose events are written). At a restart each file resumes at its checkpoint: lines
between the checkpoint and the models' position are written again but not folded again
(``Pipeline.redeliver``); lines between an older snapshot's position and the checkpoint are
folded but not written again (``Pipeline.replay``). Files the snapshot does not know are
replayed from their start, as without a snapshot.

The file is a JSON header line (format, agent version, model schema, histogram bounds) and a
pickle of the state, read back by an unpickler that builds only the model's own classes and
plain containers. Anything else (another format, version, schema or bucket layout; a damaged
file) is not used: the models are rebuilt by replaying the logs, and the next save replaces it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import trt_agent
from trt_agent.logs import get_logger
from trt_agent.model import engine as engine_module
from trt_agent.model.engine import EngineModel
from trt_agent.model.store import EngineStore
from trt_agent.pipeline import Batch
from trt_agent.sources.checkpoint import Checkpoint, FileKey, Forget
from trt_agent.statedir import replace_file

SNAPSHOT_FILE: Final = "models.snapshot"
SNAPSHOT_FORMAT: Final = 1
# A snapshot costs the tailer thread the time to pickle the models: at most 1/COST_SHARE of it.
COST_SHARE: Final = 20

# What the unpickler may build: the model's dataclasses and the containers they hold.
_ALLOWED: Final = {
    ("collections", "Counter"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
} | {
    ("trt_agent.model.engine", name)
    for name, value in vars(engine_module).items()
    if isinstance(value, type) and dataclasses.is_dataclass(value)
}


def schema() -> str:
    """A digest of the model classes' fields: a snapshot of other classes is not read back."""
    parts = []
    for module, name in sorted(_ALLOWED):
        if module == "trt_agent.model.engine":
            cls = getattr(engine_module, name)
            parts.append(name + ":" + ",".join(f"{f.name}={f.type}" for f in dataclasses.fields(cls)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class _ModelUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a model snapshot")
        return super().find_class(module, name)


@dataclass
class Snapshot:
    """What a snapshot holds."""

    models: dict[str, EngineModel]
    event_counts: Counter[tuple[str, str, str]]
    positions: dict[FileKey, Checkpoint]
    names: list[str] = field(default_factory=list)
    # Files the tailer closed (rotated away and read to their end), with their last position,
    # while the checkpoint store may still name them (see Snapshotter.forgettable).
    closed: dict[FileKey, Checkpoint] = field(default_factory=dict)


def header(buckets: tuple[float, ...]) -> dict[str, Any]:
    return {
        "format": SNAPSHOT_FORMAT,
        "agent": trt_agent.__version__,
        "schema": schema(),
        "buckets": list(buckets),
    }


def encode(snapshot: Snapshot, buckets: tuple[float, ...]) -> bytes:
    positions = [asdict(c) for c in snapshot.positions.values()]
    closed = [asdict(c) for c in snapshot.closed.values()]
    body = pickle.dumps(
        (snapshot.models, snapshot.event_counts, positions, snapshot.names, closed), protocol=5
    )
    return orjson.dumps(header(buckets)) + b"\n" + body


def decode(data: bytes, buckets: tuple[float, ...]) -> Snapshot:
    """The snapshot in ``data``; ``ValueError`` saying why it cannot be used."""
    head, newline, body = data.partition(b"\n")
    try:
        found = orjson.loads(head) if newline else None
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        raise ValueError("not a model snapshot")
    expected = header(buckets)
    for key_ in ("format", "agent", "schema", "buckets"):
        if found.get(key_) != expected[key_]:
            raise ValueError(
                f"written with another {key_} ({found.get(key_)!r}, this agent: {expected[key_]!r})"
            )
    try:
        models, counts, positions, names, closed = _ModelUnpickler(io.BytesIO(body)).load()
        checkpoints = [Checkpoint(**entry) for entry in positions]
        tombstones = [Checkpoint(**entry) for entry in closed]
    except Exception as exc:  # any damage: the logs are still there to rebuild from
        raise ValueError(f"damaged ({type(exc).__name__}: {exc})") from None
    if not isinstance(models, dict) or not isinstance(counts, Counter) or not isinstance(names, list):
        raise ValueError("damaged (unexpected content)")
    return Snapshot(models, counts, {c.key: c for c in checkpoints}, names, {c.key: c for c in tombstones})


def load(state_dir: str, buckets: tuple[float, ...]) -> tuple[Snapshot | None, str]:
    """The snapshot in ``state_dir``, or None and why not (``"missing"``, or the reason)."""
    path = os.path.join(state_dir, SNAPSHOT_FILE)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"not readable ({exc.strerror})"
    try:
        return decode(data, buckets), ""
    except ValueError as exc:
        return None, str(exc)


class Snapshotter:
    """Keeps where the models stand in each followed file (a pipeline step, after the models
    fold a batch) and saves the snapshot: when the tailer's turn calls ``tick`` and something
    changed, at most every ``min_interval`` seconds, or at once when the tailer has caught up
    with its files; never more often than pickling costs 1/``COST_SHARE`` of the time; and at
    shutdown (``save``).

    A closed file's position stays in the snapshot (``closed``) until the checkpoint store has
    forgotten the file too, and the store forgets it only once a snapshot saved after its close
    (``forgettable``): whichever of the two files a crash leaves newer, a restart folds each of
    its lines into the models exactly once."""

    def __init__(
        self,
        state_dir: str,
        store: EngineStore,
        *,
        names: Callable[[], list[str]] = list,
        restored: Snapshot | None = None,
        known: Callable[[FileKey], bool] = lambda key: True,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = os.path.join(state_dir, SNAPSHOT_FILE)
        self.store = store
        self._positions: dict[FileKey, Checkpoint] = dict(restored.positions) if restored else {}
        self._closed: dict[FileKey, Checkpoint] = dict(restored.closed) if restored else {}
        self.min_interval = min_interval
        self._names = names
        self._known = known  # the checkpoint store still names this file
        self._clock = clock
        self._lock = threading.Lock()
        self._saved_revision = -1
        self._moved = True  # positions moved since the last save
        self._closing: set[FileKey] = set()  # closed since the last save: not forgettable yet
        self._next = 0.0  # the next save when busy: min_interval, and the cost bound
        self._next_idle = 0.0  # the next save when caught up: the cost bound only
        self._failing = False
        self.saves = 0
        self.errors = 0
        self.seconds = 0.0  # time spent taking and writing snapshots
        self.last_bytes = 0
        self._log = get_logger("trt_agent.snapshot")

    def position(self, key: FileKey) -> Checkpoint | None:
        """Where the models stand in the file ``key`` (open, or closed and not forgotten yet)."""
        found = self._positions.get(key)
        return found if found is not None else self._closed.get(key)

    def forgettable(self, key: FileKey) -> bool:
        """Whether the checkpoint store may forget the closed file ``key`` now: a snapshot with
        all of its lines was saved (the event writer asks, from its thread)."""
        return key not in self._closing

    def __call__(self, batch: Batch) -> Batch:
        """File and replay batches move the positions (their lines are folded now); redelivered
        ones do not (the models held them already)."""
        ack = batch.ack
        if batch.origin in ("file", "replay") and ack is not None:
            if isinstance(ack, Forget):
                last = self._positions.pop(ack.key, None)
                if last is not None:
                    self._closed[ack.key] = last
                    self._closing.add(ack.key)
            else:
                self._positions.update(ack)
                for key in ack:
                    self._closed.pop(key, None)  # (an inode used again by a new file)
            self._moved = True
        return batch

    def tick(self, idle: bool = False) -> None:
        """Save if something changed and a save is due (the tailer's thread, between batches);
        ``idle``: the tailer has caught up with its files, so a save costs nothing anyone waits
        for and a crash after it replays nothing: due as soon as the cost bound allows."""
        changed = self._moved or self.store.revision != self._saved_revision
        if changed and self._clock() >= (self._next_idle if idle else self._next):
            self.save()

    def save(self) -> None:
        with self._lock:
            started = self._clock()
            store = self.store
            self._closed = {k: c for k, c in self._closed.items() if k in self._closing or self._known(k)}
            closing = set(self._closing)
            # A view (O(1) under the store's lock): the models as they stand, which nobody
            # changes any more, pickled without the lock, so scrapes and the tailer's folds never
            # wait for a snapshot. Saved on the tailer's thread (between batches), or once it
            # stopped: the positions are those of the lines the view's models hold.
            view = store.view()
            revision = view.revision
            snapshot = Snapshot(
                view.models,  # type: ignore[arg-type]  # read-only: pickled, never changed
                view.event_counts,  # type: ignore[arg-type]
                self._positions,
                self._names(),
                self._closed,
            )
            data = encode(snapshot, store.latency_buckets)
            try:
                replace_file(self.path, data)
            except OSError as exc:
                self.errors += 1
                if not self._failing:
                    self._failing = True
                    self._log.error(
                        "cannot save the model snapshot",
                        path=self.path,
                        error=str(exc),
                        action="retrying; a restart now rebuilds the models from the logs",
                    )
                self._next = self._next_idle = self._clock() + self.min_interval
                return
            if self._failing:
                self._failing = False
                self._log.info("model snapshot saved again", path=self.path)
            self._closing -= closing
            took = self._clock() - started
            self.saves += 1
            self.seconds += took
            self.last_bytes = len(data)
            self._saved_revision, self._moved = revision, False
            self._log.debug(
                "model snapshot saved",
                path=self.path,
                bytes=len(data),
                seconds=round(took, 4),
                engines=len(view.models),
            )
            now = self._clock()
            self._next_idle = now + COST_SHARE * took
            self._next = now + max(self.min_interval, COST_SHARE * took)


class SnapshotCollector(Collector):
    """The snapshot's own health: ``trt_agent_snapshot_*``."""

    def __init__(self, snapshotter: Snapshotter) -> None:
        self.snapshotter = snapshotter

    def collect(self) -> Iterator[Metric]:
        s = self.snapshotter
        yield from [
            CounterMetricFamily("trt_agent_snapshot_saves", "Model snapshots saved in agent.state_dir (restarts restore the engine models from it).", value=s.saves),
            CounterMetricFamily("trt_agent_snapshot_errors", "Model snapshots that could not be saved.", value=s.errors),
            CounterMetricFamily("trt_agent_snapshot_seconds", "Time spent taking and writing model snapshots.", value=s.seconds),
            GaugeMetricFamily("trt_agent_snapshot_bytes", "Size of the last model snapshot.", value=s.last_bytes),
        ]  # fmt: skip
