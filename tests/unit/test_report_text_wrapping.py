"""``report``'s fields wrap to the report's width in a 16-column margin, never cut: a name longer
than a line (TensorFlow's ``resnet50/quant_conv5_block1_2_conv/LastValueQuant/…``) included."""

from __future__ import annotations

import pytest

from trt_agent.reports.summary import WIDTH, _field

LONG = (
    "resnet50/quant_conv5_block1_2_conv/LastValueQuant/QuantizeAndDequantizeV4/ReadVariableOp:0"
    " + QuantLinearNode__802 + resnet50/quant_conv5_block1_2_conv/Conv2D"
)


@pytest.mark.parametrize(
    "text",
    [
        f"weights 24.4 MiB, outputs 385.9 MiB (Σ over 63 layers); most weights: {LONG} 2.3 MiB (9%)",
        "x" * 250,
        "short, items; that | fit",
    ],
)
def test_a_field_keeps_its_margin_and_every_character(text: str) -> None:
    lines = _field("layer memory", text)
    assert lines[0].startswith("layer memory    ")
    assert all(len(line) <= WIDTH for line in lines)
    assert all(line.startswith(" " * 16) and not line[16].isspace() for line in lines[1:])
    joined = "".join(line[16:] for line in lines).replace(" ", "")
    assert joined == text.replace(" ", "")  # nothing cut, nothing repeated


def test_a_tab_or_newline_in_a_long_field_neither_crashes_nor_breaks_the_columns() -> None:
    lines = _field("engine", "my\tengine " + "z" * 120 + "\nnext")
    assert all("\t" not in line and "\n" not in line and len(line) <= WIDTH for line in lines)
    assert "".join(line[16:] for line in lines).replace(" ", "") == "myengine" + "z" * 120 + "next"
