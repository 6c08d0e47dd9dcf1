"""The double stays honest: every TensorRT name the host uses exists in NVIDIA's bindings with the
same parameters, and the double calls a profiler as TensorRT does (TENSORRT_API.md)."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import pytest
from trt_double.double import make_trt, plan
from trt_double.nvidia import nvidia_signatures, parse_signature
from trt_double.profiling import IO, LAYERS, NVIDIA

# Every TensorRT name the host uses, with the double's implementation to compare.
USED = [
    "Runtime.deserialize_cuda_engine",
    "ICudaEngine.num_io_tensors",
    "ICudaEngine.num_layers",
    "ICudaEngine.get_tensor_name",
    "ICudaEngine.get_tensor_mode",
    "ICudaEngine.get_tensor_dtype",
    "ICudaEngine.get_tensor_shape",
    "ICudaEngine.get_tensor_profile_shape",
    "ICudaEngine.create_execution_context",
    "ICudaEngine.create_engine_inspector",
    "ICudaEngine.profiling_verbosity",
    "IExecutionContext.set_input_shape",
    "IExecutionContext.get_tensor_shape",
    "IExecutionContext.set_tensor_address",
    "IExecutionContext.get_max_output_size",
    "IExecutionContext.execute_async_v3",
    "IExecutionContext.report_to_profiler",
    "IExecutionContext.enqueue_emits_profile",
    "IExecutionContext.profiler",
    "EngineInspector.get_engine_information",
    "EngineInspector.execution_context",
    "IProfiler.report_layer_time",
    "ILogger.log",
    "DataType.itemsize",
]


@pytest.mark.skipif(NVIDIA is None, reason="NVIDIA's bindings did not load (tests/trt_double/nvidia.py)")
@pytest.mark.parametrize("name", USED)
def test_the_double_uses_nvidias_names_and_parameters(name: str) -> None:
    from trt_double import double

    cls_name, attr = name.split(".")
    assert NVIDIA is not None
    theirs_obj = inspect.getattr_static(getattr(NVIDIA, cls_name), attr)  # AttributeError if NVIDIA lacks it
    if isinstance(theirs_obj, property):
        return  # a property (an instance attribute of the double): NVIDIA's class having it is the check
    ours = getattr(getattr(double, cls_name), attr)
    signatures = nvidia_signatures(name)
    params = [p for p in inspect.signature(ours).parameters if p != "self"]
    theirs = [[p for p, _, _ in parse_signature(s).params if p != "self"] for s in signatures]
    assert params in theirs, f"double {name}{params} vs NVIDIA {signatures}"


def test_the_double_calls_a_profiler_as_tensorrt_does(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Once per layer per enqueue, engine layer names, on the enqueuing thread, and an exception
    raised in the callback printed and swallowed (TENSORRT_API.md, "How a Python IProfiler gets
    invoked")."""
    trt = make_trt(NVIDIA)
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(plan(LAYERS, IO))
    context = engine.create_execution_context()
    calls: list[tuple[str, int]] = []

    class Raising(trt.IProfiler):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            calls.append((layer_name, threading.get_ident()))
            raise ValueError("boom")

    context.profiler = Raising()
    context.set_input_shape("input", (2, 3, 8, 8))
    for name in ("input", "output"):
        context.set_tensor_address(name, 0x1000)
    assert context.execute_async_v3(7) is True  # enqueue_emits_profile: reports inside the enqueue
    assert calls == [(layer["name"], threading.get_ident()) for layer in LAYERS]
    assert capfd.readouterr().err.count("[ERROR] Exception caught in report_layer_time(): boom") == 3
    context.enqueue_emits_profile = False
    assert context.execute_async_v3(7) is True and len(calls) == 3  # deferred
    assert context.report_to_profiler() is True and len(calls) == 6
    assert context.report_to_profiler() is False  # one report per launch
