"""Running the engine: :func:`infer_once`, the one inference step both the host (paced by its
budget) and :func:`run_profile` (``trt-agent profile``: back to back, no budget) take."""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from typing import Any

from trt_agent.config import ProfilerConfig as ProfilerSettings
from trt_agent.parse import ParseStats
from trt_agent.parse.log import LogReader
from trt_agent.sources.profiler.callbacks import LayerTimeRing, logger_events, make_logger
from trt_agent.sources.profiler.cuda import CudaBackend, PycudaBackend
from trt_agent.sources.profiler.errors import ProfilerError
from trt_agent.sources.profiler.runtime import (
    EngineLoader,
    LoadedEngine,
    import_tensorrt,
    inspector_events,
)
from trt_agent.vocab.events import Event
from trt_agent.vocab.severities import TRT_LOGGER_LEVEL


class Inference(enum.Enum):
    """How one :func:`infer_once` went."""

    DONE = "done"  # ran, and TensorRT reported its layer times to the profiler
    NOT_RUN = "not_run"  # execute_async_v3 said no (TensorRT logged why)
    NOT_REPORTED = "not_reported"  # it ran, but report_to_profiler said no


def infer_once(loaded: LoadedEngine, cuda: CudaBackend) -> Inference:
    """One inference on ``loaded`` (its inputs and tensor addresses were set when it was loaded):
    enqueue it on the engine's stream, wait for the stream, then have TensorRT call the profiler
    back with this inference's layer times, on this thread.

    The profiler's callbacks run inside ``report_to_profiler``; marking the end of the inference
    in the ring (the host) or draining it (``trt-agent profile``) is the caller's."""
    try:
        if not loaded.context.execute_async_v3(loaded.stream):
            return Inference.NOT_RUN
        cuda.synchronize(loaded.stream)
        if not loaded.context.report_to_profiler():
            return Inference.NOT_REPORTED
        return Inference.DONE
    except BaseException:
        # The traceback keeps this frame while the exception travels, and the frame would keep
        # the engine: run_profile frees the engine before its CUDA context goes (see there), so
        # this frame must not hold it either (an interrupted `trt-agent profile`, a TensorRT error).
        del loaded
        raise


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
            outcome = infer_once(loaded, cuda)
            if outcome is Inference.NOT_RUN:
                raise ProfilerError(f"profiler: inference {index + 1} failed (TensorRT logged why)")
            if outcome is Inference.NOT_REPORTED:
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
