"""Engine-layer names taken apart: real names, and the fast splitter against a plain reference."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trt_agent.parse.names import _split_top, decompose, normalize_precision


def _reference_split(text: str, sep: str) -> list[str]:
    """One character at a time: what _split_top must equal."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


@given(st.text(alphabet="ab_()[]{}+, *", max_size=40), st.sampled_from([" + ", ","]))
def test_split_top_equals_reference(text: str, sep: str) -> None:
    assert _split_top(text, sep) == _reference_split(text, sep)


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
    assert normalize_precision("Channel major FP16 format where channel % 8 == 0") == "Half"
    assert normalize_precision("Int8[1,96:32,800,912]") == "Int8"
