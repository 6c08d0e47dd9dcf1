"""The daemon's middle: every batch of events a source produces goes through the same small
steps, in order, as structlog's processors do:

    shed -> learn names -> fold models (and count) -> note positions -> deliver -> announce changes

A step takes a :class:`Batch` and returns it (changed or not). Each step is one component's
job and that component owns its state and its self-metrics: the shedder its shed counts, the
engine store its models, the event stream its queue. The sources only see :class:`Pipeline`'s
three doors: ``ingest`` (lines read from files, with the checkpoints they end at), ``observe``
(the profiler host's timings and logger messages) and ``replay`` (lines re-read after a restart
to rebuild the models: neither counted nor written again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trt_agent.model.store import EngineStore
from trt_agent.vocab.events import Event

Origin = Literal["file", "profiler", "replay", "redeliver"]


@dataclass
class Batch:
    """Events of one read (a chunk of a file, a profiler drain) on their way through the steps.

    ``events`` are what the models learn from; ``written`` what goes to the event stream (all of
    them for files, a sample for the profiler, none for a replay); ``ack`` the source's token,
    handed back to it once the batch is written (the tailer's: the checkpoints of the lines the
    batch ends at; for a replay, where the models now stand); ``count``: counted in
    ``trt_engine_log_events_total``."""

    events: list[Event]
    written: list[Event]
    origin: Origin
    ack: Any = None
    count: bool = True


Step = Callable[[Batch], Batch]
# What trt_agent_model_entries_dropped_total counts, each exported from the start at 0.
DROP_KINDS = (
    "layer",
    "source_layer",
    "removed",
    "quantization",
    "calibration",
    "plugin",
    "layer_time",
    "fact",
    "file",
)


class Delivery(Protocol):
    """Where batches are written (the JSONL event stream)."""

    failing: bool

    def offer(self, events: list[Event], ack: Any = None) -> None: ...

    def would_block(self) -> bool: ...


class NameShrinker(Protocol):
    """What the memory relief asks of the redactor: to forget learned names."""

    def shrink(self, keep: float = 0.5, floor: int = 1000) -> int: ...

    def relax(self) -> None: ...


class NameLearner(Protocol):
    """What the redactor offers the pipeline."""

    def learn_events(self, events: list[Event]) -> None: ...


class Shedder:
    """Over ``agent.memory_limit_bytes`` the agent stops growing, cheapest loss first:

    1. it sheds the verbose events of files (the bulk of a verbose build log): warnings, errors
       and info facts still go through;
    2. the engine models keep no new name (``EngineModel.names_closed``): the facts of new layers
       are dropped, counted in ``trt_agent_model_entries_dropped_total``;
    3. while resident memory still grows, at each check one more engine model, the least
       recently updated first, forgets its per-name detail (``EngineModel.shed_detail``: its
       coverage figures become n/a); once none has any left, the least recently updated engine
       is dropped whole (never the last one); once only one is left, the redactor forgets the
       least recently seen half of its learned names (``Redactor.shrink``: free text may then
       carry a forgotten name in clear until a field names it again). Counted in
       ``trt_agent_memory_relief_total``.

    The daemon's memory check (once a second) calls ``check`` with the resident set size; back
    under 90 % of the limit, events and new names are taken again (what was forgotten stays
    forgotten)."""

    def __init__(
        self,
        store: EngineStore | None = None,
        keep: int = 100,
        names: NameShrinker | None = None,
        changed: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.shedding = False
        self.shed: Counter[str] = Counter()
        self.store = store
        self.keep = keep  # layer times and calibration ranges a shed model keeps (its top series)
        self.names = names  # the redactor, whose learned names are the last thing given up
        # told the engines whose figures a step changed without an event (the rule monitor's
        # invalidate: a verdict judged before the step must not stay)
        self.changed = changed
        # "detail": models shed, "engine": models dropped, "names": learned names halved
        self.relief: Counter[str] = Counter()
        self._relieved_at = 0  # the RSS at the last relief step: relieve again only above it

    def check(self, rss: int, limit: int) -> str | None:
        """Judge ``rss`` against ``limit`` (0: none), turning ``shedding`` on or off. Returns
        the relief step taken, for the agent's log (``"detail ENGINE"``, ``"engine ENGINE"``),
        or None. A step is taken when RSS is over the limit and grew by 1/64 of it since the
        last step: memory the allocator keeps after a step is not a reason to forget more."""
        if not limit:
            return None
        if rss > limit:
            self.shedding = True
            self._close_names(True)
            if rss > self._relieved_at + limit // 64:
                self._relieved_at = rss
                return self.relieve()
        elif self.shedding and rss < 0.9 * limit:
            self.shedding = False
            self._relieved_at = 0
            self._close_names(False)
            if self.names is not None:
                self.names.relax()
        return None

    def _close_names(self, closed: bool) -> None:
        if self.store is not None:
            self.store.close_names(closed)

    def relieve(self) -> str | None:
        """One relief step (3. above); None when the models have nothing left to give. The models
        change through the store (``writable``, ``drop_engine``): a scrape in progress reads the
        models of its view, which this never changes."""
        store = self.store
        if store is None:
            return None
        shed: str | None = None
        with store.lock:
            by_age = sorted(store.models.items(), key=lambda item: item[1].last_update)
            for engine, model in by_age:
                if model.detail_entries(self.keep):
                    writable = store.writable(engine)
                    assert writable is not None
                    writable.shed_detail(self.keep)
                    self.relief["detail"] += 1
                    store.revision += 1
                    shed = engine
                    break
            if shed is None and len(by_age) > 1:
                dropped = by_age[0][0]
                store.drop_engine(dropped)
                store.engines_dropped += 1
                self.relief["engine"] += 1
                store.revision += 1
                return f"engine {dropped}"
        if shed is not None:
            if self.changed is not None:  # outside the store's lock: the monitor takes its own
                self.changed([shed])
            return f"detail {shed}"
        forgotten = self.names.shrink() if self.names is not None else 0
        if forgotten:
            self.relief["names"] += 1
            return f"names {forgotten}"
        return None

    def __call__(self, batch: Batch) -> Batch:
        if not self.shedding or batch.origin != "file" or not batch.events:
            return batch
        kept = [e for e in batch.events if e["severity"] != "verbose"]
        if len(kept) == len(batch.events):
            return batch
        self.shed["verbose"] += len(batch.events) - len(kept)
        return replace(batch, events=kept, written=kept)


class ShedderCollector(Collector):
    """The shedder's own state: ``trt_agent_memory_shedding``, ``trt_agent_shed_events_total``."""

    def __init__(self, shedder: Shedder) -> None:
        self.shedder = shedder

    def collect(self) -> Iterator[Metric]:
        shed = CounterMetricFamily("trt_agent_shed_events", "Events dropped to stay under agent.memory_limit_bytes, by severity.", labels=["severity"])  # fmt: skip
        shed.add_metric(["verbose"], self.shedder.shed["verbose"])
        yield GaugeMetricFamily("trt_agent_memory_shedding", "1 while RSS is over agent.memory_limit_bytes and verbose events are shed.", value=1 if self.shedder.shedding else 0)  # fmt: skip
        yield shed
        relief = CounterMetricFamily("trt_agent_memory_relief", "Steps taken to stay under agent.memory_limit_bytes: an engine model's per-name detail forgotten (detail), an engine model dropped (engine), the redactor's learned names halved (names).", labels=["action"])  # fmt: skip
        for action in ("detail", "engine", "names"):
            relief.add_metric([action], self.shedder.relief[action])
        yield relief
        store = self.shedder.store
        if store is not None:
            dropped = CounterMetricFamily("trt_agent_model_entries_dropped", "Entries the engine models did not keep: names past metrics.max_layer_names or taken under memory pressure, layer times folded into __other__, facts past a small table's bound (fact, file), by kind.", labels=["kind"])  # fmt: skip
            counts = _copy(store.entries_dropped)
            for kind in sorted(set(DROP_KINDS) | set(counts)):
                dropped.add_metric([kind], counts.get(kind, 0))
            yield dropped


def _copy(counter: Counter[str]) -> dict[str, int]:
    """A copy of a counter the tailer thread may add a key to meanwhile (no lock taken)."""
    while True:
        try:
            return dict(counter)
        except RuntimeError:  # changed size during the copy: rare, and a new key only
            continue


def learn_names(redactor: NameLearner | None) -> Step:
    """Whatever the models hold, the redactor knows: a rule message or a log line naming a layer
    is scrubbed even before the event writer (or, for events replayed after a restart or sampled
    out by the profiler, never) sees the event."""

    def step(batch: Batch) -> Batch:
        if redactor is not None and batch.events:
            redactor.learn_events(batch.events)
        return batch

    return step


def fold_models(store: EngineStore) -> Step:
    def step(batch: Batch) -> Batch:
        if batch.events:
            store.fold(batch.events, count=batch.count)
        return batch

    return step


def deliver(delivery: Delivery) -> Step:
    """Files always offer their batch, empty or not: its token is acknowledged with it."""

    def step(batch: Batch) -> Batch:
        if batch.written or batch.origin in ("file", "redeliver"):
            delivery.offer(batch.written, batch.ack)
        return batch

    return step


def announce_changes(callback: Callable[[], None]) -> Step:
    """Tell whoever judges the models (the daemon's rule monitor) that they changed."""

    def step(batch: Batch) -> Batch:
        if batch.events:
            callback()
        return batch

    return step


class Pipeline:
    """The steps, run in order on every batch; the doors the sources use."""

    def __init__(self, steps: Sequence[Step], delivery: Delivery) -> None:
        self.steps = tuple(steps)
        self.delivery = delivery

    def run(self, batch: Batch) -> None:
        for step in self.steps:
            batch = step(batch)

    def ingest(self, events: list[Event], ack: Any) -> None:
        """Lines read from a file, with the token to hand back once they are written."""
        self.run(Batch(events, events, "file", ack))

    def observe(self, events: list[Event], written: list[Event], count: bool) -> None:
        """The profiler host's sink: fold ``events`` into the models, write ``written`` (a sample
        of them, or all); ``count`` them in trt_engine_log_events_total (logger lines)."""
        self.run(Batch(events, written, "profiler", count=count))

    def replay(self, events: list[Event], ack: Any = None, *, count: bool = False) -> None:
        """Lines re-read after a restart to rebuild the models, not written again; ``ack``: the
        checkpoints the models now stand at. Counted only when the counts restored with the
        models lack them (else an alert on increase(trt_engine_log_events_total{severity="error"})
        would fire for old lines)."""
        self.run(Batch(events, [], "replay", ack, count=count))

    def redeliver(self, events: list[Event], ack: Any) -> None:
        """Lines the restored models hold already but whose events were not written before the
        agent stopped: written (and acknowledged with ``ack``), not folded or counted again."""
        self.run(Batch([], events, "redeliver", ack))

    def blocked(self) -> bool:
        """Event writes fail (disk full, read-only): the tailer stops reading until they work."""
        return self.delivery.failing

    def full(self) -> bool:
        """The event queue is full: a file's next batch would wait for the writer."""
        return self.delivery.would_block()
