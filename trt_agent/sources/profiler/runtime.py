"""TensorRT's runtime side: importing ``tensorrt`` (:func:`import_tensorrt`, only when a host or
``trt-agent profile`` starts), deserialising the engine into an execution context with the
profiler attached and its inputs bound (:class:`EngineLoader` → :class:`LoadedEngine`: shapes,
device buffers, synthetic or recorded inputs), and the engine inspector's build-side events
(:func:`inspector_events`)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trt_agent.config import ProfilerConfig as ProfilerSettings
from trt_agent.parse import ParseStats
from trt_agent.parse.artifacts import parse_artifact
from trt_agent.sources.profiler.callbacks import LayerTimeRing, make_profiler
from trt_agent.sources.profiler.cuda import CudaBackend
from trt_agent.sources.profiler.errors import INSTALL_HINT, ProfilerError
from trt_agent.vocab.events import Event

if TYPE_CHECKING:
    # NVIDIA's type stubs (tensorrt-stubs, installed by scripts/test.sh): mypy checks every
    # TensorRT call below against them. At run time the module in use is handed in.
    import tensorrt as trt_api  # type: ignore[import-not-found,unused-ignore]


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


def file_identity(path: str) -> tuple[int, int, int]:
    """``(inode, size, mtime_ns)``: what the host compares to see that the engine file changed."""
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
            identity = file_identity(path)
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
