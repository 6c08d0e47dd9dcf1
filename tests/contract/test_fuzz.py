"""Fuzzing (issue 9): no input may crash an entry point, and memory stays bounded.

Every reader is fed real TensorRT text and JSON from ``tests/data``, mutated the ways real
files go wrong (lines spliced from other logs, flipped bytes, truncation, invalid UTF-8, huge
numbers, very long lines, deep JSON nesting, NaN/Infinity, duplicate keys) plus pure random
input. Only the documented errors may escape: ``ArtifactError`` / ``ConfigError`` /
``RulesError`` with a message naming the file. Everything the readers accept must also survive
the engine model, ``report`` (text and JSON), every rule check and ``diff``.

Inputs that once crashed something live in ``tests/data/fuzz/`` (one file per crash, see the
README there) and are replayed by ``test_fuzz_corpus``. ``fuzz/`` has the opt-in atheris
harnesses (not run in CI).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tracemalloc
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import DATA, GOLDEN, ROOT
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trt_agent.config import Config, ConfigError, load_config
from trt_agent.config.schema import SECTIONS, keys
from trt_agent.model import build_models
from trt_agent.model.diff import diff_models
from trt_agent.model.engine import EngineModel
from trt_agent.parse import LogReader, ParseStats, parse_stream
from trt_agent.parse.artifacts import ArtifactError, parse_artifact
from trt_agent.parse.calibration import parse_calibration_cache
from trt_agent.parse.event_stream import parse_event_stream
from trt_agent.parse.grammar import ParserState, match_message
from trt_agent.parse.prefix import split_header
from trt_agent.reports.diff import diff_json, diff_text
from trt_agent.reports.html import LatencySeries, report_html
from trt_agent.reports.rule_results import results_json, results_junit, results_text
from trt_agent.reports.summary import report_json, report_text
from trt_agent.rules import (
    CHECKS,
    Baseline,
    Rule,
    RulesError,
    RuleSet,
    Selector,
    evaluate,
    load_rules,
    parse_rules,
)
from trt_agent.vocab.events import EVENT_TYPES, Event
from trt_agent.vocab.names import decompose, normalize_precision

FUZZ_CORPUS = DATA / "fuzz"
FUSION = b"[11/01/2024-10:32:48] [V] [TRT] ConvReluFusion: Fusing conv1 with relu1\n"

# FUZZ_SCALE=20 runs twenty times as many examples (a longer hunt, outside CI).
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
# In CI the examples are the same every run (derandomize): a new crash is found by a FUZZ_SCALE
# hunt and kept in tests/data/fuzz, not by a build of an unrelated change failing at random.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": SCALE == 1}
FAST = settings(max_examples=60 * SCALE, **_COMMON)
SLOW = settings(max_examples=25 * SCALE, **_COMMON)


# -- seeds: the real inputs -----------------------------------------------------------------------


@cache
def _real_files() -> dict[str, bytes]:
    files = {}
    for folder in ("corpus", "extra"):
        for path in sorted((DATA / folder).iterdir()):
            if path.is_file() and path.suffix != ".md":
                files[path.name] = path.read_bytes()
    return files


@cache
def _small_files() -> tuple[bytes, ...]:
    """Real files, the big ones cut to their first 64 KiB so an example stays fast."""
    return tuple(data[: 64 * 1024] for data in _real_files().values())


@cache
def _log_lines() -> tuple[bytes, ...]:
    lines: set[bytes] = set()
    for name, data in _real_files().items():
        if not name.endswith(".json"):
            lines.update(line for line in data.splitlines()[:3000] if line.strip())
    return tuple(sorted(lines))


@cache
def _messages() -> tuple[str, ...]:
    return tuple(sorted({split_header(line.decode("utf-8", "replace")).message for line in _log_lines()}))


@cache
def _json_docs() -> tuple[Any, ...]:
    return tuple(orjson.loads(data) for name, data in _real_files().items() if name.endswith(".json"))


@cache
def _golden_events() -> tuple[Event, ...]:
    events: list[Event] = []
    for path in sorted(GOLDEN.rglob("*.jsonl")):
        events.extend(orjson.loads(line) for line in path.read_bytes().splitlines()[:400])
    return tuple(events)


# -- mutations ------------------------------------------------------------------------------------

INVALID_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80", b"\xc0\xaf")
SPECIAL = (
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b"[",
    b"]",
    b"{",
    b"}",
    b"(",
    b")",
    b",",
    b"...",
    b" + ",
    b"PWN(",
    b"{ForeignNode[",
    b"]}",
    b": ",
    b"=== Profile (10 iterations ) ===\n",
    b"Layers:\n",
    b"Engine Layer Information:\n",
    b"[I] === Performance summary ===\n",
    b"[11/01/2024-10:32:48] [W] [TRT] ",
    b"[TensorRT] VERBOSE: ",
    b"\xef\xbb\xbf",
    b"TRT-8601-EntropyCalibration2\n",
    b'{"type":"warning","engine":"e","source":{},"severity":"warning"}\n',
)
HUGE_NUMBERS = (
    b"9" * 400,
    b"99999999999999999999999999999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e999",
    b"-1e999",
    b"1e-999",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"-0",
    b"0",
    b"-1",
    b"0x7fffffff",
    b"1.7976931348623157e308",
    b"4294967296",
    b"ffffffff",
    b"." * 3,
)


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes], max_ops: int = 6) -> bytes:
    """A real input with a few of the damages real files suffer."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(
            st.sampled_from(
                ("flip", "truncate", "delete", "utf8", "splice", "special", "number", "long", "dup")
            )
        )
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 200))]
        elif op == "utf8":
            data[pos:pos] = draw(st.sampled_from(INVALID_UTF8))
        elif op == "splice":
            data[pos:pos] = draw(st.sampled_from(_log_lines())) + b"\n"
        elif op == "special":
            data[pos:pos] = draw(st.sampled_from(SPECIAL))
        elif op == "number":
            digits = next((i for i in range(pos, min(len(data), pos + 400)) if chr(data[i]).isdigit()), pos)
            end = digits
            while end < len(data) and (chr(data[end]).isdigit() or data[end] in b".e+-"):
                end += 1
            data[digits:end] = draw(st.sampled_from(HUGE_NUMBERS))
        elif op == "long":
            data[pos:pos] = draw(st.sampled_from((b"x", b"\xff", b"[", b"(", b" + ", b"a,"))) * draw(
                st.integers(1000, 200_000)
            )
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 5000))]
    return bytes(data)


def _json_values(depth: int = 3) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(("", "Int8", "Half", "Float", "*", "{ForeignNode[a...b]}", "PWN(a, b)", "a + b")),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )


@st.composite
def mutated_json(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with some values replaced by arbitrary JSON and some keys deleted."""
    if isinstance(doc, dict) and doc:
        doc = dict(doc)
        for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=3, unique=True)):
            action = draw(st.sampled_from(("replace", "delete", "recurse")))
            if action == "replace":
                doc[key] = draw(_json_values())
            elif action == "delete":
                del doc[key]
            else:
                doc[key] = draw(mutated_json(doc[key]))
        return doc
    if isinstance(doc, list) and doc:
        doc = list(doc)
        for index in draw(st.lists(st.integers(0, len(doc) - 1), max_size=4, unique=True)):
            if draw(st.booleans()):
                doc[index] = draw(_json_values())
            else:
                doc[index] = draw(mutated_json(doc[index]))
        return doc
    return draw(st.one_of(st.just(doc), _json_values()))


@st.composite
def json_documents(draw: st.DrawFn) -> bytes:
    """Real artifacts, structurally and textually damaged."""
    doc = draw(mutated_json(draw(st.sampled_from(_json_docs()))))
    text = json.dumps(doc).encode()
    kind = draw(st.sampled_from(("plain", "nan", "duplicate", "deep", "bytes")))
    if kind == "nan":
        text = text.replace(b"0.", draw(st.sampled_from((b"NaN, 0.", b"Infinity + 0.", b"-Infinity"))), 1)
    elif kind == "duplicate" and text.startswith(b"{") and len(text) > 2:
        text = b'{"Layers": 1, "Name": [], "Layers": [],' + text[1:]
    elif kind == "deep":
        depth = draw(st.sampled_from((254, 255, 256, 1000, 1023, 1024, 1025, 100_000)))
        text = b'[{"name": "x", "averageMs": ' + b"[" * depth + b"]" * depth + b"}]"
    elif kind == "bytes":
        text = draw(mutated(st.just(text), max_ops=3))
    return text


# -- the properties -------------------------------------------------------------------------------


def _parse(data: bytes, max_line_bytes: int = 1 << 16) -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    events = list(parse_stream(io.BytesIO(data), "fuzz.log", "fuzz", stats, max_line_bytes=max_line_bytes))
    return events, stats


def _encode(event: Event) -> bytes:
    """As the JSONL sink writes an event (orjson, the standard library beyond 64-bit integers)."""
    try:
        return orjson.dumps(event)
    except TypeError:
        return json.dumps(event, default=str).encode()


def _every_check_rules() -> list[Rule]:
    """One rule per check and parameter, and with layer selections, so every check runs."""
    rules = []
    for check, spec in CHECKS.items():
        params: dict[str, Any] = {}
        for key in spec.params:
            if key in ("min", "max", "max_width", "max_abs", "max_ratio", "max_ms"):
                params[key] = 0.5
            elif key == "max_bytes":
                params[key] = 1 << 20
            elif key in ("reasons", "allowed"):
                params[key] = ("Int8", "Half", "no_implementation")
            elif key == "expect":
                params[key] = {"tensorrt": "10", "cudnn": "8.9"}
            elif key == "kind":
                params[key] = "activation"
            else:
                params[key] = True
        for select in (Selector(), Selector(layers=("*conv*", "*[*", "a"), precisions=("Int8",))):
            rules.append(Rule(f"{check}_{len(rules)}", check, params=params, select=select))
    return rules


def _consume_models(models: dict[str, EngineModel], baseline_models: dict[str, EngineModel]) -> None:
    """Everything a sink asks of the models; nothing may raise."""
    stats = ParseStats().as_dict()
    report_json(models, stats)
    report_text(models, stats)
    report_html(models, LatencySeries())
    for model in models.values():
        model.summary()
        model.fusion_coverage()
        model.unfused_kernel_ratio()
        model.int8_coverage()
        model.opaque_layers()
        model.int8_requested()
        model.slowest_layers()
        model.drop_stale_layers(0.0, 1e12)
    rules = RuleSet(tuple(_every_check_rules()), "fuzz.toml")
    baseline = Baseline.from_models(baseline_models.values())
    results = evaluate(rules, models, baseline)
    results_text(results, "fuzz.toml")
    results_json(results, "fuzz.toml")
    results_junit(results, "fuzz.toml")
    others = list(baseline_models.values())
    for model in models.values():
        for other in others[:2]:
            for a, b in ((model, other), (other, model)):
                d = diff_models(a, b)
                diff_json(d)
                diff_text(d)


def _round_trip(events: list[Event]) -> list[Event]:
    """Our own events read back through the event-stream reader (what ``report`` of a daemon's
    ``[events]`` file sees): every event the parsers emit must be a valid event."""
    stats = ParseStats()
    data = b"\n".join(_encode(e) for e in events) + b"\n"
    back = list(parse_event_stream(io.BytesIO(data), "events.jsonl", stats))
    assert stats.parse_errors == 0, [
        e for e in events if not list(parse_event_stream(io.BytesIO(_encode(e)), "x", ParseStats()))
    ][:3]
    return back


@FAST
@given(data=mutated(st.sampled_from(_small_files())))
def test_any_damaged_real_input_parses_models_and_reports(data: bytes) -> None:
    try:
        events, stats = _parse(data)
    except ArtifactError as exc:
        assert str(exc).startswith("fuzz.log: ")
        return
    assert stats.parse_errors == 0 or _is_event_stream(data)
    for event in events:
        assert event["type"] in EVENT_TYPES
    if not _is_event_stream(data):
        _round_trip(events)
    models = build_models(events)
    golden = build_models(e for e in _golden_events()[:600])
    _consume_models(models, golden)


def _is_event_stream(data: bytes) -> bool:
    from trt_agent.parse.event_stream import is_event_stream

    return is_event_stream(data[:65536].removeprefix(b"\xef\xbb\xbf"))


@FAST
@given(data=st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    try:
        events, _ = _parse(data)
    except ArtifactError as exc:
        assert str(exc).startswith("fuzz.log: ")
        return
    _consume_models(build_models(events), {})


@FAST
@given(lines=st.lists(st.sampled_from(_log_lines()) | st.binary(max_size=80), max_size=60), data=st.data())
def test_spliced_lines_any_chunking(lines: list[bytes], data: st.DataObject) -> None:
    """Real lines from every dialect interleaved: the push reader never fails a grammar rule,
    and where every line has a bracketed header it gives the same events whatever chunks the
    bytes arrive in. (Headerless text may not: the reader picks its prefilter from the first
    64 KiB it has seen, and a tailer cannot see lines that are not written yet.)"""
    text = b"\n".join(lines) + draw_tail(data)
    whole, stats = _read_in_chunks(text, [len(text)])
    assert stats.parse_errors == 0
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    pieces, stats = _read_in_chunks(text, [*cuts, len(text)])
    assert stats.parse_errors == 0
    if all(b"] " in line[:200] for line in text.splitlines() if line.strip()):
        assert [(e["type"], e["source"]["line"]) for e in pieces] == [
            (e["type"], e["source"]["line"]) for e in whole
        ]
    _round_trip(whole)


def draw_tail(data: st.DataObject) -> bytes:
    return data.draw(st.sampled_from((b"", b"\n", b"\r\n", b"\n\n")))


def _read_in_chunks(text: bytes, cuts: list[int]) -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    reader = LogReader("fuzz.log", "fuzz", stats, max_line_bytes=4096)
    events: list[Event] = []
    previous = 0
    for cut in cuts:
        events.extend(reader.feed(text[previous:cut]))
        previous = max(previous, cut)
    events.extend(reader.flush())
    return events, stats


@FAST
@given(
    message=mutated(st.sampled_from(_messages()).map(str.encode), max_ops=4).map(
        lambda b: b.decode("utf-8", "replace")
    )
)
def test_grammar_on_damaged_messages(message: str) -> None:
    state = ParserState()
    _, facts = match_message(message, state)
    for type_, fields in facts:
        assert type_ in EVENT_TYPES and isinstance(fields, dict)
    split_header(message)


@FAST
@given(text=st.text(max_size=300))
def test_header_grammar_and_names_on_any_text(text: str) -> None:
    header = split_header(text)
    assert header.message in text
    match_message(header.message, ParserState())
    parsed = decompose(text)
    assert all(s and s == s.strip() for s in parsed.sources)
    normalize_precision(text)


_NAME_PARTS = st.sampled_from(("conv1", "bn1", "relu", "(Unnamed Layer* 6) [Shuffle]", "/a/b", "x", "", " "))


def _engine_names() -> st.SearchStrategy[str]:
    return st.recursive(
        _NAME_PARTS,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map(" + ".join),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"PWN({', '.join(xs)})"),
            st.tuples(inner, inner).map(lambda ab: f"{{ForeignNode[{ab[0]}...{ab[1]}]}}"),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: "{" + ",".join(xs) + "}"),
            inner.map(lambda x: x[: len(x) // 2]),  # a name cut by whoever posted the log
            inner.map(lambda x: x + " [profile 0]"),
        ),
        max_leaves=20,
    )


@FAST
@given(name=_engine_names())
def test_decompose_structured_names(name: str) -> None:
    parsed = decompose(name)
    assert parsed.kind in ("single", "fused", "myelin", "dla", "reformat")
    assert all(s and s == s.strip() for s in parsed.sources)


@FAST
@given(data=json_documents())
def test_json_artifacts(data: bytes) -> None:
    stats = ParseStats()
    try:
        events = list(parse_artifact(data, "fuzz.json", "fuzz", stats))
    except ArtifactError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    _round_trip(events)
    _consume_models(build_models(events), build_models(_golden_events()[:300]))


@FAST
@given(data=mutated(st.sampled_from([d for d in _small_files() if d.startswith(b"TRT-")] or [b"TRT-1-x\n"])))
def test_calibration_caches(data: bytes) -> None:
    stats = ParseStats()
    events = list(parse_calibration_cache(io.BytesIO(data), "fuzz.cache", "fuzz", stats))
    _round_trip(events)
    _consume_models(build_models(events), {})


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """Real events (the golden files) with keys replaced by arbitrary JSON, deleted, retyped;
    plus torn lines and deep nesting."""
    events = draw(st.lists(st.sampled_from(_golden_events()), min_size=1, max_size=40))
    lines = []
    for event in events:
        event = dict(event)
        for _ in range(draw(st.integers(0, 3))):
            action = draw(st.sampled_from(("replace", "delete", "retype", "add", "deep", "engine")))
            key = draw(st.sampled_from(sorted(event)))
            if action == "replace":
                event[key] = draw(_json_values())
            elif action == "delete":
                event.pop(key, None)
            elif action == "retype":
                event["type"] = draw(st.sampled_from(sorted(EVENT_TYPES)))
            elif action == "add":
                event[
                    draw(
                        st.sampled_from(
                            (
                                "sources",
                                "origin",
                                "layer_type",
                                "precision",
                                "linked",
                                "stage",
                                "median_ms",
                                "min",
                                "max",
                                "registered",
                                "version",
                                "kind",
                                "layer",
                                "op",
                                "tactic",
                                "result",
                                "iterations",
                            )
                        )
                    )
                ] = draw(_json_values())
            elif action == "deep":
                depth = draw(st.sampled_from((10, 200, 254, 300, 999, 1023)))
                event[key] = json.loads("[" * depth + "]" * depth)
            else:
                event["engine"] = draw(st.sampled_from(("a", "b", "", "*")))
        line = _encode(event).rstrip(b"\n")
        if draw(st.integers(0, 9)) == 0:
            line = line[: draw(st.integers(0, len(line)))]
        lines.append(line)
    return b"\n".join(lines) + b"\n"


@SLOW
@given(data=event_streams())
@example(  # a fusion event without its optional "kind" once stopped the model (KeyError)
    data=b'{"engine":"test","layers":["a","b"],"msg":"Removing a + b","result":null,'
    b'"severity":"verbose","source":{"file":"x.log","line":1},"ts":null,"type":"fusion"}\n'
)
def test_event_streams_feed_the_model_reports_rules_and_diff(data: bytes) -> None:
    stats = ParseStats()
    events = list(parse_event_stream(io.BytesIO(data), "events.jsonl", stats))
    for event in events:
        _encode(event)  # what ``parse`` prints for an event stream
    models = build_models(events)
    _consume_models(models, build_models(_golden_events()[:300]))
    _consume_models(build_models(_golden_events()[:300]), models)


# -- configuration and rules files ----------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from((0, -1, 1, 1023, 1024, 2**63, 10**400, -(10**400))),
        st.floats(),
        st.text(max_size=20),
        st.sampled_from(
            (
                "",
                "-",
                "/",
                "\x00",
                "x\x00y",
                "*.log",
                "8 GiB",
                "1e999 GiB",
                "9" * 400 + " TiB",
                "(" * 300,
                "a{4294967296}",
                "[",
                "auto",
                "poll",
                "error",
            )
        ),
    )


def _toml_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        _toml_scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def toml_documents(draw: st.DrawFn, seed: str) -> bytes:
    """A real config or rules file with lines dropped, duplicated and values replaced, or the
    keys of its sections with arbitrary values."""
    lines = (ROOT / seed).read_text().splitlines()
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    for _ in range(draw(st.integers(0, 6))):
        index = draw(st.integers(0, max(0, len(lines) - 1)))
        action = draw(st.sampled_from(("value", "drop", "dup", "raw")))
        if not lines:
            break
        line = lines[index]
        if action == "value" and "=" in line:
            lines[index] = line.split("=", 1)[0] + "= " + _toml_value(draw(_toml_values()))
        elif action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, line)
        elif action == "raw":
            lines.insert(
                index,
                draw(
                    st.sampled_from(
                        (
                            "a = " + "[" * 5000,
                            "[[logs]]",
                            "[agent]",
                            "[metrics]",
                            "[[rule]]",
                            "x = 1",
                            "[profiler]",
                            'engine = "a.plan"',
                        )
                    )
                ),
            )
    text = "\n".join(lines).encode()
    if draw(st.integers(0, 5)) == 0:
        text = draw(mutated(st.just(text), max_ops=2))
    return text


CONFIG_KEYS = {
    "agent": (
        "state_dir",
        "log_level",
        "engine",
        "max_line_bytes",
        "watch",
        "poll_interval",
        "rotate_wait",
        "max_followed_files",
    ),
    "metrics": ("listen", "max_layer_series", "latency_buckets", "series_ttl", "max_calibration_series"),
    "events": ("path", "max_bytes", "max_files", "fsync", "queue_events", "queue_bytes", "when_full"),
    "redaction": ("enabled", "key_env", "allowlist", "mode", "scrub_paths"),
    "profiler": (
        "engine",
        "engine_id",
        "shapes",
        "input_range",
        "max_duty_cycle",
        "gpu_busy_percent",
        "device",
        "events_every",
        "busy_backoff",
    ),
    "rules": ("file", "baseline"),
}
# Every key with a range (schema.Range), drawn at and just beyond both of its ends as well.
RANGED = {
    section: {k.name: k.allowed for k in keys(section) if k.allowed is not None} for section in SECTIONS
}
CONFIG_KEYS = {
    section: tuple(dict.fromkeys([*CONFIG_KEYS.get(section, ()), *RANGED[section]]))
    for section in CONFIG_KEYS
}


def _range_edges() -> st.SearchStrategy[Any]:
    """The ends of every key's range, and values just past them (as ints and as floats)."""
    edges: set[float] = {0, -1}
    for ranges in RANGED.values():
        for allowed in ranges.values():
            for end in (allowed.low, allowed.high):
                edges |= {end, end * 2, end / 2, end + 1, end - 1, math.nextafter(end, math.inf)}
    values = sorted(edges)
    return st.sampled_from([*values, *(int(v) for v in values if float(v).is_integer())])


@st.composite
def generated_configs(draw: st.DrawFn) -> bytes:
    out = []
    for section in draw(st.lists(st.sampled_from(sorted(CONFIG_KEYS)), max_size=4, unique=True)):
        out.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(CONFIG_KEYS[section]), max_size=4, unique=True)):
            value = draw(st.one_of(_toml_values(), _range_edges(), st.lists(_range_edges(), max_size=3)))
            out.append(f"{key} = {_toml_value(value)}")
    for _ in range(draw(st.integers(0, 2))):
        out.append("[[logs]]")
        for key in draw(
            st.lists(st.sampled_from(("path", "engine", "read_from", "format")), max_size=4, unique=True)
        ):
            out.append(f"{key} = {_toml_value(draw(_toml_values()))}")
    return "\n".join(out).encode()


def _load_config_only_config_errors(path: Path) -> None:
    try:
        config = load_config(str(path))
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return
    config.engine_for("build.log")
    config.engine_for(str(path))
    _assert_in_ranges(config)


def _assert_in_ranges(config: Config) -> None:
    """What load_config accepted holds every number within its key's range (schema.Range)."""
    holders: dict[str, tuple[Any, ...]] = {
        "agent": (config, config.tail),
        "metrics": (config.metrics,),
        "events": (config.events,),
        "profiler": () if config.profiler is None else (config.profiler,),
    }
    for section, objects in holders.items():
        for k in keys(section):
            allowed = k.allowed
            if allowed is None or not objects:
                continue
            value = next(getattr(o, k.attribute) for o in objects if hasattr(o, k.attribute))
            values = value if allowed.items is not None else (value,)
            assert len(values) <= (allowed.items or 1), (section, k.name, value)
            assert all(v in allowed for v in values), (section, k.name, value, allowed.text)


@FAST
@given(text=st.one_of(toml_documents("config.example.toml"), generated_configs(), st.binary(max_size=300)))
def test_config_files(tmp_path_factory: pytest.TempPathFactory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "agent.toml"
    path.write_bytes(text)
    _load_config_only_config_errors(path)


@st.composite
def generated_rules(draw: st.DrawFn) -> dict[str, Any]:
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        check = draw(st.sampled_from(sorted(CHECKS)))
        rule: dict[str, Any] = {"name": draw(st.sampled_from(("r", "r1", "bad name", ""))), "check": check}
        keys = [*CHECKS[check].params, "layers", "engines", "severity", "description", "precisions", "bogus"]
        for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
            rule[key] = draw(_toml_values())
        rules.append(rule)
    return {"rule": rules}


@FAST
@given(
    text=st.one_of(
        toml_documents("rules.example.toml"),
        generated_rules().map(
            lambda r: "\n".join(
                "[[rule]]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in rule.items())
                for rule in r["rule"]
            ).encode()
        ),
        st.binary(max_size=300),
    )
)
def test_rules_files(tmp_path_factory: pytest.TempPathFactory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("rules") / "rules.toml"
    path.write_bytes(text)
    try:
        rules = load_rules(str(path))
    except RulesError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return
    models = build_models(_golden_events()[:300])
    evaluate(rules, models, Baseline.from_models(models.values()))


@FAST
@given(raw=generated_rules())
def test_rules_documents(raw: dict[str, Any]) -> None:
    try:
        rules = parse_rules(raw, "fuzz.toml")
    except RulesError as exc:
        assert str(exc).startswith("fuzz.toml: "), exc
        return
    models = build_models(_golden_events()[:300])
    evaluate(rules, models, Baseline.from_models(models.values()))


# -- memory ---------------------------------------------------------------------------------------


def _feed_one_line(megabytes: int, limit: int) -> tuple[int, int, list[Event], ParseStats]:
    """Feed ``megabytes`` MiB of one line in 1 MiB pieces (as the tailer does), then its newline:
    (most bytes the reader held, peak traced allocation, events, stats)."""
    first = b"[11/01/2024-10:32:48] [W] [TRT] "
    piece = b"x" * (1 << 20)
    head = first + piece[len(first) :]
    stats = ParseStats()
    reader = LogReader("big.log", "e", stats, max_line_bytes=limit)
    events: list[Event] = []
    held = 0
    tracemalloc.start()
    try:
        for index in range(megabytes):
            events.extend(reader.feed(head if index == 0 else piece))
            held = max(held, reader.pending)
        events.extend(reader.feed(b"\n" + FUSION))
        events.extend(reader.flush())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held, peak, events, stats


@pytest.mark.parametrize("limit", [64 * 1024, 1 << 20])
def test_fifty_megabytes_of_one_line_stay_within_max_line_bytes(limit: int) -> None:
    """The reader holds at most ``max_line_bytes`` of a line, however long it is; what it
    allocates on the way (the line's head decoded, split, put in its event) is a few times the
    limit and does not grow with the line: 10 MB and 50 MB peak the same."""
    held, peak, events, stats = _feed_one_line(50, limit)
    assert held <= limit
    assert [e["type"] for e in events] == ["warning", "fusion"]
    assert len(events[0]["msg"]) <= limit
    assert stats.truncated_lines == 1 and stats.lines == 2
    assert peak <= 8 * limit + 64 * 1024, peak
    _, peak_10, _, _ = _feed_one_line(10, limit)
    assert abs(peak - peak_10) <= 64 * 1024, (peak, peak_10)


def test_fifty_megabytes_in_one_read_are_cut_not_copied() -> None:
    big = b"[11/01/2024-10:32:48] [W] [TRT] " + b"y" * (50 << 20)
    stats = ParseStats()
    tracemalloc.start()
    try:
        events = list(parse_stream(io.BytesIO(big), "big.log", "e", stats, max_line_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e["type"] for e in events] == ["warning"] and stats.truncated_lines == 1
    assert peak <= 8 << 20, peak


def test_fifty_megabyte_line_in_an_event_stream_is_dropped_as_it_arrives() -> None:
    """Fuzz finding: the event-stream reader held a line whole and re-split it on every 1 MiB
    read (50 MB: 680 MB traced, quadratic time). Now a line beyond 8 x max_line_bytes is dropped
    as it arrives and counted as a parse error; the lines around it survive."""
    event = b'{"type":"warning","engine":"e","source":{},"severity":"warning"}\n'
    big = event + b'{"x":"' + b"y" * (50 << 20) + b"\n" + event
    stats = ParseStats()
    tracemalloc.start()
    try:
        events = list(parse_stream(io.BytesIO(big), "events.jsonl", "e", stats, max_line_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 2 and stats.lines == 3 and stats.parse_errors == 1 and stats.bytes == len(big)
    assert peak <= 24 << 20, peak


@pytest.mark.parametrize("depth", [254, 255, 1022, 1023, 100_000])
def test_deep_json_nesting_is_an_error_not_a_recursion(depth: int) -> None:
    """orjson reads at most 1024 levels (an ``ArtifactError`` beyond); an event nested deeper
    than any of ours is a parse error (the sinks could not write it: orjson stops at 255
    levels, the standard library's encoder recurses out near 1000)."""
    doc = b'[{"name": "x", "averageMs": ' + b"[" * depth + b"]" * depth + b"}]"
    stats = ParseStats()
    try:
        events = list(parse_artifact(doc, "deep.json", "e", stats))
    except ArtifactError as exc:
        assert str(exc).startswith("deep.json: not valid JSON")
        assert depth + 2 > 1024
    else:
        assert events == [] and stats.parse_errors == 1  # a record whose time is a list: skipped
    line = b'{"type":"warning","engine":"e","source":{},"severity":"warning","x":'
    stats = ParseStats()
    kept = list(parse_event_stream(io.BytesIO(line + b"[" * depth + b"]" * depth + b"}\n"), "deep", stats))
    assert kept == [] and stats.parse_errors == 1


# -- regressions: the inputs that once crashed something -------------------------------------------


def _corpus() -> list[Path]:
    return sorted(p for p in FUZZ_CORPUS.iterdir() if p.suffix != ".md")


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_fuzz_corpus(path: Path) -> None:
    """Each file is named ``<entry point>-<what>.<ext>`` and replayed through that entry point
    (tests/data/fuzz/README.md says what each one broke)."""
    kind = path.name.split("-", 1)[0]
    if kind == "config":
        with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: "):
            load_config(str(path))
        return
    if kind == "rules":
        with pytest.raises(RulesError, match=f"^{re.escape(str(path))}: "):
            load_rules(str(path))
        return
    stats = ParseStats()
    try:
        events = list(parse_stream(io.BytesIO(path.read_bytes()), path.name, "fuzz", stats))
    except ArtifactError as exc:  # the documented error, naming the file
        assert kind != "log" and str(exc).startswith(f"{path.name}: ")
        return
    if kind == "log":
        assert stats.parse_errors == 0
    for event in events:
        _encode(event)
    _round_trip(events)
    _consume_models(build_models(events), build_models(_golden_events()[:300]))


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not readable"):
        load_config(str(tmp_path))
