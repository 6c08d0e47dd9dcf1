"""Redaction: no layer or tensor name leaves the process in clear, in any sink, and pseudonyms
still join build-time and runtime facts."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA
from harness import Agent, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st

from trt_agent.config import RedactionConfig
from trt_agent.model import build_models
from trt_agent.parse import ParseStats, parse_path
from trt_agent.redact import NAME_FIELDS, NAME_LIST_FIELDS, Redactor, scrubbable
from trt_agent.reports.summary import report_json, report_text
from trt_agent.sinks.jsonl import JsonlWriter
from trt_agent.vocab.events import Event, make_event
from trt_agent.vocab.names import decompose

KEY = b"0123456789abcdef-test-key"
PSEUDONYMS = re.compile(r"[LP][0-9a-f]{10}(?:[0-9a-f]{6})?")
CORPUS = sorted(p for folder in ("corpus", "extra") for p in (DATA / folder).iterdir() if p.suffix != ".md")


def _redactor(**settings: object) -> Redactor:
    return Redactor(RedactionConfig(enabled=True, **settings), KEY)  # type: ignore[arg-type]


def names_in(events: list[Event]) -> set[str]:
    """Every layer/tensor name the unredacted run extracted, and the members of fused names."""
    names = {event[k] for event in events for k in NAME_FIELDS if isinstance(event.get(k), str)}
    names |= {
        v for event in events for k in NAME_LIST_FIELDS for v in event.get(k) or () if isinstance(v, str)
    }
    for name in list(names):
        names.update(decompose(name).sources)
    return {n for n in names if n}


def leaks(names: set[str], output: str) -> list[str]:
    """Names found in ``output`` once pseudonyms are taken out (which could contain short names)."""
    text = PSEUDONYMS.sub("", output)
    return sorted(n for n in names if scrubbable(n) and n in text)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name[:40])
def test_parse_and_report_leak_no_name(path: Path) -> None:
    stats = ParseStats()
    events = list(parse_path(str(path), "e", stats))
    names = names_in(events)
    redactor = _redactor()
    out = io.BytesIO()
    writer = JsonlWriter(out, redactor=redactor)
    for event in events:
        writer.write(event)
    writer.flush()
    models = build_models(events)
    outputs = out.getvalue().decode() + report_json(models, stats.as_dict(), redactor).decode()
    outputs += report_text(models, stats.as_dict(), redactor)
    assert not leaks(names, outputs)
    assert len(out.getvalue().splitlines()) == len(events)  # redaction drops no event


def test_daemon_metrics_events_and_own_logs_leak_no_name(tmp_path: Path, agents: list[Agent]) -> None:
    """Every corpus file as its own engine. A file's names must not appear in any event or metric
    of its engine, nor anywhere in the agent's own logs. (Across engines a name can be a plain
    substring of another log's text written before that name was known, e.g. "prob" in
    TensorRT-LLM's "normalize_log_probs": that text is not the name leaking.)"""
    (tmp_path / "key").write_bytes(KEY)
    (tmp_path / "key").chmod(0o600)  # the agent refuses a key others can read
    engine_of = {p: p.name[:2] for p in CORPUS}
    assert len(set(engine_of.values())) == len(CORPUS)
    agent = Agent(tmp_path, [{"path": str(p), "engine": e} for p, e in engine_of.items()], log_level="debug")
    agents.append(agent)
    agent.config_path.write_text(
        agent.config_path.read_text() + '[redaction]\nenabled = true\nkey_file = "key"\n'
    )
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 60, "ready", agent)
    names = {e: names_in(list(parse_path(str(p), e, ParseStats()))) for p, e in engine_of.items()}
    wait_for(lambda: len(agent.events()) > 1000, 30, "events", agent)
    metrics_text = _scrape(agent)
    assert 'trt_layer_latency_seconds_count{engine="41",layer="L' in metrics_text  # labels are pseudonyms
    assert "\ntrt_agent_redaction_collisions_total 0.0\n" in metrics_text  # no two corpus names collide
    assert agent.stop() == 0
    by_engine: dict[str, list[str]] = {}
    for line in agent.events_path.read_text().splitlines():
        by_engine.setdefault(json.loads(line)["engine"], []).append(line)
    for line in metrics_text.splitlines():
        m = re.search(r'engine="([^"]+)"', line)
        if m:
            by_engine.setdefault(m.group(1), []).append(line)
    assert set(by_engine) >= {"01", "03", "41"}
    for engine, lines in by_engine.items():
        assert not leaks(names[engine], "\n".join(lines)), engine
    everything = set().union(*names.values())
    assert not leaks(everything, agent.stderr_path.read_text())


def _scrape(agent: Agent) -> str:
    import urllib.request

    with urllib.request.urlopen(agent.metrics_url, timeout=10) as response:
        return str(response.read().decode())


def test_correlation_survives_redaction() -> None:
    """AlexNet's layer-info JSON (build) and profile JSON (runtime) name the same engine layers:
    redacted, they still share pseudonyms, one for one."""
    build = next((DATA / "corpus").glob("02_*"))
    runtime = next((DATA / "corpus").glob("01_*"))
    build_events = list(parse_path(str(build), "a", ParseStats()))
    runtime_events = list(parse_path(str(runtime), "a", ParseStats()))
    clear_join = {e["name"] for e in build_events if e["type"] == "layer"} & {
        e["layer"] for e in runtime_events if e["type"] == "layer_time"
    }
    assert len(clear_join) >= 10
    redactor = _redactor()
    redacted_build = redactor.events(build_events)
    redactor_after_restart = _redactor()  # another process, same key
    redacted_runtime = redactor_after_restart.events(runtime_events)
    joined = {e["name"] for e in redacted_build if e["type"] == "layer"} & {
        e["layer"] for e in redacted_runtime if e["type"] == "layer_time"
    }
    assert joined == {redactor.name(n) for n in clear_join}
    assert not joined & clear_join


def test_structure_mode_keeps_fusion_shape_and_op_words() -> None:
    redactor = _redactor(mode="structure")
    out = redactor.name("/features/features.0/Conv + /features/features.1/Relu")
    assert " + " in out and out.count("/Conv") == 1 and out.count("/Relu") == 1
    assert "features" not in out
    assert redactor.name("PWN(Sub_1382, PWN(Exp_1383))").startswith("PWN(L")
    assert redactor.name("conv_12").endswith("_12")


def test_drop_mode_and_allowlist() -> None:
    redactor = _redactor(mode="drop", allowlist=["input", "output_[0-9]+"])
    assert redactor.name("secret_layer") == "<redacted>"
    assert redactor.name("input") == "input" and redactor.name("output_3") == "output_3"


def test_collisions_are_detected_and_resolved() -> None:
    redactor = _redactor()
    short = redactor.pseudonym("first")
    redactor._owners.clear()
    redactor._pseudonyms.clear()
    redactor._owners[short] = "someone else"
    longer = redactor.pseudonym("first")
    assert longer.startswith(short) and len(longer) == 17 and redactor.collisions == 1


_TOKENS = [
    *"abcXYZ_/.:-01é中 ",
    "conv",
    "Relu",
    "layer",
    " + ",
    "PWN(",
    ")",
    ", ",
    "{ForeignNode[",
    "...",
    "]}",
]
_NAME = st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=12).map(lambda parts: "".join(parts).strip())


def _timing(name: str) -> Event:
    return make_event(
        "layer_time",
        None,
        "info",
        "e",
        {"kind": "profiler"},
        f"[I] layer {name} took 1 ms",
        {"layer": name, "ms": 1.0},
    )


# What the test's events say besides the names (keys, types, the words around the names):
# a name that is a piece of it cannot be told from it.
_FIXED_TEXT = json.dumps([_timing(""), make_event("warning", None, "warning", "e", {}, "[W] ", {})])


@settings(max_examples=200, deadline=None)
@given(names=st.lists(_NAME, min_size=1, max_size=6))
def test_arbitrary_names_never_leak_and_map_stably(names: list[str]) -> None:
    names = [n for n in names if scrubbable(n) and n.strip()]
    redactor = _redactor(scrub_paths=False)
    events = [_timing(n) for n in names]
    # a warning naming them all, the members of fused names alone, and names glued together
    members = [m for n in names for m in decompose(n).sources]
    text = "[W] " + " | ".join(names + members) + " |" + "".join(names)
    events.append(make_event("warning", None, "warning", "e", {}, text, {}))
    redacted = redactor.events(events)
    text = PSEUDONYMS.sub("", json.dumps(redacted, ensure_ascii=False))
    for name in names:
        for part in {name, *decompose(name).sources}:
            if scrubbable(part) and part not in _FIXED_TEXT:
                assert part not in text, part
    again = _redactor(scrub_paths=False)
    assert [again.name(n) for n in names] == [redactor.name(n) for n in names]


def test_redaction_needs_a_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[redaction]\nenabled = true\n")
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "parse", "-c", str(config), "-"],
        input=b"",
        capture_output=True,
        text=False,
    )
    assert result.returncode == 2
    assert b"redaction.enabled needs redaction.key_file or redaction.key_env" in result.stderr
    (tmp_path / "short.key").write_bytes(b"tiny")
    (tmp_path / "short.key").chmod(0o600)
    config.write_text('[redaction]\nenabled = true\nkey_file = "short.key"\n')
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)], capture_output=True
    )
    assert result.returncode == 2
    assert b"the redaction key must be at least 16 bytes (got 4)" in result.stderr
    assert b"tiny" not in result.stderr


def test_redact_map_maps_pseudonyms_back(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(KEY)
    (tmp_path / "key").chmod(0o600)  # the agent refuses a key others can read
    config = tmp_path / "c.toml"
    config.write_text('[redaction]\nenabled = true\nkey_file = "key"\n')
    profile = str(next((DATA / "corpus").glob("01_*")))
    wanted = _redactor().name("/features/features.0/Conv + /features/features.1/Relu")
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "redact-map", "-c", str(config), "-p", wanted, profile],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{wanted}\t/features/features.0/Conv + /features/features.1/Relu\n"
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "redact-map", "-c", str(config), "-p", "L0000000000", profile],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "L0000000000: no name in these inputs" in result.stderr


REVIEW_LINES = """\
&&&& RUNNING TensorRT.trtexec [TensorRT v100400] # trtexec --onnx=/models/secret_model.onnx --shapes=secret_input:1x3x224x224 --layerPrecisions=secret_conv:fp16
[11/01/2024-10:32:48] [V] [TRT] Parsing node: secret_conv [Conv]
[11/01/2024-10:32:48] [V] [TRT] Parsing node: secret_relu [Relu]
[11/01/2024-10:32:48] [V] [TRT] Removing Reformatting CopyNode for Input Tensor 0 to secret_conv
[11/01/2024-10:32:48] [V] [TRT] Removing secret_relu copy
[11/01/2024-10:32:48] [V] [TRT] ConstShuffleFusion: Fusing abc_secret with 4
[11/01/2024-10:32:48] [V] [TRT] Parsing node: a [Conv]
[W] Missing scale and zero-point for tensor z, expect fall back to non-int8 implementation for any layer consuming or producing given tensor
"""


def test_review_findings_removals_command_lines_and_short_names(tmp_path: Path) -> None:
    """Line shapes from real logs (trtexec's command line, removals, a one-letter tensor) with
    names a review used to find leaks and broken pseudonyms."""
    log = tmp_path / "review.log"
    log.write_text(REVIEW_LINES)
    events = list(parse_path(str(log), "e", ParseStats()))
    redactor = _redactor()
    text = "\n".join(e["msg"] for e in redactor.events(events))
    for name in ("secret_conv", "secret_relu", "secret_input", "secret_model", "abc_secret"):
        assert name not in text, name
    assert re.search(r"(?<![\w.])z(?![\w.])", text) is None  # the one-letter tensor, as a word
    assert "Parsing node: " + redactor.name("a") + " [Conv]" in text  # "a" in "Parsing" survives
    assert f"Fusing {redactor.name('abc_secret')} with {redactor.name('4')}" in text  # pseudonyms intact
    assert all(line.startswith(("[11/01/2024-10:32:48]", "&&&&", "[W]")) for line in text.splitlines())
