"""The precision a layer computes in (model/precision.py), on kernel names copied from the layer
lists in tests/data."""

from __future__ import annotations

import pytest

from trt_agent.model.precision import math_precision, tactic_precision

# (kernel name, where it is in tests/data, the operand precision it says)
REAL_TACTICS = [
    # extra/67: QAT ResNet-50 on A100, INT8 convolutions writing INT8 ...
    (
        "sm80_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw_vect_c_32"
        "_tilesize192x64x64_stage3_warpsize4x1x1_g1_tensor16x8x32_t1r3s3",
        "Int8",
    ),
    # ... and INT8 convolutions writing FP32 (layer4.1.conv2, fc): INT8 math all the same
    (
        "sm80_xmma_fprop_implicit_gemm_interleaved_i8f32_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw"
        "_tilesize128x64x64_stage4_warpsize2x2x1_g1_tensor16x8x32_t1r3s3_alignc4_nchw",
        "Int8",
    ),
    ("sm50_xmma_pooling_fw_4d_FP32FP32NCHW_Average_FastDiv", "Float"),  # extra/67 GlobalAveragePool
    # extra/65: the FP16 build
    (
        "sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize256x64x32_stage3_warpsize4x1x1_g1"
        "_tensor16x8x16_t1r3s3_aACCESS",
        "Half",
    ),
    (
        "trt_turing_cutlass_image_network_first_layer_hmma_fprop_f16f16f32_nhwc_nhwc_k64r7s7c4_stride2x2",
        "Half",
    ),
    ("ampere_h16816cudnn_128x128_ldg8_relu_exp_stages_64x3_large_nhwc_tn_v1", "Half"),
    ("sm50_xmma_pooling_fw_4d_FP16FP32NHWC_Average_FastDiv_CAlign8", "Half"),
    # extra/66: the FP32 build runs TF32 on the A100's tensor cores: a Float layer
    (
        "sm80_xmma_fprop_implicit_gemm_f32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize256x64x32_stage3_warpsize4x2x1_g1"
        "_tensor16x8x8_t1r3s3",
        "Float",
    ),
    ("ampere_scudnn_128x64_relu_xregs_large_nn_v1", "Float"),
    # corpus/02 and 03 (TensorRT 10.4 AlexNet FP16): cuBLAS gemv reads FP16, accumulates in FP32
    (
        "sm50_xmma_cublas_gemvx_f16f16_f32_f32_tn_n_int32_unit_n_launch_param4x32x32_strided_unit_stride",
        "Half",
    ),
    (
        "sm80_xmma_fprop_implicit_gemm_indexed_wo_smem_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize128x32x64_stage1"
        "_warpsize4x1x1_g1_tensor16x8x16_aligna8_alignc8",
        "Half",
    ),
    # constructed/bert-attention-b-generic: FP16 GEMMs accumulating in FP32
    ("sm80_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize64x64x32_stage5", "Half"),
    # extra/64: the name as posted, cut at the end of the line
    ("sm80_xmma_gemm_f16f16_f16f16_f16_nn_n_tilesize32x32x64_stage6_warpsize2x", "Half"),
]

# Kernel names that say no type: Myelin's generated kernels, a pooling kernel, attention.
SILENT_TACTICS = [
    "__myl_Res_0x63adb2bae59ff89a94fc133e2755c132",  # corpus/02
    "__myl_bb1_4_Tra",  # extra/63
    "sm50_xmma_pooling_coalescedC_NHWC_kMAX_3_False",  # corpus/02 MaxPool
    "_gemm_mha_v2_0x3c8b5f2e",  # constructed/bert-attention-a-fused
    "",
    None,
]


@pytest.mark.parametrize(("name", "precision"), REAL_TACTICS, ids=lambda v: str(v)[:48])
def test_a_kernel_name_says_its_operand_precision(name: str, precision: str) -> None:
    assert tactic_precision(name) == precision


@pytest.mark.parametrize("name", SILENT_TACTICS)
def test_a_kernel_name_without_types_says_nothing(name: str | None) -> None:
    assert tactic_precision(name) is None


I8F32 = REAL_TACTICS[1][0]


def test_the_tactic_outranks_the_output_type() -> None:
    """extra/67's layer4.1.conv2 + Add: reads INT8, writes FP32, multiplies in INT8."""
    assert math_precision("CaskConvolution", I8F32, "Int8", "Float", None) == ("Int8", "tactic")


def test_a_convolution_without_a_kernel_name_multiplies_in_the_type_it_reads() -> None:
    # extra/67's first convolution (ConvActPool: no TacticName) and an 8.x layer list (extra/47)
    assert math_precision("ConvActPool", None, "Int8", "Int8", None) == ("Int8", "input")
    assert math_precision("CaskConvolution", None, "Int8", "Float", None) == ("Int8", "input")
    assert math_precision("CaskGemmMatrixMultiply", None, "Half", "Float", None) == ("Half", "input")
    assert math_precision("gemm", None, "Half", "Half", None) == ("Half", "input")


def test_other_layers_compute_in_the_type_they_write() -> None:
    # a pointwise layer's input says less than its output: a Softmax reading FP16 writes FP32
    assert math_precision("SoftMax", "0x00000000000003ea", "Half", "Float", None) == ("Float", "output")
    assert math_precision("CudaPooling", None, "Half", "Half", None) == ("Half", "output")
    assert math_precision("kgen", "__myl_bb1_4_Tra", "Half", "Half", None) == ("Half", "output")


def test_q_dq_and_reformat_layers_compute_nothing() -> None:
    """extra/67's QuantizeLinear_2 (FP32 -> INT8) and DequantizeLinear_291 (INT8 -> FP32):
    ``LayerType: Reformat, Origin: QDQ``; an 8.x list has no Origin (extra/47's
    ``Layer(Reformat): QuantizeLinear_2``)."""
    assert math_precision("Reformat", None, "Float", "Int8", "QDQ") == (None, "conversion")
    assert math_precision("Reformat", None, "Int8", "Float", "QDQ") == (None, "conversion")
    assert math_precision("Reformat", None, "Float", "Int8", None) == (None, "conversion")
    assert math_precision("MyelinReformat", None, "FP8", "Float", None) == (None, "conversion")
    assert math_precision("Quantize", None, "Float", "Int8", None) == (None, "conversion")
    assert math_precision(None, None, "Float", "Int8", "QDQ") == (None, "conversion")


def test_nothing_said_is_unknown() -> None:
    assert math_precision("shape_call", None, None, None, None) == (None, "unknown")
    assert math_precision(None, None, None, None, None) == (None, "unknown")
    # a type the input alone gives is no evidence for a layer that does not multiply
    assert math_precision("Shuffle", None, "Half", None, None) == (None, "unknown")


@pytest.mark.parametrize(
    ("name", "precision"),
    [  # not in tests/data: names written on the same XMMA scheme, for the other types it names
        ("sm90_xmma_gemm_e4m3e4m3_e4m3f32_f16_tn_n_tilesize128x128x64", "FP8"),
        ("sm80_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x32_stage4", "BFloat16"),
    ],
)
def test_the_xmma_scheme_names_fp8_and_bf16_too(name: str, precision: str) -> None:
    assert tactic_precision(name) == precision
