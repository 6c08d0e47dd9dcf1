"""Review of the TensorRT profiler host: resource leaks, failure back-off, shutdown, teardown
order and error paths, against the double of NVIDIA's API (tests/trt_double)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from test_profiler import LAYERS, NVIDIA, SITE, Sink, engine_file, settings
from trt_double import double
from trt_double.double import FakeCuda, make_trt

from trt_agent.sources.profiler import ProfilerError, ProfilerHost, PycudaBackend, run_profile


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


def wait_until(check: Any, what: str, h: ProfilerHost | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}; {h.stats if h else ''}"
        time.sleep(0.02)


# -- device memory ------------------------------------------------------------------------------------


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


def _site_pycuda(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Any:
    """``pycuda`` and ``pycuda.driver`` from ``directory`` (the tests' stand-in), in sys.modules."""
    modules = {}
    for name, file in (("pycuda", "__init__.py"), ("pycuda.driver", "driver.py")):
        spec = importlib.util.spec_from_file_location(name, directory / "pycuda" / file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setitem(sys.modules, name, module)
        modules[name] = module
    monkeypatch.setattr(modules["pycuda"], "driver", modules["pycuda.driver"], raising=False)
    return modules["pycuda.driver"]


def test_pycuda_backend_frees_one_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _site_pycuda(monkeypatch, SITE)
    freed: list[int] = []
    monkeypatch.setattr(driver.DeviceAllocation, "free", lambda self: freed.append(self.pointer))
    backend = PycudaBackend(0)
    a, b = backend.alloc(16), backend.alloc(32)
    backend.free(a)
    assert freed == [a]
    backend.close()
    assert freed == [a, b]


def test_no_cuda_device_is_a_profiler_error(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _site_pycuda(monkeypatch, SITE)

    def no_device() -> None:
        raise RuntimeError("cuInit failed: no CUDA-capable device is detected")

    monkeypatch.setattr(driver, "init", no_device)
    with pytest.raises(ProfilerError, match=r"no usable CUDA device 0 .*cuInit failed"):
        PycudaBackend(0)


def test_profile_on_a_machine_without_a_gpu_exits_2_without_a_traceback(tmp_path: Path) -> None:
    fake = tmp_path / "nogpu" / "pycuda"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "driver.py").write_text(
        "class Error(Exception):\n    pass\n\n\n"
        "def init():\n    raise Error('cuInit failed: no CUDA-capable device is detected')\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "nogpu"), str(SITE)])}
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "profile", str(engine_file(tmp_path))],
        capture_output=True,
        text=True,
        env=os.environ | env,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "no usable CUDA device 0" in result.stderr and "Traceback" not in result.stderr


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


# -- failures and shutdown ------------------------------------------------------------------------------


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
        time.sleep(1.5)
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


# -- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["busy_backoff", "reload_check_interval"])
def test_infinite_waits_are_refused(tmp_path: Path, key: str) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text(f'[profiler]\nengine = "e.plan"\n{key} = inf\n')
    with pytest.raises(ConfigError, match=f"profiler.{key} must be a finite number of seconds"):
        load_config(str(path))
