"""Review of the rules engine, ``check``, ``diff`` and ``report --html``: one test per bug found,
on real TensorRT text from ``tests/data`` and real processes where the bug was in the command."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson
import pytest
from conftest import DATA, model_of, parse_file
from test_rules import rules_file, trt_agent

from trt_agent.model.store import EngineStore
from trt_agent.parse import ParseStats, parse_path
from trt_agent.rules import FAIL, PASS, SKIP, Baseline, RulesError, evaluate, load_rules, parse_rules
from trt_agent.rules.monitor import RuleMonitor
from trt_agent.vocab.events import Event

EXTRA = DATA / "extra"
CORPUS = DATA / "corpus"
ALEXNET_PROFILE = next(CORPUS.glob("01_*"))
ALEXNET_LAYERS = next(CORPUS.glob("02_*"))
OOM_NO_IMPLEMENTATION = next(EXTRA.glob("55_*"))
QAT_PROFILE = next(EXTRA.glob("68_*"))
ATTENTION_A = DATA / "constructed" / "bert-attention-a-fused"
ATTENTION_B = DATA / "constructed" / "bert-attention-b-generic"
# A real layer of the TREx QAT profile: 0 ms, and glob characters in its name.
SQUEEZE = "copied_squeeze_after_(Unnamed Layer* 355) [ElementWise]"


def one(results: list[Any], rule: str) -> Any:
    [found] = [r for r in results if r.rule == rule]
    return found


def redaction_config(tmp_path: Path, extra: str = "") -> Path:
    key = tmp_path / "key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(f'[redaction]\nenabled = true\nkey_file = "{key}"\n{extra}')
    return config


# -- the rules file: every mistake is exit 2 naming the key, never a traceback -------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # lower bound without an upper one: the message itself raised TypeError
        ("max_ms = -1", "max_ms must be at least 0, got -1"),
        ("max_ratio = -0.5", "max_ratio must be at least 0, got -0.5"),
        # NaN passed every comparison: the rule could never fail
        ("max_ms = nan", "max_ms must be a finite number, got nan"),
        ("max_ratio = inf", "max_ratio must be a finite number, got inf"),
    ],
)
def test_a_bad_bound_is_a_rules_error_not_a_crash_nor_an_always_passing_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    rules = rules_file(tmp_path, f'[[rule]]\nname = "lat"\ncheck = "layer_latency"\n{text}\n')
    result = trt_agent("check", "--rules", rules, QAT_PROFILE)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"rule[0] ('lat'): {message}" in result.stderr


def test_nan_coverage_bound_is_refused() -> None:
    with pytest.raises(RulesError, match="min must be a finite number, got nan"):
        parse_rules({"rule": [{"name": "c", "check": "fusion_coverage", "min": float("nan")}]})


def test_a_rules_path_that_is_a_directory_or_not_utf8_exits_2(tmp_path: Path) -> None:
    directory = tmp_path / "rules.d"
    directory.mkdir()
    result = trt_agent("check", "--rules", directory, OOM_NO_IMPLEMENTATION)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{directory}: rules file not readable (Is a directory)" in result.stderr

    latin1 = tmp_path / "rules.toml"
    latin1.write_bytes(
        '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n# Überprüfung\n'.encode("latin-1")
    )
    result = trt_agent("check", "--rules", latin1, OOM_NO_IMPLEMENTATION)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{latin1}: not valid TOML: not UTF-8 text" in result.stderr
    with pytest.raises(RulesError):
        load_rules(str(directory))


# -- layer_latency: zero is a value, not a crash -----------------------------------------------


def test_layer_latency_with_max_ms_zero_fails_instead_of_crashing(tmp_path: Path) -> None:
    rules = rules_file(
        tmp_path, '[[rule]]\nname = "lat"\ncheck = "layer_latency"\nlayers = ["Conv_*"]\nmax_ms = 0\n'
    )
    result = trt_agent("check", "--rules", rules, QAT_PROFILE)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  lat" in result.stdout and "> 0 ms" in result.stdout


def test_layer_latency_against_a_zero_ms_baseline_layer(tmp_path: Path) -> None:
    """The TREx QAT profile has a layer at 0 ms: the ratio to it has no meaning (was a
    ZeroDivisionError, exit 1 with a traceback, i.e. "a rule failed")."""
    rules = rules_file(
        tmp_path,
        '[[rule]]\nname = "squeeze"\ncheck = "layer_latency"\nlayers = ["copied_squeeze_*"]\nmax_ratio = 1.2\n'
        '[[rule]]\nname = "squeeze_ms"\ncheck = "layer_latency"\nlayers = ["copied_squeeze_*"]\n'
        "max_ratio = 1.2\nmax_ms = 1\n",
    )
    result = trt_agent("check", "--rules", rules, "--baseline", QAT_PROFILE, QAT_PROFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skip  squeeze     0 ms in the baseline for layers 'copied_squeeze_*'" in result.stdout
    assert "ok    squeeze_ms  1 layer(s) each ≤ 1 ms" in result.stdout


# -- selection ----------------------------------------------------------------------------------


def test_an_exact_tensorrt_layer_name_selects_it_despite_its_brackets() -> None:
    """``[ElementWise]`` is a glob character class: the exact name, pasted from a report,
    selected nothing and the rule was skipped (a gate that never judges)."""
    model = model_of(QAT_PROFILE.name)
    assert SQUEEZE in model.layer_times
    rules = parse_rules(
        {
            "rule": [
                {"name": "exact", "check": "layer_latency", "layers": [SQUEEZE], "max_ms": 1},
                {"name": "glob", "check": "layer_latency", "layers": ["copied_squeeze_*"], "max_ms": 1},
                # a real character class still works as one
                {"name": "cls", "check": "layer_latency", "layers": ["Conv_[0-9]"], "max_ms": 1},
            ]
        }
    )
    results = evaluate(rules, {"test": model})
    assert one(results, "exact").status == PASS, one(results, "exact").message
    assert one(results, "exact").observed["layers"] == 1
    assert one(results, "glob").status == PASS


def test_no_fallback_selects_a_member_of_the_fused_layer_that_fell_back() -> None:
    """The README: ``layers`` match the engine layer name *or* a source layer fused into it.
    For ``no_fallback`` only the whole name was tried, so a fallback of the Myelin region
    ``{ForeignNode[/1/Constant_36_output_0.../1/Slice_4]}`` passed a rule on ``/1/Slice_4``."""
    model = model_of(OOM_NO_IMPLEMENTATION.name)
    rules = parse_rules(
        {
            "rule": [
                {"name": "member", "check": "no_fallback", "layers": ["/1/Slice_4"]},
                {"name": "first", "check": "no_fallback", "layers": ["/1/Constant_*"]},
                {"name": "other", "check": "no_fallback", "layers": ["/2/*"]},
            ]
        }
    )
    results = evaluate(rules, {"test": model})
    assert one(results, "member").status == FAIL, one(results, "member").message
    assert (
        "{ForeignNode[/1/Constant_36_output_0.../1/Slice_4]} [no_implementation]"
        in one(results, "member").message
    )
    assert one(results, "first").status == FAIL
    assert one(results, "other").status == PASS


def test_precision_rule_skips_layers_whose_precision_the_input_does_not_give(tmp_path: Path) -> None:
    """A profile names layers, not their types: the FP16 AlexNet profile failed "all Half" with
    13 layers "(unknown)". With the layer information it is judged."""
    rules = rules_file(tmp_path, '[[rule]]\nname = "fp16"\ncheck = "precision"\nallowed = ["Half"]\n')
    profile_only = trt_agent("check", "--rules", rules, ALEXNET_PROFILE)
    assert profile_only.returncode == 0, profile_only.stdout
    assert "skip  fp16  no precision known for the 13 layer(s) matching all layers" in profile_only.stdout

    model = model_of(ALEXNET_LAYERS.name, ALEXNET_PROFILE.name)
    [result] = evaluate(load_rules(str(rules)), {"test": model})
    assert result.status != SKIP
    assert "unknown" not in result.message


# -- redaction: a name cut to fit a column must be redacted before it is cut ---------------------


def test_cut_layer_names_do_not_leak_in_the_html_heatmap(tmp_path: Path) -> None:
    config = redaction_config(tmp_path)
    page = tmp_path / "report.html"
    result = trt_agent("report", "-c", config, QAT_PROFILE, "--html", page)
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    labels = re.findall(r'text-anchor="end">([^<]*)<', html)
    assert len(labels) == 26
    # was: "copied_squeeze_after_(Unnamed Layer* 355) [Elem…", "L5dd4f05d3d + QuantizeLinear_1…"
    for clear in ("copied_squeeze", "QuantizeLinear", "MaxP", "Unnamed Layer"):
        assert clear not in html, clear


def test_cut_layer_names_do_not_leak_in_diff_text_or_html(tmp_path: Path) -> None:
    config = redaction_config(tmp_path, "scrub_paths = false\n")
    page = tmp_path / "diff.html"
    result = trt_agent("diff", "-c", config, ATTENTION_A, ATTENTION_B, "--html", page)
    assert result.returncode == 1, result.stderr
    # was: "L64a25c27eb + /encoder…" in the text and "{ForeignNode[/encoder/layer.0/attention/self/qu…"
    for clear in ("/encoder", "attention/", "layer.0"):
        assert clear not in result.stdout, clear
        assert clear not in page.read_text(), clear
    assert re.search(r"^  L[0-9a-f]{10} +0\.0181 +0\.0183 +1\.01x$", result.stdout, re.MULTILINE), (
        result.stdout
    )


# -- exit codes -----------------------------------------------------------------------------------


def test_an_unwritable_output_exits_2_not_1(tmp_path: Path) -> None:
    """``-o reports/check.xml`` with no ``reports/`` (a CI job that forgot mkdir) gave a
    traceback and exit 1, which reads as "a rule failed" (and ``diff``: "regressed")."""
    rules = rules_file(tmp_path, '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n')
    missing = tmp_path / "reports" / "check.xml"
    result = trt_agent("check", "--rules", rules, "--format", "junit", "-o", missing, ALEXNET_PROFILE)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"trt-agent: {missing}: cannot write the output: No such file or directory" in result.stderr
    assert result.stdout == ""  # no verdict: OUT is written first, and it could not be

    result = trt_agent("diff", ATTENTION_A, ATTENTION_A, "--html", tmp_path / "nowhere" / "d.html")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    result = trt_agent("report", ALEXNET_PROFILE, "--html", tmp_path)  # a directory
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.tmp"))


def test_diff_with_an_empty_side_is_no_verdict(tmp_path: Path) -> None:
    """A NEW build whose log is empty (the build died, a wrong path in CI) was "no regression",
    exit 0; ``check`` says exit 2 for the same input."""
    empty_log = tmp_path / "new.log"
    empty_log.write_bytes(b"")
    empty_dir = tmp_path / "new"
    empty_dir.mkdir()
    for new in (empty_log, empty_dir):
        result = trt_agent("diff", ALEXNET_PROFILE, new)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"trt-agent: diff: NEW {new} holds no TensorRT facts to compare" in result.stderr
    result = trt_agent("diff", empty_log, ALEXNET_PROFILE)
    assert result.returncode == 2
    assert "diff: BASE" in result.stderr
    assert trt_agent("diff", ALEXNET_PROFILE, ALEXNET_PROFILE).returncode == 0


# -- JUnit ----------------------------------------------------------------------------------------


def test_junit_stays_well_formed_with_control_characters_in_a_name(tmp_path: Path) -> None:
    """ONNX node names are any string; a colour code inside one (a log captured from a
    terminal) made the JUnit file unparseable for the CI's test report."""
    log = tmp_path / "build.log"
    log.write_bytes(OOM_NO_IMPLEMENTATION.read_bytes().replace(b"/1/Slice_4", b"/1/Slice_4\x1b[0m\x01"))
    rules = rules_file(tmp_path, '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n')
    out = tmp_path / "check.xml"
    result = trt_agent("check", "--rules", rules, "--format", "junit", "-o", out, log)
    assert result.returncode == 1, result.stderr
    suites = ET.parse(out).getroot()
    [failure] = suites.iter("failure")
    assert "/1/Slice_4\\x1b[0m\\x01]}" in failure.get("message", "")


# -- the event stream as input ----------------------------------------------------------------------


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


# -- the daemon's trt_rule_ok ---------------------------------------------------------------------------


def _time(layer: str, ms: float) -> Event:
    return {"type": "layer_time", "engine": "e", "severity": "info", "source": {}, "layer": layer, "ms": ms}


def test_daemon_rule_results_follow_layers_dropped_by_the_series_ttl() -> None:
    """Layers dropped by ``series_ttl`` change the model without an event (``last_update``
    stays): the cached result kept judging a layer that no longer exists."""
    store = EngineStore(series_ttl=50)
    monitor = RuleMonitor(store)
    rules = parse_rules(
        {"rule": [{"name": "slow", "check": "layer_latency", "layers": ["old*"], "max_ms": 5}]}
    )
    monitor.set_rules(rules, Baseline())
    store.fold([_time("old_conv", 10.0), _time("new_conv", 1.0)], count=True)
    monitor.refresh()
    [before] = monitor.results()
    with store.lock:
        store.models["e"].layer_times["old_conv"].last_seen -= 100  # the engine was reloaded
    assert before.status == FAIL
    monitor.refresh(store.expire({"e"}, time.monotonic()))
    assert list(store.models["e"].layer_times) == ["new_conv"]
    [after] = monitor.results()
    assert after.status == SKIP, after.message


@pytest.mark.parametrize("check", ["no_fallback", "calibration_range", "layer_latency"])
def test_selection_keys_a_check_cannot_use_are_refused(check: str) -> None:
    """These checks select by name only: a layer_types/precisions filter would be silently
    ignored, making the rule broader than written."""
    from trt_agent.rules import RulesError, parse_rules

    params = {"no_fallback": {}, "calibration_range": {"max_width": 1.0}, "layer_latency": {"max_ms": 1.0}}[
        check
    ]
    entry = {"name": "x", "check": check, "layer_types": ["Convolution"]} | params
    with pytest.raises(RulesError, match=f"layer_types does not apply to check '{check}'"):
        parse_rules({"rule": [entry]})
