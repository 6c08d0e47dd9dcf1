"""The rules engine in-process: parsing rules, selecting layers, evaluating checks on engine models
of real TensorRT text, the model diff, and the daemon's rule results."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, ROOT, model_of

from trt_agent.model import EngineModel, build_models
from trt_agent.model.diff import diff_models
from trt_agent.model.store import EngineStore
from trt_agent.parse import ParseStats, parse_path
from trt_agent.rules import CHECKS, FAIL, PASS, SKIP, Baseline, RulesError, evaluate, load_rules, parse_rules
from trt_agent.rules.monitor import RuleMonitor
from trt_agent.vocab.events import Event

EXTRA = DATA / "extra"
ATTENTION_A = DATA / "constructed" / "bert-attention-a-fused"
ATTENTION_B = DATA / "constructed" / "bert-attention-b-generic"
FP16 = next(EXTRA.glob("65_*"))
QAT = next(EXTRA.glob("67_*"))


def test_int8_coverage_is_judged_only_when_the_build_asked_for_int8(tmp_path: Path) -> None:
    rules = load_rules(str(ROOT / "rules.example.toml"))
    int8 = {r.rule: r for r in evaluate(rules, {"qat": model_of(QAT.name)})}["int8_coverage"]
    assert int8.status == "fail"
    # by the precision each layer computes in (model/precision.py)
    assert int8.message.startswith("INT8 coverage 95.5% (21/22) is below the minimum 98.0%")
    fp16 = {r.rule: r for r in evaluate(rules, {"fp16": model_of(FP16.name)})}["int8_coverage"]
    assert (fp16.status, fp16.message) == ("skip", "the build did not ask for INT8")


def test_the_shipped_rules_file_loads_and_documents_every_check() -> None:
    rules = load_rules(str(ROOT / "rules.example.toml"))
    text = (ROOT / "rules.example.toml").read_text()
    readme = (ROOT / "docs" / "rules.md").read_text()
    assert {"fusion_coverage", "int8_coverage", "unfused_kernel_ratio", "peak_memory", "no_fallback"} <= {
        r.check for r in rules.rules
    }
    for check in CHECKS:
        assert f'check = "{check}"' in text, f"rules.example.toml does not show check {check!r}"
        assert f"`{check}`" in readme, f"docs/rules.md does not document check {check!r}"


def test_diff_models_lists_lost_fusions_by_member() -> None:
    base, new = (
        build_models(
            e for path in sorted(folder.iterdir()) for e in parse_path(str(path), "x", ParseStats())
        )["x"]
        for folder in (ATTENTION_A, ATTENTION_B)
    )
    d = diff_models(base, new)
    (lost,) = d.fusions_lost
    assert len(lost["sources"]) == 15
    assert lost["unfused"] == [
        "/encoder/layer.0/attention/self/MatMul",
        "/encoder/layer.0/attention/self/Softmax",
        "/encoder/layer.0/attention/self/MatMul_1",
    ]
    back = diff_models(new, base)
    assert not back.regressions and len(back.fusions_gained) == 1


def test_rules_parse_accepts_sizes_and_engine_filters() -> None:
    rules = parse_rules(
        {"rule": [{"name": "mem", "check": "peak_memory", "max_bytes": "1.5 GiB", "engines": ["bert-*"]}]}
    )
    (rule,) = rules.rules
    assert rule.params["max_bytes"] == 1610612736
    assert rule.applies_to("bert-large") and not rule.applies_to("resnet50")
    model = EngineModel("bert-large")
    model.memory["peak_gpu"] = 2 * 1024**3
    (result,) = evaluate(rules, {"bert-large": model})
    assert result.failed and "2.0 GiB (2147483648 bytes) is above the maximum 1.5 GiB" in result.message
    with pytest.raises(RulesError, match="max_bytes"):
        parse_rules({"rule": [{"name": "mem", "check": "peak_memory", "max_bytes": -1}]})


OOM_NO_IMPLEMENTATION = next(EXTRA.glob("55_*"))
QAT_PROFILE = next(EXTRA.glob("68_*"))


# A real layer of the TREx QAT profile: 0 ms, and glob characters in its name.
SQUEEZE = "copied_squeeze_after_(Unnamed Layer* 355) [ElementWise]"


def one(results: list[Any], rule: str) -> Any:
    [found] = [r for r in results if r.rule == rule]
    return found


def test_nan_coverage_bound_is_refused() -> None:
    with pytest.raises(RulesError, match="min must be a finite number, got nan"):
        parse_rules({"rule": [{"name": "c", "check": "fusion_coverage", "min": float("nan")}]})


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
    monitor.invalidate(store.expire({"e"}, time.monotonic()))
    monitor.refresh()
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


def test_a_baseline_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A SIGHUP reloads the baseline with the rules: a FIFO named there must not stall the
    reload (and with it the signal path) on an open that waits for a writer."""
    import os
    import threading

    from trt_agent.rules.baseline import load_baseline

    fifo = tmp_path / "baseline.json"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_baseline([str(fifo)])
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(2)
    if thread.is_alive():  # release the blocked open before failing
        with open(fifo, "wb"):
            pass
        thread.join(2)
    assert outcome and isinstance(outcome[0], RulesError), outcome
    assert "FIFO" in str(outcome[0]) and str(fifo) in str(outcome[0])
