"""trt-agent's own JSONL event stream as input: ``report``, ``check`` and ``diff`` read what
``parse`` or the daemon (``[events]``) wrote, profiler timings included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

import orjson

from trt_agent.events import EVENT_TYPES, Event
from trt_agent.parse.log import ParseStats

_EVENT_KEYS: Final = (b'"type"', b'"engine"', b'"source"')

_NUMBER: Final = (int, float)
# The keys the engine model and the sinks read from an event of each type, with their types:
# an event without them (edited, another tool's, another version's) is a parse error, not a crash.
_REQUIRED: Final[dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]]] = {
    "source_layer": (("name", str),),
    "layer_count": (("stage", str), ("count", int)),
    "quantization": (("layer", str),),
    "layer": (("name", str),),
    "fusion": (("layers", list),),
    "plugin": (("plugin", str),),
    "fallback": (("reason", str),),
    "memory": (("kind", str), ("bytes", int)),
    "version": (("component", str), ("version", str)),
    "perf_summary": (("metric", str), ("stat", str), ("value", _NUMBER)),
    "layer_time": (("layer", str), ("ms", _NUMBER)),
    "build_complete": (("seconds", _NUMBER),),
    "build_config": (("precisions", list),),
    "calibration": (("tensor", str),),
}
# Keys that may be absent or null, but when present are numbers (the model computes with them).
_OPTIONAL_NUMBERS: Final = {"layer_time": ("median_ms",), "calibration": ("min", "max")}


def _valid(event: dict[str, object]) -> bool:
    type_ = event.get("type")
    if (
        type_ not in EVENT_TYPES
        or not isinstance(event.get("engine"), str)
        or not isinstance(event.get("source"), dict)
        or not isinstance(event.get("severity"), str)
    ):
        return False
    for key, kind in _REQUIRED.get(str(type_), ()):
        value = event.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    for key in _OPTIONAL_NUMBERS.get(str(type_), ()):
        value = event.get(key)
        if value is not None and (not isinstance(value, _NUMBER) or isinstance(value, bool)):
            return False
    return True


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
    parse error and skipped, as is an event without the keys its type needs."""
    stats.files += 1
    pending = head
    number = 0
    while True:
        chunk = stream.read(1 << 20)
        pending += chunk
        lines = pending.split(b"\n")
        # the last piece waits for the rest of its line; at the end it is a line without its
        # newline, or nothing (after a final newline) and then not counted as a line
        pending = lines.pop()
        if not chunk and pending:
            lines.append(pending)
            stats.bytes -= 1  # counted with a newline below, which it has not
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
            if not isinstance(event, dict) or not _valid(event):
                stats.parse_errors += 1
                continue
            stats.events += 1
            stats.event_lines += 1
            yield event
        if not chunk:
            return
