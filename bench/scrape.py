"""Scrape latency at ~20,000 series: trt-agent's engine collector against prometheus-client's
stock ``Histogram`` holding the same observations, in the same run.

Run from the repository root::

    .venv/bin/python bench/scrape.py [--engines 12] [--layers 100] [--scrapes 200] [--rounds 3]

Both registries hold ``--engines`` x ``--layers`` per-layer latency histograms with trt-agent's
default buckets (15 bounds: 18 series per layer, so 12 x 100 = 21,600 series), filled with the
same observations. Each is then scraped ``--scrapes`` times, alternating:

* in-process: ``generate_latest(registry)`` (collection + text exposition);
* over HTTP: ``GET /metrics`` with ``http.client`` against trt-agent's ``MetricsServer`` and
  against prometheus-client's ``start_http_server``, both in this process.

Prints median and p99 per row and the ratio of medians (trt-agent / stock). trt-agent's rows
are what its ``/metrics`` serves (``exposition``: each engine formatted once per model object);
"every engine changed" folds one observation into every engine before each scrape, so every
engine is computed and formatted again (the worst case). The "aliases on" rows scrape the same
store with ``metrics.deprecated_names`` on (the default: the renamed families served under their
old names too, 43 k series), no stock counterpart.

Then, unless ``--no-latency``: line-to-event latency under scraping. A real ``trt-agent run``
follows ``--engines`` profile JSON files of ``--layers`` layers each (the same ~21,600 latency
series) and one log a writer appends a probe line to every ``--interval`` s (a TensorRT
warning, timed from its write until its event is read from the agent's event stream, stdout),
with ``--load`` background verbose lines/s into the same log. Three phases in the same run:
idle (no scrape), one ``GET /metrics`` a second, and a tight scrape loop (the next scrape as
soon as one is answered); each with ``metrics.deprecated_names`` on (the default: aliases
double the latency series) and off. The idle and 1 scrape/s phases run in blocks of ``--probes``
probes (~6 s at the defaults) taking turns ``--rounds`` times, so that whatever else loads the
machine meanwhile weighs on both alike, then one tight-loop block. Prints, per phase, the pooled
p50/p99/max (at the defaults 6,000 probes and ~70 scrapes: the p99 is the 60th worst probe, not
decided by one or two scrapes) and the ratio of its p99 to the idle p99; then the median and
range of the 1 scrape/s block's p99 over the idle block's just before it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest, start_http_server
from soak import agent_metrics_url

from trt_agent.config import MetricsConfig
from trt_agent.model.store import EngineStore
from trt_agent.sinks.prometheus import EngineCollector, exposition
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


def http_get(port: int, host: str = "127.0.0.1") -> Callable[[], bytes]:
    def get() -> bytes:
        conn = http.client.HTTPConnection(host, port, timeout=30)
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
    parser.add_argument("--probes", type=int, default=500, help="probe lines per latency block")
    parser.add_argument(
        "--rounds", type=int, default=12, help="idle and 1 scrape/s blocks, taking turns, per setting"
    )
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between probe lines")
    parser.add_argument("--load", type=int, default=5000, help="background verbose lines per second")
    parser.add_argument("--no-latency", action="store_true", help="skip the line-to-event phases")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the comparison with the stock Histogram"
    )
    args = parser.parse_args()
    if not args.no_compare:
        compare(args)
    if not args.no_latency:
        latency(args)
    return 0


def compare(args: argparse.Namespace) -> None:

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
    engines = sorted(store.models)
    touch = [
        make_event("layer_time", None, "info", engine, {"kind": "profiler"}, None, {"layer": "/model/block_0/layer_0/Conv + Relu", "ms": 0.05})
        for engine in engines
    ]  # fmt: skip

    def changed() -> bytes:
        store.fold(touch, count=False)
        return exposition(ours_registry)[0]

    aliased = CollectorRegistry()  # the default config: the deprecated aliases served too
    aliased.register(EngineCollector(store, replace(settings, deprecated_names=True)))
    server_aliased = MetricsServer(("127.0.0.1", 0), aliased, WebConfig(), lambda: True)
    threading.Thread(target=server_aliased.serve_forever, daemon=True).start()

    def changed_aliased() -> bytes:
        store.fold(touch, count=False)
        return exposition(aliased)[0]

    plans = [
        ("exposition, trt-agent EngineCollector", lambda: exposition(ours_registry)[0]),
        ("generate_latest, stock Histogram", lambda: generate_latest(stock_registry)),
        ("GET /metrics, trt-agent MetricsServer", http_get(server.server_address[1])),
        ("GET /metrics, prometheus-client start_http_server", http_get(stock_server.server_address[1])),
        ("exposition, every engine changed", changed),
        ("exposition, aliases on", lambda: exposition(aliased)[0]),
        ("GET /metrics, aliases on", http_get(server_aliased.server_address[1])),
        ("exposition, aliases on, every engine changed", changed_aliased),
    ]
    for _ in range(args.scrapes // 10):  # alternate in blocks of 10, so drift hits both alike
        for name, fn in plans:
            rows.setdefault(name, []).extend(timed(fn, 10))
    print(f"\n{'scrape':<52} {'median ms':>10} {'p99 ms':>8}")
    for name, values in rows.items():
        print(f"{name:<52} {1000 * statistics.median(values):>10.1f} {1000 * percentile(values, 0.99):>8.1f}")
    names = list(rows)
    for ours, theirs in ((names[0], names[1]), (names[2], names[3]), (names[4], names[1])):
        ratio = statistics.median(rows[ours]) / statistics.median(rows[theirs])
        print(f"ratio of medians, {ours}: trt-agent / stock = {ratio:.2f}x")
    server.shutdown()
    server_aliased.shutdown()
    stock_server.shutdown()


REPO = Path(__file__).resolve().parent.parent
LOAD_SOURCE = REPO / "tests" / "data" / "extra" / "45_polygraphy-trt10.16.2-verbose-fp16-build-full.log"
PROBE = "[11/26/2026-10:00:00] [TRT] [W] scrape probe {n:08d}\n"
_PROBE = re.compile(rb"scrape probe (\d{8})")


def latency(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="trt-agent-scrape-"))
    rng = random.Random(1)
    logs = []
    for e in range(args.engines):
        profile = work / f"profile-{e:02d}.json"
        records = [{"count": 1000}] + [
            {"name": f"/model/block_{i // 10}/layer_{i}/Conv + Relu", "timeMs": 1.0, "averageMs": rng.lognormvariate(-3.0, 1.2), "medianMs": 0.05, "percentage": 1.0}
            for i in range(args.layers)
        ]  # fmt: skip
        profile.write_text(json.dumps(records))
        logs.append(f'[[logs]]\npath = "{profile}"\nengine = "engine-{e:02d}"\n')
    print(
        f"\nline-to-event latency, {args.probes} probes per phase every {args.interval * 1000:g} ms, {args.load:,} verbose lines/s beside"
    )
    print(
        f"{'aliases':<8} {'phase':<22} {'probes':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/idle':>9} {'scrapes':>8} {'scrape median ms':>17}"
    )
    for aliases in (True, False):
        log = work / f"probe-{aliases}.log"
        log.write_bytes(b"")
        config = work / f"agent-{aliases}.toml"
        config.write_text(
            f'[agent]\nstate_dir = "{work}/state-{aliases}"\nlog_format = "json"\n'
            + "".join(logs)
            + f'[[logs]]\npath = "{log}"\nengine = "probe"\n'
            + f'[metrics]\nlisten = "127.0.0.1:0"\nmax_layer_series = {args.layers}\ndeprecated_names = {str(aliases).lower()}\n'
            + '[events]\npath = "-"\n'
        )
        stderr = work / f"agent-{aliases}.stderr"
        with open(stderr, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "trt_agent", "run", "-c", str(config)],
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=REPO,
            )
        try:
            url = agent_metrics_url(stderr)
            host, port = url.removeprefix("http://").removesuffix("/metrics").rsplit(":", 1)
            arrived: dict[int, float] = {}

            def read(proc: subprocess.Popen[bytes] = proc, arrived: dict[int, float] = arrived) -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    m = _PROBE.search(line)
                    if m:
                        arrived[int(m.group(1))] = time.perf_counter()

            threading.Thread(target=read, daemon=True).start()
            get = http_get(int(port), host)
            deadline = time.monotonic() + 60
            while series(get()) < args.engines * args.layers * 18 and time.monotonic() < deadline:
                time.sleep(0.5)
            first = 0
            idle_p99 = 0.0
            ratios: list[float] = []
            pooled: dict[str, list[float]] = {}
            pooled_scrapes: dict[str, list[float]] = {}
            missing: dict[str, int] = {}
            phases: list[tuple[str, float | None]] = [("idle", None), ("1 scrape/s", 1.0)] * args.rounds
            for phase, period in [*phases, ("tight scrape loop", 0.0)]:
                stop = threading.Event()
                scrapes: list[float] = []

                def scraper(
                    period: float | None = period,
                    get: Callable[[], bytes] = get,
                    stop: threading.Event = stop,
                    scrapes: list[float] = scrapes,
                ) -> None:
                    while period is not None and not stop.is_set():
                        scrapes.extend(timed(get, 1))
                        if period:
                            stop.wait(period)

                def background(stop: threading.Event = stop, log: Path = log) -> None:
                    load_lines = [
                        ln for ln in LOAD_SOURCE.read_bytes().splitlines(keepends=True) if b"[W]" not in ln
                    ]
                    with open(log, "ab") as fh:
                        i, batch = 0, max(1, args.load // 100)
                        while not stop.is_set():
                            fh.write(b"".join(load_lines[(i + k) % len(load_lines)] for k in range(batch)))
                            fh.flush()
                            i += batch
                            time.sleep(0.01)

                threads = [
                    threading.Thread(target=scraper, daemon=True),
                    threading.Thread(target=background, daemon=True),
                ]
                for thread in threads:
                    thread.start()
                written: dict[int, float] = {}
                with open(log, "a") as fh:
                    for n in range(first, first + args.probes):
                        fh.write(PROBE.format(n=n))
                        fh.flush()
                        written[n] = time.perf_counter()
                        time.sleep(args.interval)
                wait_until = time.monotonic() + 10
                while any(n not in arrived for n in written) and time.monotonic() < wait_until:
                    time.sleep(0.05)
                stop.set()
                for thread in threads:
                    thread.join(30)
                first += args.probes
                got = [1000 * (arrived[n] - written[n]) for n in written if n in arrived]
                missing[phase] = missing.get(phase, 0) + len(written) - len(got)
                pooled.setdefault(phase, []).extend(got)
                pooled_scrapes.setdefault(phase, []).extend(scrapes)
                p99 = percentile(got, 0.99)
                if period is None:
                    idle_p99 = p99  # each 1 scrape/s block against the idle block just before it
                elif period:
                    ratios.append(p99 / idle_p99)
            idle = percentile(pooled["idle"], 0.99)
            for phase, got in pooled.items():
                scrapes = pooled_scrapes[phase]
                scrape_ms = f"{1000 * statistics.median(scrapes):.1f}" if scrapes else "-"
                lost = f" ({missing[phase]} probes missing)" if missing[phase] else ""
                p99 = percentile(got, 0.99)
                print(
                    f"{'on' if aliases else 'off':<8} {phase:<22} {len(got):>7} {statistics.median(got):>8.2f} {p99:>8.2f} "
                    f"{max(got):>8.2f} {p99 / idle:>8.2f}x {len(scrapes):>8} {scrape_ms:>17}{lost}"
                )
            print(
                f"{'on' if aliases else 'off':<8} 1 scrape/s p99 / idle p99, block by block ({len(ratios)} pairs): median "
                f"{statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x"
            )
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())
