"""What a kernel (tactic) name says: its family, and whether it runs on tensor cores.

TensorRT names the kernel of each layer in the layer list (``TacticName``, TensorRT >= 8.6) and
in verbose build logs. The names follow the libraries that made them:

* XMMA/CASK: ``sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize128x64x32_
  stage5_warpsize2x2x1_g1_tensor16x8x16``: architecture, library, operation, types, layouts,
  tile, and ``tensor16x8x16`` where it issues tensor-core MMA instructions of that shape;
* cuDNN/cuBLAS: ``ampere_h16816cudnn_128x64_ldg8_relu_exp_small_nhwc_tn_v1`` (``h16816``: HMMA
  of shape 16x8x16, FP16 tensor cores), ``volta_h884gemm…``, ``turing_i8816cudnn…`` (IMMA),
  against ``volta_sgemm_128x64_nn_v1`` and ``volta_scudnn_…`` (FP32 on CUDA cores);
* CUTLASS: ``…_hmma_fprop_…``, ``…_tensorop_…``; Hopper's ``wgmma``/``gmma``;
* Myelin: ``__myl_Res_0x63ad…`` and ``_gemm_mha_v2_0x3c8b…``, a hash that says nothing more.

The **family** is the name without its architecture prefix, up to the first token that carries
a number (types, tiles, versions), so the kernels of one algorithm group together:
``xmma_fprop_implicit_gemm``, ``h16816cudnn``, ``sgemm``, ``xmma_cublas_gemvx``; ``myelin`` for
Myelin's; None where the input gives only a tactic id (``0x…``) or nothing.

**Tensor cores** are read from the name only where it says so: True for an MMA shape or
instruction (``tensor16x8x16``, ``h16816``, ``i8816``, ``hmma``, ``imma``, ``tensorop``,
``wgmma``), and for an XMMA convolution or GEMM on Volta or later in a 16-bit, 8-bit or TF32
type; False for the CUDA-core kernels (``sgemm``, ``scudnn``, ``dgemm``, GEMV, and XMMA on
Maxwell/Pascal); None (not judged) for anything else. TREx reads ``h16816cudnn`` as a kernel
without tensor cores; it is the opposite.
"""

from __future__ import annotations

import re
from typing import Final

_ARCH_PREFIX = re.compile(
    r"^(?:trt_)?(?:sm\d+|maxwell|pascal|volta|turing|ampere|ada|hopper|blackwell)_", re.IGNORECASE
)
_MYELIN = re.compile(r"^(?:__myl_|__mye|_gemm_mha)")
_TACTIC_ID = re.compile(r"^(?:0x[0-9a-fA-F]+|\d+)$")  # an id, not a name ("add" is a name)
# An MMA shape or instruction in a token: tensor16x8x16, h16816cudnn, i8816gemm, h884, s1688…
_MMA_TOKEN = re.compile(
    r"^(?:tensor\d+x\d+x\d+|[hsib]\d{3,5}(?:cudnn|gemm)|[hi]\d{3,5}|hmma|imma|tensorop|[hiqf]?w?gmma)$"
)
_CUDA_CORE_TOKEN = re.compile(r"^(?:[sd](?:gemm|cudnn)|gemvx?|scudnn\w*)$")
_XMMA_OP = re.compile(r"^sm(\d+)_xmma_(?:fprop|dgrad|wgrad|gemm)")
_LOW_PRECISION = re.compile(r"(?:^|_)(?:f16|bf16|i8|tf32|e4m3|e5m2|fp16|int8)", re.IGNORECASE)
_TENSOR_CORE_SM: Final = 70
_TYPE_TOKEN = re.compile(r"^(?:fp|int|bf|tf|f|i)\d+$", re.IGNORECASE)


def kernel_family(name: str | None) -> str | None:
    """The algorithm ``name`` belongs to (see the module docstring); None for an id or nothing."""
    if not name or _TACTIC_ID.match(name):
        return None
    if _MYELIN.match(name):
        return "myelin"
    tokens = _ARCH_PREFIX.sub("", name).split("_")
    family: list[str] = []
    for token in tokens:
        if not token or (not family and _TYPE_TOKEN.match(token)):
            continue  # cuBLAS/cuDNN's leading type: ampere_fp16_s16816gemm_fp16_128x128…
        if any(c.isdigit() for c in token):
            if _MMA_TOKEN.match(token.lower()) and not family:
                family.append(token)  # h16816cudnn: the instruction is the algorithm
            break
        family.append(token)
    return "_".join(family) or None


def tensor_cores(name: str | None) -> bool | None:
    """Whether kernel ``name`` runs on tensor cores, where its name says (see the module docstring)."""
    if not name or _TACTIC_ID.match(name) or _MYELIN.match(name):
        return None
    tokens = [t.lower() for t in name.split("_")]
    if any(_MMA_TOKEN.match(t) for t in tokens):
        return True
    if any(_CUDA_CORE_TOKEN.match(t) for t in tokens):
        return False
    xmma = _XMMA_OP.match(name)
    if xmma is not None:
        if int(xmma.group(1)) < _TENSOR_CORE_SM:
            return False
        return True if _LOW_PRECISION.search(name[xmma.end() :]) else None
    return None
