"""Every figure `report --json` gives for the engines of tests/data that have raw JSON artifacts
(trtexec ``--exportProfile`` and ``--exportLayerInfo`` / engine-inspector graph JSON), computed
here from the JSON alone and compared value by value (issue 16).

Independent of trt-agent's code: plain ``json`` and the small functions below, written from the
definitions in docs/commands.md ("How coverage is computed") and trt_agent/model/precision.py's
docstring, not from trt-agent's parsers; trt-agent runs as the real CLI.

Per-layer time is ``timeMs``: trtexec's ``Profiler::exportJSONProfile`` (samples/common/
sampleReporting.cpp) writes ``timeMs`` = the layer's summed time over all profiled iterations,
``averageMs`` = that sum / the layer's own number of samples, ``percentage`` = ``timeMs`` / Σ
``timeMs`` × 100. So the share timeMs/Σ timeMs *is* trtexec's ``percentage`` (to the 6 significant
digits it prints), whereas ``averageMs`` × ``count`` only approximates ``timeMs`` (each is rounded
to 6 digits, and a layer that did not run every iteration has fewer samples than ``count``).
The time per inference is Σ timeMs / count, the Total row's Avg of trtexec's ``--dumpProfile``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, trt_agent

CORPUS, EXTRA, CONSTRUCTED = DATA / "corpus", DATA / "extra", DATA / "constructed"

Json = dict[str, Any]


@dataclass(frozen=True)
class Engine:
    id: str
    layers: Path | None  # --exportLayerInfo / inspector graph JSON
    profile: Path | None  # --exportProfile JSON

    def files(self) -> list[Path]:
        return [p for p in (self.layers, self.profile) if p is not None]

    def shown_profile(self) -> int:
        """The optimisation profile the figures are of: the one the profile's rows name (what
        ran), else 0."""
        if self.profile is None:
            return 0
        _, rows = _profile(self.profile)
        return _profile_index(str(rows[0]["name"])) if rows else 0

    def layer_list(self) -> list[Json]:
        """The layer list's layers of the profile shown."""
        assert self.layers is not None
        shown = self.shown_profile()
        return [layer for layer in _layer_info(self.layers) if _profile_index(str(layer["Name"])) == shown]

    def binding_names(self) -> list[str]:
        assert self.layers is not None
        shown = self.shown_profile()
        names: list[str] = json.loads(self.layers.read_text()).get("Bindings", [])
        return [name for name in names if _profile_index(name) == shown]


# An engine built with several optimisation profiles lists each one's layers, tensors and
# bindings, profile N > 0's named "X [profile N]" (TREx's parser.py, filter_profiles).
PROFILE_SUFFIX = re.compile(r" \[profile (\d+)\]$")


def _profile_index(name: str) -> int:
    m = PROFILE_SUFFIX.search(name)
    return int(m.group(1)) if m else 0


def _one(folder: Path, prefix: str) -> Path:
    (path,) = folder.glob(f"{prefix}*.json")
    return path


ALEXNET_PROFILE, ALEXNET_LAYERS = _one(CORPUS, "01_"), _one(CORPUS, "02_")
RESNET_FP16, RESNET_FP32 = _one(EXTRA, "65_"), _one(EXTRA, "66_")
FP16_PROFILE, FP32_PROFILE = _one(EXTRA, "83_"), _one(EXTRA, "84_")
TF_QAT_LAYERS, TF_QAT_PROFILE = _one(EXTRA, "85_"), _one(EXTRA, "86_")
QAT_LAYERS, QAT_PROFILE = _one(EXTRA, "67_"), _one(EXTRA, "68_")
BERT_A, BERT_B = CONSTRUCTED / "bert-attention-a-fused", CONSTRUCTED / "bert-attention-b-generic"
TWO_PROFILES = CONSTRUCTED / "resnet-fp16-two-profiles"

ENGINES = [
    Engine("alexnet-fp16", ALEXNET_LAYERS, ALEXNET_PROFILE),
    Engine("resnet50-fp16", RESNET_FP16, FP16_PROFILE),
    Engine("resnet50-fp32", RESNET_FP32, FP32_PROFILE),
    Engine("resnet50-qat", QAT_LAYERS, QAT_PROFILE),
    Engine("tf-resnet50-qat", TF_QAT_LAYERS, TF_QAT_PROFILE),
    Engine("bert-a-fused", BERT_A / "layers.json", BERT_A / "profile.json"),
    Engine("bert-b-generic", BERT_B / "layers.json", BERT_B / "profile.json"),
    # two optimisation profiles; the profile timed profile 1
    Engine("resnet50-fp16-two-profiles", TWO_PROFILES / "layers.json", TWO_PROFILES / "profile.json"),
    # each profile alone: names and times, no types
    Engine("alexnet-profile-only", None, ALEXNET_PROFILE),
    Engine("resnet50-qat-profile-only", None, QAT_PROFILE),
    Engine("resnet50-fp16-profile-only", None, FP16_PROFILE),
    Engine("bert-a-profile-only", None, BERT_A / "profile.json"),
    Engine("bert-b-profile-only", None, BERT_B / "profile.json"),
]
# fuzz/ holds fuzzer artifacts (malformed profiles), not engines
NOT_ENGINES = ("fuzz",)

# trt-agent rounds ratios and shares to 6 decimals
ROUNDED = 5e-7 + 1e-12


# -- reading the JSON ----------------------------------------------------------------------------


def _profile(path: Path) -> tuple[int, list[Json]]:
    """(count, the layer records) of an --exportProfile file: ``[{"count": N}, {"name": …}, …]``."""
    records = json.loads(path.read_text())
    (count,) = [r["count"] for r in records if "count" in r]
    return int(count), [r for r in records if "name" in r]


def _layer_info(path: Path) -> list[Json]:
    layers: list[Json] = json.loads(path.read_text())["Layers"]
    assert all(isinstance(layer, dict) for layer in layers), "built without detailed verbosity"
    return layers


# -- precision: docs and trt_agent/model/precision.py's docstring -----------------------------------

CONVERSION_TYPES = {"reformat", "myelinreformat", "quantize", "dequantize"}
CONVERSION_ORIGINS = {"QDQ", "REFORMAT"}
MATMUL_WORDS = ("conv", "gemm", "matrixmultiply", "matmul", "fullyconnected")
# TensorRT's data type names for the codes kernel names use (TF32 is how FP32 runs: Float)
KERNEL_CODES = {
    "tf32": "Float",
    "f32": "Float",
    "fp32": "Float",
    "f16": "Half",
    "fp16": "Half",
    "bf16": "BFloat16",
    "i8": "Int8",
    "int8": "Int8",
    "i32": "Int32",
    "int32": "Int32",
}
SIGNATURE = re.compile(r"(?:tf32|bf16|fp32|fp16|int32|int8|f32|f16|i32|i8)")
CUDNN_LETTER = {"h": "Half", "s": "Float", "i": "Int8"}


def _codes(token: str) -> list[str] | None:
    """``f16f16`` -> [f16, f16]; ``FP16FP32NHWC`` -> [fp16, fp32]; a token not made of codes -> None."""
    body = re.sub(r"(nchw|nhwc)$", "", token.lower())
    codes = SIGNATURE.findall(body)
    return codes if codes and "".join(codes) == body else None


def _tactic_precision(tactic: str | None) -> str | None:
    """The operand type an XMMA/CUTLASS signature ``<in><out>_<math><acc>`` or a cuDNN letter says."""
    if not tactic:
        return None
    tokens = tactic.split("_")
    for i, token in enumerate(tokens):
        first = _codes(token)
        if first is None:
            continue
        second = _codes(tokens[i + 1]) if i + 1 < len(tokens) else None
        if second is not None and len(first) == len(second) == 2:
            return KERNEL_CODES[second[0]]  # the math type
        return KERNEL_CODES[first[0]]
    for token in tokens:
        m = re.fullmatch(r"([hsi])\d*(?:cudnn|gemm)|([hi])mma", token)
        if m:
            return CUDNN_LETTER[m.group(1) or m.group(2)]
    return None


def _tensor_type(tensor: Json) -> str | None:
    """TensorRT's type of a ``Format/Datatype``: 'Row major linear FP32' -> Float, 'Half' -> Half."""
    text = tensor.get("Format/Datatype", "")
    for word, name in (
        ("BFloat16", "BFloat16"),
        ("BF16", "BFloat16"),
        ("FP32", "Float"),
        ("Float", "Float"),
        ("FP16", "Half"),
        ("Half", "Half"),
        ("Int8", "Int8"),
        ("INT8", "Int8"),
        ("Int32", "Int32"),
        ("INT32", "Int32"),
        ("FP8", "FP8"),
    ):
        if re.search(rf"\b{word}\b", text):
            return name
    return None


def _math_precision(layer: Json) -> tuple[str | None, str]:
    """(math precision, evidence): conversion, tactic, input (conv/gemm), output, unknown."""
    kind = str(layer.get("LayerType", "")).lower()
    if kind in CONVERSION_TYPES or layer.get("Origin") in CONVERSION_ORIGINS:
        return None, "conversion"
    tactic = _tactic_precision(layer.get("TacticName"))
    if tactic is not None:
        return tactic, "tactic"
    inputs, outputs = layer.get("Inputs") or [], layer.get("Outputs") or []
    if any(word in kind for word in MATMUL_WORDS) and inputs and _tensor_type(inputs[0]):
        return _tensor_type(inputs[0]), "input"
    if outputs and _tensor_type(outputs[0]):
        return _tensor_type(outputs[0]), "output"
    return None, "unknown"


def _output_precision(layer: Json) -> str | None:
    outputs = layer.get("Outputs") or []
    return _tensor_type(outputs[0]) if outputs else None


BITS = {"Float": 32, "Half": 16, "BFloat16": 16, "FP8": 8, "Int8": 8, "Int32": 32}
VECTOR_WORDS = {"Four": 4, "Eight": 8, "Sixteen": 16, "Thirty-two": 32}


def _tensor_bytes(tensor: Json) -> int:
    """A tensor's bytes: its dimensions, the channel (second) one rounded up to the vector of its
    format ("channel % 8 == 0", "Thirty-two wide channel vectorized"), times its type's size."""
    dims = list(tensor["Dimensions"])
    fmt = tensor["Format/Datatype"]
    modulo = re.search(r"channel % (\d+) == 0", fmt)
    words = re.search(r"(\S+) wide channel vectorized", fmt)
    vector = int(modulo.group(1)) if modulo else VECTOR_WORDS[words.group(1)] if words else 1
    if len(dims) >= 2:
        dims[1] = (dims[1] + vector - 1) // vector * vector
    elements = 1
    for d in dims:
        elements *= d
    type_ = _tensor_type(tensor)
    assert type_ is not None, tensor
    return elements * BITS[type_] // 8


def _count_bytes(weights: Json) -> int:
    """``{"Type": "Half", "Count": 23232}``: the bytes of a layer's Weights or Bias."""
    return int(weights["Count"]) * BITS[_tensor_type({"Format/Datatype": weights["Type"]}) or ""] // 8


# -- layers: which run a kernel, what they fused ----------------------------------------------------


def _is_reformat_copy(name: str) -> bool:
    return name.startswith("Reformatting CopyNode for ") or name.endswith(" copy")


def _is_compute(name: str, layer_type: str | None) -> bool:
    """Runs a kernel: not NoOp/Constant/signal/wait, not a reformat copy TensorRT inserted."""
    if (layer_type or "").lower() in {"noop", "constant", "signal", "wait"}:
        return False
    return not _is_reformat_copy(name)


def _is_myelin_kernel(name: str) -> bool:
    """A kernel Myelin generated: its name says nothing of what it fused."""
    return name.startswith(("__myl_", "__mye")) or re.search(r"_myl\d+_\d+$", name) is not None


def _is_first_last_region(name: str) -> bool:
    return name.startswith("{ForeignNode[") and "..." in name


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split on ``sep`` outside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _named_layers(name: str) -> list[str]:
    """The source layers an engine layer's name lists: ``A + B``, ``A || B``, ``PWN(A, PWN(B, C))``,
    ``{ForeignNode[first...last]}``; weights and biases (``conv1.weight``, ``fc.bias``) are no layers."""
    if _is_reformat_copy(name) or _is_myelin_kernel(name):
        return []
    if name.startswith("{ForeignNode[") and name.endswith("]}"):
        return [p for p in name[len("{ForeignNode[") : -2].split("...") if p]
    out: list[str] = []
    for horizontal in _split_top(name, " || "):
        for part in _split_top(horizontal, " + "):
            part = part.strip()
            if part.startswith("PWN(") and part.endswith(")"):
                out += [q for piece in _split_top(part[4:-1], ", ") for q in _named_layers(piece.strip())]
            elif not part.endswith((".weight", ".bias")):
                out.append(part)
    return list(dict.fromkeys(out))


def _metadata_layers(layer: Json) -> list[str]:
    """The ``[ONNX Layer: …]`` names of an inspector layer's Metadata (separated by \\x1e or \\x1f)."""
    metadata = layer.get("Metadata") or ""
    return re.findall(r"\[ONNX Layer: (.+?)\](?=[\x1e\x1f]|$)", metadata)


# -- the figures -----------------------------------------------------------------------------------


def _idle(profile: tuple[int, list[Json]] | None) -> set[str]:
    """The layers a profile row of 0 ms names: they ran no kernel (trtexec's --dumpProfile table
    leaves such rows out)."""
    return {str(r["name"]) for r in profile[1] if float(r["timeMs"]) == 0} if profile else set()


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def expected_figures(engine: Engine) -> Json:
    """Every figure of ``engine`` from its raw JSON."""
    figures: Json = {}
    layer_info = engine.layer_list() if engine.layers else None
    profile = _profile(engine.profile) if engine.profile else None

    # engine layers: (name, LayerType or None) in plan order
    layers: list[tuple[str, str | None]]
    if layer_info is not None:
        layers = [(str(layer["Name"]), str(layer.get("LayerType"))) for layer in layer_info]
        if profile is not None:  # the same engine: the profile names the same layers, in order
            assert [r["name"] for r in profile[1]] == [n for n, _t in layers], engine.id
    else:
        assert profile is not None
        layers = [(str(r["name"]), None) for r in profile[1]]
    idle = _idle(profile)
    compute = [(n, t) for n, t in layers if _is_compute(n, t) and n not in idle]
    figures["layers"] = {"engine": len(layers), "compute": len(compute)}

    # source layers: Metadata's [ONNX Layer: …] where the inspector writes it, else the names
    with_metadata = layer_info is not None and any(_metadata_layers(layer) for layer in layer_info)
    if with_metadata:
        assert layer_info is not None
        sources_of = {str(layer["Name"]): _metadata_layers(layer) for layer in layer_info}
    else:
        sources_of = {n: _named_layers(n) for n, _t in layers}
    source_layers = {s for n, _t in layers for s in sources_of[n]}
    figures["layers"]["source"] = len(source_layers)

    # fusion: judged from Metadata for every layer, else from names (Myelin kernels not judged)
    judged = [n for n, _t in compute if with_metadata or not _is_myelin_kernel(n)]
    fused = [n for n in judged if len(sources_of[n]) >= 2]
    opaque_unknown = not with_metadata and any(
        _is_myelin_kernel(n) or _is_first_last_region(n) for n, _t in compute
    )
    absorbed = {s for n in fused for s in sources_of[n]}
    figures["fusion_coverage"] = (
        None if opaque_unknown or not source_layers else (len(absorbed), len(source_layers))
    )
    figures["unfused_kernel_ratio"] = (len(judged) - len(fused), len(judged), len(compute) - len(judged))

    # precision of each compute layer by the math it runs in
    if layer_info is not None:
        by_name = {str(layer["Name"]): layer for layer in layer_info}
        precisions = {n: _math_precision(by_name[n]) for n, _t in compute}
        outputs = {n: _output_precision(by_name[n]) for n, _t in compute}
    else:
        precisions = {n: (None, "unknown") for n, _t in compute}
        outputs = {n: None for n, _t in compute}
    figures["precision_of"] = precisions
    figures["output_precision_of"] = outputs
    mix: dict[str, int] = {}
    for p, evidence in precisions.values():
        key = p if p is not None else evidence  # "conversion" or "unknown"
        mix[key] = mix.get(key, 0) + 1
    figures["precisions"] = mix
    known = [p for p, _e in precisions.values() if p is not None]
    unknown = sum(1 for _p, e in precisions.values() if e == "unknown")
    figures["int8_coverage"] = (sum(1 for p in known if p == "Int8"), len(known), unknown)

    # per layer type (every engine layer, compute or not): how many, how many the profile timed,
    # their time per inference (timeMs / count) summed, its share, the precisions they compute in
    by_type: dict[str | None, Json] = {}
    per_inference = {str(r["name"]): float(r["timeMs"]) / profile[0] for r in profile[1]} if profile else {}
    whole = sum(per_inference.values())
    if layer_info is not None:
        typed = [
            (str(layer["Name"]), str(layer["LayerType"]), _math_precision(layer)) for layer in layer_info
        ]
    else:
        typed = [(n, None, (None, "unknown")) for n, _t in layers]
    for name, layer_type, (math, evidence) in typed:
        row = by_type.setdefault(
            layer_type, {"type": layer_type, "count": 0, "timed": 0, "ms": None, "precisions": {}}
        )
        row["count"] += 1
        key = math or evidence  # the precision it computes in, else "conversion" or "unknown"
        row["precisions"][key] = row["precisions"].get(key, 0) + 1
        if name in per_inference:
            row["timed"] += 1
            row["ms"] = (row["ms"] or 0.0) + per_inference[name]
    for row in by_type.values():
        row["share"] = row["ms"] / whole if row["ms"] is not None and whole else None
    figures["by_layer_type"] = by_type

    # memory per layer: weights (Weights, Bias and the constants it reads: inputs no layer
    # produces and no binding feeds) and activations (its outputs), channel padding included
    if layer_info is not None:
        produced = {t["Name"] for layer in layer_info for t in layer.get("Outputs", [])}
        bindings = set(engine.binding_names())
        memory = []
        for layer in layer_info:
            weights = sum(_count_bytes(layer[key]) for key in ("Weights", "Bias") if key in layer)
            weights += sum(
                _tensor_bytes(t) for t in layer.get("Inputs", []) if t["Name"] not in produced | bindings
            )
            memory.append(
                (str(layer["Name"]), weights, sum(_tensor_bytes(t) for t in layer.get("Outputs", [])))
            )
        figures["memory_by_layer"] = memory

    # bindings: each name of "Bindings", with the shape and type of the tensor of that name
    # (a layer's output: an output binding; else a layer's input: an input binding)
    if engine.layers is not None:
        listed = engine.layer_list()
        outputs = {t["Name"]: t for layer in listed for t in layer.get("Outputs", [])}
        inputs = {t["Name"]: t for layer in listed[::-1] for t in layer.get("Inputs", [])}
        figures["bindings"] = [
            (name, "output" if name in outputs else "input", (outputs.get(name) or inputs[name])["Dimensions"],
             _tensor_type(outputs.get(name) or inputs[name]))
            for name in engine.binding_names()
        ]  # fmt: skip

    # times: timeMs, trtexec's own basis for "percentage"
    if profile is not None:
        count, rows = profile
        total = sum(float(r["timeMs"]) for r in rows)
        figures["time_per_inference_ms"] = total / count
        figures["shares"] = {r["name"]: float(r["timeMs"]) / total for r in rows}
        figures["trtexec_percentage"] = {r["name"]: float(r["percentage"]) for r in rows}
        figures["rows"] = {r["name"]: r for r in rows}
        # slowest first; equal times keep the profile's (execution) order
        figures["top10"] = [r["name"] for r in sorted(rows, key=lambda r: -float(r["timeMs"]))][:10]
    return figures


# -- comparing with `report --json` ---------------------------------------------------------------


def _report(engine: Engine) -> Json:
    result = trt_agent("report", "--json", "--engine", engine.id, *engine.files())
    assert result.returncode == 0, result.stderr
    (got,) = json.loads(result.stdout)["engines"]
    assert got["engine"] == engine.id
    return got  # type: ignore[no-any-return]


def _close(a: float | None, b: float | None, tolerance: float = ROUNDED) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance


def compare(engine: Engine, want: Json, got: Json) -> list[str]:
    """Each difference as '<engine>: <figure>: raw JSON says X, report --json says Y'."""
    diffs: list[str] = []

    def differ(figure: str, expected: object, actual: object) -> None:
        diffs.append(f"{engine.id}: {figure}: from the raw JSON {expected!r}, report --json {actual!r}")

    for key, value in want["layers"].items():
        if got["layers"][key] != value:
            differ(f"layers.{key}", value, got["layers"][key])

    fc = got["fusion_coverage"]
    if want["fusion_coverage"] is None:
        if fc["ratio"] is not None or not fc["reason"]:
            differ("fusion coverage", "n/a with a reason", fc)
    else:
        n, d = want["fusion_coverage"]
        if (fc["numerator"], fc["denominator"]) != (n, d) or not _close(fc["ratio"], n / d):
            differ(
                "fusion coverage",
                f"{n}/{d} = {n / d:.6f}",
                f"{fc['numerator']}/{fc['denominator']} = {fc['ratio']}",
            )
        if fc["opaque_layers"] != 0:
            differ("fusion coverage opaque layers", 0, fc["opaque_layers"])

    uk = got["unfused_kernel_ratio"]
    n, d, x = want["unfused_kernel_ratio"]
    if (uk["numerator"], uk["denominator"], uk["excluded"]) != (n, d, x) or not _close(
        uk["ratio"], _ratio(n, d)
    ):
        differ(
            "unfused-kernel ratio (unfused/judged, not judged)",
            (n, d, x, _ratio(n, d)),
            (uk["numerator"], uk["denominator"], uk["excluded"], uk["ratio"]),
        )

    ic = got["int8_coverage"]
    n, d, x = want["int8_coverage"]
    if (ic["numerator"], ic["denominator"], ic["excluded"]) != (n, d, x) or not _close(
        ic["ratio"], _ratio(n, d)
    ):
        differ(
            "INT8 coverage (Int8/known, unknown)",
            (n, d, x, _ratio(n, d)),
            (ic["numerator"], ic["denominator"], ic["excluded"], ic["ratio"]),
        )
    if d == 0 and not ic["reason"]:
        differ("INT8 coverage n/a reason", "a reason", ic["reason"])

    if got["precisions"] != want["precisions"]:
        differ("precision mix (math precision of the compute layers)", want["precisions"], got["precisions"])

    if engine.layers is not None:
        listed = {row["layer"]: row for row in got["layer_precisions"]}
        if set(listed) != set(want["precision_of"]):
            differ("layer_precisions: the compute layers", sorted(want["precision_of"]), sorted(listed))
        for name, (math, evidence) in want["precision_of"].items():
            row = listed.get(name)
            if row is None:
                continue
            if (row["math_precision"], row["evidence"]) != (math, evidence):
                differ(
                    f"math precision of {name!r} (precision, evidence)",
                    (math, evidence),
                    (row["math_precision"], row["evidence"]),
                )

    types = {row["type"]: row for row in got["by_layer_type"]}
    if set(types) != set(want["by_layer_type"]):
        differ("by_layer_type: the types", sorted(map(str, want["by_layer_type"])), sorted(map(str, types)))
    for layer_type, expected in want["by_layer_type"].items():
        row = types.get(layer_type)
        if row is None:
            continue
        for key in ("count", "timed", "precisions"):
            if row[key] != expected[key]:
                differ(f"by_layer_type {layer_type!r} {key}", expected[key], row[key])
        for key, tolerance in (("ms", 1e-6), ("share", ROUNDED)):
            if not _close(row[key], expected[key], tolerance):
                differ(f"by_layer_type {layer_type!r} {key}", expected[key], row[key])
    shares = [row["share"] for row in got["by_layer_type"] if row["share"] is not None]
    if engine.profile is not None and abs(sum(shares) - 1.0) > len(shares) * ROUNDED:
        differ("by_layer_type shares sum", 1.0, sum(shares))
    listed = [row["ms"] for row in got["by_layer_type"] if row["ms"] is not None]
    if listed != sorted(listed, reverse=True):
        differ("by_layer_type order (slowest first)", sorted(listed, reverse=True), listed)

    bindings = [(b["name"], b["direction"], b["shape"], b["precision"]) for b in got["bindings"]]
    if bindings != want.get("bindings", []):
        differ("bindings (name, direction, shape, precision)", want.get("bindings", []), bindings)

    if "memory_by_layer" in want:
        rows = [(r["layer"], r["weights_bytes"], r["activation_bytes"]) for r in got["memory_by_layer"] or []]
        if rows != want["memory_by_layer"]:
            differ("memory_by_layer (layer, weights, activations)", want["memory_by_layer"], rows)
        totals = {
            "weights_bytes": sum(w for _n, w, _a in want["memory_by_layer"]),
            "activation_bytes": sum(a for _n, _w, a in want["memory_by_layer"]),
        }
        if got["layer_memory_totals"] != totals:
            differ("layer_memory_totals", totals, got["layer_memory_totals"])
    elif got["memory_by_layer"] is not None or got["layer_memory_totals"] is not None:
        differ("memory_by_layer without a layer list", None, got["memory_by_layer"])

    if engine.profile is None:
        if got["time_per_inference"] is not None or got["slowest_layers"]:
            differ("times", "none (no profile)", (got["time_per_inference"], got["slowest_layers"]))
        return diffs

    per = got["time_per_inference"]
    if not _close(per["sum_of_layers_ms"], want["time_per_inference_ms"]) or per["partial"]:
        differ("time per inference (Σ timeMs / count, ms)", want["time_per_inference_ms"], per)
    ranked = [row["layer"] for row in got["slowest_layers"]]
    if ranked != want["top10"]:
        differ("top-10 by timeMs", want["top10"], ranked)
    for row in got["slowest_layers"]:
        name = row["layer"]
        raw = want["rows"][name]
        if not _close(row["share"], want["shares"][name]):
            differ(f"share of {name!r} (timeMs / Σ timeMs)", want["shares"][name], row["share"])
        if row["total_ms"] != raw["timeMs"] or not _close(row["avg_ms"], raw["averageMs"]):
            differ(
                f"times of {name!r} (timeMs, averageMs)",
                (raw["timeMs"], raw["averageMs"]),
                (row["total_ms"], row["avg_ms"]),
            )
        math, evidence = want["precision_of"].get(name, (None, "not a compute layer"))
        if name in want["precision_of"] and (row["math_precision"], row["precision_evidence"]) != (
            math,
            evidence,
        ):
            differ(
                f"top-10 math precision of {name!r}",
                (math, evidence),
                (row["math_precision"], row["precision_evidence"]),
            )
        if (
            name in want["output_precision_of"]
            and row["output_precision"] != want["output_precision_of"][name]
        ):
            differ(
                f"top-10 output precision of {name!r}",
                want["output_precision_of"][name],
                row["output_precision"],
            )
    return diffs


# -- the tests -------------------------------------------------------------------------------------


def test_every_json_artifact_in_tests_data_is_an_engine_here() -> None:
    covered = {p.resolve() for e in ENGINES for p in e.files()}
    found = {
        p.resolve()
        for p in DATA.rglob("*.json")
        if not any(part in NOT_ENGINES for part in p.relative_to(DATA).parts)
    }
    assert found - covered == set(), "JSON artifacts no engine here reads"


def test_shares_are_trtexecs_percentage() -> None:
    """timeMs / Σ timeMs reproduces the percentage trtexec wrote (6 significant digits), and
    averageMs × count reproduces timeMs to the same rounding: the share rests on trtexec's own basis."""
    for path in (
        ALEXNET_PROFILE,
        QAT_PROFILE,
        FP16_PROFILE,
        FP32_PROFILE,
        BERT_A / "profile.json",
        BERT_B / "profile.json",
    ):
        count, rows = _profile(path)
        total = sum(r["timeMs"] for r in rows)
        for r in rows:
            assert abs(r["timeMs"] / total * 100 - r["percentage"]) <= 1e-5 * max(1.0, r["percentage"]), (
                path.name,
                r,
            )
            assert abs(r["averageMs"] * count - r["timeMs"]) <= 1e-5 * r["timeMs"] + 1e-12, (path.name, r)


@pytest.mark.parametrize(
    "engine",
    [pytest.param(e, id=e.id) for e in ENGINES],
)
def test_report_json_gives_the_figures_of_the_raw_json(engine: Engine) -> None:
    want = expected_figures(engine)
    diffs = compare(engine, want, _report(engine))
    assert not diffs, "\n".join(diffs)


# The figures themselves, as computed above from the JSON (the numbers the issue quotes).
EXPECTED: dict[str, dict[str, Any]] = {
    "alexnet-fp16": {
        "fusion": (14, 19),
        "unfused": (6, 13, 0),
        "int8": (0, 12, 1),
        "precisions": {"Half": 12, "unknown": 1},
        "ms": 0.5500488,
    },
    "resnet50-fp16": {
        "fusion": (42, 49),
        "unfused": (6, 23, 0),
        "int8": (0, 23, 0),
        "precisions": {"Half": 23},
        "ms": 1.016832,
    },
    "resnet50-fp32": {
        "fusion": (42, 49),
        "unfused": (6, 23, 0),
        "int8": (0, 23, 0),
        "precisions": {"Float": 23},
        "ms": 2.123776,
    },
    "resnet50-qat": {
        "fusion": (62, 67),
        "unfused": (4, 25, 0),
        "int8": (21, 22, 0),
        "precisions": {"conversion": 3, "Int8": 21, "Float": 1},
        "ms": 0.731136,
    },
    "tf-resnet50-qat": {
        "fusion": (200, 208),
        "unfused": (7, 61, 0),
        "int8": (58, 60, 0),
        "precisions": {"Float": 2, "conversion": 1, "Int8": 58},
        "ms": 2.380608,
    },
    "bert-a-fused": {
        "fusion": (18, 18),
        "unfused": (0, 2, 0),
        "int8": (0, 2, 0),
        "precisions": {"Half": 2},
        "ms": 0.0793,
    },
    "bert-b-generic": {
        "fusion": (15, 18),
        "unfused": (3, 10, 0),
        "int8": (0, 10, 0),
        "precisions": {"Half": 9, "Float": 1},
        "ms": 0.1469,
    },
    "alexnet-profile-only": {
        "fusion": None,
        "unfused": (3, 8, 5),
        "int8": (0, 0, 13),
        "precisions": {"unknown": 13},
        "ms": 0.5500488,
    },
    "resnet50-fp16-two-profiles": {  # profile 1: ResNet FP16's figures, a quarter of its time
        "fusion": (42, 49),
        "unfused": (6, 23, 0),
        "int8": (0, 23, 0),
        "precisions": {"Half": 23},
        "ms": 0.254208,
    },
    "resnet50-fp16-profile-only": {
        "fusion": (42, 49),
        "unfused": (6, 23, 0),
        "int8": (0, 0, 23),
        "precisions": {"unknown": 23},
        "ms": 1.016832,
    },
    "resnet50-qat-profile-only": {
        "fusion": (62, 67),
        "unfused": (4, 25, 0),
        "int8": (0, 0, 25),
        "precisions": {"unknown": 25},
        "ms": 0.731136,
    },
    "bert-a-profile-only": {
        "fusion": None,
        "unfused": (0, 2, 0),
        "int8": (0, 0, 2),
        "precisions": {"unknown": 2},
        "ms": 0.0793,
    },
    "bert-b-profile-only": {
        "fusion": (15, 18),
        "unfused": (3, 10, 0),
        "int8": (0, 0, 10),
        "precisions": {"unknown": 10},
        "ms": 0.1469,
    },
}


@pytest.mark.parametrize("engine", ENGINES, ids=[e.id for e in ENGINES])
def test_the_independent_computation_gives_the_documented_numbers(engine: Engine) -> None:
    """The hand computation itself pinned: AlexNet's worked example in docs/commands.md
    (14/19, 6/13, 0/12) and the QAT ResNet's 21/22 of issue 16."""
    want, pinned = expected_figures(engine), EXPECTED[engine.id]
    assert want["fusion_coverage"] == pinned["fusion"]
    assert want["unfused_kernel_ratio"] == pinned["unfused"]
    assert want["int8_coverage"] == pinned["int8"]
    assert want["precisions"] == pinned["precisions"]
    ms = want.get("time_per_inference_ms")
    assert (ms is None) == (pinned["ms"] is None)
    if ms is not None:
        assert abs(ms - pinned["ms"]) < 1e-6


@pytest.mark.parametrize("engine", [pytest.param(e, id=e.id) for e in ENGINES])
def test_report_text_shows_the_layer_type_table_of_report_json(engine: Engine) -> None:
    """The ``layer type`` table of ``report`` says what ``by_layer_type`` says, row by row."""
    result = trt_agent("report", "--engine", engine.id, *engine.files())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if engine.layers is None:  # no layer list: no type to show (never one guessed from a name)
        assert not any(line.startswith("layer type") for line in lines)
        return
    start = next(i for i, line in enumerate(lines) if line.startswith("layer type"))
    rows = lines[start + 1 : start + 1 + len(_report(engine)["by_layer_type"])]
    for line, row in zip(rows, _report(engine)["by_layer_type"], strict=True):
        label = row["type"] or "n/a (no layer list)"
        assert line.startswith(label[:27]), (line, row)
        columns = line[28:].split()
        assert [int(columns[0]), int(columns[1])] == [row["count"], row["timed"]], line
        assert columns[2] == (f"{row['ms']:.4f}" if row["ms"] is not None else "-"), line
        assert columns[3] == (f"{row['share'] * 100:.1f}%" if row["share"] is not None else "-"), line
        assert " ".join(columns[4:]) == ", ".join(f"{k} {v}" for k, v in row["precisions"].items()), line


def test_alexnet_weights_include_the_myelin_gemm_constants() -> None:
    """TREx counts only ``Weights``/``Bias`` as weights: AlexNet FP16's 5 convolutions, 4.7 MiB,
    against a 117 MiB engine. TensorRT 10's Myelin GEMMs read their weights as constant inputs
    (``__mye583_dconst`` [9216, 4096] Half...): with them the layers hold 116.5 MiB."""
    layers = _layer_info(ALEXNET_LAYERS)
    trex_weights = sum(_count_bytes(layer[k]) for layer in layers for k in ("Weights", "Bias") if k in layer)
    assert round(trex_weights / 2**20, 1) == 4.7
    got = _report(Engine("alexnet", ALEXNET_LAYERS, ALEXNET_PROFILE))
    assert got["layer_memory_totals"]["weights_bytes"] == 122_201_704  # 116.5 MiB
    gemms = [row for row in got["memory_by_layer"] if row["layer"].startswith("/classifier/")]
    # 9216x4096, 4096x4096 and 4096x1000 Half matrices, with their biases and alpha/beta scalars
    assert [row["weights_bytes"] // 2**20 for row in gemms] == [72, 32, 7]


# -- the lints: each check's verdict and offenders, from the raw JSON -------------------------------

TENSOR_CORE_PRECISIONS = {"Half", "BFloat16", "Int8", "FP8"}
CHANNEL_MULTIPLE = {"Half": 8, "BFloat16": 8, "Int8": 16, "FP8": 16}
MMA = re.compile(
    r"tensor\d+x\d+x\d+|(?:^|_)(?:[hi]\d{3,5}|[hsib]\d{3,5}(?:cudnn|gemm))(?:_|$)|hmma|imma|tensorop|gmma"
)
CUDA_CORES = re.compile(r"(?:^|_)(?:gemvx?|[sd]gemm|[sd]cudnn)(?:_|$)")
Verdict = tuple[str, list[str]]  # (status, the offending layers)


def _on_tensor_cores(kernel: str | None) -> bool | None:
    """Tensor cores as the kernel's name says: an MMA shape or instruction; CUDA cores for
    GEMV, sgemm, scudnn; an XMMA convolution/GEMM on sm70+ in a 16/8-bit or TF32 type."""
    if not kernel:
        return None
    if MMA.search(kernel):
        return True
    if CUDA_CORES.search(kernel):
        return False
    xmma = re.match(r"sm(\d+)_xmma_(?:fprop|dgrad|wgrad|gemm)_(.*)", kernel)
    if xmma:
        if int(xmma.group(1)) < 70:
            return False
        return True if re.search(r"(?:^|_)(?:f16|bf16|i8|tf32)", xmma.group(2)) else None
    return None


def _verdict(judged: list[tuple[str, bool]]) -> Verdict:
    """skip when nothing was judged, else fail naming the layers judged not ok, else pass."""
    if not judged:
        return "skip", []
    bad = [name for name, ok in judged if not ok]
    return ("fail" if bad else "pass"), bad


def _ran(engine: Engine) -> list[Json]:
    """The compute layers of the engine's layer list that ran (not a 0 ms profile row)."""
    assert engine.layers is not None
    idle = _idle(_profile(engine.profile) if engine.profile else None)
    return [
        layer
        for layer in engine.layer_list()
        if _is_compute(str(layer["Name"]), str(layer.get("LayerType", ""))) and str(layer["Name"]) not in idle
    ]


def _multiplies(layer: Json) -> bool:
    return any(word in str(layer.get("LayerType", "")).lower() for word in MATMUL_WORDS)


def expected_tensor_core_lint(engine: Engine) -> Verdict:
    """tensor_cores: convolutions/GEMMs in a tensor-core precision whose kernel is on CUDA cores."""
    if engine.layers is None:
        return "skip", []
    judged = []
    for layer in _ran(engine):
        if _multiplies(layer) and _math_precision(layer)[0] in TENSOR_CORE_PRECISIONS:
            on = _on_tensor_cores(layer.get("TacticName"))
            if on is not None:
                judged.append((str(layer["Name"]), on))
    return _verdict(judged)


def expected_int8_float_output(engine: Engine) -> Verdict:
    """int8_float_output: INT8-math convolutions/GEMMs writing a float type."""
    if engine.layers is None:
        return "skip", []
    return _verdict(
        [
            (str(layer["Name"]), _output_precision(layer) not in ("Float", "Half", "BFloat16"))
            for layer in _ran(engine)
            if _multiplies(layer)
            and _math_precision(layer)[0] == "Int8"
            and _output_precision(layer) is not None
        ]
    )


def expected_qdq_unfused(engine: Engine) -> Verdict:
    """qdq_unfused: Q/DQ layers left in the engine (Origin QDQ); skipped without any Origin."""
    if engine.layers is None:
        return "skip", []
    layers = engine.layer_list()
    if not any("Origin" in layer for layer in layers):
        return "skip", []
    return _verdict([(str(layer["Name"]), layer.get("Origin") != "QDQ") for layer in layers])


def expected_channel_alignment(engine: Engine) -> Verdict:
    """channel_alignment: FP16/BF16 convolutions whose first input's or output's C (4-D NCHW)
    is not a multiple of 8, INT8/FP8 ones of 16."""
    if engine.layers is None:
        return "skip", []
    judged = []
    for layer in _ran(engine):
        math = _math_precision(layer)[0]
        if "conv" not in str(layer.get("LayerType", "")).lower() or math not in CHANNEL_MULTIPLE:
            continue
        inputs, outputs = layer.get("Inputs") or [], layer.get("Outputs") or []
        if (
            not inputs
            or not outputs
            or len(inputs[0]["Dimensions"]) != 4
            or len(outputs[0]["Dimensions"]) != 4
        ):
            continue
        c, k = inputs[0]["Dimensions"][1], outputs[0]["Dimensions"][1]
        judged.append(
            (str(layer["Name"]), c % CHANNEL_MULTIPLE[math] == 0 and k % CHANNEL_MULTIPLE[math] == 0)
        )
    return _verdict(judged)


def expected_reformat_conversions(engine: Engine) -> Verdict:
    """reformat_conversions: Reformat layers (not Q/DQ) whose first input's type differs from
    their first output's."""
    if engine.layers is None:
        return "skip", []
    judged = []
    for layer in engine.layer_list():
        if layer.get("Origin") == "QDQ":
            continue
        if str(layer.get("LayerType", "")).lower() != "reformat" and layer.get("Origin") != "REFORMAT":
            continue
        inputs, outputs = layer.get("Inputs") or [], layer.get("Outputs") or []
        if not inputs or not outputs or _tensor_type(inputs[0]) is None or _tensor_type(outputs[0]) is None:
            continue
        judged.append((str(layer["Name"]), _tensor_type(inputs[0]) == _tensor_type(outputs[0])))
    return _verdict(judged)


def expected_slice_copies(engine: Engine) -> Verdict:
    """slice_copies: every Slice or Padding compute layer that ran (each copies a tensor) among
    the layers whose type the list gives; skipped when it gives none."""
    if engine.layers is None:
        return "skip", []
    return _verdict(
        [
            (str(layer["Name"]), layer["LayerType"] not in ("Slice", "Padding"))
            for layer in _ran(engine)
            if "LayerType" in layer
        ]
    )


LINTS = {
    "tensor_cores": expected_tensor_core_lint,
    "int8_float_output": expected_int8_float_output,
    "qdq_unfused": expected_qdq_unfused,
    "slice_copies": expected_slice_copies,
    "channel_alignment": expected_channel_alignment,
    "reformat_conversions": expected_reformat_conversions,
}


@pytest.mark.parametrize("engine", [pytest.param(e, id=e.id) for e in ENGINES])
@pytest.mark.parametrize("check", list(LINTS))
def test_each_lint_gives_the_verdict_of_the_raw_json(engine: Engine, check: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(f'[[rule]]\nname = "{check}"\ncheck = "{check}"\n')
    result = trt_agent("check", "--rules", rules, "--format", "json", "--engine", engine.id, *engine.files())
    assert result.returncode in (0, 1), result.stderr
    (got,) = json.loads(result.stdout)["results"]
    status, bad = LINTS[check](engine)
    assert got["status"] == status, (engine.id, got["message"])
    assert [offender.rsplit(" (", 1)[0] for offender in got["offenders"]] == bad, got["offenders"]


def test_the_resnet_fp16_h16816cudnn_convolutions_run_on_tensor_cores() -> None:
    """TREx 0.2.1 reads ``ampere_h16816cudnn_*`` kernels as "not accelerated"; h16816 is the
    Ampere FP16 tensor-core MMA shape (16x8x16)."""
    layers = _layer_info(RESNET_FP16)
    cudnn = [layer for layer in layers if "h16816cudnn" in str(layer.get("TacticName"))]
    assert len(cudnn) == 7
    assert expected_tensor_core_lint(Engine("resnet50-fp16", RESNET_FP16, None)) == ("pass", [])


def test_the_resnet_fp16_reformats_converting_types_are_the_two_trex_names() -> None:
    """TREx's ReformatLinter names two: FP32 -> FP16 at the input, FP16 -> FP32 at the output."""
    status, bad = expected_reformat_conversions(Engine("resnet50-fp16", RESNET_FP16, None))
    assert status == "fail" and len(bad) == 2


def test_the_qat_resnet_lints_name_what_trex_names() -> None:
    """TREx 0.2.1 on the same QAT ResNet-50: "Quantized Convolution has float outputs" on
    layer4.1.conv2 (and trt-agent also names the last fc, which writes the float logits), and the
    three Q/DQ reformats as type conversions."""
    qat = Engine("resnet50-qat", QAT_LAYERS, QAT_PROFILE)
    status, bad = expected_int8_float_output(qat)
    assert status == "fail" and bad[0].startswith("layer4.1.conv2.weight") and bad[1].startswith("fc.weight")
    assert expected_qdq_unfused(qat) == (
        "fail",
        ["QuantizeLinear_2", "DequantizeLinear_291", "QuantizeLinear_298"],
    )


@pytest.mark.parametrize("engine", [pytest.param(e, id=e.id) for e in ENGINES])
def test_optimization_profiles_are_counted_from_the_layer_names(engine: Engine) -> None:
    """``optimization_profiles``: the highest ``[profile N]`` of the layer list + 1, the layers of
    each, and the profile the figures are of (the one the profile timed); null without a list."""
    got = _report(engine)["optimization_profiles"]
    if engine.layers is None:
        assert got is None
        return
    per_profile = Counter(_profile_index(str(layer["Name"])) for layer in _layer_info(engine.layers))
    count = max(per_profile) + 1
    assert got == {
        "count": count,
        "shown": engine.shown_profile(),
        "layers": {str(p): per_profile.get(p, 0) for p in range(count)},
    }
    if engine.id == "resnet50-fp16-two-profiles":
        assert got == {"count": 2, "shown": 1, "layers": {"0": 36, "1": 36}}
