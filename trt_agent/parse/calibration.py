"""INT8 calibration caches (``TRT-8601-EntropyCalibration2`` followed by ``tensor: hexscale`` lines)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, Final

from trt_agent.parse.grammar import hex_scale, trt_version_from_tag
from trt_agent.parse.log import ParseStats
from trt_agent.vocab.events import Event, make_event

HEADER = re.compile(rb"^TRT-(\d+)-(\w+)\s*$")
INT8_MAX: Final = 127.0


def is_calibration_cache(head: bytes) -> bool:
    """True when ``head`` starts with a calibration-cache header line."""
    first = head.split(b"\n", 1)[0].strip()
    return HEADER.match(first) is not None


def parse_calibration_cache(
    stream: BinaryIO, file: str, engine: str, stats: ParseStats, *, head: bytes = b""
) -> Iterator[Event]:
    """Yield a ``version`` event for the header and one ``calibration`` event per tensor.

    The cache stores the per-tensor scale; ``min``/``max`` are the symmetric INT8 range it
    implies (``±127 × scale``), so cache ranges compare with dynamic-range messages.
    """
    data = head + stream.read()
    stats.bytes += len(data)
    lines = data.decode("utf-8", "replace").splitlines()
    header = HEADER.match(lines[0].strip().encode()) if lines else None
    for number, line in enumerate(lines, start=1):
        stats.lines += 1
        source = {"file": file, "line": number}
        if number == 1 and header is not None:
            tag, calibrator = header.group(1).decode(), header.group(2).decode()
            stats.events += 1
            stats.event_lines += 1
            fields = {"component": "tensorrt", "version": trt_version_from_tag(tag), "calibrator": calibrator}
            yield make_event("version", None, "info", engine, source, line, fields)
            continue
        tensor, sep, value = line.rpartition(": ")
        value = value.strip()
        if not sep or not re.fullmatch(r"[0-9a-fA-F]{1,8}", value):
            if line.strip():
                stats.candidates_unmatched += 1
            continue
        scale = hex_scale(value)
        stats.events += 1
        stats.event_lines += 1
        fields = {"tensor": tensor, "scale": scale, "min": -INT8_MAX * scale, "max": INT8_MAX * scale}
        yield make_event("calibration", None, "info", engine, source, line, fields)
    stats.files += 1
