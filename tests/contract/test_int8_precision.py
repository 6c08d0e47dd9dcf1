"""INT8 coverage by the precision a layer computes in, on real engines (issue 16).

Before, a layer's precision was its first output's type: on the QAT ResNet-50 (extra/67 layer
info + extra/68 profile) INT8 coverage was 84 % (21/25), two INT8 convolutions writing FP32
counted as Float and two Q/DQ layers that multiply nothing counted as INT8. By the precision
each layer computes in (model/precision.py) it is 21/22.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from conftest import model_of, of_type, parse_file

from trt_agent.model import EngineModel
from trt_agent.reports.summary import report_json

STATS: dict[str, int] = {}


def _by_evidence(model: EngineModel) -> Counter[tuple[str | None, str]]:
    return Counter((layer.math_precision, layer.precision_evidence) for layer in model.compute_layers())


def test_qat_resnet_int8_coverage_counts_the_math_not_the_output() -> None:
    """extra/67 has 26 layers: one NoOp (no kernel) and three Q/DQ layers that only convert
    (``LayerType: Reformat, Origin: QDQ``: QuantizeLinear_2 FP32->INT8 before the first
    convolution, DequantizeLinear_291 INT8->FP32 before the last residual add, QuantizeLinear_298
    FP32->INT8 before the FC). They compute nothing, so 22 layers are judged: 21 convolutions
    whose kernels multiply INT8 (20 by their tactic name, the first, a ConvActPool with no
    TacticName, by the INT8 it reads) and the FP32 global average pool."""
    model = model_of("67_", "68_")
    int8 = model.int8_coverage()
    assert (int8.numerator, int8.denominator) == (21, 22)
    assert round(int8.value or 0, 4) == 0.9545
    assert _by_evidence(model) == {
        ("Int8", "tactic"): 20,
        ("Int8", "input"): 1,
        ("Float", "tactic"): 1,
        (None, "conversion"): 3,
    }
    layers = model.layers
    for name in ("QuantizeLinear_2", "DequantizeLinear_291", "QuantizeLinear_298"):
        assert (layers[name].math_precision, layers[name].precision_evidence) == (None, "conversion")
    # the two INT8 convolutions that write FP32 (tactics ..._i8f32_i8i32_f32_...)
    i8f32 = [
        layer
        for layer in model.compute_layers()
        if layer.precision == "Float" and layer.math_precision == "Int8"
    ]
    assert sorted(layer.name.split(" + ")[2] for layer in i8f32) == ["Conv_284", "Gemm_305"]
    events = {e["name"]: e for e in of_type(parse_file("67_")[0], "layer")}
    assert all("_i8f32_i8i32_f32_" in events[layer.name]["tactic_name"] for layer in i8f32)
    assert events["GlobalAveragePool_294"]["input_precision"] == "Float"
    first = layers["conv1.weight + QuantizeLinear_7 + Conv_9 + MaxPool_12"]
    assert (first.math_precision, first.precision_evidence) == ("Int8", "input")
    pool = layers["GlobalAveragePool_294"]
    assert (pool.math_precision, pool.precision_evidence) == ("Float", "tactic")
    # the output precision is kept, as it was
    assert Counter(layer.precision for layer in model.compute_layers()) == {"Int8": 21, "Float": 4}
    assert (layers["QuantizeLinear_2"].precision, layers["DequantizeLinear_291"].precision) == (
        "Int8",
        "Float",
    )


def test_report_json_gives_each_layer_its_math_precision_and_evidence() -> None:
    model = model_of("67_", "68_")
    (engine,) = json.loads(report_json({"test": model}, STATS))["engines"]
    rows = {row["layer"]: row for row in engine["layer_precisions"]}
    assert len(rows) == 25  # the compute layers (the NoOp is none)
    assert rows["DequantizeLinear_291"] == {
        "layer": "DequantizeLinear_291",
        "layer_type": "Reformat",
        "precision": "Float",
        "math_precision": None,
        "evidence": "conversion",
    }
    fc = next(row for name, row in rows.items() if "Gemm_305" in name)
    assert (fc["precision"], fc["math_precision"], fc["evidence"]) == ("Float", "Int8", "tactic")
    assert Counter(row["evidence"] for row in rows.values()) == {"tactic": 21, "conversion": 3, "input": 1}
    slowest = engine["slowest_layers"]
    assert slowest and all(
        {"output_precision", "math_precision", "precision_evidence"} <= set(r) for r in slowest
    )
    quantize = next(r for r in slowest if r["layer"] == "QuantizeLinear_2")
    assert (quantize["output_precision"], quantize["precision_evidence"]) == ("Int8", "conversion")


def test_fp16_resnet_stays_fp16() -> None:
    """extra/65: 23 compute layers, all FP16: 22 kernels say so in their name (XMMA ``f16f16``,
    cuDNN ``h16816cudnn``, Turing's ``hmma_fprop_f16f16f32``), the CudaPooling (no TacticName)
    by its output. No INT8: 0/23, as before; its reformats' FP32 ends are no compute layers."""
    model = model_of("65_")
    assert _by_evidence(model) == {("Half", "tactic"): 22, ("Half", "output"): 1}
    int8 = model.int8_coverage()
    assert (int8.numerator, int8.denominator) == (0, 23)


def test_fp32_resnet_on_tf32_kernels_is_float() -> None:
    """extra/66: the A100 runs the FP32 build's convolutions as TF32 (``f32f32_tf32f32_f32``);
    TF32 is no TensorRT data type: they count as Float."""
    model = model_of("66_")
    assert _by_evidence(model) == {("Float", "tactic"): 22, ("Float", "output"): 1}


def test_int8_text_layer_list_is_judged_by_its_inputs() -> None:
    """extra/47 (TensorRT 8.5 ``Layer(...)`` lines: tactic ids, no names): five INT8
    convolutions by the INT8 they read, and ``Layer(Reformat): QuantizeLinear_2`` (FP32 -> INT8)
    converts: 5/5, where before it was 6/6 with the reformat counted as an INT8 layer."""
    model = model_of("47_")
    assert _by_evidence(model) == {("Int8", "input"): 5, (None, "conversion"): 1}
    int8 = model.int8_coverage()
    assert (int8.numerator, int8.denominator) == (5, 5)
    assert model.layers["QuantizeLinear_2"].precision == "Int8"  # its output, kept
    events = of_type(parse_file("47_")[0], "layer")
    assert [(e["input_precision"], e["precision"]) for e in events[:2]] == [
        ("Float", "Int8"),
        ("Int8", "Int8"),
    ]
    assert not any("tactic_name" in e for e in events)  # 8.x prints tactic ids only


def test_text_layer_lines_carry_the_input_precision_and_the_kernel_name() -> None:
    """TensorRT 10's ``Inputs: [ { ... Format/Datatype: Half }]`` and ``TacticName: ...``
    (corpus/03); an 8.x line's first input type (extra/47)."""
    events = {e["name"]: e for e in of_type(parse_file("03_")[0], "layer")}
    conv = events["/features/features.0/Conv + /features/features.1/Relu"]
    assert conv["tactic_name"].startswith("sm80_xmma_fprop_implicit_gemm_indexed_wo_smem_f16f16_f16f16_f16_")
    assert (conv["input_precision"], conv["precision"], conv["tactic"]) == (
        "Half",
        "Half",
        "0x280b0ad3c23d8442",
    )
    gemm = events["/classifier/classifier_6/Gemm_myl9_4"]  # a Myelin gemm: a name, no TacticValue
    assert (gemm["tactic"], gemm["input_precision"]) == (None, "Half")
    assert gemm["tactic_name"].startswith("sm50_xmma_cublas_gemvx_f16f16_f32_f32_")
    model = model_of("03_")
    layer = model.layers["/features/features.0/Conv + /features/features.1/Relu"]
    assert (layer.math_precision, layer.precision_evidence) == ("Half", "tactic")
    myelin_gemm = model.layers["/classifier/classifier_6/Gemm_myl9_4"]
    assert (myelin_gemm.math_precision, myelin_gemm.precision_evidence) == ("Half", "tactic")


def test_diff_compares_the_precision_layers_compute_in() -> None:
    from trt_agent.model import build_models
    from trt_agent.model.diff import diff_models
    from trt_agent.vocab.events import make_event

    source = {"file": "x.log", "line": 1}

    def model(tactic: str, output: str) -> Any:
        layer = make_event(
            "layer",
            None,
            "info",
            "e",
            source,
            None,
            {
                "name": "Conv_284 + Add_292",
                "layer_type": "CaskConvolution",
                "precision": output,
                "tactic_name": tactic,
                "input_precision": "Int8",
                "sources": ["Conv_284", "Add_292"],
            },
        )
        return build_models([layer])["e"]

    # two kernels of extra/67: INT8 math writing INT8, and INT8 math writing FP32 (Conv_284's)
    base = model(
        "sm80_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw_vect_c_32_tilesize192x64x64_stage3_warpsize4x1x1_g1_tensor16x8x32_t1r3s3",
        "Int8",
    )
    new = model(
        "sm80_xmma_fprop_implicit_gemm_interleaved_i8f32_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw_tilesize128x64x64_stage4_warpsize2x2x1_g1_tensor16x8x32_t1r3s3_alignc4_nchw",
        "Float",
    )
    changes = diff_models(base, new).precision_changes
    assert changes == []  # both compute in INT8: no "Int8 -> Float" regression
