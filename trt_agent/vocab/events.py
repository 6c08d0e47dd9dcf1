"""The event record every source produces and every sink reads.

An event is a plain ``dict`` so it serialises with orjson at full speed and ships to JSONL
consumers unchanged. Its keys are the public contract described in the README ("Events"):
``type``, ``ts``, ``severity``, ``engine``, ``source``, ``msg`` and then the keys of its type.
"""

from __future__ import annotations

from typing import Any, Final

Event = dict[str, Any]

EVENT_TYPES: Final = frozenset(
    {
        "fusion",
        "layer",
        "layer_count",
        "source_layer",
        "quantization",
        "calibration",
        "plugin",
        "fallback",
        "memory",
        "version",
        "perf_summary",
        "layer_time",
        "build_complete",
        "build_config",
        "warning",
        "error",
    }
)


def make_event(
    type_: str,
    ts: str | None,
    severity: str,
    engine: str,
    source: dict[str, Any],
    msg: str | None,
    fields: dict[str, Any],
) -> Event:
    """Build an event with the common keys first, then the type-specific ``fields``.

    Positional on purpose: this runs once per event, and keyword packing doubled its cost.
    """
    return {
        "type": type_,
        "ts": ts,
        "severity": severity,
        "engine": engine,
        "source": source,
        "msg": msg,
        **fields,
    }
