"""``model.align.source_keys``: which source layers of different builds are the same node.

Names an exporter numbers over the whole graph (ONNX's ``Conv_9``, TensorRT's ``(Unnamed Layer* 12)
[Shuffle]``) are matched by name while the builds share that numbering, and by their place in the
graph once a build renumbered them (a QAT export inserts Q/DQ nodes, and every later number moves)."""

from __future__ import annotations

import pytest

from trt_agent.model import align
from trt_agent.model.align import source_keys


def test_builds_that_share_their_names_are_matched_by_name() -> None:
    names = ["Conv_0", "Relu_1", "MaxPool_2", "/layer1/layer1.0/conv1/Conv", "fc"]
    keys = source_keys([names, list(reversed(names))])
    assert keys == [{n: n for n in names}, {n: n for n in names}]


def test_a_renumbered_export_is_matched_by_place_and_its_inserted_nodes_are_its_own() -> None:
    fp32 = ["Conv_0", "Relu_1", "Conv_2", "Add_3", "Relu_4", "Gemm_5"]
    # the same network with a QuantizeLinear before each Conv and the Gemm: every number moved
    qat = ["QuantizeLinear_0", "Conv_1", "Relu_2", "QuantizeLinear_3", "Conv_4", "Add_5", "Relu_6"]
    qat += ["QuantizeLinear_7", "Gemm_8"]
    _, keys = source_keys([fp32, qat])
    assert {name: keys[name] for name in qat if not name.startswith("Quantize")} == {
        "Conv_1": "Conv_0",
        "Relu_2": "Relu_1",
        "Conv_4": "Conv_2",
        "Add_5": "Add_3",
        "Relu_6": "Relu_4",
        "Gemm_8": "Gemm_5",
    }
    # an inserted node matches nothing, even where its name is a name of the first build
    assert {keys[name] for name in qat if name.startswith("Quantize")} == {
        "1:QuantizeLinear_0",
        "1:QuantizeLinear_3",
        "1:QuantizeLinear_7",
    }


def test_a_name_both_builds_have_is_not_the_same_node_once_one_renumbered() -> None:
    base = ["Conv_0", "Relu_1", "Conv_2", "Relu_3", "Conv_4", "Relu_5"]
    renumbered = ["QuantizeLinear_0", "Conv_1", "Relu_2", "QuantizeLinear_3", "Conv_4", "Relu_5"]
    renumbered += ["QuantizeLinear_6", "Conv_7", "Relu_8"]
    _, keys = source_keys([base, renumbered])
    # Conv_4 and Relu_5 are in both, but the renumbered build's are the network's second conv
    assert [keys[n] for n in ("Conv_1", "Conv_4", "Relu_5", "Conv_7", "Relu_8")] == [
        "Conv_0",
        "Conv_2",
        "Relu_3",
        "Conv_4",
        "Relu_5",
    ]


def test_a_node_one_build_lost_does_not_shift_the_others() -> None:
    base = ["Conv_0", "Relu_1", "MaxPool_2", "Conv_3", "Relu_4", "Conv_5", "Relu_6"]
    # renumbered, and its first Relu is gone (fused away without being named)
    other = ["QuantizeLinear_0", "Conv_1", "MaxPool_2", "QuantizeLinear_3", "Conv_4", "Relu_5"]
    other += ["QuantizeLinear_6", "Conv_7", "Relu_8"]
    _, keys = source_keys([base, other])
    assert [keys[n] for n in ("Conv_1", "MaxPool_2", "Conv_4", "Relu_5", "Conv_7", "Relu_8")] == [
        "Conv_0",
        "MaxPool_2",
        "Conv_3",
        "Relu_4",
        "Conv_5",
        "Relu_6",
    ]


def test_a_third_build_matches_what_only_the_second_had() -> None:
    first = ["Conv_0", "Relu_1"]
    second = ["QuantizeLinear_0", "Conv_1", "Relu_2"]
    third = ["QuantizeLinear_0", "Conv_1", "Relu_2", "Identity_3"]  # the second's numbering
    keys = source_keys([first, second, third])
    assert keys[2]["QuantizeLinear_0"] == keys[1]["QuantizeLinear_0"] == "1:QuantizeLinear_0"
    assert keys[2]["Conv_1"] == keys[1]["Conv_1"] == "Conv_0"


def test_tensorrts_unnamed_layers_are_matched_as_a_numbering_of_their_own() -> None:
    base = ["(Unnamed Layer* 3) [Shuffle]", "(Unnamed Layer* 7) [Constant]", "(Unnamed Layer* 9) [Shuffle]"]
    more = ["(Unnamed Layer* 1) [Identity]"]
    more += ["(Unnamed Layer* 5) [Shuffle]", "(Unnamed Layer* 9) [Constant]", "(Unnamed Layer* 12) [Shuffle]"]
    _, keys = source_keys([base, more])
    assert keys["(Unnamed Layer* 5) [Shuffle]"] == "(Unnamed Layer* 3) [Shuffle]"
    assert keys["(Unnamed Layer* 9) [Constant]"] == "(Unnamed Layer* 7) [Constant]"
    assert keys["(Unnamed Layer* 12) [Shuffle]"] == "(Unnamed Layer* 9) [Shuffle]"


def test_names_a_renumbered_build_shares_by_chance_do_not_make_it_one_numbering() -> None:
    """Half the QAT-shifted names coincide with the first build's (``Conv_2``, ``Conv_6``…):
    matching by name would pair the first build's second conv with the other's first."""
    base = [name for i in range(8) for name in (f"Conv_{2 * i}", f"Relu_{2 * i + 1}")]
    shifted, k = [], 0
    for i in range(8):
        k += 2  # a QuantizeLinear before each conv, left out of the names
        shifted.append(f"Conv_{k}")
        if i % 4:  # every fourth ReLU is not named
            shifted.append(f"Relu_{k + 1}")
        k += 2
    assert len(set(base) & set(shifted)) >= len(shifted) // 2  # the premise: many names coincide
    _, keys = source_keys([base, shifted])
    convs = [name for name in shifted if name.startswith("Conv")]
    assert [keys[name] for name in convs] == [f"Conv_{2 * i}" for i in range(8)]


def test_past_the_cell_cap_operators_both_have_as_many_of_are_paired_by_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(align, "_LCS_CELLS", 0)
    base = [name for i in range(6) for name in (f"Conv_{2 * i}", f"Relu_{2 * i + 1}")]
    # renumbered from 100, and the first ReLU is not named: ReLUs differ in number
    other = ["Conv_100"] + [
        name for i in range(1, 6) for name in (f"Conv_{100 + 2 * i}", f"Relu_{101 + 2 * i}")
    ]
    _, keys = source_keys([base, other])
    assert [keys[f"Conv_{100 + 2 * i}"] for i in range(6)] == [f"Conv_{2 * i}" for i in range(6)]
    # the ReLUs are not paired by rank (that would give each the ReLU of the layer before)
    assert all(keys[f"Relu_{101 + 2 * i}"] == f"1:Relu_{101 + 2 * i}" for i in range(1, 6))
