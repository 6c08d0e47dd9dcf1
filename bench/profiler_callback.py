"""What the profiler costs the thread that runs inference, and what the aggregator sustains.

1. ns per ``report_layer_time`` call on the calling thread: the host's callback (a subclass of
   NVIDIA's real ``trt.IProfiler`` when the bindings load, see tests/trt_double/nvidia.py) against
   the baseline a naive sidecar would use, prometheus-client's
   ``Histogram.labels(engine, layer).observe()``, in the same process, interleaved, medians of
   ``--rounds`` rounds. (TensorRT reaches either through the same pybind11 trampoline, which
   re-takes the GIL: that cost is the same for both and not included.)
2. Reports per second the aggregator turns into model observations (ring drain, inference split,
   ``layer_time`` events, fold into the engine model's histograms), 100-layer inferences.

    .venv/bin/python bench/profiler_callback.py [--calls 200000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from trt_agent.config import ProfilerConfig
from trt_agent.model import EngineModel, fold
from trt_agent.sources.profiler import LayerTimeRing, ProfilerHost, make_profiler
from trt_agent.vocab.events import Event


def trt_module() -> tuple[Any, str]:
    """NVIDIA's bindings (stand-in libraries) when they load, else a plain base class."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    try:
        from trt_double.double import make_trt  # type: ignore[import-not-found,unused-ignore]
        from trt_double.nvidia import load_bindings  # type: ignore[import-not-found,unused-ignore]

        nvidia = load_bindings()
        return make_trt(nvidia), (
            "NVIDIA's trt.IProfiler " + nvidia.__version__
        ) if nvidia else "the double's IProfiler"
    except Exception as exc:  # the bench still runs without the test tree
        base = types.SimpleNamespace(IProfiler=type("IProfiler", (), {"__init__": lambda self: None}))
        return base, f"a plain base class ({exc})"


def per_call_ns(fn: Any, names: list[str], calls: int) -> float:
    count = len(names)
    start = time.perf_counter_ns()
    for i in range(calls):
        fn(names[i % count], 0.0123)
    return (time.perf_counter_ns() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--inferences", type=int, default=5_000)
    args = parser.parse_args()
    names = [f"/model/block_{i // 10}/layer_{i}/Conv + Relu" for i in range(args.layers)]

    trt, base = trt_module()
    ring = LayerTimeRing(capacity=1 << 20)
    ours = make_profiler(trt, ring).report_layer_time
    histogram = Histogram(
        "layer_seconds", "per-layer latency", ["engine", "layer"], registry=CollectorRegistry()
    )

    def stock(layer: str, ms: float) -> None:
        histogram.labels("resnet50", layer).observe(ms / 1000.0)

    ours_ns, stock_ns = [], []
    for _ in range(args.rounds):
        ours_ns.append(per_call_ns(ours, names, args.calls))
        ring.drain()
        stock_ns.append(per_call_ns(stock, names, args.calls // 4))
    o, s = statistics.median(ours_ns), statistics.median(stock_ns)
    print(f"callback on the inference thread ({base}; {args.rounds} interleaved rounds, medians):")
    print(
        f"  trt-agent report_layer_time              {o:8.0f} ns/call  (rounds {min(ours_ns):.0f}-{max(ours_ns):.0f})"
    )
    print(
        f"  Histogram.labels(engine, layer).observe  {s:8.0f} ns/call  (rounds {min(stock_ns):.0f}-{max(stock_ns):.0f})"
    )
    print(f"  ratio: the callback is {s / o:.1f}x cheaper")

    # 2. the aggregator, end to end, into the engine model (what the daemon's sink does)
    models: dict[str, EngineModel] = {}

    def sink(events: list[Event], written: list[Event], count: bool) -> None:
        fold(models, events)

    host = ProfilerHost(ProfilerConfig(engine_file="-", engine_id="resnet50"), sink, trt=trt)
    chunk = max(1, (host.ring.capacity // 2) // (args.layers + 1))  # what the host lets pile up
    rates = []
    for _ in range(3):
        elapsed = 0.0
        for done in range(0, args.inferences, chunk):
            for _ in range(min(chunk, args.inferences - done)):
                for name in names:
                    host.ring.append((name, 0.0123))
                host.ring.end_inference()
            start = time.perf_counter()
            host.aggregate()
            elapsed += time.perf_counter() - start
        rates.append(args.inferences * args.layers / elapsed)
    observed = models["resnet50"].layer_times[names[0]].count
    print(f"aggregator: {statistics.median(rates):,.0f} reports/s into the model (median of 3 x "
          f"{args.inferences * args.layers:,} reports; {observed} observations of each layer)")  # fmt: skip


if __name__ == "__main__":
    main()
