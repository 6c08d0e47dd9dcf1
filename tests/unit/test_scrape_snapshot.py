"""Scrapes never stall ingestion (issue 19, point 3): the engine collector formats from a view
of the store (copy-on-write), never under the store's lock, and what it serves is byte for byte
what prometheus-client's own encoders write for the same families."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from conftest import ROOT
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from trt_agent.config import MetricsConfig
from trt_agent.model.store import EngineStore
from trt_agent.parse import ParseStats
from trt_agent.parse.dispatch import parse_path
from trt_agent.sinks import prometheus
from trt_agent.sinks.prometheus import EngineCollector, exposition
from trt_agent.vocab.events import Event, make_event

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def _timings(engine: str, layers: int, ms: float = 0.05) -> list[Event]:
    return [
        make_event(
            "layer_time",
            None,
            "info",
            engine,
            {"kind": "profiler"},
            None,
            {"layer": f"/m/l{i}/Conv", "ms": ms},
        )
        for i in range(layers)
    ]


def _store(engines: int = 3, layers: int = 20) -> EngineStore:
    store = EngineStore()
    corpus = ROOT / "tests" / "data" / "corpus"
    for index, name in enumerate(
        (
            "03_trtexec-verbose-build-alexnet-trt10.4-excerpts.log",
            "01_trtexec-exportProfile-alexnet-fp16.json",
        )
    ):
        store.fold(list(parse_path(corpus / name, f"built-{index}", ParseStats())), count=True)
    for e in range(engines):
        store.fold(_timings(f"e{e}", layers), count=True)
    return store


def _registry(store: EngineStore, **settings: Any) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(EngineCollector(store, MetricsConfig(**settings)))
    return registry


class _WatchedLock:
    """The store's lock, telling who holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holder: int | None = None

    def __enter__(self) -> bool:
        self._lock.acquire()
        self.holder = threading.get_ident()
        return True

    def __exit__(self, *exc: object) -> None:
        self.holder = None
        self._lock.release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.holder = threading.get_ident()
        return got

    def release(self) -> None:
        self.holder = None
        self._lock.release()


def _calls_under_lock(store: EngineStore, registry: CollectorRegistry) -> int:
    """Python function calls the scraping thread makes while it holds the store's lock."""
    lock = _WatchedLock()
    store.lock = lock  # type: ignore[assignment]
    me = threading.get_ident()
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call" and lock.holder == me:
            calls += 1

    sys.setprofile(profile)
    try:
        exposition(registry)
    finally:
        sys.setprofile(None)
    return calls


def test_a_scrape_holds_the_store_lock_for_a_constant_number_of_calls() -> None:
    """Today's collector built every family under the lock: thousands of calls, growing with the
    models. A view is O(1), whatever the models hold."""
    small, large = _store(engines=1, layers=2), _store(engines=12, layers=100)
    under_small = _calls_under_lock(small, _registry(small))
    under_large = _calls_under_lock(large, _registry(large))
    assert under_large == under_small
    assert under_large <= 10


def test_the_tailer_folds_while_a_scrape_is_formatting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape stopped in the middle of computing the families must not keep ``fold`` waiting;
    and it serves the moment it started at, not a half-folded model."""
    store = _store()
    registry = _registry(store)
    inside, go_on = threading.Event(), threading.Event()
    real = prometheus.layer_histograms

    def slow(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert go_on.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(prometheus, "layer_histograms", slow)
    bodies: list[bytes] = []
    scrape = threading.Thread(target=lambda: bodies.append(exposition(registry)[0]))
    scrape.start()
    assert inside.wait(10)
    fold = threading.Thread(target=store.fold, args=(_timings("e0", 20, ms=900.0),), kwargs={"count": True})
    fold.start()
    fold.join(5)
    folded_meanwhile = not fold.is_alive()
    go_on.set()
    scrape.join(10)
    fold.join(10)
    assert folded_meanwhile, "fold waited for a scrape that was formatting"
    monkeypatch.setattr(prometheus, "layer_histograms", real)
    before, after = bodies[0].decode(), exposition(registry)[0].decode()
    slow_bucket = 'trt_engine_layer_latency_seconds_bucket{engine="e0",layer="/m/l0/Conv",le="+Inf"} '
    assert slow_bucket + "1.0" in before  # the moment the scrape began
    assert slow_bucket + "2.0" in after


@pytest.mark.parametrize("deprecated_names", [True, False])
@pytest.mark.parametrize("accept", ["", OPENMETRICS])
def test_exposition_is_byte_for_byte_prometheus_clients(deprecated_names: bool, accept: str) -> None:
    store = _store()
    registry = _registry(store, deprecated_names=deprecated_names)
    encode = generate_openmetrics if accept else generate_latest

    def same() -> None:
        body, content_type = exposition(registry, accept)
        assert body == encode(registry)
        assert content_type.startswith("application/openmetrics-text" if accept else "text/plain")

    same()
    same()  # from the cache
    store.fold(_timings("e1", 25, ms=3.0), count=True)  # one engine changes, a layer is new
    same()
    store.expire([], 0.0)
    store.fold(_timings("e9", 2), count=True)  # a new engine
    same()


def test_views_never_change() -> None:
    """What a view holds stays as it was, whatever the store does next."""
    store = EngineStore(series_ttl=10.0, max_engines=2)
    store.fold(_timings("a", 3) + _timings("b", 3), count=True)
    view = store.view()
    models, counts = dict(view.models), dict(view.event_counts)
    timing = {engine: dict(m.layer_times) for engine, m in view.models.items()}
    sums = {engine: m.layer_times["/m/l0/Conv"].sum_ms for engine, m in view.models.items()}
    store.fold(_timings("a", 3) + _timings("c", 1), count=True)  # c is new; b is dropped
    store.expire(["a", "b", "c"], 0.0)
    assert dict(view.models) == models and models.keys() == {"a", "b"}
    assert dict(view.event_counts) == counts
    assert {e: dict(m.layer_times) for e, m in view.models.items()} == timing
    assert {e: m.layer_times["/m/l0/Conv"].sum_ms for e, m in view.models.items()} == sums
    assert set(store.models) == {"a", "c"}
    assert store.models["a"].layer_times["/m/l0/Conv"].sum_ms == 2 * sums["a"]
    assert store.models["a"].dropped is store.entries_dropped  # a copy shares the store's counter
    # a second fold in the same epoch changes the copy in place: no copy per batch
    clones = store.clones
    store.fold(_timings("a", 3), count=True)
    assert store.clones == clones


def _families(body: bytes) -> Iterator[str]:
    return (line for line in body.decode().splitlines() if line.startswith("# TYPE"))


def test_cached_families_come_in_the_order_they_always_did(tmp_path: Path) -> None:
    store = _store()
    registry = _registry(store)
    assert list(_families(exposition(registry)[0])) == list(_families(generate_latest(registry)))
