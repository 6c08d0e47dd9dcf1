"""Events as JSON lines (orjson), the format log shippers consume."""

from __future__ import annotations

from typing import BinaryIO

import orjson

from trt_agent.events import Event

_OPTIONS = orjson.OPT_APPEND_NEWLINE


def encode(event: Event) -> bytes:
    """One event as one JSON line (with its newline)."""
    return orjson.dumps(event, option=_OPTIONS)


class JsonlWriter:
    """Buffers encoded events and writes them in batches.

    ``flush`` is meant to run whenever the producer is about to wait for input, so events of a
    pipe reach the reader as soon as their line was read, while big files are written in batches.
    """

    def __init__(self, out: BinaryIO, *, batch: int = 512) -> None:
        self.out = out
        self.batch = batch
        self.written = 0
        self._pending: list[bytes] = []

    def write(self, event: Event) -> None:
        self._pending.append(encode(event))
        if len(self._pending) >= self.batch:
            self._drain()

    def _drain(self) -> None:
        if self._pending:
            self.out.write(b"".join(self._pending))
            self.written += len(self._pending)
            self._pending.clear()

    def flush(self) -> None:
        self._drain()
        self.out.flush()
