"""trt-agent's own JSONL event stream as input: ``report``, ``check`` and ``diff`` read what
``parse`` or the daemon (``[events]``) wrote, profiler timings included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

import orjson

from trt_agent.parse.log import ParseStats
from trt_agent.vocab.events import EVENT_SPECS, EVENT_TYPES, INT_LIST_KEYS, STRING_LIST_KEYS, Event

_EVENT_KEYS: Final = (b'"type"', b'"engine"', b'"source"')

# Events nest two levels (``source``, ``layers``); the sinks cannot write much more (orjson stops
# at 255 levels, the standard library's encoder at ~1000, orjson reads 1024).
MAX_DEPTH: Final = 16
# An event line holds one log line (``agent.max_line_bytes``, 1 MiB by default) JSON-escaped and
# its fields; a longer line is no event of ours.
MAX_LINE_BYTES: Final = 8 << 20


def _depth_exceeds(value: object, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_depth_exceeds(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_depth_exceeds(v, limit - 1) for v in value)
    return False


def _valid(event: dict[str, object]) -> bool:
    type_ = event.get("type")
    source = event.get("source")
    if (
        not isinstance(type_, str)
        or type_ not in EVENT_TYPES
        or not isinstance(event.get("engine"), str)
        or not isinstance(source, dict)
        or not isinstance(event.get("severity"), str)
        or not isinstance(source.get("file"), str | None)
        or not isinstance(event.get("msg"), str | None)
        or not isinstance(event.get("ts"), str | None)
    ):
        return False
    spec = EVENT_SPECS[type_]
    for key, kind in spec.required:
        value = event.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    for key, kind in spec.optional:
        value = event.get(key)
        if value is not None and (
            not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        ):
            return False
    for key in STRING_LIST_KEYS:
        value = event.get(key)
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            return False
    for key in INT_LIST_KEYS:
        value = event.get(key)
        if isinstance(value, list) and not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
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
    type_ = doc.get("type") if isinstance(doc, dict) else None
    return isinstance(type_, str) and type_ in EVENT_TYPES and isinstance(doc.get("engine"), str)


def parse_event_stream(
    stream: BinaryIO,
    file: str,
    stats: ParseStats,
    *,
    head: bytes = b"",
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[Event]:
    """Yield the events of a JSONL event stream as they were written (their own engine ids and
    provenance). A line that is not an event (torn, edited, another tool's) is counted as a
    parse error and skipped, as is an event without the keys its type needs, and a line longer
    than ``max_line_bytes`` (dropped as it arrives: memory stays bounded)."""
    stats.files += 1
    pending = head
    number = 0
    dropped = 0  # bytes of an over-long line, skipped while its newline is awaited
    while True:
        chunk = stream.read(1 << 20)
        pending += chunk
        lines = pending.split(b"\n")
        # the last piece waits for the rest of its line; at the end it is a line without its
        # newline, or nothing (after a final newline) and then not counted as a line
        pending = lines.pop()
        ended = 0  # bytes of an over-long line that ended here: one line, a parse error
        if dropped and lines:  # it ends in the first piece
            ended, dropped = dropped + len(lines.pop(0)) + 1, 0
        if dropped or len(pending) > max_line_bytes:
            dropped += len(pending)
            pending = b""
        if not chunk and dropped:  # the input ends inside it, without a newline
            ended, dropped = dropped, 0
        if ended:
            number += 1
            stats.lines += 1
            stats.bytes += ended
            stats.parse_errors += 1
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
            # nesting is counted only where the line has brackets enough to be deep at all
            deep = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth_exceeds(event, MAX_DEPTH)
            if not isinstance(event, dict) or deep or not _valid(event):
                stats.parse_errors += 1
                continue
            stats.events += 1
            stats.event_lines += 1
            yield event
        if not chunk:
            return
