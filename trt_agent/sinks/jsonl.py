"""Events as JSON lines (orjson), the format log shippers consume."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

import orjson

from trt_agent.events import Event

_OPTIONS = orjson.OPT_APPEND_NEWLINE


def encode(event: Event) -> bytes:
    """One event as one JSON line (with its newline)."""
    return orjson.dumps(event, option=_OPTIONS)


def write_events(events: Iterable[Event], out: BinaryIO, *, batch: int = 512) -> int:
    """Write ``events`` to ``out`` as JSON lines, in batches; returns how many were written."""
    written = 0
    pending: list[bytes] = []
    for event in events:
        pending.append(orjson.dumps(event, option=_OPTIONS))
        if len(pending) >= batch:
            out.write(b"".join(pending))
            written += len(pending)
            pending.clear()
    if pending:
        out.write(b"".join(pending))
        written += len(pending)
    out.flush()
    return written
