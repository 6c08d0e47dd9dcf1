"""User patterns (``[[patterns]]``, trt_agent/parse/patterns.py): compile errors that name the
key, a line's fields as their keys' types, the one search over a region of lines, and a
pathological regex that returns at once (RE2 is linear time)."""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from trt_agent.config import ConfigError, load_config
from trt_agent.config.schema import PatternConfig
from trt_agent.parse.patterns import PATTERN_KEYS, UserPatterns, compile_patterns, line_form

# A team's own logger line (the shape of Ultralytics' export summary, tests/data/dialects/151_*).
EXPORT = "> TensorRT: export success ✅ 123.0s, saved as 'yolov8x-worldv2.engine' (431.8 MB)"
EXPORT_MEMORY = {
    "regex": r"TensorRT: export success .* \((?P<value>[\d.]+) (?P<unit>[KMG]i?B)\)$",
    "type": "memory",
    "fields": {"kind": "engine_file"},
}
EXPORT_TIME = {
    "regex": r"TensorRT: export success \S* (?P<seconds>[\d.]+)s,",
    "type": "build_complete",
    "severity": "info",
    "engine": "yolov8x-worldv2",
}


def patterns(*entries: dict[str, Any]) -> UserPatterns:
    return UserPatterns(compile_patterns(entries))


def lines_found(found: UserPatterns, region: bytes) -> list[bytes]:
    """Every line ``search`` stops at, walking the region as the log reader does."""
    out, pos = [], 0
    while (start := found.search(region, pos)) is not None:
        end = region.find(b"\n", start)
        end = len(region) if end < 0 else end
        out.append(region[start:end])
        pos = end + 1
    return out


# -- compiling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"regex": "(a", "type": "error"}, "patterns[0].regex: missing ): (a"),
        ({"regex": "(?=a)b", "type": "error"}, "patterns[0].regex: invalid perl operator: (?="),
        ({"regex": r"(a)\1", "type": "error"}, "patterns[0].regex: invalid escape sequence: \\1"),
        ({"regex": "", "type": "error"}, "patterns[0].regex is empty"),
        ({"type": "error"}, "patterns[0].regex is required"),
        ({"regex": "x"}, "patterns[0].type is required"),
        ({"regex": "x", "type": "latency"}, "patterns[0].type: unknown event type 'latency'"),
        ({"regex": "x", "type": "error", "severity": "loud"}, "patterns[0].severity must be one of verbose,"),
        ({"regex": "x", "type": "error", "engine": " "}, "patterns[0].engine is empty"),
        ({"regex": "x", "type": "error", "name": "y"}, "patterns[0].name: unknown key"),
        ({"regex": 3, "type": "error"}, "patterns[0].regex must be a string, got 3"),
        (
            {"regex": r"took (?P<ms>\d+) ms", "type": "layer_time"},
            "patterns[0].regex: event type layer_time requires 'layer': no named group (?P<layer>...)",
        ),
        (
            {"regex": r"(?P<kind>\w+) (?P<value>\d+)", "type": "memory"},
            "patterns[0].regex: group 'value' is no key of event type memory",
        ),
        (
            {
                "regex": r"(?P<bytes>\d+) (?P<value>\d+) (?P<unit>MB)",
                "type": "memory",
                "fields": {"kind": "x"},
            },
            "patterns[0].regex: groups value and unit make bytes",
        ),
        (
            {"regex": "(?P<layer>x)", "type": "error"},
            "patterns[0].regex: group 'layer' is no key of event type error",
        ),
        (
            {"regex": "(?P<layer>x)", "type": "layer_time", "fields": {"ms": "fast"}},
            "patterns[0].fields.ms must be a number, got 'fast'",
        ),
        ({"regex": "x", "type": "error", "fields": {"kind": "y"}}, "patterns[0].fields.kind: no key of this"),
        ({"regex": "x", "type": "error", "fields": "kind"}, "patterns[0].fields must be a table"),
    ],
)
def test_a_bad_pattern_is_an_error_naming_its_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        compile_patterns([entry])
    assert str(error.value).startswith(message), str(error.value)


def test_the_index_in_the_key_is_the_entry_at_fault() -> None:
    with pytest.raises(ValueError, match=r"^patterns\[2\]\.regex: missing \)"):
        compile_patterns([EXPORT_MEMORY, EXPORT_TIME, {"regex": "(a", "type": "error"}])


def test_the_schema_documents_the_keys_the_compiler_takes() -> None:
    assert tuple(f.name for f in fields(PatternConfig)) == PATTERN_KEYS


# -- fields ------------------------------------------------------------------------------------------


def test_value_and_unit_make_bytes_and_constant_fields_join() -> None:
    [(pattern, facts)] = patterns(EXPORT_MEMORY).match(EXPORT)
    assert pattern.key == "patterns[0]" and pattern.type == "memory"
    assert facts == {"kind": "engine_file", "bytes": round(431.8 * 1024 * 1024)}


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("B", 1),
        ("KB", 1 << 10),
        ("KiB", 1 << 10),
        ("MB", 1 << 20),
        ("MiB", 1 << 20),
        ("GB", 1 << 30),
        ("GiB", 1 << 30),
    ],
)
def test_every_size_unit(unit: str, factor: int) -> None:
    found = patterns({"regex": r"(?P<kind>\w+): (?P<value>\S+) (?P<unit>\w+)", "type": "memory"})
    assert found.match(f"weights: 2 {unit}")[0][1] == {"kind": "weights", "bytes": 2 * factor}


def test_numbers_become_numbers_where_the_key_holds_one() -> None:
    found = patterns(
        {"regex": r"layer (?P<layer>\S+) took (?P<ms>\S+) ms", "type": "layer_time"},
        {"regex": r"(?P<count>\d+) layers at (?P<stage>\w+)", "type": "layer_count"},
    )
    [(_, facts)] = found.match("layer 1234 took 0.87 ms")
    assert facts == {"layer": "1234", "ms": 0.87}  # a layer named 1234 stays a name
    assert found.match("layer conv1 took 2 ms")[0][1] == {"layer": "conv1", "ms": 2}
    assert isinstance(found.match("layer conv1 took 2 ms")[0][1]["ms"], int)
    assert found.match("57 layers at final")[0][1] == {"count": 57, "stage": "final"}


def test_a_group_that_is_not_of_its_keys_type_gives_no_event() -> None:
    found = patterns(
        {"regex": r"layer (?P<layer>\S+) took (?P<ms>\S+) ms", "type": "layer_time"},
        {"regex": r"(?P<kind>\w+): (?P<value>\S+) (?P<unit>\w+)", "type": "memory"},
    )
    assert found.match("layer conv1 took fast ms") == []
    assert found.match("layer conv1 took inf ms") == []
    assert found.match("weights: 2 parsecs") == []  # no size unit
    assert found.match("weights: 1e300 GiB") == []  # no 64-bit counter holds it


def test_lists_and_booleans() -> None:
    found = patterns(
        {"regex": r"fused (?P<layers>.+) into (?P<result>\S+)", "type": "fusion"},
        {"regex": r"plugin (?P<plugin>\w+) registered=(?P<registered>\w+)", "type": "plugin"},
    )
    assert found.match("fused a, b,c into abc")[0][1] == {"layers": ["a", "b", "c"], "result": "abc"}
    assert found.match("plugin Nms registered=no")[0][1] == {"plugin": "Nms", "registered": False}
    assert found.match("plugin Nms registered=maybe") == []


def test_fields_are_defaults_of_optional_groups() -> None:
    found = patterns(
        {
            "regex": r"slow (?P<layer>\w+)(?: \((?P<reason>[^)]*)\))?",
            "type": "fallback",
            "fields": {"reason": "slow"},
        },
        {"regex": r"took (?P<ms>\d+) ms(?: in (?P<layer>\w+))?", "type": "layer_time"},
    )
    assert found.match("slow conv1")[0][1] == {"reason": "slow", "layer": "conv1"}
    assert found.match("slow conv1 (no fp16)")[0][1] == {"reason": "no fp16", "layer": "conv1"}
    # a required key whose group did not take part, without a default: no event
    assert found.match("took 3 ms") == []
    assert found.match("took 3 ms in fc")[0][1] == {"ms": 3, "layer": "fc"}


def test_every_matching_pattern_in_config_order() -> None:
    found = patterns(EXPORT_TIME, EXPORT_MEMORY)
    hits = found.match(EXPORT)
    assert [(p.key, p.type, p.severity, p.engine) for p, _ in hits] == [
        ("patterns[0]", "build_complete", "info", "yolov8x-worldv2"),
        ("patterns[1]", "memory", None, None),
    ]
    assert hits[0][1] == {"seconds": 123.0}
    assert found.match("Export complete (126.6s)") == []


# -- searching a region ------------------------------------------------------------------------------


def test_search_finds_the_lines_in_one_pass_over_a_region() -> None:
    region = Path(__file__).parents[1].joinpath("data", "dialects").glob("151_*.log")
    data = next(region).read_bytes()
    found = patterns(EXPORT_MEMORY, EXPORT_TIME)
    assert lines_found(found, data) == [EXPORT.encode()]
    start = data.index(EXPORT.encode())
    assert found.search(data, 0) == start and found.search(data, start) == start
    assert found.search(data, data.index(b"\n", start) + 1) is None
    assert (
        not UserPatterns() and UserPatterns().search(data, 0) is None and UserPatterns().match(EXPORT) == []
    )


def test_anchors_mean_the_line_and_no_match_spans_two_lines() -> None:
    found = patterns(
        {"regex": r"^step (?P<layer>\w+) (?P<ms>[\d.]+)$", "type": "layer_time"},
        {"regex": r"\Abegin (?P<plugin>\w+)\z", "type": "plugin"},
        {"regex": r"(?-m)^mem (?P<kind>\w+)\s+(?P<bytes>\d+)$", "type": "memory"},
    )
    region = (
        b"noise step a 1\n"  # ^ is the line's start
        b"step b 2\r\n"  # $ is before the \r the reader strips
        b"step c 3 and more\n"
        b"begin Nms\n"
        b"mem peak\n"  # \s+ would reach the next line's number: no line holds both
        b"12\n"
        b"mem peak 13\n"
        b"step d 4"  # the last line, without its newline
    )
    assert lines_found(found, region) == [b"step b 2\r", b"begin Nms", b"mem peak 13", b"step d 4"]
    assert found.match("step b 2")[0][1] == {"layer": "b", "ms": 2}


def test_patterns_may_share_group_names() -> None:
    found = patterns(
        {"regex": r"A (?P<layer>\w+) (?P<ms>\d+)", "type": "layer_time"},
        {"regex": r"B (?P<layer>\w+) (?P<ms>\d+)", "type": "layer_time"},
    )
    assert lines_found(found, b"x\nB conv 3\nA fc 4\n") == [b"B conv 3", b"A fc 4"]


def test_line_form_rewrites_only_outside_classes_and_quotes() -> None:
    assert line_form(r"\Aa[$\]]\$b$") == r"^a[$\]]\$b(?:\r*$)"
    assert line_form(r"(?i-m)x(?-m:y)(?m-s)z") == r"(?i)x(?:y)(?m-s)z"
    assert line_form(r"\Q$\A\E\z") == r"\Q$\A\E(?:\r*$)"
    assert line_form(r"[[:alpha:]$]$") == r"[[:alpha:]$](?:\r*$)"


def test_many_patterns_over_a_large_region_stay_fast() -> None:
    """One search over the region, remembered while the reader walks towards its answer: a
    region with a hit at its end is not scanned again from every line before it."""
    found = patterns(
        *({"regex": rf"^app{i} (?P<layer>\w+) (?P<ms>\d+)", "type": "layer_time"} for i in range(50))
    )
    region = b"[TRT] [I] nothing of ours here, just a TensorRT line\n" * 40000 + b"app7 conv 3\n"
    hit = len(region) - len(b"app7 conv 3\n")
    started = time.perf_counter()
    pos = 0
    while pos <= hit:  # as the log reader does: ask again from each line it reads
        assert found.search(region, pos) == hit
        pos = region.index(b"\n", pos) + 1
    assert found.search(region, pos) is None
    seconds = time.perf_counter() - started
    print(f"50 patterns, 40001 searches over a {len(region)} byte region: {seconds * 1000:.0f} ms")
    assert seconds < 5.0


def test_patterns_too_large_together_still_find_their_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """When RE2 refuses the patterns combined (its memory bound), every line is a candidate and
    each pattern decides: slower, never wrong."""
    import trt_agent.parse.patterns as module

    monkeypatch.setattr(module, "line_form", lambda source: "(")
    found = patterns({"regex": r"^step (?P<layer>\w+) (?P<ms>\d+)$", "type": "layer_time"})
    assert lines_found(found, b"x\nstep a 1\nnoise step b 2\nstep c 3\n") == [b"step a 1", b"step c 3"]
    assert found.match("step a 1")[0][1] == {"layer": "a", "ms": 1} and found.match("noise step b 2") == []


# -- a regex that would hang a backtracking engine ---------------------------------------------------


@pytest.mark.parametrize("regex", [r"(a+)+$", r"(x+x+)+y", r"^(?P<reason>(a|aa)+)b"])
def test_a_pathological_regex_returns_promptly(regex: str) -> None:
    entry: dict[str, Any] = {"regex": regex, "type": "fallback"}
    if "reason" not in regex:
        entry["fields"] = {"reason": "catastrophic"}
    found = patterns(entry)
    line = "a" * 100_000 + "x" * 100_000 + "!"
    region = (line + "\n") * 10
    started = time.perf_counter()
    assert found.match(line) == []
    assert found.search(region.encode(), 0) is None
    seconds = time.perf_counter() - started
    print(
        f"{regex}: match over {len(line)} chars and search over {len(region)} bytes in {seconds * 1000:.1f} ms"
    )
    assert seconds < 2.0  # Python's re takes longer than the age of the universe on 30 a's


# -- the config --------------------------------------------------------------------------------------


def test_the_config_compiles_its_patterns(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        "[[patterns]]\n"
        r"regex = 'TensorRT: export success .* \((?P<value>[\d.]+) (?P<unit>[KMG]i?B)\)$'" + "\n"
        'type = "memory"\nfields = { kind = "engine_file" }\n'
        "[[patterns]]\n"
        r"regex = 'TensorRT: export success \S* (?P<seconds>[\d.]+)s,'" + "\n"
        'type = "build_complete"\nseverity = "info"\nengine = "yolov8x-worldv2"\n'
    )
    config = load_config(str(path))
    assert [p.key for p in config.patterns.patterns] == ["patterns[0]", "patterns[1]"]
    assert config.patterns == patterns(EXPORT_MEMORY, EXPORT_TIME)
    assert [p.type for p, _ in config.patterns.match(EXPORT)] == ["memory", "build_complete"]
    (tmp_path / "none.toml").write_text("")
    assert not load_config(str(tmp_path / "none.toml")).patterns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[patterns]]\nregex = 'x'\ntype = 'error'\n[[patterns]]\nregex = '(a'\ntype = 'error'\n",
            "patterns[1].regex: missing ): (a",
        ),
        ("[[patterns]]\nregex = 'x'\ntype = 'error'\nsevere = 'warning'\n", "unknown key patterns[0].severe"),
        ("[[patterns]]\nregex = 'x'\ntype = 4\n", "patterns[0].type must be str, got int 4"),
        ("[[patterns]]\nregex = 'x'\ntype = 'nope'\n", "patterns[0].type: unknown event type 'nope'"),
        ("[[patterns]]\ntype = 'error'\n", "patterns[0].regex is required"),
        ("patterns = 3\n", "patterns must be an array of tables ([[patterns]])"),
        ("[patterns]\nregex = 'x'\n", "patterns must be an array of tables ([[patterns]])"),
    ],
)
def test_a_bad_pattern_in_the_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(error.value).startswith(f"{path}: {message}"), str(error.value)
