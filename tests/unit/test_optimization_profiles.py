"""Engines built with several optimisation profiles: their layer list names every profile's layers,
tensors and bindings, profile N > 0's as ``X [profile N]`` (TREx's parser.py, filter_profiles;
Polygraphy's ``inspect model`` prints ``node_of_Y [profile 1]``). The figures are of one profile:
0, or the one the per-layer times name (what ran)."""

from __future__ import annotations

from typing import Any

import pytest

from trt_agent.model import EngineModel
from trt_agent.vocab.names import decompose, profile_index


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("node_of_Y [profile 1]", 1),
        ("Conv_0 + Relu_1 [profile 12]", 12),
        ("Conv_0 + Relu_1", 0),
        ("(Unnamed Layer* 3) [Shuffle]", 0),
        ("[HostToDeviceCopy 0]", 0),
        ("x [profile one]", 0),
    ],
)
def test_profile_index(name: str, index: int) -> None:
    assert profile_index(name) == index


def test_a_profiles_layer_runs_the_same_source_layers() -> None:
    assert decompose("Conv_0 + Relu_1 [profile 1]").sources == ("Conv_0", "Relu_1")


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "engine": "e", "ts": None, "severity": "info", "source": {}, "msg": None} | fields


def _two_profiles(model: EngineModel) -> None:
    for suffix, batch in (("", 32), (" [profile 1]", 8)):
        for name in ("conv1 + relu1", "fc"):
            model.apply(_event("layer", name=name + suffix, layer_type="CaskConvolution", precision="Half"))
        model.apply(_event("binding", name="input" + suffix, direction="input", shape=[batch, 3, 224, 224]))


def test_the_figures_are_of_profile_0_until_a_time_names_another() -> None:
    model = EngineModel("e")
    _two_profiles(model)
    assert sorted(model.layers) == ["conv1 + relu1", "fc"]
    assert list(model.bindings) == ["input"]
    assert model.optimization_profiles() == {"count": 2, "shown": 0, "layers": {"0": 2, "1": 2}}
    model.apply(_event("layer_time", layer="fc [profile 1]", ms=0.5))
    assert sorted(model.layers) == ["conv1 + relu1 [profile 1]", "fc [profile 1]"]
    assert model.bindings["input [profile 1]"]["shape"] == [8, 3, 224, 224]
    assert model.optimization_profiles() == {"count": 2, "shown": 1, "layers": {"0": 2, "1": 2}}
    # a later time of another profile does not switch again: the first says what ran
    model.apply(_event("layer_time", layer="fc", ms=0.7))
    assert model.profile == 1


def test_times_before_the_layer_list_choose_the_profile_too() -> None:
    model = EngineModel("e")
    model.apply(_event("layer_time", layer="fc [profile 1]", ms=0.5))
    _two_profiles(model)
    assert model.profile == 1 and sorted(model.layers) == ["conv1 + relu1 [profile 1]", "fc [profile 1]"]


def test_one_profile_is_one_and_no_layer_list_is_not_known() -> None:
    model = EngineModel("e")
    model.apply(_event("layer_time", layer="fc", ms=0.5))
    assert model.optimization_profiles() is None  # a profile names only what ran
    model.apply(_event("layer", name="fc", layer_type="CaskConvolution", precision="Half"))
    assert model.optimization_profiles() == {"count": 1, "shown": 0, "layers": {"0": 1}}


def test_memory_relief_forgets_every_profiles_layers() -> None:
    model = EngineModel("e")
    _two_profiles(model)
    assert model.detail_entries(0) == 4
    model.shed_detail(0)
    assert model.layers == {} and model.profile_layers == {}
    assert model.optimization_profiles() is None


def test_the_name_cap_counts_every_profiles_layers() -> None:
    model = EngineModel("e", max_names=3)
    _two_profiles(model)  # 2 layers of profile 0, 2 of profile 1: one over the cap
    assert len(model.layers) + sum(len(t) for t in model.profile_layers.values()) == 3
    assert model.dropped["layer"] == 1 and model.unknown_because("layer") is not None


def test_times_of_another_profile_are_kept_apart() -> None:
    model = EngineModel("e")
    _two_profiles(model)
    model.apply(_event("layer_time", layer="fc", ms=0.5))
    model.apply(_event("layer_time", layer="fc [profile 1]", ms=0.2))
    assert list(model.layer_times) == ["fc"] and model.profile == 0
    assert model.profile_times[1]["fc [profile 1]"].avg_ms == 0.2
