"""The engine explorer's figures on damaged or unusual layer lists (AlexNet FP16's real
--exportLayerInfo JSON, edited): no crash, n/a where the list cannot say, names never in clear,
and the checks skip what the agent's caps left out. Found by a review of issue 20's commits."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from conftest import DATA, PSEUDONYMS, make_redactor

from trt_agent.model import build_models
from trt_agent.model.engine import EngineModel
from trt_agent.parse import ParseStats
from trt_agent.parse.artifacts import parse_artifact
from trt_agent.reports.summary import report_json, report_text
from trt_agent.rules.checks import CHECKS
from trt_agent.rules.spec import Rule

(ALEXNET,) = (DATA / "corpus").glob("02_*")
DOC: dict[str, Any] = json.loads(ALEXNET.read_text())


def _report(doc: dict[str, Any], redacted: bool = False) -> tuple[dict[str, Any], str]:
    stats = ParseStats()
    events = list(parse_artifact(orjson.dumps(doc), "edited.json", "e", stats))
    models = build_models(events)
    kwargs: dict[str, Any] = {"redactor": make_redactor()} if redacted else {}
    (engine,) = json.loads(report_json(models, stats.as_dict(), **kwargs))["engines"]
    return engine, report_text(models, stats.as_dict(), **kwargs)


def test_tensor_names_of_any_json_type_do_not_stop_the_report() -> None:
    for bad in (["a"], {"a": 1}, 7, None):
        doc = copy.deepcopy(DOC)
        doc["Layers"][1]["Inputs"][0]["Name"] = bad
        doc["Layers"][1]["Outputs"][0]["Name"] = bad
        engine, _ = _report(doc)
        row = next(r for r in engine["memory_by_layer"] if r["layer"] == doc["Layers"][1]["Name"])
        assert row["weights_bytes"] is None  # an unnamed input: constant or not is unknown
    doc = copy.deepcopy(DOC)
    doc["Bindings"] = [["input"], {"Name": "output"}, 3]
    engine, _ = _report(doc)
    assert [b["name"] for b in engine["bindings"]] == ["output"]


def test_a_size_beyond_any_memory_is_unknown_not_a_crash() -> None:
    doc = copy.deepcopy(DOC)
    doc["Layers"][2]["Outputs"][0]["Dimensions"] = [4294967296, 4294967296, 2, 1]
    doc["Layers"][2]["Outputs"][0]["Dimensions"] = [4294967296, 4294967296, 2, 1]
    engine, text = _report(doc)
    assert engine["layer_memory_totals"]["activation_bytes"] is None
    assert "layer memory" in text


def test_without_bindings_the_engine_input_is_not_taken_for_weights() -> None:
    doc = copy.deepcopy(DOC)
    del doc["Bindings"]
    engine, _ = _report(doc)
    assert engine["layer_memory_totals"]["weights_bytes"] is None  # n/a, not 122,502,760
    assert engine["bindings"] == []
    with_bindings, _ = _report(DOC)
    assert with_bindings["layer_memory_totals"]["weights_bytes"] == 122_201_704


def test_kernel_families_and_binding_formats_are_scrubbed_like_any_text() -> None:
    """A kernel name or a format is text the input wrote: with a layer's name in it, redaction
    hides it there too (it did in parse and check, not in report)."""
    doc = copy.deepcopy(DOC)
    secret = doc["Layers"][2]["Name"]  # /features/features.2/MaxPool
    doc["Layers"][1]["TacticName"] = secret
    doc["Layers"][0]["Inputs"][0]["Format/Datatype"] = f"Row major linear FP16 format {secret}"
    engine, text = _report(doc, redacted=True)
    out = json.dumps(engine) + text
    assert secret not in out
    assert all(PSEUDONYMS.fullmatch(b["name"]) for b in engine["bindings"])


def test_the_lints_skip_when_the_caps_left_layers_out() -> None:
    model = EngineModel(engine="e", max_names=5)
    for event in parse_artifact(ALEXNET.read_bytes(), "a.json", "e", ParseStats()):
        model.apply(event)
    assert not model.engine_layers_known()
    for check in ("tensor_cores", "int8_float_output", "qdq_unfused"):
        status, message, _, _ = CHECKS[check].fn(Rule(name=check, check=check), model, None)
        assert status == "skip" and "max_layer_names" in message, (check, status, message)
