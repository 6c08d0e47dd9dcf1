"""The TensorRT host against the double of NVIDIA's API (tests/trt_double), whose ``IProfiler`` and
``ILogger`` are NVIDIA's own classes when the bindings load; the daemon and ``profile`` as real
processes whose ``import tensorrt`` / ``import pycuda`` find the doubles (PYTHONPATH)."""

from __future__ import annotations

import inspect
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness import Agent, new_agent, wait_for
from trt_double.double import FakeCuda, make_trt, plan
from trt_double.nvidia import load_bindings, nvidia_signatures, parse_signature

from trt_agent.config import ProfilerConfig
from trt_agent.model import build_models
from trt_agent.sources.profiler import (
    LayerTimeRing,
    ProfilerHost,
    make_profiler,
    run_profile,
    split_iterations,
)
from trt_agent.vocab.events import Event

SITE = Path(__file__).parent / "trt_double" / "site"
NVIDIA = load_bindings()
LAYERS = [
    {
        "name": "conv1 + bn1 + relu1",
        "ms": 0.30,
        "type": "CaskConvolution",
        "sources": ["conv1", "bn1", "relu1"],
    },
    {"name": "pool1", "ms": 0.05, "type": "CaskPooling", "sources": ["pool1"]},
    {"name": "fc + softmax", "ms": 0.10, "type": "CaskGemm", "sources": ["fc", "softmax"]},
]
IO = [
    {"name": "input", "mode": "INPUT", "dtype": "FLOAT", "shape": [-1, 3, 8, 8], "profile": [[1, 3, 8, 8], [4, 3, 8, 8], [8, 3, 8, 8]]},
    {"name": "output", "mode": "OUTPUT", "dtype": "FLOAT", "shape": [-1, 10]},
]  # fmt: skip


class Sink:
    """What the daemon's Pipeline.observe gets: events to fold, events to write, count flag."""

    def __init__(self) -> None:
        self.folded: list[Event] = []
        self.written: list[Event] = []
        self.counted: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, events: list[Event], written: list[Event], count: bool) -> None:
        with self.lock:
            self.folded += events
            self.written += written
            if count:
                self.counted += events

    def times(self) -> list[Event]:
        with self.lock:
            return [e for e in self.folded if e["type"] == "layer_time"]


def engine_file(tmp_path: Path, layers: list[dict[str, Any]] = LAYERS, name: str = "model.plan") -> Path:
    path = tmp_path / name
    path.write_bytes(plan(layers, IO))
    return path


def settings(path: Path, **options: Any) -> ProfilerConfig:
    defaults: dict[str, Any] = {
        "max_duty_cycle": 0.5,
        "max_inferences_per_second": 500,
        "reload_check_interval": 0.1,
    }
    return ProfilerConfig(engine_file=str(path), engine_id="resnet", **(defaults | options))


def host(path: Path, sink: Sink, trt: Any = None, **options: Any) -> ProfilerHost:
    return ProfilerHost(settings(path, **options), sink, trt=trt or make_trt(NVIDIA), cuda_factory=FakeCuda)


def running(h: ProfilerHost, until: Callable[[], Any], what: str, timeout: float = 10) -> None:
    h.start()
    try:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; stats {h.stats}"
            assert h.alive(), f"profiler thread died: {h.stats.last_error}"
            time.sleep(0.02)
    finally:
        h.stop()


# -- the callback and the aggregator ----------------------------------------------------------------


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


def test_inferences_are_cut_at_the_hosts_marks() -> None:
    ring = LayerTimeRing(capacity=16)
    for first, second in ((1.0, 2.0), (3.0, 4.0)):
        ring.append(("a", first))
        ring.append(("b", second))
        ring.end_inference()
    ring.append(("a", 5.0))  # the next inference, still being reported
    done, tail = split_iterations(ring.drain())
    assert done == [[("a", 1.0), ("b", 2.0)], [("a", 3.0), ("b", 4.0)]] and tail == [("a", 5.0)]
    # an engine swapped between inferences reports other names: still cut right
    ring.append(("b", 6.0))
    ring.end_inference()
    ring.append(("v2/x", 7.0))
    ring.end_inference()
    done, tail = split_iterations([*tail, *ring.drain()])
    assert done == [[("a", 5.0), ("b", 6.0)], [("v2/x", 7.0)]] and tail == []


# -- the host ------------------------------------------------------------------------------------------


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


# -- the double stays honest -----------------------------------------------------------------------------

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


# -- the real processes -----------------------------------------------------------------------------------


def double_path() -> dict[str, str]:
    """The environment addition that makes ``import tensorrt`` and ``import pycuda`` the doubles."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))}


def with_double() -> dict[str, str]:
    return os.environ | double_path()


def test_profile_command_prints_percentiles_joined_with_the_build(tmp_path: Path) -> None:
    path = engine_file(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "trt_agent",
        "profile",
        str(path),
        "--iterations",
        "30",
        "--shapes",
        "input:2x3x8x8",
    ]
    text = subprocess.run(cmd, capture_output=True, text=True, env=with_double(), timeout=60)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "engine model: 30 profiled inferences, 3 layers"
    conv = next(line for line in lines if line.startswith("conv1 + bn1 + relu1"))
    median, p90, p99, share, precision, fused = conv.split()[-6:]
    assert 0.28 < float(median) < 0.32 and float(median) <= float(p90) <= float(p99)
    assert (precision, fused) == ("Half", "yes") and 60 < float(share.rstrip("%")) < 72
    doc = orjson.loads(
        subprocess.run([*cmd, "--json"], capture_output=True, env=with_double(), timeout=60).stdout
    )
    assert [row["layer"] for row in doc["layers"]] == [layer["name"] for layer in LAYERS]
    assert {row["count"] for row in doc["layers"]} == {30}


def test_profile_without_tensorrt_says_what_to_install(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(tmp_path)}  # no double on the path
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "profile", str(engine_file(tmp_path))],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "pip install 'trt-agent[gpu]'" in result.stderr and "Traceback" not in result.stderr


def test_daemon_hosts_the_engine_and_exports_its_layers(tmp_path: Path, agents: list[Agent]) -> None:
    path = engine_file(tmp_path)
    agent = new_agent(agents, tmp_path, [], env=double_path())
    agent.write_config(
        f'[profiler]\nengine = "{path}"\nengine_id = "resnet"\nmax_duty_cycle = 0.2\nevents_every = 10\n'
    )
    agent.start()

    def profiled() -> dict[str, float] | None:
        m = agent.metrics()
        key = 'trt_layer_latency_seconds_count{engine="resnet",layer="conv1 + bn1 + relu1"}'
        return m if m.get(key, 0) >= 20 else None

    metrics = wait_for(profiled, 20, "profiled layers on /metrics", agent)
    assert metrics["trt_agent_profiler_up"] == 1
    assert metrics["trt_agent_profiler_reports_total"] >= 60
    assert metrics['trt_engine_layers{engine="resnet",precision="Half"}'] == 3  # from the inspector
    assert 0 < metrics["trt_agent_profiler_duty_cycle_ratio"] <= 0.25
    assert agent.stop() == 0
    sampled = [e for e in agent.events() if e["type"] == "layer_time"]
    assert sampled and all(e["source"] == {"kind": "profiler"} for e in sampled)


def test_daemon_without_tensorrt_keeps_tailing_and_says_why(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "build.log"
    log.write_text("[11/26/2026-10:00:00] [TRT] [W] probe x 00000001\n")
    agent = new_agent(
        agents, tmp_path, [{"path": str(log), "engine": "logs"}], env={"PYTHONPATH": str(tmp_path)}
    )
    agent.write_config(f'[profiler]\nengine = "{engine_file(tmp_path)}"\n')
    agent.start()
    failed = agent.wait_log("profiler not started; logs and metrics go on")
    assert "pip install 'trt-agent[gpu]'" in failed["error"]
    metrics = wait_for(lambda: (m := agent.metrics()).get("trt_agent_ready") == 1 and m, 10, "ready", agent)
    assert metrics["trt_agent_profiler_up"] == 0
    assert agent.stop() == 0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('engine_id = "x"', "profiler.engine (the serialized engine file) is required in [profiler]"),
        (
            'engine = "e.plan"\nshapes = { input = [1, -3] }',
            "profiler.shapes.input must be a list of positive integers",
        ),
        ('engine = "e.plan"\nmax_duty_cycle = 1.5', "profiler.max_duty_cycle must be in (0, 1], got 1.5"),
        ('engine = "e.plan"\ninput_range = [1, -1]', "profiler.input_range must be [low, high]"),
        (
            'engine = "e.plan"\nlog_severity = "loud"',
            "profiler.log_severity must be one of internal_error, error",
        ),
        ('engine = "e.plan"\nduty = 0.1', "unknown key profiler.duty"),
    ],
)
def test_profiler_config_errors_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text(f"[profiler]\n{table}\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_profiler_config_defaults_and_relative_paths(tmp_path: Path) -> None:
    from trt_agent.config import load_config

    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nengine = "bert"\n[profiler]\nengine = "models/bert.plan"\ninputs = "in.npz"\n')
    config = load_config(str(path)).profiler
    assert config is not None
    assert config.engine_file == str(tmp_path / "models" / "bert.plan") and config.inputs == str(
        tmp_path / "in.npz"
    )
    assert (config.engine_id, config.max_duty_cycle, config.events_every) == ("bert", 0.05, 100)


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
