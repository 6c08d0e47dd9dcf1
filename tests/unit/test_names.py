"""Engine-layer names taken apart: real names, and generated names against their known parts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trt_agent.vocab.names import decompose, normalize_precision

# Member names as TensorRT and ONNX exporters write them (from tests/data).
_MEMBER = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_./:-]{0,12}", fullmatch=True),
    st.integers(0, 2000).map(str),
    st.builds(
        lambda n, t: f"(Unnamed Layer* {n}) [{t}]",
        st.integers(0, 2000),
        st.sampled_from(["Shuffle", "Constant", "TopK"]),
    ),
    st.builds(lambda n: f"{n}_clone_1", st.integers(0, 2000)),
)


def _fused(depth: int) -> st.SearchStrategy[tuple[str, list[str]]]:
    """A fused engine-layer name and the members it names, in order."""
    leaf = _MEMBER.map(lambda m: (m, [m]))
    if depth == 0:
        return leaf
    child = _fused(depth - 1)

    def plus(parts: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
        return " + ".join(p[0] for p in parts), [m for p in parts for m in p[1]]

    def branches(parts: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
        return " || ".join(p[0] for p in parts), [m for p in parts for m in p[1]]

    def pwn(parts: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
        return "PWN(" + ", ".join(p[0] for p in parts) + ")", [m for p in parts for m in p[1]]

    return st.one_of(
        leaf,
        st.lists(child, min_size=2, max_size=3).map(plus),
        st.lists(child, min_size=2, max_size=3).map(branches),
        st.lists(child, min_size=1, max_size=3).map(pwn),
    )


@given(_fused(3))
def test_generated_fused_names_give_back_their_members(case: tuple[str, list[str]]) -> None:
    name, members = case
    assert decompose(name).sources == tuple(dict.fromkeys(members))


def test_real_engine_layer_names() -> None:
    # from tests/data/corpus/trtexec-8.6.1-segformer-layernorm-plugin-full.log
    pwn = "PWN(PWN(PWN(PWN(PWN(247 + (Unnamed Layer* 253) [Shuffle], Add_359), PWN(Sqrt_360)), Div_361), Mul_362), Add_363)"
    assert decompose(pwn).sources == (
        "247",
        "(Unnamed Layer* 253) [Shuffle]",
        "Add_359",
        "Sqrt_360",
        "Div_361",
        "Mul_362",
        "Add_363",
    )
    foreign = "{ForeignNode[backbone.block1.1.attn.kv.bias + (Unnamed Layer* 162) [Shuffle]...Transpose_292 + Reshape_298]}"
    parsed = decompose(foreign)
    assert parsed.kind == "myelin"
    assert parsed.sources == (
        "backbone.block1.1.attn.kv.bias",
        "(Unnamed Layer* 162) [Shuffle]",
        "Transpose_292",
        "Reshape_298",
    )
    assert decompose("Reformatting CopyNode for Input Tensor 0 to Conv_1344").kind == "reformat"
    assert decompose("1639 copy").kind == "reformat"
    dla = decompose("{conv1/7x7_s2,conv1/relu_7x7,pool1/3x3_s2}")  # corpus 28 (DLA)
    assert dla.kind == "dla" and len(dla.sources) == 3
    # corpus 31: a member whose own name holds parentheses, next to a PWN group
    assert decompose("conv1 + PWN(re_lu_clip)").sources == ("conv1", "re_lu_clip")
    # corpus 08: the last row was cut mid-name by whoever posted it
    assert decompose("node_of_gpu_0/res2_0_branch2c_1 + node_of_gpu_0/res2_0_branch2c_bn_").kind == "fused"
    assert normalize_precision("Channel major FP16 format where channel % 8 == 0") == "Half"
    assert normalize_precision("Int8[1,96:32,800,912]") == "Int8"


def test_horizontal_fusion_names_split_on_both_separators() -> None:
    # tests/data/dialects/172_deepstream-yolo-trt7-TensorRT-INFO-GpuLayer-placement-excerpt.log:7
    parsed = decompose("Conv_140 || Conv_149")
    assert parsed.sources == ("Conv_140", "Conv_149")
    assert parsed.kind == "fused"
    # two vertical fusions side by side: no made-up "Relu_2 || Conv_3" member
    assert decompose("Conv_1 + Relu_2 || Conv_3 + Relu_4").sources == ("Conv_1", "Relu_2", "Conv_3", "Relu_4")
    # a "||" inside a member's own brackets does not split it
    assert decompose("(Unnamed Layer* 6) [a || b] + Conv_7").sources == (
        "(Unnamed Layer* 6) [a || b]",
        "Conv_7",
    )
