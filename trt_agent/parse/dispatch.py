"""Sniff what a file or pipe holds and hand it to the matching reader."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from trt_agent.parse.artifacts import looks_like_json, parse_artifact
from trt_agent.parse.calibration import is_calibration_cache, parse_calibration_cache
from trt_agent.parse.event_stream import is_event_stream, parse_event_stream
from trt_agent.parse.log import DEFAULT_MAX_LINE_BYTES, LinePatterns, ParseStats, parse_log
from trt_agent.vocab.events import Event

SNIFF_BYTES = 65536
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024


def engine_id_for(path: str) -> str:
    """The engine id a file gets when config and command line name none: its file name stem."""
    if path in ("-", "<stdin>"):
        return "stdin"
    name = Path(path).name
    for suffix in (".graph.json", ".profile.json", ".layers.json", ".json", ".log", ".txt", ".cache"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or name
    return name


Kind = Literal["event_stream", "json", "calibration_cache", "log"]
WHOLE_FILE_KINDS: frozenset[Kind] = frozenset(("event_stream", "json", "calibration_cache"))


def sniff(head: bytes, *, complete: bool = True) -> Kind | None:
    """What a file or stream starting with ``head`` holds: trt-agent's own event stream, a JSON
    artifact (trtexec, the engine inspector), a calibration cache, or a log in any dialect. The one
    format sniffer: ``parse_stream`` picks its reader by it, and the tailer whether a file is read
    line by line (logs) or whole each time it changes (the others). ``complete=False``: the file
    may still be growing, and None means its first bytes cannot tell yet."""
    if not complete:
        if not head:
            return None
        if b"\n" not in head and (head.startswith(b"TRT-") or b"TRT-".startswith(head)):
            return None  # maybe a calibration cache's header line, not complete yet
        if head.strip() in (b"[", b"\xef\xbb\xbf["):
            return None  # a JSON array or a "[date] [TRT]" line: the next bytes tell
        record = head.lstrip()[:7]
        if b"\n" not in head and record and (record.startswith(b'{"log":') or b'{"log":'.startswith(record)):
            return None  # maybe Docker's json-file record (a log), complete at its newline
    if is_event_stream(head):
        return "event_stream"
    if looks_like_json(head):
        return "json"
    if is_calibration_cache(head):
        return "calibration_cache"
    return "log"


def _sniff(stream: BinaryIO) -> bytes:
    head = b""
    read1 = getattr(stream, "read1", None)
    while len(head) < SNIFF_BYTES:
        chunk = read1(SNIFF_BYTES - len(head)) if read1 is not None else stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
        if b"\n" in head and not looks_like_json(head):
            break
    return head[3:] if head.startswith(b"\xef\xbb\xbf") else head


def parse_stream(
    stream: BinaryIO,
    file: str,
    engine: str,
    stats: ParseStats,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    before_read: Callable[[], None] | None = None,
    patterns: LinePatterns | None = None,
) -> Iterator[Event]:
    """Yield the events of whatever ``stream`` holds: a log, a calibration cache, a JSON artifact
    or trt-agent's own event stream (whose events keep their engine ids)."""
    head = _sniff(stream)
    kind = sniff(head)
    if kind == "event_stream":
        yield from parse_event_stream(stream, file, stats, head=head, max_line_bytes=8 * max_line_bytes)
    elif kind == "json":
        data = head + stream.read(MAX_ARTIFACT_BYTES)
        yield from parse_artifact(data, file, engine, stats)
    elif kind == "calibration_cache":
        yield from parse_calibration_cache(stream, file, engine, stats, head=head)
    else:
        stats.bytes += len(head)
        yield from parse_log(
            stream,
            file,
            engine,
            stats,
            head=head,
            max_line_bytes=max_line_bytes,
            before_read=before_read,
            patterns=patterns,
        )


def parse_path(
    path: str,
    engine: str | None,
    stats: ParseStats,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    before_read: Callable[[], None] | None = None,
    patterns: LinePatterns | None = None,
) -> Iterator[Event]:
    """Yield the events of the file at ``path`` (``-`` for standard input); ``patterns`` are the
    user's ``[[patterns]]``, applied to log lines."""
    engine = engine or engine_id_for(path)
    if path == "-":
        yield from parse_stream(
            sys.stdin.buffer,
            "-",
            engine,
            stats,
            max_line_bytes=max_line_bytes,
            before_read=before_read,
            patterns=patterns,
        )
        return
    with open(path, "rb") as stream:
        yield from parse_stream(
            stream,
            path,
            engine,
            stats,
            max_line_bytes=max_line_bytes,
            before_read=before_read,
            patterns=patterns,
        )
