"""What the profiler says when it cannot run, and how to get what it lacks. A module of its own
so every other module of the package can raise it without importing each other."""

from __future__ import annotations

from typing import Final

INSTALL_HINT: Final = (
    "install the GPU extra next to an NVIDIA driver: pip install 'trt-agent[gpu]' "
    "(TensorRT's Python bindings, pycuda), or use an nvcr.io/nvidia/tensorrt image "
    "(deploy/docker/Dockerfile.tensorrt)"
)


class ProfilerError(RuntimeError):
    """The host cannot run (no TensorRT, no engine, a shape it cannot set), for the operator."""
