"""The daemon's engine models: written by the pipeline, read by scrapes and the rule monitor.

Readers take ``lock`` for as long as they copy or judge a consistent moment of the models; the
pipeline takes it only to fold a batch (parsing happens before, outside it).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from trt_agent.model.engine import DEFAULT_LATENCY_BUCKETS, EngineModel, fold
from trt_agent.vocab.events import Event


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
        self.engines_dropped = 0
        self.max_names = max_names  # per-name tables of each model (EngineModel.max_names)
        # Entries the models did not keep (caps, memory pressure), by kind: one Counter all the
        # models share, so a dropped engine's count stays (trt_agent_model_entries_dropped_total).
        self.entries_dropped: Counter[str] = Counter()
        self.layers_dropped = 0
        # Bumped at every change of the models (under ``lock``): readers that cache what they
        # computed from the models (the rule monitor) know when to compute again.
        self.revision = 0

    def _new_model(self, engine: str) -> EngineModel:
        return EngineModel(
            engine,
            latency_buckets=self.latency_buckets,
            max_tracked_layers=self.max_tracked_layers,
            max_names=self.max_names,
            dropped=self.entries_dropped,
        )

    def fold(self, events: list[Event], *, count: bool) -> None:
        """Apply ``events`` to the models; ``count`` them in the event counts (not for events
        replayed after a restart: an alert on new error lines must not fire for old ones)."""
        with self.lock:
            fold(self.models, events, self._new_model)
            if count:
                self.event_counts.update((e["engine"], e["type"], e["severity"]) for e in events)
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
                model.dropped = self.entries_dropped
                for timing in (*model.layer_times.values(), model.other_layer_time):
                    timing.last_seen = now
            self.models = dict(models)
            self.event_counts = Counter(event_counts)
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
                for engine, model in self.models.items():
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
                del self.models[engine]
                for key in [k for k in self.event_counts if k[0] == engine]:
                    del self.event_counts[key]
            self.engines_dropped += len(gone)
            if changed or gone:
                self.revision += 1
        return changed
