"""trt-agent's own JSONL event stream as input: ``report``, ``check`` and ``diff`` read what
``parse`` or the daemon (``[events]``) wrote, profiler timings included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

import orjson

from trt_agent.events import EVENT_TYPES, Event
from trt_agent.parse.log import ParseStats

_EVENT_KEYS: Final = (b'"type"', b'"engine"', b'"source"')


def is_event_stream(head: bytes) -> bool:
    """trt-agent's own JSONL event stream (``parse`` output, the daemon's ``[events]`` file):
    its first line is one JSON object with the common event keys."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    if not first.startswith(b"{") or not all(key in first for key in _EVENT_KEYS):
        return False
    try:
        doc = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and doc.get("type") in EVENT_TYPES and isinstance(doc.get("engine"), str)


def parse_event_stream(
    stream: BinaryIO, file: str, stats: ParseStats, *, head: bytes = b""
) -> Iterator[Event]:
    """Yield the events of a JSONL event stream as they were written (their own engine ids and
    provenance). A line that is not an event (torn, edited, another tool's) is counted as a
    parse error and skipped."""
    stats.files += 1
    pending = head
    number = 0
    while True:
        chunk = stream.read(1 << 20)
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop() if chunk else b""
        for raw in lines:
            number += 1
            stats.lines += 1
            stats.bytes += len(raw) + 1
            if not raw.strip():
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                event = None
            if (
                not isinstance(event, dict)
                or event.get("type") not in EVENT_TYPES
                or not isinstance(event.get("engine"), str)
                or not isinstance(event.get("source"), dict)
            ):
                stats.parse_errors += 1
                continue
            stats.events += 1
            stats.event_lines += 1
            yield event
        if not chunk:
            return
