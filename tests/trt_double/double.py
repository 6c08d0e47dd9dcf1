"""A double of NVIDIA's TensorRT Python API (the 10.x/11.x names the profiler host uses).

Names, signatures and behaviour follow NVIDIA's shipped bindings (``../shared/TENSORRT_API.md``;
``tests/contract/test_trt_double.py`` checks the names against NVIDIA's own module when it can be
loaded): the profiler is called once per layer per inference, with the engine's layer names, on
the thread that calls ``execute_async_v3`` (``enqueue_emits_profile``) or
``report_to_profiler()``, and an exception raised in the callback is printed and swallowed.
``deserialize_cuda_engine`` and ``execute_async_v3`` say failure by returning None/False and
logging through the ``ILogger``, as TensorRT does.

When NVIDIA's module loads (``nvidia.load_bindings``), :func:`make_trt` takes ``IProfiler``,
``ILogger``, ``Logger`` and the enums from it, so the host's subclasses are NVIDIA's classes.

A serialized engine of the double is JSON (see :func:`plan`): its layers with their times, its
I/O tensors and the profiling verbosity it was "built" with.
"""

from __future__ import annotations

import enum
import json
import random
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

PLAN_MAGIC = "trt-double-plan"
DESERIALIZE_ERROR = (
    "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion "
    "magicTagRead == kMAGIC_TAG failed.Magic tag does not match)"
)


# -- the classes and enums NVIDIA's module provides (stand-ins when it cannot be loaded) ----------


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = Severity
    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def __init__(self) -> None:
        self._trt_initialised = True

    def log(self, severity: Severity, msg: str) -> None:
        raise RuntimeError('Tried to call pure virtual function "ILogger::log"')


class Logger(ILogger):
    def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
        ILogger.__init__(self)
        self.min_severity = min_severity

    def log(self, severity: Severity, msg: str) -> None:
        if severity <= self.min_severity:
            print(msg)


class IProfiler:
    def __init__(self) -> None:
        self._trt_initialised = True

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        raise RuntimeError('Tried to call pure virtual function "IProfiler::report_layer_time"')


class ProfilingVerbosity(enum.IntEnum):
    LAYER_NAMES_ONLY = 0
    NONE = 1
    DETAILED = 2


class LayerInformationFormat(enum.IntEnum):
    ONELINE = 0
    JSON = 1


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8
    INT4 = 9
    FP4 = 10
    E8M0 = 11

    @property
    def itemsize(self) -> int:
        return {0: 4, 1: 2, 2: 1, 3: 4, 4: 1, 5: 1, 6: 1, 7: 2, 8: 8, 9: 1, 10: 1, 11: 1}[int(self)]


_NUMPY_NAMES = {0: "float32", 1: "float16", 2: "int8", 3: "int32", 4: "bool", 5: "uint8", 8: "int64"}


def nptype(dtype: Any) -> Any:
    """NVIDIA's ``trt.nptype``: the numpy type, TypeError for types numpy lacks (BF16, FP8…)."""
    import numpy as np

    name = _NUMPY_NAMES.get(int(dtype))
    if name is None:
        raise TypeError(f"Could not resolve TensorRT datatype to an equivalent numpy datatype. {dtype}")
    return getattr(np, name if name != "bool" else "bool_")


# -- engines of the double ----------------------------------------------------------------------------


def plan(
    layers: list[dict[str, Any]],
    io: list[dict[str, Any]],
    *,
    verbosity: str = "DETAILED",
    name: str = "network",
) -> bytes:
    """A serialized engine: ``layers`` = [{"name", "ms", "type", "precision", "sources"}],
    ``io`` = [{"name", "mode": "INPUT"|"OUTPUT", "dtype": "FLOAT", "shape": [-1, 3, 224, 224],
    "profile": [min, opt, max] for dynamic inputs}]."""
    return json.dumps(
        {"magic": PLAN_MAGIC, "name": name, "layers": layers, "io": io, "verbosity": verbosity}
    ).encode()


@dataclass
class _Tensor:
    name: str
    mode: Any
    dtype: Any
    shape: tuple[int, ...]
    profile: list[tuple[int, ...]] | None = None


class ICudaEngine:
    def __init__(self, trt: types.SimpleNamespace, doc: dict[str, Any], runtime: Runtime) -> None:
        self._trt = trt
        self._runtime = runtime
        self._layers: list[dict[str, Any]] = doc["layers"]
        self._io = [
            _Tensor(
                t["name"],
                trt.TensorIOMode.INPUT if t["mode"] == "INPUT" else trt.TensorIOMode.OUTPUT,
                getattr(trt.DataType, t.get("dtype", "FLOAT")),
                tuple(t["shape"]),
                [tuple(s) for s in t["profile"]] if t.get("profile") else None,
            )
            for t in doc["io"]
        ]
        self.name: str = doc.get("name", "")
        self.profiling_verbosity = getattr(trt.ProfilingVerbosity, doc.get("verbosity", "LAYER_NAMES_ONLY"))

    def _tensor(self, name: str) -> _Tensor:
        for t in self._io:
            if t.name == name:
                return t
        raise RuntimeError(f"no tensor named {name}")

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    @property
    def num_optimization_profiles(self) -> int:
        return 1

    def get_tensor_name(self, index: int) -> str:
        return self._io[index].name

    def get_tensor_mode(self, name: str) -> Any:
        return self._tensor(name).mode

    def get_tensor_dtype(self, name: str) -> Any:
        return self._tensor(name).dtype

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._tensor(name).shape

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
        t = self._tensor(name)
        if profile_index != 0 or t.profile is None:
            return [t.shape, t.shape, t.shape]
        return list(t.profile)

    def create_execution_context(self, strategy: Any = 0) -> IExecutionContext:
        return IExecutionContext(self)

    def create_engine_inspector(self) -> EngineInspector:
        return EngineInspector(self)


class IExecutionContext:
    """One context: shapes, addresses, enqueue, and the profiler calls TensorRT makes."""

    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self._trt = engine._trt
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._addresses: dict[str, int] = {}
        self._profiler: Any = None
        self.enqueue_emits_profile = True
        self._pending: list[tuple[str, float]] | None = None
        self._rng = random.Random(1)
        self.enqueue_threads: set[int] = set()  # what the tests check: callbacks run here
        self.name = ""

    # profiler property with NVIDIA's type check (pybind11 refuses other types)
    @property
    def profiler(self) -> Any:
        return self._profiler

    @profiler.setter
    def profiler(self, value: Any) -> None:
        if value is not None and not isinstance(value, self._trt.IProfiler):
            raise TypeError(
                "profiler(): incompatible function arguments. The following argument types are supported"
            )
        if value is not None and not getattr(value, "_trt_initialised", True):
            raise TypeError(f"{type(value).__name__}.__init__() must be called when overriding __init__")
        self._profiler = value

    def _log_error(self, msg: str) -> None:
        self.engine._runtime._logger.log(self._trt.ILogger.Severity.ERROR, msg)

    def set_input_shape(self, name: str, shape: Any) -> bool:
        t = self.engine._tensor(name)
        shape = tuple(int(d) for d in shape)
        lo, hi = (t.profile[0], t.profile[2]) if t.profile else (t.shape, t.shape)
        if len(shape) != len(t.shape) or any(
            not (a <= d <= b) for a, d, b in zip(lo, shape, hi, strict=True)
        ):
            self._log_error(
                f"IExecutionContext::setInputShape: Error Code 3: API Usage Error (Parameter check failed, "
                f"condition: satisfyProfile. Set dimension {list(shape)} for tensor {name} does not satisfy "
                f"any optimization profiles.)"
            )
            return False
        self._shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        t = self.engine._tensor(name)
        if t.mode == self._trt.TensorIOMode.INPUT:
            return self._shapes.get(name, t.shape)
        first = next(iter(self._shapes.values()), None)
        return tuple(
            (first[i] if first is not None and i < len(first) else -1) if d < 0 else d
            for i, d in enumerate(t.shape)
        )

    def get_max_output_size(self, name: str) -> int:
        return 1 << 20

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self.engine._tensor(name)
        self._addresses[name] = int(memory)
        return True

    def _layer_times(self) -> list[tuple[str, float]]:
        verbosity = self.engine.profiling_verbosity
        none = verbosity == self._trt.ProfilingVerbosity.NONE
        return [
            (str(i) if none else layer["name"], layer["ms"] * self._rng.uniform(0.95, 1.05))
            for i, layer in enumerate(self.engine._layers)
        ]

    def _report(self, times: list[tuple[str, float]]) -> None:
        profiler = self._profiler
        self.enqueue_threads.add(threading.get_ident())
        for name, ms in times:
            try:
                profiler.report_layer_time(name, ms)
            except Exception as exc:  # TensorRT's trampoline swallows and prints
                print(f"[ERROR] Exception caught in report_layer_time(): {exc}", file=sys.stderr)

    def execute_async_v3(self, stream_handle: int) -> bool:
        for t in self.engine._io:
            if (
                t.mode == self._trt.TensorIOMode.INPUT
                and any(d < 0 for d in t.shape)
                and t.name not in self._shapes
            ):
                self._log_error(
                    f"IExecutionContext::enqueueV3: Error Code 3: API Usage Error (Parameter check failed, "
                    f"condition: mContext.profileObliviousBindings.at(profileObliviousIndex). "
                    f"Input shape of {t.name} is not specified.)"
                )
                return False
            if t.name not in self._addresses:
                self._log_error(
                    f"IExecutionContext::enqueueV3: Error Code 3: API Usage Error (Parameter check failed, "
                    f"condition: mContext.profileObliviousBindings.at(profileObliviousIndex) || "
                    f"getPtrOrNull(mOutputAllocators, profileObliviousIndex). Address is not set for "
                    f"{'input' if t.mode == self._trt.TensorIOMode.INPUT else 'output'} tensor {t.name}. "
                    f"Call setInputTensorAddress or setTensorAddress before enqueue/execute.)"
                )
                return False
        times = self._layer_times()
        # "GPU" time; a real enqueue releases the GIL, and so does sleeping
        time.sleep(sum(ms for _, ms in times) / 1000.0 * self.engine._runtime.time_scale)
        if self._profiler is not None:
            if self.enqueue_emits_profile:
                self._report(times)
            else:
                self._pending = times
        return True

    def report_to_profiler(self) -> bool:
        if self._profiler is None or self._pending is None:
            return False
        times, self._pending = self._pending, None
        self._report(times)
        return True


class EngineInspector:
    def __init__(self, engine: ICudaEngine) -> None:
        self._engine = engine
        self.execution_context: Any = None
        self.error_recorder: Any = None

    def get_engine_information(self, format: Any) -> str:  # NVIDIA's parameter name
        engine, trt = self._engine, self._engine._trt
        verbosity = engine.profiling_verbosity
        if verbosity == trt.ProfilingVerbosity.NONE:
            layers: list[Any] = []
        elif verbosity == trt.ProfilingVerbosity.DETAILED:
            layers = [
                {
                    "Name": layer["name"],
                    "LayerType": layer.get("type", "CaskConvolution"),
                    "Outputs": [
                        {
                            "Name": f"{layer['name']}_out",
                            "Format/Datatype": layer.get("format", "Row major linear FP16 format"),
                        }
                    ],
                    "TacticValue": "0x0000000000000001",
                    "Metadata": "\x1e".join(f"[ONNX Layer: {s}]" for s in layer.get("sources", [])),
                }
                for layer in engine._layers
            ]
        else:
            layers = [layer["name"] for layer in engine._layers]
        return json.dumps({"Layers": layers, "Bindings": [t.name for t in engine._io]})


class Runtime:
    def __init__(self, logger: Any, time_scale: float = 1.0) -> None:
        self._logger = logger
        self.time_scale = time_scale
        self._trt: types.SimpleNamespace | None = None

    @property
    def logger(self) -> Any:
        return self._logger

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        assert self._trt is not None
        try:
            doc = json.loads(bytes(serialized_engine))
            ok = isinstance(doc, dict) and doc.get("magic") == PLAN_MAGIC
        except (ValueError, UnicodeDecodeError):
            ok = False
        if not ok:
            self._logger.log(self._trt.ILogger.Severity.ERROR, DESERIALIZE_ERROR)
            return None
        return ICudaEngine(self._trt, doc, self)


@dataclass
class Options:
    time_scale: float = 1.0  # multiplies the "GPU" time each inference sleeps
    runtimes: list[Runtime] = field(default_factory=list)


def make_trt(
    nvidia: types.ModuleType | None = None, *, time_scale: float = 1.0, version: str = "10.16.1"
) -> Any:
    """A module-like namespace standing in for ``import tensorrt``. With ``nvidia`` (NVIDIA's
    real bindings, loaded with stand-in libraries), the classes TensorRT users subclass and the
    enums are NVIDIA's own."""
    trt = types.SimpleNamespace()
    source = nvidia
    trt.__version__ = source.__version__ if source else version
    trt.ILogger = source.ILogger if source else ILogger
    trt.Logger = source.Logger if source else Logger
    trt.IProfiler = source.IProfiler if source else IProfiler
    for enum_name, local in (
        ("ProfilingVerbosity", ProfilingVerbosity),
        ("LayerInformationFormat", LayerInformationFormat),
        ("TensorIOMode", TensorIOMode),
        ("DataType", DataType),
    ):
        setattr(trt, enum_name, getattr(source, enum_name) if source else local)
    trt.nptype = getattr(source, "nptype", nptype) if source else nptype
    trt.ICudaEngine, trt.IExecutionContext, trt.EngineInspector = (
        ICudaEngine,
        IExecutionContext,
        EngineInspector,
    )

    def runtime(logger: Any) -> Runtime:
        if not isinstance(logger, trt.ILogger):
            raise TypeError(
                "__init__(): incompatible constructor arguments. The following argument types are supported"
            )
        made = Runtime(logger, time_scale)
        made._trt = trt
        trt.runtimes.append(made)
        return made

    trt.Runtime = runtime
    trt.runtimes = []
    return trt


class FakeCuda:
    """The host's ``CudaBackend`` without a GPU: device pointers are numbers, uploads are kept."""

    def __init__(self, device: int = 0) -> None:
        self.device = device
        self.allocations: dict[int, int] = {}
        self.uploads: dict[int, bytes] = {}
        self.closed = False
        self._next = 0x7F0000000000

    def stream(self) -> int:
        return 0x1000

    def alloc(self, nbytes: int) -> int:
        pointer = self._next
        self._next += max(256, (nbytes + 255) // 256 * 256)
        self.allocations[pointer] = nbytes
        return pointer

    def free(self, pointer: int) -> None:
        # cudaFree of a pointer not allocated (or freed twice) is an error: so here too
        del self.allocations[pointer]
        self.uploads.pop(pointer, None)

    def upload(self, pointer: int, data: bytes) -> None:
        assert len(data) <= self.allocations[pointer]
        self.uploads[pointer] = bytes(data)

    def synchronize(self, stream: int) -> None:
        pass

    def close(self) -> None:
        self.closed = True
