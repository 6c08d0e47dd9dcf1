"""Handing memory back to the system once a large structure was freed."""

from __future__ import annotations

import contextlib
import ctypes


def release_free_memory() -> None:
    """Hand memory the allocator holds but nothing uses back to the system (glibc's
    ``malloc_trim``), so RSS shows what was forgotten; nothing where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
