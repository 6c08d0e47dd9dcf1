"""The CUDA side of the host: the few CUDA calls it makes (:class:`CudaBackend`; pycuda in
production, :class:`PycudaBackend`, a double in the tests) and the GPU's utilisation from NVML
(:class:`NvmlUtilization`), which the host backs off from when the serving process is busy."""

from __future__ import annotations

from typing import Any, Protocol

from trt_agent.sources.profiler.errors import INSTALL_HINT, ProfilerError


class CudaBackend(Protocol):
    """The few CUDA calls the host makes (pycuda in production, a double in the tests)."""

    def stream(self) -> int: ...
    def alloc(self, nbytes: int) -> int: ...
    def free(self, pointer: int) -> None: ...
    def upload(self, pointer: int, data: bytes) -> None: ...
    def synchronize(self, stream: int) -> None: ...
    def close(self) -> None: ...


class PycudaBackend:
    """CUDA through pycuda, with a context of its own made current on the host thread."""

    def __init__(self, device: int = 0) -> None:
        try:
            import pycuda.driver as cuda  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ProfilerError(f"pycuda is not installed ({exc}); {INSTALL_HINT}") from None
        try:
            cuda.init()
            self._context = cuda.Device(device).make_context()
        except Exception as exc:  # pycuda.driver.Error: no driver, no such device, out of memory
            raise ProfilerError(f"no usable CUDA device {device} ({exc}); {INSTALL_HINT}") from None
        self._cuda = cuda
        self._allocations: dict[int, Any] = {}
        self._streams: list[Any] = []

    def stream(self) -> int:
        stream = self._cuda.Stream()  # not the default stream: TensorRT warns it syncs the device
        self._streams.append(stream)
        return int(stream.handle)

    def alloc(self, nbytes: int) -> int:
        allocation = self._cuda.mem_alloc(max(1, nbytes))
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, pointer: int) -> None:
        allocation = self._allocations.pop(pointer, None)
        if allocation is not None:
            allocation.free()

    def upload(self, pointer: int, data: bytes) -> None:
        self._cuda.memcpy_htod(pointer, data)

    def synchronize(self, stream: int) -> None:
        for s in self._streams:
            if int(s.handle) == stream:
                s.synchronize()

    def close(self) -> None:
        for allocation in self._allocations.values():
            allocation.free()
        self._allocations.clear()
        self._streams.clear()
        self._context.pop()


class GpuUtilization(Protocol):
    def percent(self) -> float | None: ...


class NvmlUtilization:
    """GPU utilisation from NVML (nvidia-ml-py), when it is installed; else it says None."""

    def __init__(self, device: int = 0) -> None:
        self._handle: Any = None
        try:
            import pynvml  # type: ignore[import-not-found,unused-ignore]

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device)
        except Exception:  # no library, no driver, no device: the duty cycle still applies
            self._handle = None

    def percent(self) -> float | None:
        if self._handle is None:
            return None
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
        except Exception:
            return None
