"""The compiled path (google-re2 scanning whole chunks) against the pure-Python one (Python's
``re``, line by line): on every file of tests/data both must give exactly the same events, read
whole and fed to the tailer's push reader in small pieces. Not timed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import DATA

from trt_agent.parse import LogReader, ParseStats, grammar, log, parse_path
from trt_agent.parse.dispatch import sniff
from trt_agent.parse.prefix import SEVERITY_STARTS
from trt_agent.parse.search import NATIVE

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
    assert len(FILES) >= 60 and len(LOGS) >= 60


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_both_paths_give_the_same_events(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = _whole(path)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", log.build_prefilter(STARTS, native=False))
        m.setattr(grammar, "_START_RE2", None)
        pure = _whole(path)
    assert native[0] == pure[0]
    assert native[1] == pure[1]


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(DATA)))
def test_both_paths_agree_when_fed_in_pieces(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = _pieces(path, 777)
    with monkeypatch.context() as m:
        m.setattr(log, "PREFILTER", log.build_prefilter(STARTS, native=False))
        m.setattr(grammar, "_START_RE2", None)
        pure = _pieces(path, 777)
    assert native == pure
    assert native == _whole(path)[0]
