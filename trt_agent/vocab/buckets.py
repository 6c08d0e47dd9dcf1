"""Histogram bounds shared by the engine model and the configuration's defaults: a module of its
own so the command line reads them without importing the model."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_LATENCY_BUCKETS"]

# Per-layer latency histogram bounds, seconds: 10 µs (a small pointwise kernel) to 500 ms (a
# whole Myelin region of a large model on a small GPU).
DEFAULT_LATENCY_BUCKETS: Final = (
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
)  # fmt: skip
