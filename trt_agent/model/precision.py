"""The precision an engine layer computes in, and what says so.

TensorRT lists each layer's tensors with their types, but a layer's tensor types are not the
precision its math runs in: an INT8 convolution that feeds an FP32 layer writes FP32 (its
kernel ``…_i8f32_i8i32_f32…`` reads INT8, multiplies in INT8 and accumulates in INT32), and a
Q/DQ layer that turns FP32 into INT8 writes INT8 without multiplying anything. So a layer's
*math precision* is, from the first evidence that says:

1. ``conversion``: none. A layer that only converts between types or layouts (LayerType
   ``Reformat``/``MyelinReformat``/``Quantize``/``Dequantize``, or Origin ``QDQ``/``REFORMAT``:
   the standalone Q/DQ layers TensorRT keeps and the reformats it inserts) computes nothing; it
   has no math precision and INT8 coverage leaves it out, as it leaves out NoOp and Constant.
2. ``tactic``: the kernel's name (``TacticName``, TensorRT >= 8.6 layer info), where it names
   the operand type. XMMA/CUTLASS names carry a type signature, ``<in><out>_<math><acc>_<epi>``
   (``i8i8_i8i32_f32``: INT8; ``i8f32_i8i32_f32``: INT8 in, FP32 out, INT8 math;
   ``f16f16_f16f32_f32``: FP16 math, FP32 accumulate; ``f32f32_tf32f32_f32``: TF32), the math
   type being the first of the second group when that group is ``<math><acc>``, else the first
   type named (``gemvx_f16f16_f32_f32``, ``hmma_fprop_f16f16f32``, pooling's ``FP16FP32NHWC``);
   cuDNN/cuBLAS names say it by a letter (``h16816cudnn``: FP16, ``scudnn``: FP32).
   TF32 counts as ``Float``: it is how TensorRT runs FP32 layers on tensor cores, and the
   precisions here are TensorRT's data types, of which TF32 is none.
3. ``input``: for convolution and matrix-multiply layers (``CaskConvolution``, ``ConvActPool``,
   ``CaskGemmMatrixMultiply``, Myelin ``gemm``…), the first input's type: they multiply in
   the type they read (an 8.x layer list prints tactic ids, never names).
4. ``output``: the first output's type (pointwise, pooling, shuffle, Myelin regions…).
5. ``unknown``: nothing said (a profile with no layer list, a layer line without types).

The output precision stays the layer's ``precision``; this is ``math_precision`` beside it.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Evidence = Literal["conversion", "tactic", "input", "output", "unknown"]
EVIDENCE: Final[tuple[Evidence, ...]] = ("conversion", "tactic", "input", "output", "unknown")

# Layers that only convert: they do no math in any precision.
CONVERSION_TYPES: Final = frozenset({"reformat", "myelinreformat", "quantize", "dequantize"})
CONVERSION_ORIGINS: Final = frozenset({"QDQ", "REFORMAT"})
# A layer type that multiplies in the type it reads (substrings of the lower-cased LayerType).
_MATMUL_WORDS: Final = ("conv", "gemm", "matrixmultiply", "matmul", "fullyconnected")

# Type codes in kernel names, longest first where one is a prefix of another.
_CODES: Final = {
    "tf32": "Float",
    "bf16": "BFloat16",
    "fp32": "Float",
    "fp16": "Half",
    "fp8": "FP8",
    "fp4": "FP4",
    "int32": "Int32",
    "int8": "Int8",
    "int4": "Int4",
    "e4m3": "FP8",
    "e5m2": "FP8",
    "e2m1": "FP4",
    "f32": "Float",
    "f16": "Half",
    "i32": "Int32",
    "i8": "Int8",
    "i4": "Int4",
}
_CODE = "|".join(_CODES)
# A token (between "_") made only of type codes, with pooling's layout glued on: "i8f32",
# "f16f16f32", "FP16FP32NHWC".
_TYPE_TOKEN: Final = re.compile(rf"((?:{_CODE})+)(?:nchw|nhwc)?", re.IGNORECASE)
_ONE_CODE: Final = re.compile(_CODE, re.IGNORECASE)
# cuDNN/cuBLAS kernels: "h16816cudnn", "scudnn", "h1688gemm", "s884gemm"; XMMA's "hmma"/"imma".
_LETTER_TOKEN: Final = re.compile(r"([hsi])\d*(?:cudnn|gemm)|([hi])mma")
_LETTERS: Final = {"h": "Half", "s": "Float", "i": "Int8"}


def _types(token: str) -> list[str] | None:
    m = _TYPE_TOKEN.fullmatch(token)
    if m is None:
        return None
    return [code.lower() for code in _ONE_CODE.findall(m.group(1))]


def tactic_precision(tactic_name: str | None) -> str | None:
    """The operand precision a kernel's name says (``None`` when it names none)."""
    if not tactic_name:
        return None
    tokens = tactic_name.split("_")
    for i, token in enumerate(tokens):
        first = _types(token)
        if first is None:
            continue
        # the first run of type tokens is the kernel's signature
        second = _types(tokens[i + 1]) if i + 1 < len(tokens) else None
        if second is not None and len(second) == 2 and len(first) == 2:
            return _CODES[second[0]]  # <in><out>_<math><acc>
        return _CODES[first[0]]
    for token in tokens:
        m = _LETTER_TOKEN.fullmatch(token)
        if m is not None:
            return _LETTERS[m.group(1) or m.group(2)]
    return None


def is_conversion(layer_type: str | None, origin: str | None) -> bool:
    """A layer that only converts between types or layouts (a Q/DQ or reformat layer)."""
    return (layer_type or "").lower() in CONVERSION_TYPES or origin in CONVERSION_ORIGINS


def multiplies_its_input(layer_type: str | None) -> bool:
    """A convolution or matrix-multiply layer: its math runs in the type it reads."""
    lowered = (layer_type or "").lower()
    return any(word in lowered for word in _MATMUL_WORDS)


def math_precision(
    layer_type: str | None,
    tactic_name: str | None,
    input_precision: str | None,
    output_precision: str | None,
    origin: str | None,
) -> tuple[str | None, Evidence]:
    """``(precision, evidence)``: the precision a layer computes in and what said so (see the
    module's docstring for the order)."""
    if is_conversion(layer_type, origin):
        return None, "conversion"
    from_tactic = tactic_precision(tactic_name)
    if from_tactic is not None:
        return from_tactic, "tactic"
    if input_precision is not None and multiplies_its_input(layer_type):
        return input_precision, "input"
    if output_precision is not None:
        return output_precision, "output"
    return None, "unknown"
