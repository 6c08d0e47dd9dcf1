"""Engine-layer names as TensorRT builds them, taken apart into the source layers they absorbed.

TensorRT names a fused engine layer after its members:

* ``conv1 + bn1 + relu1``                              horizontal/vertical fusion
* ``PWN(Sub_1382, PWN(Exp_1383))``                     pointwise fusion, nested
* ``{ForeignNode[conv1/7x7_s2...loss3/classifier]}``   Myelin region: first...last member only
* ``{conv1/7x7_s2,conv1/relu_7x7,pool1/3x3_s2}``        DLA region: every member listed
* ``Reformatting CopyNode for Input Tensor 0 to X``    a copy TensorRT inserted (no source layer)
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

_REFORMAT_PREFIXES: Final = ("Reformatting CopyNode for ", "Reformatted ")
_FOREIGN = re.compile(r"^\{ForeignNode\[(.*)\]\}$", re.DOTALL)
_PROFILE_SUFFIX = re.compile(r" \[profile \d+\]$")


class LayerName(NamedTuple):
    """A decomposed engine-layer name.

    ``sources`` are the source layers the name lists; ``kind`` is ``single``, ``fused``,
    ``myelin`` (only the first and last members are listed), ``dla`` or ``reformat``.
    """

    sources: tuple[str, ...]
    kind: str


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is not inside (), [] or {}."""
    if sep not in text:
        stripped = text.strip()
        return [stripped] if stripped else []
    if not any(bracket in text for bracket in "([{)]}"):
        return [p.strip() for p in text.split(sep) if p.strip()]
    # Walk only the brackets and separators (found by one regex), not every character.
    parts: list[str] = []
    depth = 0
    start = 0
    for token in _bracket_or(sep).finditer(text):
        ch = token.group()
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(text[start : token.start()])
            start = token.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_TOKENIZERS: dict[str, re.Pattern[str]] = {}


def _bracket_or(sep: str) -> re.Pattern[str]:
    tokenizer = _TOKENIZERS.get(sep)
    if tokenizer is None:
        tokenizer = _TOKENIZERS[sep] = re.compile(r"[()\[\]{}]|" + re.escape(sep))
    return tokenizer


def _atoms(name: str, out: list[str]) -> None:
    name = name.strip()
    if not name:
        return
    if name.startswith("PWN(") and name.endswith(")"):
        for part in _split_top(name[4:-1], ","):
            _atoms(part, out)
        return
    plus = _split_top(name, " + ")
    if len(plus) > 1:
        for part in plus:
            _atoms(part, out)
        return
    out.append(name)


def decompose(name: str) -> LayerName:
    """Return the source layers named by engine layer ``name`` and the kind of layer it is."""
    name = name.strip()
    if name.endswith("]") and " [profile " in name:
        name = _PROFILE_SUFFIX.sub("", name)
    if name.startswith(_REFORMAT_PREFIXES) or name.endswith(" copy"):
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
    out = []
    _atoms(name, out)
    unique = tuple(dict.fromkeys(out))
    return LayerName(unique, "fused" if len(unique) > 1 else "single")


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
