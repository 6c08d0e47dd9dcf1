"""What a tensor of an engine layer occupies: bytes per element of each TensorRT data type, and
the channel padding of TensorRT's vectorized formats.

A layer list (``--exportLayerInfo``, the engine inspector) gives each tensor's ``Dimensions``
and its ``Format/Datatype``: a data type (``Half``) or a format string that names one
(``Channel major FP16 format where channel % 8 == 0``). Vectorized formats pad the channel
dimension (the second, C of NCHW) to a multiple of the vector: ``channel % 8 == 0`` (TensorRT's
kHWC8, kHWC16…) and ``Thirty-two wide channel vectorized row major Int8 format`` (kCHW32) hold
C rounded up to 8 or 32 in memory, so a 3-channel FP16 input in ``channel % 8 == 0`` takes 8/3
of its element count. A dimension below zero (a dynamic shape printed as ``-1``) makes the size
unknown: None, never a guess.
"""

from __future__ import annotations

import re
from math import prod
from typing import Any, Final

from trt_agent.vocab.names import normalize_precision

# Bits per element of each precision name ``normalize_precision`` gives.
ELEMENT_BITS: Final = {
    "Float": 32,
    "Half": 16,
    "BFloat16": 16,
    "FP8": 8,
    "FP4": 4,
    "Int4": 4,
    "Int8": 8,
    "UInt8": 8,
    "Int32": 32,
    "Int64": 64,
    "Bool": 8,
}
_CHANNEL_MODULO = re.compile(r"channel % (\d+) == 0")
_VECTOR_WORDS: Final = {"Two": 2, "Four": 4, "Eight": 8, "Sixteen": 16, "Thirty-two": 32}
# A size no memory holds (a damaged list): unknown, not a number the sinks cannot carry (they hold
# 64-bit integers; sums of such sizes must stay below that too).
_MAX_BYTES: Final = 1 << 56
_VECTORIZED = re.compile(r"\b(" + "|".join(_VECTOR_WORDS) + r") wide channel vectorized")


def channel_vector(fmt: str) -> int:
    """The multiple a format pads the channel dimension to (1: none)."""
    modulo = _CHANNEL_MODULO.search(fmt)
    if modulo is not None:
        return max(1, int(modulo.group(1)))
    vectorized = _VECTORIZED.search(fmt)
    return _VECTOR_WORDS[vectorized.group(1)] if vectorized is not None else 1


def tensor_bytes(dimensions: Any, fmt: Any) -> int | None:
    """Bytes a tensor of ``dimensions`` in format ``fmt`` occupies, channel padding included;
    None where the shape is dynamic or not a list of integers, or the type is unknown."""
    if not isinstance(fmt, str) or not _is_shape(dimensions):
        return None
    precision = normalize_precision(fmt)
    bits = ELEMENT_BITS.get(precision) if precision is not None else None
    if bits is None:
        return None
    dims = list(dimensions)
    vector = channel_vector(fmt)
    if vector > 1 and len(dims) >= 2:
        dims[1] = -(-dims[1] // vector) * vector
    size = int(-(-prod(dims) * bits // 8))
    return size if size < _MAX_BYTES else None


def weights_bytes(weights: Any) -> int | None:
    """Bytes of a layer's ``Weights`` or ``Bias`` entry (``{"Type": "Half", "Count": 23232}``)."""
    if not isinstance(weights, dict):
        return None
    count, kind = weights.get("Count"), weights.get("Type")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(kind, str):
        return None
    precision = normalize_precision(kind)
    bits = ELEMENT_BITS.get(precision) if precision is not None else None
    size = -(-count * bits // 8) if bits is not None else None
    return size if size is not None and size < _MAX_BYTES else None


def _is_shape(dimensions: Any) -> bool:
    return isinstance(dimensions, list | tuple) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dimensions
    )
