"""Docker's json-file log driver: each line a JSON record whose ``log`` field holds the line.

``{"log":"[TRT] [W] ...\\n","stream":"stderr","time":"2025-01-01T10:00:00.123456789Z"}`` is read as
``2025-01-01T10:00:00.123456789Z stderr [TRT] [W] ...``, the shape of the CRI form Kubernetes
writes, so every dialect behind it reads as it does there and the record's time is the event's
when the line has none of its own. Docker cuts a line longer than 16 KiB into records whose
``log`` does not end in a newline; their pieces are joined onto the record that ends the line (up
to the reader's line limit), and each piece's own line becomes empty, so line numbers stay those
of the file.
"""

from __future__ import annotations

from typing import Final

import orjson

_RECORD_START: Final = b'{"log":'


def is_docker_json(first_line: bytes) -> bool:
    """Whether a file whose first line is ``first_line`` holds json-file records: the line starts
    like one (it may be damaged, or not complete yet; the reader keeps such lines as they are)."""
    return first_line.lstrip().startswith(_RECORD_START)


class DockerJsonLines:
    """Turns regions of complete json-file lines into the log lines they carry, line for line."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._pieces: list[str] = []  # the start of a line Docker split over several records
        self._piece_chars = 0
        self.malformed = 0  # lines that were no record: kept as they are

    def unwrap(self, region: bytes) -> bytes:
        """``region`` (complete lines, the last ending in a newline) with each record unwrapped."""
        lines = region.split(b"\n")
        out = [self._line(raw) for raw in lines[:-1]]
        out.append(b"")
        return b"\n".join(out)

    def _line(self, raw: bytes) -> bytes:
        if not raw.strip():
            return raw
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            record = None
        text = record.get("log") if isinstance(record, dict) else None
        if not isinstance(text, str):
            self.malformed += 1
            return raw
        if not text.endswith("\n"):
            if self._piece_chars < self.max_line_bytes:  # beyond the line limit a piece is dropped
                self._pieces.append(text)
                self._piece_chars += len(text)
            return b""
        if self._pieces:
            text = "".join(self._pieces) + text
            self._pieces, self._piece_chars = [], 0
        text = text.rstrip("\r\n").replace("\r", " ").replace("\n", " ")
        head = " ".join(
            " ".join(value.split()) for key in ("time", "stream") if isinstance(value := record.get(key), str)
        )
        return f"{head} {text}".encode() if head else text.encode()
