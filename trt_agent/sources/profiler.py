"""The TensorRT host: a serialized engine, an execution context with an ``IProfiler``, per-layer
latency measured continuously at a bounded GPU cost.

Threads and what each may do:

* the **host thread** loads the engine, prepares shapes and device buffers, and runs inferences
  (``execute_async_v3``, stream sync, ``report_to_profiler``), paced by the duty-cycle budget;
* TensorRT calls :class:`LayerTimeProfiler`'s ``report_layer_time`` **on the host thread**, once
  per layer per inference, re-taking the GIL for each call: the callback only appends
  ``(name, ms)`` to a preallocated, bounded ring (``collections.deque(maxlen=…)``: one C call);
* the **aggregator thread** drains the ring, cuts it into inferences (the host marks the end of
  each one in the ring, so an engine swap cannot blur them), turns reports into ``layer_time`` events
  and hands them to the sink (the daemon's engine models and event stream) together with what
  TensorRT's own logger said.

``import tensorrt`` happens only here, and only when a host starts: the rest of the agent runs
without it. Everything TensorRT is reached through the ``trt`` module object handed in, so the
tests run this code against a double of NVIDIA's Python API.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from trt_agent.config import ProfilerConfig as ProfilerSettings
from trt_agent.logs import get_logger
from trt_agent.parse import ParseStats
from trt_agent.parse.artifacts import parse_artifact
from trt_agent.parse.log import LogReader
from trt_agent.vocab.events import Event, make_event
from trt_agent.vocab.severities import LETTER_OF, TRT_LOGGER_LEVEL, TRT_LOGGER_SEVERITY

if TYPE_CHECKING:
    # NVIDIA's type stubs (tensorrt-stubs, installed by scripts/test.sh): mypy checks every
    # TensorRT call below against them. At run time the module in use is handed in.
    import tensorrt as trt_api  # type: ignore[import-not-found,unused-ignore]

INSTALL_HINT: Final = (
    "install the GPU extra next to an NVIDIA driver: pip install 'trt-agent[gpu]' "
    "(TensorRT's Python bindings, pycuda), or use an nvcr.io/nvidia/tensorrt image "
    "(deploy/docker/Dockerfile.tensorrt)"
)
PROFILER_SOURCE: Final = {"kind": "profiler"}
LOGGER_SOURCE: Final = {"kind": "tensorrt_logger"}


class ProfilerError(RuntimeError):
    """The host cannot run (no TensorRT, no engine, a shape it cannot set), for the operator."""


def import_tensorrt() -> Any:
    """NVIDIA's ``tensorrt`` module, or a :class:`ProfilerError` that says how to get it."""
    try:
        import tensorrt  # type: ignore[import-not-found,unused-ignore]
    except (ImportError, OSError) as exc:  # OSError: the bindings without libnvinfer
        raise ProfilerError(f"TensorRT's Python module is not usable ({exc}); {INSTALL_HINT}") from None
    if not hasattr(tensorrt, "Runtime"):  # e.g. only tensorrt-stubs installed: a bare namespace
        raise ProfilerError(
            f"the installed 'tensorrt' module has no Runtime (type stubs only?); {INSTALL_HINT}"
        )
    return tensorrt


# -- the callback side ----------------------------------------------------------------------------


class LayerTimeRing:
    """A bounded ring of ``(layer_name, ms)`` reports, written by TensorRT's callback and read by
    the aggregator. ``deque.append`` and ``popleft`` are atomic under the GIL, so neither side
    locks. When the aggregator falls behind by a whole ring, the oldest reports are overwritten;
    the host checks :meth:`room` between inferences and waits instead, so none are lost."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.capacity = capacity
        self._ring: collections.deque[tuple[str, float] | None] = collections.deque(maxlen=capacity)
        self.append = self._ring.append  # the callback's one call

    def end_inference(self) -> None:
        """Mark the end of one inference's reports (the host thread, after report_to_profiler)."""
        self._ring.append(None)

    def __len__(self) -> int:
        return len(self._ring)

    def room(self) -> int:
        return self.capacity - len(self._ring)

    def drain(self) -> list[tuple[str, float] | None]:
        """Everything reported so far, oldest first (``None``: an inference ended)."""
        out: list[tuple[str, float] | None] = []
        popleft = self._ring.popleft
        with contextlib.suppress(IndexError):
            for _ in range(len(self._ring)):
                out.append(popleft())
        return out


def make_profiler(trt: Any, ring: LayerTimeRing) -> Any:
    """A ``trt.IProfiler`` whose ``report_layer_time`` appends to ``ring`` and nothing else.

    The class is made here because the base class comes from the ``trt`` module in use. The base
    ``__init__`` must run explicitly (pybind11 trampoline; NVIDIA's docstring says so)."""

    class LayerTimeProfiler(trt.IProfiler):  # type: ignore[misc]
        __slots__ = ("_append",)

        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self._append = ring.append

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self._append((layer_name, ms))

    return LayerTimeProfiler()


def make_logger(trt: Any, sink: collections.deque[tuple[int, str]], min_severity: int) -> Any:
    """A ``trt.ILogger`` that queues messages at ``min_severity`` or more severe for the
    aggregator (TensorRT's base ``ILogger`` filters nothing itself)."""

    class AgentLogger(trt.ILogger):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            level = int(severity)
            if level <= min_severity:
                sink.append((level, msg))

    return AgentLogger()


def logger_events(messages: Iterable[tuple[int, str]], reader: LogReader) -> list[Event]:
    """TensorRT's logger messages as events: each is parsed as the ``[TRT] [W] …`` line a
    logging application would have written, so it gets the same event types as a log file."""
    events: list[Event] = []
    for level, msg in messages:
        letter = LETTER_OF[TRT_LOGGER_SEVERITY.get(level, "info")]
        for event in reader.feed(f"[TRT] [{letter}] {msg}\n".encode("utf-8", "replace")):
            event["source"] = LOGGER_SOURCE
            events.append(event)
    return events


def split_iterations(
    reports: list[tuple[str, float] | None],
) -> tuple[list[list[tuple[str, float]]], list[tuple[str, float]]]:
    """Cut reports into whole inferences at the ``None`` the host appends after each one.

    Returns (complete inferences, the reports after the last mark: an inference still being
    reported)."""
    iterations: list[list[tuple[str, float]]] = []
    current: list[tuple[str, float]] = []
    for report in reports:
        if report is None:
            if current:
                iterations.append(current)
            current = []
        else:
            current.append(report)
    return iterations, current


# -- CUDA -------------------------------------------------------------------------------------------


class CudaBackend(Protocol):
    """The few CUDA calls the host makes (pycuda in production, a double in the tests)."""

    def stream(self) -> int: ...
    def alloc(self, nbytes: int) -> int: ...
    def free(self, pointer: int) -> None: ...
    def upload(self, pointer: int, data: bytes) -> None: ...
    def synchronize(self, stream: int) -> None: ...
    def close(self) -> None: ...


class PycudaBackend:
    """CUDA through pycuda, with a context of its own made current on the host thread."""

    def __init__(self, device: int = 0) -> None:
        try:
            import pycuda.driver as cuda  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ProfilerError(f"pycuda is not installed ({exc}); {INSTALL_HINT}") from None
        try:
            cuda.init()
            self._context = cuda.Device(device).make_context()
        except Exception as exc:  # pycuda.driver.Error: no driver, no such device, out of memory
            raise ProfilerError(f"no usable CUDA device {device} ({exc}); {INSTALL_HINT}") from None
        self._cuda = cuda
        self._allocations: dict[int, Any] = {}
        self._streams: list[Any] = []

    def stream(self) -> int:
        stream = self._cuda.Stream()  # not the default stream: TensorRT warns it syncs the device
        self._streams.append(stream)
        return int(stream.handle)

    def alloc(self, nbytes: int) -> int:
        allocation = self._cuda.mem_alloc(max(1, nbytes))
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, pointer: int) -> None:
        allocation = self._allocations.pop(pointer, None)
        if allocation is not None:
            allocation.free()

    def upload(self, pointer: int, data: bytes) -> None:
        self._cuda.memcpy_htod(pointer, data)

    def synchronize(self, stream: int) -> None:
        for s in self._streams:
            if int(s.handle) == stream:
                s.synchronize()

    def close(self) -> None:
        for allocation in self._allocations.values():
            allocation.free()
        self._allocations.clear()
        self._streams.clear()
        self._context.pop()


class GpuUtilization(Protocol):
    def percent(self) -> float | None: ...


class NvmlUtilization:
    """GPU utilisation from NVML (nvidia-ml-py), when it is installed; else it says None."""

    def __init__(self, device: int = 0) -> None:
        self._handle: Any = None
        try:
            import pynvml  # type: ignore[import-not-found,unused-ignore]

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device)
        except Exception:  # no library, no driver, no device: the duty cycle still applies
            self._handle = None

    def percent(self) -> float | None:
        if self._handle is None:
            return None
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
        except Exception:
            return None


# -- settings and statistics ------------------------------------------------------------------------


@dataclass
class ProfilerStats:
    """Counters the daemon exports as ``trt_agent_profiler_*``."""

    up: bool = False
    reports: int = 0
    inferences: int = 0
    failed_inferences: int = 0
    engine_loads: collections.Counter[str] = field(default_factory=collections.Counter)
    backoffs: collections.Counter[str] = field(default_factory=collections.Counter)
    busy_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    logger_messages: int = 0
    last_error: str = ""

    @property
    def duty_cycle(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.busy_seconds / elapsed if elapsed > 0 else 0.0


Sink = Callable[[list[Event], list[Event], bool], None]  # (fold into models, also write, count as log events)

# Consecutive failed inferences back off from FAILURE_BACKOFF seconds, doubling up to
# FAILURE_BACKOFF_MAX: each failure is a TensorRT error message, and so an event.
FAILURE_BACKOFF: Final = 0.1
FAILURE_BACKOFF_MAX: Final = 30.0


# -- the engine --------------------------------------------------------------------------------------


@dataclass
class LoadedEngine:
    """A deserialized engine with its context, profiler and buffers, ready to run."""

    engine: trt_api.ICudaEngine
    context: trt_api.IExecutionContext
    profiler: Any
    stream: int
    identity: tuple[int, int, int]  # (inode, size, mtime_ns) of the file it came from
    inputs: dict[str, tuple[int, ...]]
    buffers: list[int] = field(default_factory=list)  # device pointers, freed when it is replaced


def _file_identity(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _dims(dims: Any) -> tuple[int, ...]:
    """A TensorRT ``Dims`` (indexable, sized; not iterable in NVIDIA's stubs) as a tuple."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def _volume(shape: Iterable[int]) -> int:
    return math.prod(max(0, int(d)) for d in shape)


class EngineLoader:
    """Deserializes an engine and prepares one execution context to profile it."""

    def __init__(
        self, trt: Any, runtime: Any, cuda: CudaBackend, settings: ProfilerSettings, ring: LayerTimeRing
    ) -> None:
        self.trt, self.runtime, self.cuda, self.settings, self.ring = trt, runtime, cuda, settings, ring
        self._stream: int | None = None  # one stream for every engine the loader makes

    def stream(self) -> int:
        if self._stream is None:
            self._stream = self.cuda.stream()
        return self._stream

    def release(self, loaded: LoadedEngine) -> None:
        """Free the device buffers of an engine no longer run (after its last inference)."""
        self.cuda.synchronize(loaded.stream)
        buffers, loaded.buffers = loaded.buffers, []
        for pointer in buffers:
            self.cuda.free(pointer)

    def load(self) -> LoadedEngine:
        path = self.settings.engine_file
        try:
            identity = _file_identity(path)
            with open(path, "rb") as fh:
                plan = fh.read()
        except OSError as exc:
            raise ProfilerError(f"profiler.engine {path}: {exc.strerror}") from None
        engine: trt_api.ICudaEngine | None = self.runtime.deserialize_cuda_engine(plan)
        if engine is None:  # TensorRT says why through the logger
            raise ProfilerError(
                f"profiler.engine {path}: TensorRT could not deserialize it (another TensorRT version "
                "or GPU than it was built for, or not an engine; the TensorRT message is logged)"
            )
        context: trt_api.IExecutionContext | None = engine.create_execution_context()
        if context is None:
            raise ProfilerError(f"profiler.engine {path}: no execution context (device memory?)")
        profiler = make_profiler(self.trt, self.ring)
        context.profiler = profiler
        # Keep enqueue asynchronous; report_to_profiler() after the stream is done fires the
        # callbacks, once per inference (and is what works with CUDA graphs too).
        context.enqueue_emits_profile = False
        buffers: list[int] = []
        try:
            inputs = self._bind(engine, context, buffers)
            stream = self.stream()
        except BaseException:
            for pointer in buffers:  # a load that fails (and is retried) must not keep its buffers
                self.cuda.free(pointer)
            raise
        return LoadedEngine(engine, context, profiler, stream, identity, inputs, buffers)

    def _input_shape(self, engine: trt_api.ICudaEngine, name: str) -> tuple[int, ...]:
        shape = _dims(engine.get_tensor_shape(name))
        if name in self.settings.shapes:
            return self.settings.shapes[name]
        if any(d < 0 for d in shape):
            # A dynamic input without a configured shape runs at optimisation profile 0's opt shape.
            _min, opt, _max = engine.get_tensor_profile_shape(name, 0)
            return _dims(opt)
        return shape

    def _bind(
        self, engine: trt_api.ICudaEngine, context: trt_api.IExecutionContext, buffers: list[int]
    ) -> dict[str, tuple[int, ...]]:
        trt = self.trt
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs: dict[str, tuple[int, ...]] = {}
        unknown = set(self.settings.shapes) - set(names)
        if unknown:
            raise ProfilerError(
                f"profiler.shapes names {', '.join(sorted(unknown))}: the engine's I/O tensors are {', '.join(names)}"
            )
        for name in names:
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                shape = self._input_shape(engine, name)
                if not context.set_input_shape(name, shape):
                    raise ProfilerError(
                        f"profiler: input {name} does not accept shape {list(shape)} (TensorRT logged why)"
                    )
                inputs[name] = shape
        recorded = self._recorded_inputs()
        for name in names:
            dtype = engine.get_tensor_dtype(name)
            shape = _dims(context.get_tensor_shape(name))
            if any(d < 0 for d in shape):  # data-dependent output size
                nbytes = int(context.get_max_output_size(name))
            else:
                nbytes = _volume(shape) * int(dtype.itemsize)
            pointer = self.cuda.alloc(nbytes)
            buffers.append(pointer)
            if name in inputs:
                self.cuda.upload(pointer, self._input_bytes(name, shape, dtype, nbytes, recorded))
            if not context.set_tensor_address(name, pointer):
                raise ProfilerError(f"profiler: TensorRT refused the address of tensor {name}")
        return inputs

    def _recorded_inputs(self) -> dict[str, Any]:
        if self.settings.inputs == "random":
            return {}
        try:
            import numpy as np
        except ImportError:
            raise ProfilerError(
                f"profiler.inputs {self.settings.inputs}: reading .npz needs numpy; {INSTALL_HINT}"
            ) from None
        try:
            with np.load(self.settings.inputs) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError) as exc:
            raise ProfilerError(f"profiler.inputs {self.settings.inputs}: {exc}") from None

    def _input_bytes(
        self, name: str, shape: tuple[int, ...], dtype: Any, nbytes: int, recorded: dict[str, Any]
    ) -> bytes:
        if recorded:
            if name not in recorded:
                raise ProfilerError(f"profiler.inputs {self.settings.inputs}: no array named {name}")
            array = recorded[name]
            if tuple(array.shape) != shape:
                raise ProfilerError(
                    f"profiler.inputs {self.settings.inputs}: {name} has shape {list(array.shape)}, the engine runs {list(shape)}"
                )
            return bytes(array.astype(self.trt.nptype(dtype), copy=False).tobytes())
        try:
            import numpy as np

            kind = np.dtype(self.trt.nptype(dtype))
        except (ImportError, TypeError):
            return bytes(nbytes)  # no numpy, or a type numpy lacks (BF16, FP8, FP4): zeros
        lo, hi = self.settings.input_range
        rng = np.random.default_rng(0)  # the same inputs every run: comparable timings
        if kind == np.bool_:
            values = rng.integers(0, 2, size=shape).astype(kind)
        elif np.issubdtype(kind, np.integer):
            values = rng.integers(math.ceil(lo), math.floor(hi) + 1, size=shape).astype(kind)
        else:
            values = rng.uniform(lo, hi, size=shape).astype(kind)
        return bytes(values.tobytes())


def inspector_events(trt: Any, loaded: LoadedEngine, settings: ProfilerSettings) -> list[Event]:
    """The build-side facts of the engine (layers, precisions, fused sources) from its inspector,
    parsed as the ``--exportLayerInfo`` JSON it is, so profiler timings join them by layer name.
    Only engines built with ``ProfilingVerbosity.DETAILED`` say more than layer names."""
    inspector: trt_api.EngineInspector = loaded.engine.create_engine_inspector()
    inspector.execution_context = loaded.context  # concrete shapes and formats for this context
    text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    return list(parse_artifact(text.encode(), settings.engine_file, settings.engine_id, ParseStats()))


# -- the host ------------------------------------------------------------------------------------------


class ProfilerHost:
    """Hosts one engine and profiles it continuously within the duty-cycle budget (see module)."""

    def __init__(
        self,
        settings: ProfilerSettings,
        sink: Sink,
        *,
        trt: Any = None,
        cuda_factory: Callable[[int], CudaBackend] = PycudaBackend,
        utilization: GpuUtilization | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.trt = trt if trt is not None else import_tensorrt()
        self.cuda_factory = cuda_factory
        self.utilization = utilization
        self.clock = clock
        self.ring = LayerTimeRing(settings.ring_capacity)
        self.messages: collections.deque[tuple[int, str]] = collections.deque(maxlen=10_000)
        self.stats = ProfilerStats()
        self.log = get_logger("trt_agent.profiler")
        self._stop = threading.Event()
        self._host_done = (
            threading.Event()
        )  # the aggregator's last round comes after the host's last inference
        self._threads: list[threading.Thread] = []
        self._sink_lock = threading.Lock()
        self._sink_closed = False  # after stop(): a thread still in TensorRT hands nothing on
        self._tail: list[tuple[str, float]] = []
        self._iteration = 0
        self._reader = LogReader("<tensorrt>", settings.engine_id, ParseStats())
        self.loaded: LoadedEngine | None = None
        min_severity = TRT_LOGGER_LEVEL.get(settings.log_severity, 2)
        self.logger = make_logger(self.trt, self.messages, min_severity)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("profiler", self._run), ("profiler-aggregator", self._aggregate_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads within ``timeout`` in all. A host thread still inside a long TensorRT
        call (a deserialization, an inference) is left to finish on its own: the aggregator
        hands on what was reported, and nothing reaches the sink once this returns."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        for thread in self._threads:
            if thread.name == "profiler":
                thread.join(max(0.0, deadline - time.monotonic()))
        self._host_done.set()  # the aggregator's final round, whether the host made it or not
        for thread in self._threads:
            if thread.name != "profiler":
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._sink_lock:
            self._sink_closed = True

    def _emit(self, events: list[Event], written: list[Event], count: bool) -> None:
        with self._sink_lock:
            if not self._sink_closed:
                self.sink(events, written, count)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)

    # -- host thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        cuda: CudaBackend | None = None
        try:
            cuda = self.cuda_factory(self.settings.device)
            self._host(cuda)
        except ProfilerError as exc:
            self.stats.last_error = str(exc)
            self.log.error("profiler stopped", error=str(exc))
        except Exception as exc:  # TensorRT or the CUDA backend raised: say so, up goes to 0
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self.log.exception("profiler stopped by an unexpected error", error=self.stats.last_error)
        finally:
            self.stats.up = False
            # TensorRT's engine and context free device memory: before the CUDA context goes
            self.loaded = None
            if cuda is not None:
                with contextlib.suppress(Exception):
                    cuda.close()
            self._host_done.set()

    def _host(self, cuda: CudaBackend) -> None:
        """Load, then profile until stopped. The runtime and loader are locals, so they are gone
        (with the engine) before ``_run`` closes the CUDA context."""
        loader = EngineLoader(self.trt, self.trt.Runtime(self.logger), cuda, self.settings, self.ring)
        while not self._stop.is_set() and self.loaded is None:
            self._load(loader)
            if self.loaded is None:
                self._stop.wait(self.settings.reload_check_interval)
        self._profile(loader)

    def _load(self, loader: EngineLoader) -> bool:
        try:
            loaded = loader.load()
        except ProfilerError as exc:
            self.stats.engine_loads["failure"] += 1
            if str(exc) != self.stats.last_error:  # once per distinct problem, not every retry
                self.log.error("engine not loaded; the running engine, if any, is kept", error=str(exc))
            self.stats.last_error = str(exc)
            return False
        self.stats.engine_loads["success"] += 1
        with contextlib.suppress(Exception):  # inspector output is a bonus: timings work without it
            events = inspector_events(self.trt, loaded, self.settings)
            self._emit(events, events, False)
        previous, self.loaded = self.loaded, loaded  # one reference swap between two inferences
        if previous is not None:
            loader.release(previous)  # the host thread runs no inference on it any more
        self.stats.up = True
        self.log.info(
            "engine loaded",
            engine=self.settings.engine_id,
            inputs={k: list(v) for k, v in loaded.inputs.items()},
        )
        return True

    def _profile(self, loader: EngineLoader) -> None:
        s = self.settings
        next_check = self.clock() + s.reload_check_interval
        min_period = 1.0 / s.max_inferences_per_second if s.max_inferences_per_second > 0 else 0.0
        failures = 0  # consecutive failed inferences
        resume_at = 0.0  # backing off after failures until then (engine file checks go on)
        while not self._stop.is_set():
            now = self.clock()
            if now >= next_check:
                next_check = now + s.reload_check_interval
                if self._maybe_reload(loader):
                    failures, resume_at = 0, 0.0  # a new engine: try it at once
            if now < resume_at:
                self._stop.wait(max(0.0, min(resume_at, next_check) - now))
                continue
            loaded = self.loaded
            assert loaded is not None
            if self.ring.room() < loaded.engine.num_layers * 2 + 16:
                self._stop.wait(s.aggregate_interval)  # the aggregator is behind: wait, lose nothing
                continue
            if self._gpu_busy():
                continue
            started = self.clock()
            ok = loaded.context.execute_async_v3(loaded.stream)
            if ok:
                loader.cuda.synchronize(loaded.stream)
                ok = loaded.context.report_to_profiler()
            self.ring.end_inference()
            busy = self.clock() - started
            self.stats.busy_seconds += busy
            if ok:
                self.stats.inferences += 1
                failures = 0
            else:
                self.stats.failed_inferences += 1
                failures += 1
                self.stats.backoffs["failure"] += 1
                if failures == 1:
                    self.log.warning("inference failed; backing off (TensorRT logged why)")
                resume_at = self.clock() + min(
                    FAILURE_BACKOFF_MAX, FAILURE_BACKOFF * 2 ** min(failures - 1, 16)
                )
            # The budget: GPU time / wall time <= max_duty_cycle, and at most N inferences a second.
            pause = max(
                busy * (1.0 / s.max_duty_cycle - 1.0) if s.max_duty_cycle > 0 else 0.0, min_period - busy
            )
            self._stop.wait(max(0.0, pause))

    def _gpu_busy(self) -> bool:
        if self.utilization is None:
            return False
        percent = self.utilization.percent()
        if percent is not None and percent >= self.settings.gpu_busy_percent:
            self.stats.backoffs["gpu_busy"] += 1
            self._stop.wait(self.settings.busy_backoff)
            return True
        return False

    def _maybe_reload(self, loader: EngineLoader) -> bool:
        """Load the engine file again when it changed; True when a new engine was swapped in."""
        loaded = self.loaded
        try:
            identity = _file_identity(self.settings.engine_file)
        except OSError:
            return False  # being replaced: look again next time
        if loaded is not None and identity != loaded.identity:
            self.log.info("engine file changed; reloading", file=self.settings.engine_file)
            if self._load(loader):
                return True
            # keep running the old engine, and do not retry the same broken file every time
            loaded.identity = identity
        return False

    # -- aggregator thread ------------------------------------------------------------------------

    def _aggregate_loop(self) -> None:
        while not self._host_done.wait(self.settings.aggregate_interval):
            self.aggregate()
        self.aggregate(final=True)

    def aggregate(self, *, final: bool = False) -> None:
        """Move what the callbacks and the logger queued into the sink (aggregator thread).
        ``final``: the host has stopped, so the last iteration is complete too."""
        reports = self.ring.drain()
        if reports or (final and self._tail):
            self.stats.reports += sum(1 for r in reports if r is not None)
            iterations, self._tail = split_iterations([*self._tail, *reports])
            if final and self._tail:
                iterations.append(self._tail)
                self._tail = []
            folded: list[Event] = []
            written: list[Event] = []
            engine = self.settings.engine_id
            every = self.settings.events_every
            for iteration in iterations:
                self._iteration += 1
                events = [
                    make_event(
                        "layer_time", None, "info", engine, PROFILER_SOURCE, None, {"layer": name, "ms": ms}
                    )
                    for name, ms in iteration
                ]
                folded += events
                if every and (self._iteration - 1) % every == 0:  # the 1st, (every+1)th, ...
                    written += events
            if folded:
                self._emit(folded, written, False)
        drained = []
        while self.messages:
            drained.append(self.messages.popleft())
        self.stats.logger_messages += len(drained)
        messages = logger_events(drained, self._reader)
        if messages:
            self._emit(messages, messages, True)


def run_profile(
    settings: ProfilerSettings,
    iterations: int,
    *,
    warmup: int = 10,
    trt: Any = None,
    cuda_factory: Callable[[int], CudaBackend] = PycudaBackend,
) -> tuple[dict[str, list[float]], list[Event], int]:
    """``trt-agent profile``: ``warmup`` then ``iterations`` inferences back to back (no budget:
    the GPU is the operator's for this command). Returns per-layer times (ms, one per inference:
    the sum of its reports when a layer reports more than once, as one in a loop does; in
    execution order), the engine's build-side events and TensorRT's logger events."""
    trt = trt if trt is not None else import_tensorrt()
    ring = LayerTimeRing(settings.ring_capacity)
    messages: collections.deque[tuple[int, str]] = collections.deque(maxlen=10_000)
    logger = make_logger(trt, messages, TRT_LOGGER_LEVEL.get(settings.log_severity, 2))
    cuda = cuda_factory(settings.device)
    times: dict[str, list[float]] = {}
    loader: EngineLoader | None = None
    loaded: LoadedEngine | None = None
    try:
        loader = EngineLoader(trt, trt.Runtime(logger), cuda, settings, ring)
        loaded = loader.load()
        try:
            events = inspector_events(trt, loaded, settings)
        except Exception:
            events = []
        for index in range(warmup + iterations):
            if not loaded.context.execute_async_v3(loaded.stream):
                raise ProfilerError(f"profiler: inference {index + 1} failed (TensorRT logged why)")
            cuda.synchronize(loaded.stream)
            if not loaded.context.report_to_profiler():
                raise ProfilerError(f"profiler: TensorRT reported no layer times for inference {index + 1}")
            reports = ring.drain()
            if index >= warmup:
                # A layer inside a loop reports once per trip: its time in this inference is the sum.
                inference: dict[str, float] = {}
                for report in reports:
                    if report is not None:
                        inference[report[0]] = inference.get(report[0], 0.0) + report[1]
                for name, ms in inference.items():
                    times.setdefault(name, []).append(ms)
    finally:
        # TensorRT's context, engine and runtime free their device memory in the CUDA context
        # they were made in: they go before the backend pops it.
        loaded = loader = None
        cuda.close()
    events += logger_events(list(messages), LogReader("<tensorrt>", settings.engine_id, ParseStats()))
    return times, events, iterations
