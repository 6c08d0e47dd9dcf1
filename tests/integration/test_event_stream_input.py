"""The agent's own event stream (JSONL) as the input of ``report``/``check``: counted exactly,
malformed events are parse errors, not crashes, and nothing in it reaches the HTML unescaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import DATA, parse_file, rules_file, trt_agent

from trt_agent.parse import ParseStats, parse_path
from trt_agent.vocab.events import Event

CORPUS = DATA / "corpus"
ALEXNET_PROFILE = next(CORPUS.glob("01_*"))


def test_event_stream_counts_its_lines_exactly(tmp_path: Path) -> None:
    """A final newline was counted as one more line "without an event"."""
    stream = tmp_path / "events.jsonl"
    result = trt_agent("parse", ALEXNET_PROFILE)
    stream.write_text(result.stdout)
    lines = result.stdout.count("\n")
    whole = stream.read_bytes()
    for data in (whole, whole[:-1]):  # with, then without its final newline (torn)
        stream.write_bytes(data)
        stats = ParseStats()
        events = list(parse_path(str(stream), None, stats))
        assert len(events) == stats.events == lines
        assert stats.lines == lines and stats.parse_errors == 0
        assert stats.bytes == len(data)


@pytest.mark.parametrize(
    "line",
    [
        {"type": "layer_time", "layer": "conv1"},  # no ms
        {"type": "layer_time", "layer": "conv1", "ms": "1.5"},
        {"type": "layer_time", "layer": "conv1", "ms": 1.5, "median_ms": "x"},
        {"type": "fallback", "layer": "conv1"},  # no reason
        {"type": "memory", "kind": "activation", "bytes": "1 GiB"},
        {"type": "warning", "severity": None},
    ],
)
def test_an_event_without_the_keys_of_its_type_is_a_parse_error_not_a_crash(
    tmp_path: Path, line: dict[str, Any]
) -> None:
    good = parse_file("01_")[0][1]
    event: Event = {
        "ts": None,
        "severity": "info",
        "engine": "x",
        "source": {"file": "a"},
        "msg": None,
    } | line
    stream = tmp_path / "events.jsonl"
    stream.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps(event) + b"\n")
    rules = rules_file(tmp_path, '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n')
    for args in (("report", stream), ("check", "--rules", rules, stream), ("report", stream, "--json")):
        result = trt_agent(*args)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
    stats = ParseStats()
    assert len(list(parse_path(str(stream), None, stats))) == 1
    assert stats.parse_errors == 1


def test_html_escapes_precisions_from_an_event_stream(tmp_path: Path) -> None:
    event: Event = {
        "type": "layer",
        "ts": None,
        "severity": "info",
        "engine": "x",
        "source": {"file": "a"},
        "msg": None,
        "name": "conv1",
        "layer_type": "Convolution",
        "precision": '"><script>alert(1)</script>',
        "sources": ["conv1"],
    }
    stream = tmp_path / "events.jsonl"
    stream.write_bytes(orjson.dumps(event) + b"\n")
    page = tmp_path / "r.html"
    assert trt_agent("report", stream, "--html", page).returncode == 0
    assert "<script>alert" not in page.read_text()
