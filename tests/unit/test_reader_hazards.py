"""Input that once broke the log reader (found by review): slow regexes on long lines, lines the
prefilter skipped, blocks that took a line of its own, state that crossed a read."""

from __future__ import annotations

import io
import time

import orjson
import pytest

from trt_agent.parse.dispatch import sniff
from trt_agent.parse.log import EVERY_LINE, PREFILTER, LogReader, ParseStats, parse_log
from trt_agent.vocab.events import Event


def _parse(data: bytes, prefilter: object = PREFILTER) -> list[Event]:
    return list(parse_log(io.BytesIO(data), "x.log", "e", ParseStats(), prefilter=prefilter))  # type: ignore[arg-type]


def _facts(events: list[Event]) -> list[tuple[object, ...]]:
    return [
        (e["type"], e["source"]["line"], e.get("layer") or e.get("code") or e.get("version")) for e in events
    ]


@pytest.mark.parametrize(
    "line",
    [
        b"Throughput: " + b"1" * 20000,
        b"Loaded engine size: " + b"1" * 20000,
        b"layer " * 20000 + b"is not supported on DLA, falling back to GPU",
    ],
    ids=["throughput-digits", "engine-size-digits", "dla-layer-words"],
)
def test_a_long_hostile_line_is_read_in_linear_time(line: bytes) -> None:
    started = time.perf_counter()
    _parse(line + b"\n")
    assert time.perf_counter() - started < 1.0  # was 7 to 15 s (quadratic backtracking)


@pytest.mark.parametrize(
    "line",
    [
        b"3: Cannot find binding of given name: images",
        b"MODEL_DESERIALIZE_FAILED: bad",
        b"IllegalStateException: boom",
        b"conv1".ljust(40) + b" 1.234ms \t",
        b"Setting layer {ForeignNode[" + b"a" * 500 + b"]} precision to Half",
        b"the engine plan file is not compatible with this version of TensorRT, expecting library version 8.6.1 got 8.5.2, please rebuild.",
    ],
)
def test_the_prefilter_reads_every_line_the_grammar_reads(line: bytes) -> None:
    reference = _parse(line + b"\n", EVERY_LINE)
    assert reference and _parse(line + b"\n") == reference


def test_an_error_after_an_unfinished_error_is_its_own() -> None:
    events = _parse(
        b"ERROR: failed to load engine model.plan\n"
        b"4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: Internal Error (Engine deserialization failed.)\n"
    )
    assert _facts(events) == [("error", 1, None), ("error", 2, 4)]


def test_asking_whether_a_line_continues_an_error_takes_no_state() -> None:
    events = _parse(
        b"Linked TensorRT version: 8.4.3\nERROR: something went wrong\nLoaded TensorRT version: 8.5.3\n"
    )
    [version] = [e for e in events if e["type"] == "version"]
    assert (version["version"], version["linked"]) == ("8.5.3", "8.4.3")


def test_an_error_cut_onto_the_next_line_is_one_error() -> None:
    events = _parse(
        b"[01/01/2024-10:00:00] [E] [TRT] 1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: "
        b"Serialization (Serialization assertion stdVersionRead == serializationVersion failed.Version tag "
        b"does not match. Note: Current\nVersion: 236, Serialized Engine Version: 213)\n"
    )
    assert [e["type"] for e in events if e["severity"] == "error"].count("error") == 1
    assert {(e["component"], e["version"]) for e in events if e["type"] == "version"} == {
        ("serialization", "236"),
        ("serialization_plan", "213"),
    }


def test_a_placement_list_keeps_its_last_item_its_line_and_no_stranger() -> None:
    head = b"[TensorRT] INFO: --------------- Layers running on GPU:\n[TensorRT] INFO: pool1, fc1\n"
    assert _facts(_parse(head)) == [("placement", 2, "pool1"), ("placement", 2, "fc1")]
    assert _facts(_parse(head + b"[TensorRT] WARNING: something\n"))[:2] == _facts(_parse(head))
    traceback = _parse(head + b"Traceback (most recent call last):\n")
    assert [e["layer"] for e in traceback if e["type"] == "placement"] == ["pool1", "fc1"]


def test_lookback_crosses_reads() -> None:
    data = (
        b"[V] [TRT] Running: ConstShuffleFusion on conv1_weights\n"
        b"[V] [TRT] ConstShuffleFusion: Fusing conv1_weights with (Unnamed Layer* 1) [Shuffle]\n"
        b"[V] [TRT] Removing conv1_weights\n"
    )
    whole = _parse(data)
    reader = LogReader("x.log", "e", ParseStats())
    by_line = [e for line in data.splitlines(keepends=True) for e in reader.feed(line)]
    assert by_line == whole and whole[-1]["kind"] == "ConstShuffleFusion"


def _record(log: str, **more: str) -> bytes:
    return orjson.dumps({"log": log, "stream": "stderr", "time": "2024-01-01T00:00:00Z"} | more) + b"\n"


def test_docker_records_keep_line_numbers_and_are_found_after_a_blank_line() -> None:
    data = b"\n" + _record("x WARNING: y\n", time="a\nb") + _record("[TRT] [W] z\n")
    assert [(e["type"], e["source"]["line"]) for e in _parse(data)] == [("warning", 2), ("warning", 3)]


def test_a_first_record_longer_than_the_sniffed_head_is_still_a_log() -> None:
    record = _record("\u003c" * 16384)  # Docker escapes "<": 98 KB of JSON for 16 KiB of text
    assert sniff(record[:65536]) == "log"


def test_a_structured_log_is_a_log_and_a_json_document_is_an_artifact() -> None:
    assert sniff(b'{"level":"info","msg":"starting server"}\n[TRT] [W] something\n') == "log"
    assert sniff(b'{"Layers": []}\n') == "json"
    assert sniff(b'{\n  "Layers": []\n}\n') == "json"


def test_docker_pieces_of_one_line_are_joined_up_to_the_line_limit() -> None:
    from trt_agent.parse.docker import DockerJsonLines

    line = "[TRT] [W] Using an engine plan file across different models of devices is not recommended\n"
    pieces = [line[i : i + 16] for i in range(0, len(line), 16)]
    region = b"".join(_record(piece) for piece in pieces)
    whole = DockerJsonLines(max_line_bytes=1 << 20).unwrap(region).split(b"\n")
    assert whole[-2].endswith(line.rstrip("\n").encode()) and whole[:-2] == [b""] * (len(pieces) - 1)
    capped = DockerJsonLines(max_line_bytes=32).unwrap(region).split(b"\n")[-2]
    assert len(capped) < len(whole[-2]) and capped.endswith(pieces[-1].rstrip("\n").encode())
