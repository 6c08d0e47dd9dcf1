"""Readers of rule parameters: each turns a TOML value into what a check uses, or raises
``ValueError`` with a message naming the key (the rules file loader adds the file and rule)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any, Final


def finite_number(key: str, lo: float | None = None, hi: float | None = None) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not abs(value) <= sys.float_info.max
        ):
            raise ValueError(f"{key} must be a finite number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bound = (
                f"between {lo:g} and {hi:g}"
                if lo is not None and hi is not None
                else f"at least {lo:g}"
                if lo is not None
                else f"at most {hi:g}"
            )
            raise ValueError(f"{key} must be {bound}, got {value!r}")
        return float(value)

    return conv


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$")
_SIZE_UNITS: Final = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40} | {
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}


def parse_size(value: Any) -> int:
    """``8589934592``, ``"8 GiB"`` or ``"512MiB"`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    size = float(m.group(1)) * _SIZE_UNITS[m.group(2) or "B"] if m is not None else math.inf
    if not math.isfinite(size):
        raise ValueError(f'max_bytes must be bytes or a size like "8 GiB", got {value!r}')
    return round(size)


def string_list(key: str) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of strings, got {value!r}")
        return tuple(value)

    return conv


def boolean(key: str) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value

    return conv


def whole_number(key: str) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} must be a whole number, 0 or more, got {value!r}")
        return value

    return conv


def version_table(value: Any) -> Any:
    if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f'expect must be a table of component = "version", got {value!r}')
    return dict(value)


def memory_kind(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f'kind must be a memory kind such as "activation", got {value!r}')
    return value
