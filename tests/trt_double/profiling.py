"""What the profiler tests drive the double with: a small engine (``LAYERS``, ``IO``) serialized
for the double, the host's settings, a sink standing in for the daemon, waits on a running host,
and the environment that makes a child process's ``import tensorrt`` / ``import pycuda`` the
doubles (``site/``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trt_agent.config import ProfilerConfig
from trt_agent.sources.profiler import ProfilerHost
from trt_agent.vocab.events import Event
from trt_double.double import FakeCuda, make_trt, plan
from trt_double.nvidia import load_bindings

SITE = Path(__file__).parent / "site"  # ``import tensorrt`` / ``import pycuda`` find the doubles here


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


def double_path() -> dict[str, str]:
    """The environment addition that makes ``import tensorrt`` and ``import pycuda`` the doubles."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))}


def with_double() -> dict[str, str]:
    return os.environ | double_path()


def wait_until(check: Any, what: str, h: ProfilerHost | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}; {h.stats if h else ''}"
        time.sleep(0.02)
