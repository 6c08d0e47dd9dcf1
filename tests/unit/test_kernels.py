"""Kernel families and tensor-core use read from kernel names (trt_agent/vocab/kernels.py), on the
names real layer lists and build logs of tests/data print."""

from __future__ import annotations

import pytest

from trt_agent.vocab.kernels import kernel_family, tensor_cores

# (kernel name as TensorRT printed it, family, tensor cores)
REAL = [
    # AlexNet FP16, TensorRT 10 --exportLayerInfo (tests/data/corpus/02_…)
    (
        "sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize128x64x32_stage5_warpsize2x2x1_g1_tensor16x8x16",
        "xmma_fprop_implicit_gemm",
        True,
    ),
    (
        "sm80_xmma_fprop_implicit_gemm_indexed_wo_smem_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize128x32x64_stage1_warpsize4x1x1_g1_tensor16x8x16_aligna8_alignc8",
        "xmma_fprop_implicit_gemm_indexed_wo_smem",
        True,
    ),
    (
        "sm50_xmma_cublas_gemvx_f16f16_f32_f32_tn_n_int32_unit_n_launch_param4x32x32_strided_unit_stride",
        "xmma_cublas_gemvx",
        False,  # a GEMV: CUDA cores
    ),
    ("sm50_xmma_pooling_coalescedC_NHWC_kMAX_3_False", "xmma_pooling_coalescedC_NHWC_kMAX", None),
    ("__myl_Res_0x63adb2bae59ff89a94fc133e2755c132", "myelin", None),
    # ResNet-50 on an A100 (TREx's sample engines, tests/data/extra/65_–67_)
    ("ampere_h16816cudnn_128x64_sliced1x2_ldg8_relu_exp_stages_64x3_small_nhwc_tn_v1", "h16816cudnn", True),
    ("ampere_h16816cudnn_256x64_ldg8_relu_exp_stages_64x3_small_nhwc_tn_v1", "h16816cudnn", True),
    (
        "sm80_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32_nchw_vect_c_32kcrs_vect_c_32_nchw_vect_c_32_tilesize256x128x64_stage4_warpsize4x2x1_g1_tensor16x8x32_t1r3s3",
        "xmma_fprop_implicit_gemm_interleaved",
        True,
    ),
    (
        "sm80_xmma_fprop_implicit_gemm_f32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize128x128x32_stage4_warpsize2x2x1_g1_tensor16x8x8",
        "xmma_fprop_implicit_gemm",
        True,  # TF32 tensor cores
    ),
    (
        "trt_turing_cutlass_image_network_first_layer_hmma_fprop_f16f16f32_nhwc_nhwc_k64r7s7c4_stride2x2",
        "cutlass_image_network_first_layer_hmma_fprop",
        True,
    ),
    ("sm50_xmma_pooling_fw_4d_FP32FP32NHWC_Average_FastDiv_CAlign4", "xmma_pooling_fw", None),
    # BERT attention (tests/data/constructed/)
    ("sm80_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize64x64x32_stage5", "xmma_gemm", True),
    ("_gemm_mha_v2_0x3c8b5f2e", "myelin", None),
    # cuBLAS/cuDNN names with a leading type (TensorRT 8 verbose logs print these)
    ("ampere_fp16_s16816gemm_fp16_128x128_ldg8_f2f_stages_32x5_nn_v1", "s16816gemm", True),
    ("turing_fp16_s1688cudnn_fp16_256x128_ldg8_relu_f2f_exp_small_nhwc2nchw_tn_v1", "s1688cudnn", True),
    ("ampere_int32_i8816gemm_int8_128x128_ldg16_nn_v1", "i8816gemm", True),
    # verbose build logs' tactic names (tests/data/corpus)
    ("volta_sgemm_128x64_nn_v1", "sgemm", False),
    ("turing_sgemm_32x128_relu_tn_v1", "sgemm", False),
    ("volta_scudnn_128x64_relu_medium_nn_v1", "scudnn", False),
]


@pytest.mark.parametrize(("name", "family", "on_tensor_cores"), REAL)
def test_real_kernel_names(name: str, family: str, on_tensor_cores: bool | None) -> None:
    assert kernel_family(name) == family
    assert tensor_cores(name) is on_tensor_cores


@pytest.mark.parametrize("name", [None, "", "0x0000000000000000", "0x00000000000003ea", "1002"])
def test_no_kernel_name_says_nothing(name: str | None) -> None:
    assert kernel_family(name) is None
    assert tensor_cores(name) is None


def test_a_name_made_of_hex_letters_is_a_name_not_an_id() -> None:
    assert kernel_family("add") == "add" and kernel_family("cafe") == "cafe"


def test_mma_shapes_of_each_generation() -> None:
    for name in (
        "volta_h884cudnn_256x128_ldg8_relu_exp_small_nhwc_tn_v1",
        "turing_h1688gemm_128x128_ldg8_nn_v1",
    ):
        assert tensor_cores(name) is True
    assert tensor_cores("turing_i8816cudnn_256x64_ldg16_relu_interior_nhwc_tn_v1") is True
    # XMMA on Maxwell/Pascal has no tensor cores; an XMMA FP32 convolution says nothing by itself
    assert tensor_cores("sm61_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwc_tilesize64x64") is False
    assert tensor_cores("sm80_xmma_fprop_implicit_gemm_f32f32_f32f32_f32_nhwckrsc_nhwc_tilesize64x64") is None
