"""The pycuda adapter of the profiler against the pycuda double (tests/trt_double/site/pycuda)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from trt_double.profiling import SITE

from trt_agent.sources.profiler import ProfilerError, PycudaBackend


def _site_pycuda(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Any:
    """``pycuda`` and ``pycuda.driver`` from ``directory`` (the tests' stand-in), in sys.modules."""
    modules = {}
    for name, file in (("pycuda", "__init__.py"), ("pycuda.driver", "driver.py")):
        spec = importlib.util.spec_from_file_location(name, directory / "pycuda" / file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setitem(sys.modules, name, module)
        modules[name] = module
    monkeypatch.setattr(modules["pycuda"], "driver", modules["pycuda.driver"], raising=False)
    return modules["pycuda.driver"]


def test_pycuda_backend_frees_one_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _site_pycuda(monkeypatch, SITE)
    freed: list[int] = []
    monkeypatch.setattr(driver.DeviceAllocation, "free", lambda self: freed.append(self.pointer))
    backend = PycudaBackend(0)
    a, b = backend.alloc(16), backend.alloc(32)
    backend.free(a)
    assert freed == [a]
    backend.close()
    assert freed == [a, b]


def test_no_cuda_device_is_a_profiler_error(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _site_pycuda(monkeypatch, SITE)

    def no_device() -> None:
        raise RuntimeError("cuInit failed: no CUDA-capable device is detected")

    monkeypatch.setattr(driver, "init", no_device)
    with pytest.raises(ProfilerError, match=r"no usable CUDA device 0 .*cuInit failed"):
        PycudaBackend(0)
