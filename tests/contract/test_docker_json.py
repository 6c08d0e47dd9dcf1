"""Docker's json-file log driver: real TensorRT lines from tests/data, wrapped the way Docker writes
them, give the events of the same lines in Kubernetes' CRI form (parse/docker.py)."""

from __future__ import annotations

from pathlib import Path

import orjson
from conftest import data_file, parse_file

from trt_agent.parse import ParseStats
from trt_agent.parse.dispatch import parse_path, sniff
from trt_agent.vocab.events import Event

TIME = "2023-06-26T14:33:12.123456789Z"


def _record(log: str, stream: str = "stderr", time: str = TIME) -> bytes:
    return orjson.dumps({"log": log, "stream": stream, "time": time}) + b"\n"


def _parse(path: Path) -> list[Event]:
    return list(parse_path(str(path), "e", ParseStats()))


def _facts(events: list[Event]) -> list[tuple[object, ...]]:
    skip = {"msg", "source", "engine", "ts"}
    return [tuple(sorted((k, repr(v)) for k, v in e.items() if k not in skip)) for e in events]


def test_json_file_records_give_the_events_of_their_lines(tmp_path: Path) -> None:
    real = data_file("78_")  # TensorRT 8.5 plan version mismatch: errors, versions
    lines = real.read_text().splitlines()
    wrapped = tmp_path / "container-json.log"
    wrapped.write_bytes(b"".join(_record(line + "\n") for line in lines))
    assert sniff(wrapped.read_bytes()) == "log"
    want, _ = parse_file("78_")
    got = _parse(wrapped)
    assert _facts(got) == _facts(want) and got
    assert [e["source"]["line"] for e in got] == [e["source"]["line"] for e in want]
    assert got[0]["msg"].startswith(f"{TIME} stderr ")


def test_the_record_time_is_the_event_time_when_the_line_has_none(tmp_path: Path) -> None:
    line = next(ln for ln in data_file("160_").read_text().splitlines() if "Error Code 4" in ln)
    wrapped = tmp_path / "c.log"
    wrapped.write_bytes(_record(line + "\n"))
    [event] = _parse(wrapped)
    assert (event["type"], event["severity"], event["code"]) == ("error", "error", 4)
    assert event["ts"] == "2023-06-26T14:33:12Z"


def test_a_line_docker_split_into_records_is_joined_and_numbering_is_kept(tmp_path: Path) -> None:
    line = next(ln for ln in data_file("78_").read_text().splitlines() if "expecting library version" in ln)
    middle = len(line) // 2
    wrapped = tmp_path / "split.log"
    wrapped.write_bytes(
        _record("[TRT] [W] first line\n")
        + _record(line[:middle])
        + _record(line[middle:] + "\n")
        + b"not json\n"
    )
    events = _parse(wrapped)
    versions = [e for e in events if e["type"] == "version"]
    assert {e["component"] for e in versions} == {"tensorrt", "tensorrt_plan"}
    assert {e["source"]["line"] for e in versions} == {3}
    assert events[0]["type"] == "warning" and events[0]["source"]["line"] == 1


def test_a_growing_record_waits_for_its_newline_before_the_file_is_judged() -> None:
    assert sniff(b'{"log":"[TRT] [W', complete=False) is None
    assert sniff(b'{"lo', complete=False) is None
    assert sniff(_record("[TRT] [W] x\n"), complete=False) == "log"
