"""The daemon's engine models: written by the pipeline, read by scrapes and the rule monitor.

The pipeline (the tailer's or the profiler's thread) folds batches into the models under
``lock``; parsing happens before, outside it. Readers never copy or judge the models under the
lock: :meth:`EngineStore.view` takes, in O(1), the models and counts as they stand, and the
store promises never to change those objects again (copy-on-write). The writer that next folds
an event into an engine a view holds first copies that one model (one ``pickle`` round trip,
once per engine and per view), then changes the copy; the models dict and the counts are copied
the same way before they next change. So a scrape formats, and the rule monitor judges, one
consistent moment of every model without holding anything the tailer waits for.

Whoever changes the models, then, does it under ``lock`` and through the store: ``fold``,
``expire``, ``restore``, or ``writable(engine)`` (the model to change in place, copied first
when a view holds it) and ``drop_engine(engine)``; never ``store.models[...]`` directly, and
never ``del store.models[...]``.
"""

from __future__ import annotations

import pickle
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trt_agent.model.engine import DEFAULT_LATENCY_BUCKETS, EngineModel, fold
from trt_agent.vocab.events import Event


@dataclass(frozen=True)
class StoreView:
    """The models and event counts at one moment: nobody changes these objects any more (read
    them, never write them)."""

    models: Mapping[str, EngineModel]
    event_counts: Mapping[tuple[str, str, str], int]
    engines_dropped: int
    layers_dropped: int
    revision: int


def clone(model: EngineModel) -> EngineModel:
    """A deep copy of ``model`` (pickle: 3-4x faster than copy.deepcopy on a model with many
    layer timings; the model snapshot pickles the same objects), sharing what the store shares
    between its models (``dropped``, the store's ``entries_dropped``)."""
    copy: EngineModel = pickle.loads(pickle.dumps(model, pickle.HIGHEST_PROTOCOL))
    copy.dropped = model.dropped
    return copy


class EngineStore:
    """One model per engine, the events counted per (engine, type, severity), and the bounds
    that keep both from growing: ``series_ttl`` and ``max_engines``."""

    def __init__(
        self,
        *,
        latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS,
        max_tracked_layers: int = 5000,
        series_ttl: float = 0.0,
        max_engines: int = 1 << 31,
        max_names: int = 0,
    ) -> None:
        self.lock = threading.Lock()
        self.models: dict[str, EngineModel] = {}
        self.event_counts: Counter[tuple[str, str, str]] = Counter()
        self.latency_buckets = latency_buckets
        self.max_tracked_layers = max_tracked_layers
        self.series_ttl = series_ttl
        self.max_engines = max_engines
        self.max_names = max_names  # per-name tables of each model (0: no cap)
        self.entries_dropped: Counter[str] = Counter()  # every model's ``dropped``, shared
        self.engines_dropped = 0
        self.layers_dropped = 0
        # Bumped at every change of the models (under ``lock``): readers that cache what they
        # computed from the models (the rule monitor, the collector) know when to compute again.
        self.revision = 0
        # Copy-on-write: ``epoch`` is bumped by each view; an object is the writer's own (it may
        # change it in place) only if it was made or copied in the current epoch.
        self._epoch = 0
        self._viewed_revision = -1
        self._owned: dict[str, int] = {}  # engine -> epoch its model was made or copied in
        self._models_epoch = 0  # epoch ``models`` (the dict) was copied in
        self._counts_epoch = 0  # the same for ``event_counts``
        self.clones = 0  # models copied because a view held them (a figure for the benches)
        self.names_closed = False  # memory pressure: no model keeps a new name (close_names)

    def _new_model(self, engine: str) -> EngineModel:
        model = EngineModel(
            engine, latency_buckets=self.latency_buckets, max_tracked_layers=self.max_tracked_layers
        )
        model.max_names = self.max_names
        model.names_closed = self.names_closed
        model.dropped = self.entries_dropped
        return model

    def view(self) -> StoreView:
        """The models and counts as they stand, in O(1) under ``lock``: what a scrape or the rule
        monitor reads, outside the lock, while the pipeline goes on folding."""
        with self.lock:
            if self.revision != self._viewed_revision:
                # Nothing changed since the last view: what it froze is still what stands.
                self._epoch += 1
                self._viewed_revision = self.revision
            return StoreView(
                self.models, self.event_counts, self.engines_dropped, self.layers_dropped, self.revision
            )

    # -- copy-on-write (under ``lock``) ----------------------------------------------------------

    def _own_models(self) -> dict[str, EngineModel]:
        if self._models_epoch != self._epoch:
            self.models = dict(self.models)
            self._models_epoch = self._epoch
        return self.models

    def _own_counts(self) -> Counter[tuple[str, str, str]]:
        if self._counts_epoch != self._epoch:
            self.event_counts = Counter(self.event_counts)
            self._counts_epoch = self._epoch
        return self.event_counts

    def writable(self, engine: str) -> EngineModel | None:
        """The model of ``engine`` to change in place (under ``lock``; the revision bumped by the
        caller): copied first if a view may hold it. None for an engine without a model."""
        model = self._own(engine)
        if model is not None:
            self._owned[engine] = self._epoch
        return model

    def close_names(self, closed: bool) -> None:
        """Under memory pressure (``closed``) no model keeps a new name, also the models of
        engines seen from now on; the models whose flag changes are copied first if a view may
        hold them (not the others: the memory check asks once a second)."""
        with self.lock:
            self.names_closed = closed
            changed = [e for e, model in self.models.items() if model.names_closed != closed]
            for engine in changed:
                model = self.writable(engine)
                assert model is not None
                model.names_closed = closed
            if changed:
                self.revision += 1  # the next view freezes these models again

    def drop_engine(self, engine: str) -> None:
        """Forget ``engine``'s model and counts (under ``lock``; counted by the caller)."""
        models, counts = self._own_models(), self._own_counts()
        models.pop(engine, None)
        self._owned.pop(engine, None)
        for key in [k for k in counts if k[0] == engine]:
            del counts[key]

    def _own(self, engine: str) -> EngineModel | None:
        """The model of ``engine``, copied first if a view may hold it; None for a new engine."""
        model = self.models.get(engine)
        if model is not None and self._owned.get(engine) != self._epoch:
            model = self._own_models()[engine] = clone(model)
            self._owned[engine] = self._epoch
            self.clones += 1
        return model

    # -- writing ---------------------------------------------------------------------------------

    def fold(self, events: list[Event], *, count: bool) -> None:
        """Apply ``events`` to the models; ``count`` them in the event counts (not for events
        replayed after a restart: an alert on new error lines must not fire for old ones)."""
        with self.lock:
            epoch, owned = self._epoch, self._owned
            engines = {e["engine"] for e in events}
            new = False
            for engine in engines:
                if owned.get(engine) != epoch and self._own(engine) is None:
                    new = True
            fold(self._own_models() if new else self.models, events, self._new_model)
            for engine in engines:
                owned[engine] = epoch  # made in this epoch, or copied above
            if count and events:
                self._own_counts().update((e["engine"], e["type"], e["severity"]) for e in events)
            self.revision += 1

    def restore(
        self, models: dict[str, EngineModel], event_counts: Counter[tuple[str, str, str]], now: float
    ) -> None:
        """Take the models and counts of a snapshot (an earlier run's): their clocks restart at
        ``now`` (time.monotonic() of another process means nothing here), so ``series_ttl``
        counts from the restart; the limits are this run's."""
        with self.lock:
            for model in models.values():
                model.last_update = now
                model.max_tracked_layers = self.max_tracked_layers
                model.max_names = self.max_names
                model.names_closed = self.names_closed
            # the snapshot's models share one counter (pickled once): count it once
            shared = {id(c): c for m in models.values() if (c := getattr(m, "dropped", None)) is not None}
            for counter in shared.values():
                self.entries_dropped.update(counter)
            for model in models.values():
                model.dropped = self.entries_dropped
                for timing in (*model.layer_times.values(), model.other_layer_time):
                    timing.last_seen = now
            self.models = dict(models)
            self.event_counts = Counter(event_counts)
            self._models_epoch = self._counts_epoch = self._epoch
            self._owned = dict.fromkeys(self.models, self._epoch)
            self.revision += 1

    def expire(self, active_engines: Iterable[str], now: float) -> set[str]:
        """Drop layer series and engines gone for ``series_ttl``, then the least recently updated
        engines beyond ``max_engines``. Returns the engines whose models changed without an event
        (layers dropped): what was judged of them before is out of date."""
        ttl, cap, active = self.series_ttl, self.max_engines, set(active_engines)
        changed: set[str] = set()
        with self.lock:
            gone: list[str] = []
            if ttl > 0:
                for engine in [e for e, model in self.models.items() if _has_stale_layers(model, ttl, now)]:
                    model = self._own(engine)
                    assert model is not None
                    dropped = model.drop_stale_layers(ttl, now)
                    if dropped:  # not an event, so last_update stays
                        self.layers_dropped += dropped
                        changed.add(engine)
                gone = [
                    engine
                    for engine, model in self.models.items()
                    if engine not in active and now - model.last_update > ttl
                ]
            by_age = sorted(self.models, key=lambda engine: self.models[engine].last_update)
            gone += [e for e in by_age if e not in gone][: max(0, len(self.models) - len(gone) - cap)]
            for engine in gone:
                self.drop_engine(engine)
            self.engines_dropped += len(gone)
            if changed or gone:
                self.revision += 1
        return changed


def _has_stale_layers(model: EngineModel, ttl: float, now: float) -> bool:
    """Whether ``model.drop_stale_layers(ttl, now)`` would drop something (asked first, so a
    model a view holds is copied only when it is really changed)."""
    times = model.layer_times.values()
    newest = max((t.last_seen for t in times), default=0.0)
    return now - newest <= ttl and any(newest - t.last_seen > ttl for t in times)
