"""The TensorRT host against the double of NVIDIA's API (tests/trt_double), whose ``IProfiler`` and
``ILogger`` are NVIDIA's own classes when the bindings load: every layer of every inference,
the duty cycle, back-off, hot reload, device memory, shutdown, and ``run_profile``."""

from __future__ import annotations

import inspect
import statistics
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from harness import wait_for
from trt_double import double
from trt_double.double import FakeCuda, make_trt
from trt_double.profiling import LAYERS, NVIDIA, Sink, engine_file, host, running, settings, wait_until

from trt_agent.model import build_models
from trt_agent.sources.profiler import LayerTimeRing, ProfilerError, ProfilerHost, make_profiler, run_profile


def test_the_callback_only_appends_to_the_ring() -> None:
    ring = LayerTimeRing(capacity=8)
    profiler = make_profiler(make_trt(NVIDIA), ring)
    if NVIDIA is not None:
        assert isinstance(profiler, NVIDIA.IProfiler)  # NVIDIA's class, subclassed as its docstring says
    # the override's body is one call: nothing allocated but the tuple, no lock, no I/O
    body = inspect.getsource(type(profiler).report_layer_time).strip().splitlines()[1:]
    assert [line.strip() for line in body] == ["self._append((layer_name, ms))"]
    for i in range(3):
        profiler.report_layer_time(f"layer{i}", float(i))
    assert ring.drain() == [("layer0", 0.0), ("layer1", 1.0), ("layer2", 2.0)]
    assert ring.drain() == []


def test_host_reports_every_layer_of_every_inference_on_the_enqueue_thread(tmp_path: Path) -> None:
    sink = Sink()
    trt = make_trt(NVIDIA)
    h = host(engine_file(tmp_path), sink, trt)
    seen: dict[str, Any] = {}

    def fifty() -> bool:
        if h.loaded is not None:
            seen["loaded"] = h.loaded  # the host lets go of its engine when it stops
        return h.stats.inferences >= 50

    running(h, fifty, "50 inferences")
    loaded = seen["loaded"]
    times = sink.times()
    per_layer = Counter(e["layer"] for e in times)
    # every complete inference gave one report per layer, under the engine's own layer names
    assert set(per_layer) == {layer["name"] for layer in LAYERS}
    assert (
        len(set(per_layer.values())) == 1
        and h.stats.inferences - 1 <= per_layer["pool1"] <= h.stats.inferences
    )
    assert h.stats.reports == 3 * h.stats.inferences
    (runtime,) = trt.runtimes
    # TensorRT calls the profiler on the thread that runs the inference: the host thread, not the aggregator
    host_thread = next(t for t in h._threads if t.name == "profiler")
    assert loaded.context.enqueue_threads == {host_thread.ident}
    assert all(e["source"] == {"kind": "profiler"} for e in times)
    # the inspector's build facts (DETAILED verbosity) join the timings by layer name
    model = build_models(sink.folded)["resnet"]
    assert model.layers["conv1 + bn1 + relu1"].sources == ("conv1", "bn1", "relu1")
    assert model.layers["conv1 + bn1 + relu1"].precision == "Half"
    assert model.layer_times["conv1 + bn1 + relu1"].count == per_layer["conv1 + bn1 + relu1"]
    assert 0.28 < model.layer_times["conv1 + bn1 + relu1"].avg_ms < 0.32
    # a sample goes to the event stream: one inference in events_every (100 by default)
    assert Counter(e["layer"] for e in sink.written if e["type"] == "layer_time") == dict.fromkeys(
        per_layer, 1
    )
    # the dynamic input ran at optimisation profile 0's opt shape, with 4*3*8*8 float32 uploaded
    assert loaded.inputs == {"input": (4, 3, 8, 8)}
    assert runtime.time_scale == 1.0


def test_the_duty_cycle_bounds_the_gpu_time_the_host_takes(tmp_path: Path) -> None:
    sink = Sink()
    slow = [{"name": "big", "ms": 5.0}]
    h = host(engine_file(tmp_path, slow), sink, max_duty_cycle=0.1, max_inferences_per_second=1000)
    started = time.monotonic()
    running(h, lambda: time.monotonic() - started > 2.0, "2 s of profiling")
    ratio = h.stats.busy_seconds / (time.monotonic() - started)
    # 5 ms inferences at a 10 % budget: about 20 a second, whatever the rate limit allows
    assert 0.05 < ratio <= 0.12, ratio
    assert 25 <= h.stats.inferences <= 45, h.stats.inferences


class Utilisation:
    def __init__(self, percent: float) -> None:
        self.value = percent

    def percent(self) -> float | None:
        return self.value


def test_a_busy_gpu_makes_the_host_back_off(tmp_path: Path) -> None:
    sink = Sink()
    busy = Utilisation(97.0)
    h = ProfilerHost(
        settings(engine_file(tmp_path), busy_backoff=0.05),
        sink,
        trt=make_trt(NVIDIA),
        cuda_factory=FakeCuda,
        utilization=busy,
    )
    h.start()
    try:
        wait_for(lambda: h.stats.backoffs["gpu_busy"] >= 5, 10, "back-offs")
        assert h.stats.inferences == 0  # the serving process has the GPU
        busy.value = 20.0
        wait_for(lambda: h.stats.inferences >= 5, 10, "inferences once the GPU is free")
    finally:
        h.stop()


def test_hot_reload_swaps_the_engine_and_keeps_running_on_a_broken_file(tmp_path: Path) -> None:
    sink = Sink()
    path = engine_file(tmp_path)
    h = host(path, sink)
    h.start()
    try:
        wait_for(lambda: h.stats.inferences >= 5, 10, "first engine running")
        renamed = [dict(layer, name=f"v2/{layer['name']}") for layer in LAYERS]
        engine_file(tmp_path, renamed, "new.plan").rename(path)  # atomic replace, as a deploy does
        wait_for(lambda: any(e["layer"].startswith("v2/") for e in sink.times()), 10, "new engine's layers")
        assert h.stats.engine_loads["success"] == 2
        # a broken engine file: logged, counted, the running engine goes on
        (tmp_path / "broken.plan").write_bytes(b"\x00not an engine")
        (tmp_path / "broken.plan").rename(path)
        wait_for(lambda: h.stats.engine_loads["failure"] >= 1, 10, "failed reload")
        before = h.stats.inferences
        wait_for(lambda: h.stats.inferences > before + 5, 10, "inferences after the failed reload")
    finally:
        h.stop()
    # TensorRT's own words about the broken file arrive through the ILogger as an error event
    errors = [e for e in sink.counted if e["type"] == "error"]
    assert any("Magic tag does not match" in (e["msg"] or "") for e in errors), errors
    assert all(e["source"] == {"kind": "tensorrt_logger"} for e in errors)


def test_a_layer_reported_several_times_per_inference_is_summed(tmp_path: Path) -> None:
    """A layer in a loop reports once per trip: ``profile`` gives one time per inference (the
    sum), so its share and the per-inference total are right, not a third of them."""
    loop = {"name": "loop/body", "ms": 0.02, "type": "CaskGemm", "sources": ["body"]}
    trt = make_trt(NVIDIA)
    times, _events, n = run_profile(
        settings(engine_file(tmp_path, [*LAYERS, loop, loop, loop])),
        10,
        warmup=1,
        trt=trt,
        cuda_factory=FakeCuda,
    )
    assert n == 10 and {len(v) for v in times.values()} == {10}
    assert list(times) == [*(layer["name"] for layer in LAYERS), "loop/body"]
    single = statistics.median(times["pool1"]) / 0.05  # the double's time scale on this machine
    assert statistics.median(times["loop/body"]) == pytest.approx(3 * 0.02 * single, rel=0.3)


def test_configured_shapes_and_their_errors(tmp_path: Path) -> None:
    trt = make_trt(NVIDIA)
    times, _events, n = run_profile(
        settings(engine_file(tmp_path), shapes={"input": (8, 3, 8, 8)}),
        20,
        warmup=2,
        trt=trt,
        cuda_factory=FakeCuda,
    )
    assert n == 20 and {len(v) for v in times.values()} == {20}
    assert list(times) == [layer["name"] for layer in LAYERS]  # execution order
    from trt_agent.sources.profiler import ProfilerError

    with pytest.raises(ProfilerError, match=r"input input does not accept shape \[16, 3, 8, 8\]"):
        run_profile(
            settings(engine_file(tmp_path), shapes={"input": (16, 3, 8, 8)}),
            1,
            trt=trt,
            cuda_factory=FakeCuda,
        )
    with pytest.raises(
        ProfilerError, match=r"profiler\.shapes names images: the engine's I/O tensors are input, output"
    ):
        run_profile(
            settings(engine_file(tmp_path), shapes={"images": (1, 3, 8, 8)}),
            1,
            trt=trt,
            cuda_factory=FakeCuda,
        )
    missing = tmp_path / "gone.plan"
    with pytest.raises(ProfilerError, match=f"profiler.engine {missing}: No such file"):
        run_profile(settings(missing), 1, trt=trt, cuda_factory=FakeCuda)


class TrackingCuda(FakeCuda):
    """FakeCuda that remembers every instance made and counts the streams it hands out."""

    made: ClassVar[list[TrackingCuda]] = []

    def __init__(self, device: int = 0) -> None:
        super().__init__(device)
        self.streams = 0
        self.closed_with_live_contexts = -1
        TrackingCuda.made.append(self)

    def stream(self) -> int:
        self.streams += 1
        return super().stream()


@pytest.fixture
def cuda_made() -> list[TrackingCuda]:
    TrackingCuda.made = []
    return TrackingCuda.made


def test_hot_reload_frees_the_replaced_engines_buffers(tmp_path: Path, cuda_made: list[TrackingCuda]) -> None:
    path = engine_file(tmp_path)
    h = ProfilerHost(settings(path), Sink(), trt=make_trt(NVIDIA), cuda_factory=TrackingCuda)
    h.start()
    try:
        wait_until(lambda: h.stats.inferences >= 3, "first engine", h)
        for n in range(2, 5):
            renamed = [dict(layer, name=f"v{n}/{layer['name']}") for layer in LAYERS]
            engine_file(tmp_path, renamed, "new.plan").rename(path)
            wait_until(lambda n=n: h.stats.engine_loads["success"] >= n, f"reload {n}", h)
        (cuda,) = cuda_made
        # only the running engine's input and output are allocated, on one stream
        assert h.loaded is not None
        assert sorted(cuda.allocations) == sorted(h.loaded.buffers) and len(cuda.allocations) == 2
        assert cuda.streams == 1
    finally:
        h.stop()


def test_a_load_that_fails_after_allocating_frees_its_buffers(
    tmp_path: Path, cuda_made: list[TrackingCuda]
) -> None:
    npz = tmp_path / "inputs.npz"
    np.savez(npz, images=np.zeros((4, 3, 8, 8), np.float32))  # no array named "input"
    path = engine_file(tmp_path)
    h = ProfilerHost(
        settings(path, inputs=str(npz), reload_check_interval=0.02),
        Sink(),
        trt=make_trt(NVIDIA),
        cuda_factory=TrackingCuda,
    )
    h.start()
    try:
        wait_until(lambda: h.stats.engine_loads["failure"] >= 5, "retried loads", h)
        assert "no array named input" in h.stats.last_error
        (cuda,) = cuda_made
        assert cuda.allocations == {}  # the startup retries do not pile up device memory
    finally:
        h.stop()


def test_run_profile_releases_tensorrt_objects_before_the_cuda_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[weakref.ref[Any]] = []
    engines: list[weakref.ref[Any]] = []
    create = double.ICudaEngine.create_execution_context

    def tracked(self: Any, strategy: Any = 0) -> Any:
        context = create(self, strategy)
        contexts.append(weakref.ref(context))
        engines.append(weakref.ref(self))
        return context

    monkeypatch.setattr(double.ICudaEngine, "create_execution_context", tracked)
    live_at_close: list[int] = []

    class Checking(FakeCuda):
        def close(self) -> None:
            live_at_close.append(sum(r() is not None for r in [*contexts, *engines]))
            super().close()

    times, _events, _n = run_profile(
        settings(engine_file(tmp_path)), 3, warmup=0, trt=make_trt(NVIDIA), cuda_factory=Checking
    )
    assert times
    # the execution context and engine were gone when the CUDA context was popped
    assert live_at_close == [0]


def test_run_profile_refuses_an_inference_tensorrt_reported_nothing_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(double.IExecutionContext, "report_to_profiler", lambda self: False)
    with pytest.raises(ProfilerError, match="reported no layer times for inference 1"):
        run_profile(settings(engine_file(tmp_path)), 5, trt=make_trt(NVIDIA), cuda_factory=FakeCuda)


def test_failing_inferences_back_off_instead_of_flooding_the_event_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(self: Any, stream_handle: int) -> bool:
        self._log_error("IExecutionContext::enqueueV3: Error Code 1: Cuda Runtime (an illegal memory access)")
        return False

    monkeypatch.setattr(double.IExecutionContext, "execute_async_v3", failing)
    sink = Sink()
    h = ProfilerHost(
        settings(engine_file(tmp_path), max_inferences_per_second=500),
        sink,
        trt=make_trt(NVIDIA),
        cuda_factory=FakeCuda,
    )
    h.start()
    try:
        time.sleep(1.5)  # the window the tries are counted in: what the test judges is a rate
        assert h.alive()
    finally:
        h.stop()
    # 0.1 s, doubling: a handful of tries in 1.5 s, not 500 a second
    assert 2 <= h.stats.failed_inferences <= 8, h.stats
    assert h.stats.backoffs["failure"] == h.stats.failed_inferences
    errors = [e for e in sink.counted if e["type"] == "error"]
    assert 2 <= len(errors) <= 8


def test_a_reload_ends_the_failure_backoff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute = double.IExecutionContext.execute_async_v3

    def fails_on_v1(self: Any, stream_handle: int) -> bool:
        if not self.engine._layers[0]["name"].startswith("v2/"):
            return False
        return execute(self, stream_handle)

    monkeypatch.setattr(double.IExecutionContext, "execute_async_v3", fails_on_v1)
    path = engine_file(tmp_path)
    h = ProfilerHost(settings(path), Sink(), trt=make_trt(NVIDIA), cuda_factory=FakeCuda)
    h.start()
    try:
        wait_until(lambda: h.stats.failed_inferences >= 5, "a backed-off streak", h)  # backoff now 1.6 s
        renamed = [dict(layer, name=f"v2/{layer['name']}") for layer in LAYERS]
        engine_file(tmp_path, renamed, "new.plan").rename(path)
        wait_until(lambda: h.stats.inferences >= 5, "inferences on the new engine", h, timeout=1.5)
    finally:
        h.stop()


def test_stop_keeps_to_its_timeout_and_nothing_reaches_the_sink_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, gate = threading.Event(), threading.Event()
    deserialize = double.Runtime.deserialize_cuda_engine

    def slow(self: Any, serialized_engine: Any) -> Any:  # a large engine, deserializing
        entered.set()
        gate.wait(10)
        return deserialize(self, serialized_engine)

    monkeypatch.setattr(double.Runtime, "deserialize_cuda_engine", slow)
    sink = Sink()
    calls = [0]

    def counting(events: Any, written: Any, count: bool) -> None:
        calls[0] += 1
        sink(events, written, count)

    h = ProfilerHost(settings(engine_file(tmp_path)), counting, trt=make_trt(NVIDIA), cuda_factory=FakeCuda)
    h.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        h.stop(timeout=0.5)
        assert time.monotonic() - started < 0.85  # one budget for both threads, not 0.5 s each
        after_stop = calls[0]
    finally:
        gate.set()
    host_thread = next(t for t in h._threads if t.name == "profiler")
    host_thread.join(5)
    assert not host_thread.is_alive()
    assert calls[0] == after_stop  # the engine's inspector events came after stop(): not handed on


def test_an_unexpected_error_in_the_host_thread_is_recorded(tmp_path: Path) -> None:
    def broken_cuda(device: int) -> Any:
        raise RuntimeError("cuCtxCreate failed: out of memory")

    h = ProfilerHost(settings(engine_file(tmp_path)), Sink(), trt=make_trt(NVIDIA), cuda_factory=broken_cuda)
    h.start()
    try:
        wait_until(lambda: not h._threads[0].is_alive(), "the host thread to end", h)
    finally:
        h.stop()
    assert "cuCtxCreate failed: out of memory" in h.stats.last_error and not h.stats.up
