"""The compiled paths (Hyperscan scanning large regions, google-re2 scanning whole chunks) against
the pure-Python one (Python's ``re``, line by line): on every file of tests/data all must give
exactly the same events, read whole and fed to the tailer's push reader in small pieces. Not
timed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import DATA

from trt_agent.parse import LogReader, ParseStats, grammar, log, parse_path
from trt_agent.parse.dispatch import sniff
from trt_agent.parse.prefix import SEVERITY_STARTS
from trt_agent.parse.search import HYPERSCAN, NATIVE

FILES = sorted(path for path in DATA.rglob("*") if path.is_file() and path.suffix not in (".md", ".py"))
LOGS = [path for path in FILES if sniff(path.read_bytes()[:65536]) == "log"]
STARTS = grammar.MESSAGE_STARTS + SEVERITY_STARTS


def _whole(path: Path) -> tuple[list[bytes], dict[str, int]]:
    stats = ParseStats()
    events = [orjson.dumps(e) for e in parse_path(str(path), "t", stats)]
    return events, stats.as_dict()


def _pieces(path: Path, size: int) -> list[bytes]:
    data = path.read_bytes()
    reader = LogReader(str(path), "t", ParseStats())
    out = []
    for at in range(0, len(data), size):
        out += [orjson.dumps(e) for e in reader.feed(data[at : at + size])]
    out += [orjson.dumps(e) for e in reader.close()]
    return out


def test_the_compiled_path_is_there() -> None:
    assert NATIVE, "google-re2 is a dependency: the compiled path must be what runs"
    assert log.PREFILTER.native
    assert HYPERSCAN, "hyperscan is a dependency: large regions must be scanned by it"
    assert log.PREFILTER.multi and not log.EVERY_LINE.multi


def _hyperscan_always() -> log.Prefilter:
    """The prefilter with Hyperscan for every region, however small (the tests' files are)."""
    prefilter = log.build_prefilter(STARTS)
    prefilter.multi_min_bytes = 0
    return prefilter
    assert len(FILES) >= 60 and len(LOGS) >= 60


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_both_paths_give_the_same_events(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = _whole(path)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", log.build_prefilter(STARTS, native=False))
        m.setattr(grammar, "_START_RE2", None)
        pure = _whole(path)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", _hyperscan_always())
        multi = _whole(path)
    assert native[0] == pure[0] == multi[0]
    assert native[1] == pure[1] == multi[1]


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(DATA)))
def test_both_paths_agree_when_fed_in_pieces(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = _pieces(path, 777)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", log.build_prefilter(STARTS, native=False))
        m.setattr(grammar, "_START_RE2", None)
        pure = _pieces(path, 777)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", _hyperscan_always())
        multi = _pieces(path, 777)
    assert native == pure == multi
    assert native == _whole(path)[0]


def _candidates(find: log.Find, region: bytes, size: int) -> list[int]:
    found, pos = [], 0
    while pos < size:
        start = find(region, pos, size)
        if start < 0:
            break
        found.append(start)
        pos = region.index(b"\n", start) + 1
    return found


def test_the_same_candidate_lines_on_crafted_regions() -> None:
    """Hyperscan's candidates against RE2's, line for line, on regions that put words at line
    starts and ends, several to a line, in the last line, and behind a partial line past ``size``."""
    re2_only = log.build_prefilter(STARTS, multi=False)
    multi = _hyperscan_always()
    lines = [
        b"Removing a",
        b"nothing here",
        b"x Fusing y [W] warn error",
        b"",
        b"I1203 12:00:00 nothing",
        b"W1203 12:00:00.1 x.cc:1] glog warning",
        b"  W1203 1",
        b"a Layers:",
        b"Engine Layer Information:",
        b"Layer(",
    ]
    for last in (b"", b"Removing partial", b"tail"):
        region = b"\n".join(lines) + b"\n" + last
        size = len(region) - len(last)

        expected = _candidates(re2_only.finder(region, size), region, size)
        assert expected == _candidates(multi.finder(region, size), region, size)
        assert len(expected) >= 6


def test_without_hyperscan_the_prefilter_stays_on_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log, "HYPERSCAN", False)
    prefilter = log.build_prefilter(STARTS)
    assert not prefilter.multi
    region = b"x\n" * (1 << 18) + b"Removing a\n"
    assert prefilter.finder(region, len(region)) is prefilter.find


# Lines the three prefilters once read differently: bytes that are no UTF-8 before the message
# (RE2's default UTF-8 mode skipped the line) and a vertical tab before a glog severity (not
# in RE2's \s). Hyperscan reads only large regions, so the events depended on the read size.
ODD_LINES = [  # (line, events it gives)
    (b"\xff\xfe [I] [TRT] Loaded engine size: 12 MiB\n", 1),
    (b"\x0bW1210 12:00:00.000000 123 x.cc:1] Something odd happened\n", 1),
    (b"[09/10/2023-23:27:04] [I] [TRT] \xff Loaded engine size: 12 MiB\n", 0),  # no known message
]


@pytest.mark.parametrize(("line", "count"), ODD_LINES)
def test_an_odd_line_gives_the_same_events_whatever_the_read_size_and_path(
    tmp_path: Path, line: bytes, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    filler = b"[09/10/2023-23:27:03] [V] [TRT] nothing interesting here at all\n" * 5000  # > 256 KiB
    path = tmp_path / "odd.log"
    path.write_bytes(filler + line + filler)
    whole = _whole(path)
    assert len(whole[0]) == count, whole[0]  # read whole (Hyperscan)
    assert _pieces(path, 4096) == whole[0]  # read in pieces (RE2)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", log.build_prefilter(STARTS, native=False))
        m.setattr(grammar, "_START_RE2", None)
        assert _whole(path) == whole  # the pure-Python path
