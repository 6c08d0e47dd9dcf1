"""Bad input to the readers gets a clear event or count, never an exception; nothing is lost around
it, however the bytes arrive."""

from __future__ import annotations

import io

import pytest
from conftest import DATA, data_file, parse_file
from hypothesis import given, settings
from hypothesis import strategies as st

from trt_agent.parse import LogReader, ParseStats, parse_stream

FUSION = b"[11/01/2024-10:32:48] [V] [TRT] ConvReluFusion: Fusing conv1 with relu1\n"


def _events(data: bytes, max_line_bytes: int = 1 << 20) -> tuple[list[dict[str, object]], ParseStats]:
    stats = ParseStats()
    events = list(parse_stream(io.BytesIO(data), "mem", "e", stats, max_line_bytes=max_line_bytes))
    return events, stats


def test_invalid_utf8_is_replaced_and_counted() -> None:
    bad = b"[11/01/2024-10:32:48] [W] [TRT] layer \xff\xfe\xfd broke\n"
    events, stats = _events(FUSION + bad + FUSION)
    assert [e["type"] for e in events] == ["fusion", "warning", "fusion"]
    assert "\ufffd" in str(events[1]["msg"])
    assert stats.invalid_utf8_lines == 1
    assert [e["source"]["line"] for e in events] == [1, 2, 3]  # type: ignore[index]


def test_ten_megabyte_line_is_cut_and_following_lines_survive() -> None:
    huge = b"[11/01/2024-10:32:48] [W] [TRT] " + b"x" * (10 * 1024 * 1024) + b"\n"
    events, stats = _events(FUSION + huge + FUSION, max_line_bytes=64 * 1024)
    assert [e["type"] for e in events] == ["fusion", "warning", "fusion"]
    assert stats.truncated_lines == 1
    assert len(str(events[1]["msg"])) <= 64 * 1024
    assert stats.lines == 3
    assert events[2]["source"]["line"] == 3  # type: ignore[index]


def test_a_long_line_that_arrives_whole_is_cut_too() -> None:
    """A 3,000-byte line with max_line_bytes = 1024 fits in one read, so the reader never holds
    it; it is still cut at the limit and counted, as one split across reads is."""
    line = b"[11/01/2024-10:32:48] [W] [TRT] Missing scale and zero-point for tensor " + b"t" * 3000
    events, stats = _events(FUSION + line + b", expect fall back\n" + FUSION, max_line_bytes=1024)
    assert [e["type"] for e in events] == ["fusion", "warning", "fusion"]
    assert stats.truncated_lines == 1 and stats.lines == 3
    assert len(str(events[1]["msg"])) == 1024


def test_last_line_without_newline_and_crlf() -> None:
    events, stats = _events(FUSION.replace(b"\n", b"\r\n") + FUSION.rstrip(b"\n"))
    assert len(events) == 2 and stats.lines == 2
    assert not str(events[0]["msg"]).endswith("\r")


def test_garbage_is_counted_not_fatal() -> None:
    garbage = bytes(range(256)) * 40 + b"\n" + b"\x00" * 5000 + b"\n"
    events, stats = _events(garbage + FUSION)
    assert [e["type"] for e in events] == ["fusion"]
    assert stats.unparsed == stats.lines - 1


def test_profile_table_without_total_row_does_not_swallow_the_next_log() -> None:
    table = (DATA / "corpus").glob("08_*")
    old_style = (DATA / "corpus").glob("09_*")
    events, _ = _events(next(table).read_bytes() + next(old_style).read_bytes())
    assert len([e for e in events if e["type"] == "layer_time"]) == 7
    assert len([e for e in events if e["type"] == "warning"]) == 11
    assert len([e for e in events if e["type"] == "error"]) == 1


class _LineAtATime(io.RawIOBase):
    """A pipe that delivers one line per read, so every line lands in its own chunk."""

    def __init__(self, data: bytes) -> None:
        self.lines = data.splitlines(keepends=True)

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        return self.lines.pop(0) if self.lines else b""

    read = read1


def test_removal_pass_is_named_across_chunk_boundaries() -> None:
    text = data_file("03_").read_bytes()  # "Running: PoolingErasure on X" then "Removing X"
    stats = ParseStats()
    events = list(parse_stream(_LineAtATime(text), "pipe", "e", stats))  # type: ignore[arg-type]
    removal = [e for e in events if e["type"] == "fusion" and e["result"] is None]
    assert [e["kind"] for e in removal] == ["PoolingErasure"]
    assert stats.lines == text.count(b"\n")


@pytest.mark.parametrize("name", ["03_", "31_", "41_", "09_", "24_", "13_", "25_"])
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=200_000), max_size=40))
def test_log_reader_gives_the_same_events_however_the_bytes_arrive(name: str, cuts: list[int]) -> None:
    """The tailer feeds ``LogReader`` whatever a file grew by; any split must parse the same."""
    data = data_file(name).read_bytes()
    expected, _ = parse_file(name)
    reader = LogReader(str(data_file(name)), "test", ParseStats())
    events = []
    previous = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        events.extend(reader.feed(data[previous:cut]))
        previous = cut
    events.extend(reader.flush())
    strip = [(e["type"], e["source"]["line"], e["msg"]) for e in expected]
    assert [(e["type"], e["source"]["line"], e["msg"]) for e in events] == strip
