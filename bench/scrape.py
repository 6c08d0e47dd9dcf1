"""Scrape latency at ~20,000 series: trt-agent's engine collector against prometheus-client's
stock ``Histogram`` holding the same observations, in the same run.

Run from the repository root::

    .venv/bin/python bench/scrape.py [--engines 12] [--layers 100] [--scrapes 200]

Both registries hold ``--engines`` x ``--layers`` per-layer latency histograms with trt-agent's
default buckets (15 bounds: 18 series per layer, so 12 x 100 = 21,600 series), filled with the
same observations. Each is then scraped ``--scrapes`` times, alternating:

* in-process: ``generate_latest(registry)`` (collection + text exposition);
* over HTTP: ``GET /metrics`` with ``http.client`` against trt-agent's ``MetricsServer`` and
  against prometheus-client's ``start_http_server``, both in this process.

Prints median and p99 per row and the ratio of medians (trt-agent / stock).
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram, generate_latest, start_http_server

from trt_agent.config import MetricsConfig
from trt_agent.model.store import EngineStore
from trt_agent.sinks.prometheus import EngineCollector
from trt_agent.vocab.events import make_event
from trt_agent.web.config import WebConfig
from trt_agent.web.server import MetricsServer


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def http_get(port: int) -> Callable[[], bytes]:
    def get() -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        conn.close()
        return body

    return get


def series(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", type=int, default=12)
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--observations", type=int, default=50, help="per layer")
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()

    settings = MetricsConfig(max_layer_series=args.layers, deprecated_names=False)  # as a stock Histogram
    store = EngineStore(latency_buckets=settings.latency_buckets)
    stock_registry = CollectorRegistry()
    stock = Histogram(
        "trt_engine_layer_latency_seconds",
        "Per-layer latency.",
        ["engine", "layer"],
        buckets=settings.latency_buckets,
        registry=stock_registry,
    )
    rng = random.Random(1)
    events = []
    for e in range(args.engines):
        engine = f"engine-{e:02d}"
        for layer_index in range(args.layers):
            layer = f"/model/block_{layer_index // 10}/layer_{layer_index}/Conv + Relu"
            for _ in range(args.observations):
                ms = rng.lognormvariate(-3.0, 1.2)
                events.append(
                    make_event(
                        "layer_time",
                        None,
                        "info",
                        engine,
                        {"kind": "profiler"},
                        None,
                        {"layer": layer, "ms": ms},
                    )
                )
                stock.labels(engine, layer).observe(ms / 1000.0)

    store.fold(events, count=False)  # latency only, as on the stock side
    ours_registry = CollectorRegistry()
    ours_registry.register(EngineCollector(store, settings))

    ours_text, stock_text = generate_latest(ours_registry), generate_latest(stock_registry)
    print(
        f"{args.engines} engines x {args.layers} layers, {args.observations} observations each; "
        f"series: trt-agent {series(ours_text):,}, stock Histogram {series(stock_text):,}"
    )

    server = MetricsServer(("127.0.0.1", 0), ours_registry, WebConfig(), lambda: True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stock_server, _ = start_http_server(0, addr="127.0.0.1", registry=stock_registry)
    rows: dict[str, list[float]] = {}
    plans = [
        ("generate_latest, trt-agent EngineCollector", lambda: generate_latest(ours_registry)),
        ("generate_latest, stock Histogram", lambda: generate_latest(stock_registry)),
        ("GET /metrics, trt-agent MetricsServer", http_get(server.server_address[1])),
        ("GET /metrics, prometheus-client start_http_server", http_get(stock_server.server_address[1])),
    ]
    for _ in range(args.scrapes // 10):  # alternate in blocks of 10, so drift hits both alike
        for name, fn in plans:
            rows.setdefault(name, []).extend(timed(fn, 10))
    print(f"\n{'scrape':<52} {'median ms':>10} {'p99 ms':>8}")
    for name, values in rows.items():
        print(f"{name:<52} {1000 * statistics.median(values):>10.1f} {1000 * percentile(values, 0.99):>8.1f}")
    names = list(rows)
    for ours, theirs in ((names[0], names[1]), (names[2], names[3])):
        ratio = statistics.median(rows[ours]) / statistics.median(rows[theirs])
        print(f"ratio of medians, {ours.split(',')[0]}: trt-agent / stock = {ratio:.2f}x")
    server.shutdown()
    stock_server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
