"""A real run: TensorRT builds a tiny network on the GPU, the host profiles it (``-m gpu``).

Skipped cleanly where TensorRT (with its libraries), pycuda or a GPU is missing, as on the
development and CI machines. On a GPU machine: ``pip install -e '.[gpu,test]' && pytest -m gpu``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trt_agent.config import ProfilerConfig
from trt_agent.model import build_models
from trt_agent.sources.profiler import ProfilerError, ProfilerHost, import_tensorrt, run_profile

pytestmark = pytest.mark.gpu


def real_tensorrt() -> Any:
    try:
        trt = import_tensorrt()
        import pycuda.driver as cuda  # type: ignore[import-not-found,unused-ignore]

        cuda.init()
        if cuda.Device.count() < 1:
            pytest.skip("no CUDA device")
    except (ProfilerError, ImportError) as exc:
        pytest.skip(f"needs TensorRT and pycuda with a GPU: {exc}")
    except Exception as exc:  # pycuda.driver.Error without a driver
        pytest.skip(f"no usable CUDA driver: {exc}")
    return trt


def tiny_engine(trt: Any, path: Path) -> list[str]:
    """input[1,3,32,32] -> conv 3x3 (16) -> ReLU -> max pool -> output, built with DETAILED
    verbosity; returns the engine's layer names as its inspector reports them."""
    import numpy as np

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    x = network.add_input("input", trt.float32, (1, 3, 32, 32))
    weights = np.random.default_rng(0).standard_normal((16, 3, 3, 3)).astype(np.float32)
    conv = network.add_convolution_nd(
        x, 16, (3, 3), trt.Weights(weights), trt.Weights(np.zeros(16, np.float32))
    )
    conv.name = "conv1"
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = "relu1"
    pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
    pool.name = "pool1"
    pool.get_output(0).name = "output"
    network.mark_output(pool.get_output(0))
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    serialized = builder.build_serialized_network(network, config)
    assert serialized is not None, "TensorRT could not build the tiny network"
    path.write_bytes(bytes(serialized))
    engine = trt.Runtime(logger).deserialize_cuda_engine(bytes(serialized))
    import json

    info = json.loads(
        engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)
    )
    return [layer["Name"] if isinstance(layer, dict) else layer for layer in info["Layers"]]


def test_real_engine_reports_per_layer_times(tmp_path: Path) -> None:
    trt = real_tensorrt()
    path = tmp_path / "tiny.plan"
    layers = tiny_engine(trt, path)
    settings = ProfilerConfig(engine_file=str(path), engine_id="tiny")
    times, events, iterations = run_profile(settings, 50, warmup=5)
    assert iterations == 50
    # every layer TensorRT profiled is one the inspector lists, each reported once per inference
    assert times and set(times) <= set(layers), (times.keys(), layers)
    assert {len(v) for v in times.values()} == {50}
    assert all(ms >= 0 for values in times.values() for ms in values)
    model = build_models(events)["tiny"]
    assert model.layers and any(layer.precision for layer in model.layers.values())

    got: list[Any] = []
    host = ProfilerHost(settings, lambda folded, written, count: got.extend(folded))
    host.start()
    try:
        import time

        deadline = time.monotonic() + 20
        while host.stats.inferences < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        host.stop()
    assert host.stats.inferences >= 20 and host.stats.reports >= 20 * len(times)
    assert host.stats.duty_cycle <= settings.max_duty_cycle * 1.5
    assert {e["layer"] for e in got if e["type"] == "layer_time"} == set(times)
