"""The pycuda.driver calls the profiler host makes, without a GPU (device pointers are numbers)."""

from __future__ import annotations

import itertools
from typing import Any

_pointers = itertools.count(0x7F0000000000, 1 << 20)
_streams = itertools.count(0x1000)


def init() -> None:
    pass


class _Context:
    def pop(self) -> None:
        pass


class Device:
    def __init__(self, ordinal: int) -> None:
        self.ordinal = ordinal

    def make_context(self) -> _Context:
        return _Context()


class Stream:
    def __init__(self) -> None:
        self.handle = next(_streams)

    def synchronize(self) -> None:
        pass


class DeviceAllocation:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.pointer = next(_pointers)

    def __int__(self) -> int:
        return self.pointer

    def free(self) -> None:
        pass


def mem_alloc(nbytes: int) -> DeviceAllocation:
    return DeviceAllocation(nbytes)


def memcpy_htod(dest: Any, src: Any) -> None:
    assert len(bytes(src)) >= 0
