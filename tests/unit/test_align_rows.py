"""``model.align.align``: rows of engine layers that run the same source layers, from models
folded from ``layer`` and ``layer_time`` events (the shapes a layer list and a profile give)."""

from __future__ import annotations

from typing import Any

from trt_agent.model import EngineModel
from trt_agent.model.align import align


def _model(
    name: str, layers: list[tuple[str, str, str]], times: dict[str, float], **caps: Any
) -> EngineModel:
    model = EngineModel(engine=name, **caps)
    for layer, layer_type, precision in layers:
        model.apply({"type": "layer", "engine": name, "name": layer, "layer_type": layer_type,
                     "precision": precision, "source": {}, "ts": None, "severity": "info", "msg": None})  # fmt: skip
    for layer, ms in times.items():
        model.apply({"type": "layer_time", "engine": name, "layer": layer, "ms": ms,
                     "source": {}, "ts": None, "severity": "info", "msg": None})  # fmt: skip
    return model


def test_a_moved_fusion_boundary_joins_the_layers_on_both_sides_and_a_reformat_joins_its_layer() -> None:
    a = _model(
        "a",
        [
            ("conv1 + relu1", "CaskConvolution", "Float"),
            ("conv2", "CaskConvolution", "Float"),
            ("add + relu2", "PointWise", "Float"),
        ],
        {"conv1 + relu1": 1.0, "conv2": 2.0, "add + relu2": 0.5},
    )
    b = _model(
        "b",
        [
            ("Reformatting CopyNode for Input Tensor 0 to conv1 + relu1", "Reformat", "Half"),
            ("conv1 + relu1", "CaskConvolution", "Half"),
            ("conv2 + add + relu2", "CaskConvolution", "Half"),
        ],
        {
            "Reformatting CopyNode for Input Tensor 0 to conv1 + relu1": 0.1,
            "conv1 + relu1": 0.4,
            "conv2 + add + relu2": 0.9,
        },
    )
    rows = align([a, b], [None, None])
    assert rows is not None
    assert [row.layers for row in rows] == [
        [["conv1 + relu1"], ["Reformatting CopyNode for Input Tensor 0 to conv1 + relu1", "conv1 + relu1"]],
        [["conv2", "add + relu2"], ["conv2 + add + relu2"]],
    ]
    assert [row.ms for row in rows] == [[1.0, 0.5], [2.5, 0.9]]
    assert [row.precisions for row in rows] == [[["Float"], ["Half"]], [["Float"], ["Half"]]]


def test_a_layer_only_one_build_runs_is_a_row_of_its_own_and_untimed_is_not_zero() -> None:
    a = _model("a", [("conv1", "CaskConvolution", "Float")], {"conv1": 1.0})
    b = _model("b", [("conv1", "CaskConvolution", "Half"), ("extra", "Shuffle", "Half")], {})
    rows = align([a, b], [None, None])
    assert rows is not None
    assert [(row.layers, row.ms) for row in rows] == [
        ([["conv1"], ["conv1"]], [1.0, None]),
        ([[], ["extra"]], [None, None]),
    ]


def test_a_build_whose_caps_left_layers_out_is_not_aligned() -> None:
    a = _model("a", [("conv1", "CaskConvolution", "Float")], {"conv1": 1.0})
    capped = _model(
        "b", [("conv1", "CaskConvolution", "Half"), ("conv2", "CaskConvolution", "Half")], {}, max_names=1
    )
    assert capped.unknown_because("layer") is not None  # the premise: the cap left conv2 out
    assert align([a, capped], [None, None]) is None
