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

The modules, laid out as Polygraphy lays out a backend:

* ``runtime``: importing TensorRT, deserialising the engine into a context with its shapes,
  buffers and inputs (:class:`EngineLoader`, :class:`LoadedEngine`), the inspector's events;
* ``callbacks``: the ``IProfiler`` and ``ILogger`` subclasses, the :class:`LayerTimeRing`, the
  ring cut into inferences and the logger's messages as events;
* ``cuda``: the CUDA calls (:class:`CudaBackend`, :class:`PycudaBackend`) and NVML utilisation;
* ``inference``: :func:`infer_once`, the one inference step the host and :func:`run_profile`
  (``trt-agent profile``) share;
* ``host``: :class:`ProfilerHost` (threads, duty cycle, backoff, hot reload), :class:`ProfilerStats`;
* ``errors``: :class:`ProfilerError` and the install hint every other module may need.
"""

from __future__ import annotations

from trt_agent.sources.profiler.callbacks import (
    LOGGER_SOURCE,
    PROFILER_SOURCE,
    LayerTimeRing,
    logger_events,
    make_logger,
    make_profiler,
    split_iterations,
)
from trt_agent.sources.profiler.cuda import CudaBackend, GpuUtilization, NvmlUtilization, PycudaBackend
from trt_agent.sources.profiler.errors import INSTALL_HINT, ProfilerError
from trt_agent.sources.profiler.host import (
    FAILURE_BACKOFF,
    FAILURE_BACKOFF_MAX,
    ProfilerHost,
    ProfilerStats,
    Sink,
)
from trt_agent.sources.profiler.inference import Inference, infer_once, run_profile
from trt_agent.sources.profiler.runtime import (
    EngineLoader,
    LoadedEngine,
    file_identity,
    import_tensorrt,
    inspector_events,
)

__all__ = [
    "FAILURE_BACKOFF",
    "FAILURE_BACKOFF_MAX",
    "INSTALL_HINT",
    "LOGGER_SOURCE",
    "PROFILER_SOURCE",
    "CudaBackend",
    "EngineLoader",
    "GpuUtilization",
    "Inference",
    "LayerTimeRing",
    "LoadedEngine",
    "NvmlUtilization",
    "ProfilerError",
    "ProfilerHost",
    "ProfilerStats",
    "PycudaBackend",
    "Sink",
    "file_identity",
    "import_tensorrt",
    "infer_once",
    "inspector_events",
    "logger_events",
    "make_logger",
    "make_profiler",
    "run_profile",
    "split_iterations",
]
