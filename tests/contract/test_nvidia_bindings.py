"""NVIDIA's real TensorRT Python bindings, loaded without a GPU (tests/trt_double/nvidia.py), checked
against what /work/shared/TENSORRT_API.md says about them: the version, subclassing IProfiler/ILogger, the
enums and the signatures a profiling sidecar relies on."""

from __future__ import annotations

import types

import pytest
from trt_double.nvidia import (
    load_bindings,
    nvidia_signature,
    nvidia_signatures,
    nvidia_writable,
    parse_signature,
    skip_reason,
)

EXPECTED_MAJOR = "11."  # the tensorrt_cu13_bindings pin in pyproject.toml's test extra


@pytest.fixture(scope="module")
def trt() -> types.ModuleType:
    module = load_bindings()
    if module is None:
        pytest.skip(f"NVIDIA's TensorRT bindings not available: {skip_reason()}")
    return module


def test_version_and_layout(trt: types.ModuleType) -> None:
    assert trt.__version__.startswith(EXPECTED_MAJOR)
    assert trt.__name__ == "tensorrt_bindings"
    assert trt.IProfiler.__module__ == "tensorrt_bindings.tensorrt"  # the pybind11 extension itself
    assert load_bindings() is trt  # cached: a second call neither rebuilds nor re-imports


def test_iprofiler_subclass(trt: types.ModuleType) -> None:
    class LayerTimes(trt.IProfiler):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.records: list[tuple[str, float]] = []

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.records.append((layer_name, ms))

    profiler = LayerTimes()
    assert isinstance(profiler, trt.IProfiler)
    # Called from Python only: TensorRT calls it through the C++ trampoline (IProfiler::reportLayerTime)
    # from inside execute_v2/execute_async_v3/report_to_profiler, which needs an execution context, i.e.
    # the real libnvinfer and a GPU; the stand-in libnvinfer gives none.
    profiler.report_layer_time("conv1 + bn1 + relu1", 0.25)
    assert profiler.records == [("conv1 + bn1 + relu1", 0.25)]


def test_iprofiler_subclass_must_call_base_init(trt: types.ModuleType) -> None:
    class Forgetful(trt.IProfiler):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.records: list[tuple[str, float]] = []

    with pytest.raises(TypeError, match=r"IProfiler\.__init__\(\) must be called when overriding __init__"):
        Forgetful()


def test_ilogger_subclass(trt: types.ModuleType) -> None:
    class Messages(trt.ILogger):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[tuple[object, str]] = []

        def log(self, severity: object, msg: str) -> None:
            self.messages.append((severity, msg))

    logger = Messages()
    assert isinstance(logger, trt.ILogger)
    # As with the profiler, TensorRT would call log() through the C++ trampoline; here Python calls it.
    logger.log(trt.ILogger.Severity.VERBOSE, "no filtering in the base class")
    assert logger.messages == [(trt.ILogger.VERBOSE, "no filtering in the base class")]


def test_builtin_logger_filters_and_prints_to_stdout(
    trt: types.ModuleType, capfd: pytest.CaptureFixture[str]
) -> None:
    # trt.Logger is C++ inside the bindings (no libnvinfer needed), so this is NVIDIA's own behaviour.
    logger = trt.Logger()
    assert logger.min_severity == trt.ILogger.Severity.WARNING
    assert trt.Logger.WARNING is trt.ILogger.Severity.WARNING and trt.Logger.Severity is trt.ILogger.Severity
    logger.log(trt.ILogger.INFO, "below the threshold")
    logger.log(trt.ILogger.ERROR, "an error")
    logger.min_severity = trt.ILogger.VERBOSE
    logger.log(trt.ILogger.VERBOSE, "now shown")
    out, err = capfd.readouterr()
    assert "below the threshold" not in out
    assert "[TRT] [E] an error" in out and "[TRT] [V] now shown" in out
    assert err == ""


def test_runtime_cannot_be_created_without_libnvinfer(trt: types.ModuleType) -> None:
    # What the stand-in gives: the factory returns NULL. Documents why the tests above stop at Python.
    with pytest.raises(TypeError, match="factory function returned nullptr"):
        trt.Runtime(trt.Logger())


# TENSORRT_API.md, "Enums" table
ENUMS = {
    "ILogger.Severity": {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4},
    "ProfilingVerbosity": {"LAYER_NAMES_ONLY": 0, "NONE": 1, "DETAILED": 2},
    "LayerInformationFormat": {"ONELINE": 0, "JSON": 1},
    "TensorIOMode": {"NONE": 0, "INPUT": 1, "OUTPUT": 2},
    "TensorLocation": {"DEVICE": 0, "HOST": 1},
    "ExecutionContextAllocationStrategy": {"STATIC": 0, "ON_PROFILE_CHANGE": 1, "USER_MANAGED": 2},
    "DataType": {
        "FLOAT": 0,
        "HALF": 1,
        "INT8": 2,
        "INT32": 3,
        "BOOL": 4,
        "UINT8": 5,
        "FP8": 6,
        "BF16": 7,
        "INT64": 8,
        "INT4": 9,
        "FP4": 10,
        "E8M0": 11,
    },
}


@pytest.mark.parametrize("path", sorted(ENUMS))
def test_enum_members_and_values(trt: types.ModuleType, path: str) -> None:
    enum: object = trt
    for part in path.split("."):
        enum = getattr(enum, part)
    members = {name: int(value) for name, value in enum.__members__.items()}  # type: ignore[attr-defined]
    assert members == ENUMS[path]  # exactly these: no more, no fewer


def test_enum_details(trt: types.ModuleType) -> None:
    for name, value in ENUMS["ILogger.Severity"].items():  # also class attributes of ILogger
        assert getattr(trt.ILogger, name) is getattr(trt.ILogger.Severity, name)
        assert int(getattr(trt.ILogger, name)) == value
    for gone in ("DEFAULT", "VERBOSE"):  # the 8.x aliases
        assert not hasattr(trt.ProfilingVerbosity, gone)
    assert trt.float32 == trt.DataType.FLOAT and trt.DataType.HALF.itemsize == 2


# TENSORRT_API.md's signatures, without self and in its spelling (int for typing.SupportsInt, ...); a
# property reads "name: type". Several entries: the overloads, in pybind11's order.
SIGNATURES = {
    "IExecutionContext.execute_async_v3": ["execute_async_v3(stream_handle: int) -> bool"],
    "IExecutionContext.report_to_profiler": ["report_to_profiler() -> bool"],
    "IExecutionContext.enqueue_emits_profile": ["enqueue_emits_profile: bool"],
    "IExecutionContext.profiler": ["profiler: IProfiler"],
    "Runtime.deserialize_cuda_engine": [
        "deserialize_cuda_engine(serialized_engine: Buffer) -> ICudaEngine",
        "deserialize_cuda_engine(stream_reader_v2: IStreamReaderV2) -> ICudaEngine",
    ],
    "ICudaEngine.create_engine_inspector": ["create_engine_inspector() -> EngineInspector"],
    "EngineInspector.get_engine_information": [
        "get_engine_information(format: LayerInformationFormat) -> str"
    ],
    "ICudaEngine.get_tensor_profile_shape": [
        "get_tensor_profile_shape(name: str, profile_index: int) -> list[Dims]"
    ],
    "IExecutionContext.set_input_shape": [
        "set_input_shape(name: str, shape: tuple) -> bool",
        "set_input_shape(name: str, shape: list) -> bool",
        "set_input_shape(name: str, shape: Dims) -> bool",
    ],
    "IExecutionContext.set_tensor_address": ["set_tensor_address(name: str, memory: int) -> bool"],
    "IProfiler.report_layer_time": ["report_layer_time(layer_name: str, ms: float) -> None"],
    "ILogger.log": ["log(severity: ILogger.Severity, msg: str) -> None"],
    "Logger": ["__init__(min_severity: ILogger.Severity = <Severity.WARNING: 2>) -> None"],
}


@pytest.mark.parametrize("path", sorted(SIGNATURES))
def test_signature(trt: types.ModuleType, path: str) -> None:
    found = [line if "(" not in line else parse_signature(line).plain() for line in nvidia_signatures(path)]
    assert found == SIGNATURES[path]


def test_signature_raw_and_parsed(trt: types.ModuleType) -> None:
    line = nvidia_signature("IExecutionContext.execute_async_v3")
    assert line == "execute_async_v3(self: IExecutionContext, stream_handle: typing.SupportsInt) -> bool"
    assert parse_signature(line).params == [
        ("self", "IExecutionContext", None),
        ("stream_handle", "typing.SupportsInt", None),
    ]
    # the first overload for an overloaded function
    assert nvidia_signature("Runtime.deserialize_cuda_engine").startswith(
        "deserialize_cuda_engine(self: Runtime, "
    )
    assert nvidia_writable("IExecutionContext.enqueue_emits_profile")
    assert nvidia_writable("IExecutionContext.profiler")
    assert not nvidia_writable("ICudaEngine.num_layers")


def test_engine_inspector_name(trt: types.ModuleType) -> None:
    assert hasattr(trt, "EngineInspector")
    assert not hasattr(trt, "IEngineInspector")  # although its docstrings say "Create an IEngineInspector"
    assert "IEngineInspector" in trt.ICudaEngine.create_engine_inspector.__doc__
    with pytest.raises(AttributeError, match="no attribute 'IEngineInspector'"):
        nvidia_signature("IEngineInspector.get_engine_information")


@pytest.mark.parametrize(
    "path",
    [
        "IExecutionContext.execute_async_v2",  # gone since 10.0
        "IExecutionContext.set_binding_shape",
        "ICudaEngine.num_bindings",
        "ICudaEngine.device_memory_size",  # removed in 11.0
        "IExecutionContext.all_shape_inputs_specified",
    ],
)
def test_removed_names(trt: types.ModuleType, path: str) -> None:
    with pytest.raises(AttributeError):
        nvidia_signature(path)
