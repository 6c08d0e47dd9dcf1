"""Events as JSON lines (orjson), the format log shippers consume: one event's line, a batching
writer (``parse``), and what a batch of events holds in memory (the event stream's bound)."""

from __future__ import annotations

import json
import sys
from typing import BinaryIO, Final

import orjson

from trt_agent.redact import Redactor
from trt_agent.vocab.events import Event

_OPTIONS = orjson.OPT_APPEND_NEWLINE


def encode(event: Event) -> bytes:
    """One event as one JSON line (with its newline).

    orjson refuses integers beyond 64 bits (a log can say ``Total Activation Memory:
    99999999999999999999999``); such an event goes through the standard library instead."""
    try:
        return orjson.dumps(event, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":")).encode() + b"\n"


def encode_lines(events: list[Event]) -> list[bytes]:
    """``encode`` of each event, in order: orjson on the whole batch in one comprehension (a
    Python call less per event), the batch again event by event if one of them needs the
    standard library."""
    dumps = orjson.dumps
    try:
        return [dumps(event, option=_OPTIONS) for event in events]
    except orjson.JSONEncodeError:
        return [encode(event) for event in events]


# What an event costs in memory beyond its strings: the dict, its keys and small values
# (tracemalloc over 40 corpus logs: median 166, 90th percentile 639 bytes per event).
EVENT_OVERHEAD_BYTES: Final = 512


def footprint(events: list[Event]) -> int:
    """About the bytes ``events`` hold in memory, the queue's byte bound: every string they hold
    at its real size (``sys.getsizeof``: a name in emoji takes four bytes a character), name
    fields and source lists included, not only the message."""
    total = 0
    for event in events:
        total += EVENT_OVERHEAD_BYTES
        for value in event.values():
            if value.__class__ is str:
                total += sys.getsizeof(value)
            elif value.__class__ is list:
                total += sum(sys.getsizeof(v) for v in value if v.__class__ is str) + 8 * len(value)
    return total


class JsonlWriter:
    """Buffers encoded events and writes them in batches.

    ``flush`` is meant to run whenever the producer is about to wait for input, so events of a
    pipe reach the reader as soon as their line was read, while big files are written in batches.
    """

    def __init__(self, out: BinaryIO, *, batch: int = 512, redactor: Redactor | None = None) -> None:
        self.out = out
        self.batch = batch
        self.redactor = redactor
        self.written = 0
        self._pending: list[Event] = []

    def write(self, event: Event) -> None:
        self._pending.append(event)
        if len(self._pending) >= self.batch:
            self._drain()

    def _drain(self) -> None:
        if self._pending:
            events = self.redactor.events(self._pending) if self.redactor is not None else self._pending
            self.out.write(b"".join(encode_lines(events)))
            self.written += len(self._pending)
            self._pending = []

    def flush(self) -> None:
        self._drain()
        self.out.flush()
