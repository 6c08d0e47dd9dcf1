"""Engine-layer names as TensorRT builds them, taken apart into the source layers they absorbed.

TensorRT names a fused engine layer after its members:

* ``conv1 + bn1 + relu1``                              horizontal/vertical fusion
* ``Conv_1 + Relu_2 || Conv_3 + Relu_4``               horizontal fusion of two branches
* ``PWN(Sub_1382, PWN(Exp_1383))``                     pointwise fusion, nested
* ``{ForeignNode[conv1/7x7_s2...loss3/classifier]}``   Myelin region: first...last member only
* ``{conv1/7x7_s2,conv1/relu_7x7,pool1/3x3_s2}``        DLA region: every member listed
* ``Reformatting CopyNode for Input Tensor 0 to X``    a copy TensorRT inserted (no source layer)
* ``__myl_MaxrSubExpSum_myl5_4``, ``node_conv2d_myl0_1`` a kernel Myelin generated: the name
                                                       says nothing of what it fused
* ``data to nvm``, ``prob input reformatter 0``,       bookkeeping rows of a profile (DLA copies
  ``loss3/classifier finish``, ``[HostToDeviceCopy 0]`` and syncs, TensorRT 7 reformatters,
                                                       host-to-device copies): no kernel of a layer

Weights and biases (``conv1.weight`` in ``conv1.weight + QuantizeLinear_7 + Conv_9``) are
members of a name but not layers: :func:`is_constant` tells them apart.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

REFORMAT_PREFIXES: Final = ("Reformatting CopyNode for ", "Reformatted ")
_FOREIGN = re.compile(r"^\{ForeignNode\[(.*)\]\}$", re.DOTALL)
_PROFILE_SUFFIX = re.compile(r" \[profile (\d+)\]$")
_REFORMAT_TARGET = re.compile(r"^Reformatting CopyNode for (?:Input|Output) Tensor \d+ to (.+)$")
# Kernels Myelin generated, as a profile or a layer list without Metadata names them: __myl_*
# (fused pointwise/reduction kernels: MaxrSubExpSum), __mye* (Myelin's own copies and shape
# calls), and any name ending in _myl<region>_<kernel> (node_conv2d_myl0_1, _gemm_mha_v2_myl3_6).
_MYELIN_KERNEL = re.compile(r"^__myl_|^__mye\d|_myl\d+_\d+$")
# Rows of a profile that are no layer's kernel: TensorRT 7's reformatters ("prob input
# reformatter 0"), DLA's copies in and out of its memory and its syncs ("data to nvm",
# "data copy finish", "loss3/classifier finish"), the copies between host and device.
_BOOKKEEPING = re.compile(
    r" (?:input|output) reformatter \d+$| (?:to|from) nvm$| finish$"
    r"|^\[(?:HostToDevice|DeviceToHost|DeviceToDevice)Copy \d+\]$"
)
_CONSTANT_SUFFIXES: Final = (".weight", ".bias")
# How a name ``_BOOKKEEPING`` matches ends (or it starts with "[", or holds " reformatter ").
_BOOKKEEPING_ENDS: Final = (" nvm", " finish", "\n")  # ("$" also matches before a last "\n")


class LayerName(NamedTuple):
    """A decomposed engine-layer name.

    ``sources`` are the source layers the name lists; ``kind`` is ``single``, ``fused``,
    ``myelin`` (a region: only the first and last members are listed), ``myelin_kernel`` (a
    kernel Myelin generated: its name lists no member; ``sources`` keeps the name's parts for
    those who match or redact names, not as source layers), ``dla`` or ``reformat`` (a copy
    TensorRT inserted, or a bookkeeping row of a profile: no kernel of a layer).
    """

    sources: tuple[str, ...]
    kind: str


_NAME_TOKEN = re.compile(r"PWN\(|[()\[\]{}]| \+ | \|\| |,")
# A name with none of these has no nesting: its members are what " + " and " || " separate
# (``_atoms`` gives the same, token by token; most names take this path).
_GROUPING = re.compile(r"[()\[\]{},]")
_SEPARATOR = re.compile(r" \+ | \|\| ")
_CLOSER: Final = {"(": ")", "[": "]", "{": "}"}
_PWN = "P"  # marks an open PWN( group on the stack


def _atoms(name: str, out: list[str]) -> None:
    """Append the source-layer names inside ``name`` to ``out``, in order, in one pass.

    ``A + B`` and ``A || B`` (a horizontal fusion) separate members; inside ``PWN(...)`` a comma
    does too. Brackets that belong to a member's own name (``(Unnamed Layer* 6) [Shuffle]``) are
    skipped over, so separators inside them do not split. A closer without its opener (a name cut by whoever posted the log) is
    ignored.
    """
    stack: list[str] = []
    start = 0
    for token in _NAME_TOKEN.finditer(name):
        text = token.group()
        in_member_brackets = bool(stack) and stack[-1] != _PWN
        if text == "PWN(":
            if not in_member_brackets and not name[start : token.start()].strip():
                stack.append(_PWN)
                start = token.end()
            else:
                stack.append(")")
        elif text in _CLOSER:
            stack.append(_CLOSER[text])
        elif text in ")]}":
            if stack and stack[-1] == _PWN and text == ")":
                _member(name[start : token.start()], out)
                stack.pop()
                start = token.end()
            elif stack and stack[-1] == text:
                stack.pop()
        elif not in_member_brackets and (text in (" + ", " || ") or (stack and stack[-1] == _PWN)):
            _member(name[start : token.start()], out)
            start = token.end()
    _member(name[start:], out)


def _member(text: str, out: list[str]) -> None:
    member = text.strip()
    if member:
        out.append(member)


def profile_index(name: str) -> int:
    """The optimisation profile a layer, tensor or binding name belongs to: N for ``X [profile
    N]`` (an engine built with several profiles lists each profile's layers, those of profile
    N > 0 so named), else 0."""
    if not name.endswith("]"):
        return 0
    m = _PROFILE_SUFFIX.search(name)
    return int(m.group(1)) if m is not None else 0


def reformat_target(name: str) -> str | None:
    """The layer a reformat TensorRT inserted is for, as its name says (``Reformatting CopyNode
    for Input Tensor 0 to X``: X reads its output; ``… Output Tensor 0 to X``: X writes its
    input), else None."""
    m = _REFORMAT_TARGET.match(name) if name.startswith(REFORMAT_PREFIXES[0]) else None
    return m.group(1) if m is not None else None


def without_profile(name: str) -> str:
    """``name`` without its ``[profile N]`` suffix: the layer, whichever profile it is of."""
    return _PROFILE_SUFFIX.sub("", name) if name.endswith("]") else name


def decompose(name: str) -> LayerName:
    """Return the source layers named by engine layer ``name`` and the kind of layer it is."""
    name = name.strip()
    if name.endswith("]") and " [profile " in name:
        name = without_profile(name)
    # (``_BOOKKEEPING`` runs only on a name that starts or ends as what it matches does)
    if (
        name.startswith(REFORMAT_PREFIXES)
        or name.endswith(" copy")
        or (
            (name.endswith(_BOOKKEEPING_ENDS) or name[:1] == "[" or " reformatter " in name)
            and _BOOKKEEPING.search(name) is not None
        )
    ):
        return LayerName((), "reformat")
    foreign = _FOREIGN.match(name) if name.startswith("{ForeignNode[") else None
    if foreign is not None:
        out: list[str] = []
        for endpoint in foreign.group(1).split("..."):
            _atoms(endpoint, out)
        return LayerName(tuple(dict.fromkeys(out)), "myelin")
    if name.startswith("{") and name.endswith("}") and "," in name:
        members = [m.strip() for m in name[1:-1].split(",") if m.strip()]
        return LayerName(tuple(members), "dla")
    if _GROUPING.search(name) is not None:
        out = []
        _atoms(name, out)
    elif " + " in name or " || " in name:
        out = [member for member in (part.strip() for part in _SEPARATOR.split(name)) if member]
    else:
        member = name.strip()
        out = [member] if member else []
    unique = tuple(dict.fromkeys(out))
    if "_my" in name and _MYELIN_KERNEL.search(name):
        return LayerName(unique, "myelin_kernel")
    return LayerName(unique, "fused" if len(unique) > 1 else "single")


def is_constant(member: str) -> bool:
    """A weight or bias named in a fused layer's name (``conv1.weight``, ``fc.bias``): a constant
    folded into the layer, not a layer of the network."""
    return member.endswith(_CONSTANT_SUFFIXES)


_PRECISION_WORDS: Final = (
    # (needle in a format/datatype string, canonical name); order matters: longest first.
    ("BFloat16", "BFloat16"),
    ("BF16", "BFloat16"),
    ("FP8", "FP8"),
    ("FP4", "FP4"),
    ("INT4", "Int4"),
    ("Int4", "Int4"),
    ("FP16", "Half"),
    ("Half", "Half"),
    ("FP32", "Float"),
    ("Float", "Float"),
    ("INT8", "Int8"),
    ("Int8", "Int8"),
    ("UInt8", "UInt8"),
    ("INT32", "Int32"),
    ("Int32", "Int32"),
    ("INT64", "Int64"),
    ("Int64", "Int64"),
    ("Bool", "Bool"),
    ("BOOL", "Bool"),
)


def normalize_precision(text: str) -> str | None:
    """Map a TensorRT data-type or format string to one precision name (``Half``, ``Int8``…)."""
    if text.startswith("UInt8"):
        return "UInt8"
    for needle, canonical in _PRECISION_WORDS:
        if needle in text:
            return canonical
    return None
