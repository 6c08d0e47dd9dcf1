"""Docker's json-file log driver: each line a JSON record whose ``log`` field holds the line.

``{"log":"[TRT] [W] ...\\n","stream":"stderr","time":"2025-01-01T10:00:00.123456789Z"}`` is read as
``2025-01-01T10:00:00.123456789Z stderr [TRT] [W] ...``, the shape of the CRI form Kubernetes
writes, so every dialect behind it reads as it does there and the record's time is the event's
when the line has none of its own. Docker cuts a line longer than 16 KiB into records whose
``log`` does not end in a newline; their pieces are joined onto the record that ends the line,
and each piece's own line becomes empty, so line numbers stay those of the file.
"""

from __future__ import annotations

from typing import Final

import orjson

_RECORD_START: Final = b'{"log":'


def is_docker_json(first_line: bytes) -> bool:
    """Whether ``first_line`` (a complete line) is a json-file record."""
    if not first_line.lstrip().startswith(_RECORD_START):
        return False
    try:
        record = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and isinstance(record.get("log"), str)


class DockerJsonLines:
    """Turns regions of complete json-file lines into the log lines they carry, line for line."""

    def __init__(self) -> None:
        self._piece = ""  # the start of a line Docker split over several records
        self.malformed = 0  # lines that were no record: kept as they are

    def unwrap(self, region: bytes) -> bytes:
        """``region`` (complete lines, the last ending in a newline) with each record unwrapped."""
        lines = region.split(b"\n")
        out: list[bytes] = []
        for raw in lines[:-1]:
            out.append(self._line(raw))
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
            self._piece += text
            return b""
        text = (self._piece + text).rstrip("\r\n").replace("\n", " ")
        self._piece = ""
        head = " ".join(str(record[key]) for key in ("time", "stream") if isinstance(record.get(key), str))
        return f"{head} {text}".encode() if head else text.encode()
