"""The TensorRT message grammar: one rule per message family, each turning a message into facts.

A rule is a literal ``needle`` (a cheap ``in`` test that gates the regex), a compiled regex and a
handler that returns ``(event_type, fields)`` pairs. Rules are tried in order; the first whose
regex matches wins. Messages here are what follows the header (see ``prefix.py``), so a rule
works on every dialect alike.

The families and real examples of each are listed in the README ("What the parser recognises");
the tests run every rule on real TensorRT text from ``tests/data``.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from trt_agent.parse.prefix import trt_error
from trt_agent.parse.search import re2
from trt_agent.vocab.names import decompose, normalize_precision

Fact = tuple[str, dict[str, Any]]
# (one way to split a run of digits: "\d+\.?\d*" had a quadratic number on a long one)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_MIB = 1024 * 1024
_UNIT_BYTES: Final = {
    "b": 1,
    "bytes": 1,
    "kib": 1024,
    "kb": 1024,
    "mib": _MIB,
    "mb": _MIB,
    "gib": 1024 * _MIB,
    "gb": 1024 * _MIB,
}


def _no_lines(count: int) -> list[str]:
    return []


@dataclass
class ParserState:
    """What a message family needs from earlier lines of the same file.

    ``preceding(n)`` returns up to ``n`` lines before the current one, nearest last. It is only
    called by the rare messages that need context, so the many lines in between are never parsed.
    """

    plugin_search: tuple[str, str] | None = None
    # The op the ONNX parser last tried to import as a plugin ("No importer registered for op: X"),
    # and the plugin it last could not find ("getPluginCreator could not find plugin X version 1").
    plugin_op: str | None = None
    plugin_missing: tuple[str, str | None] | None = None
    # The TensorRT an application was built against ("Linked TensorRT version: 8.4.3", TF-TRT),
    # until it says which it loaded.
    linked_tensorrt: str | None = None
    preceding: Callable[[int], list[str]] = _no_lines


@dataclass(frozen=True, slots=True)
class MessageRule:
    """One message family.

    ``starts`` are regexes for the words a message of the family starts with (for a family whose
    messages start with a name, such as a layer's, the words that follow the name), written in the
    syntax Python's ``re`` and RE2 share: no lookaround, no backreferences. They are the one
    vocabulary of the log reader: its prefilter is built from them, and a message behind an
    application's prefix that the header parser does not know is looked for where one of them
    matches. A rule without them would never see its lines, so they are required.
    """

    name: str
    needle: str
    regex: re.Pattern[str]
    handle: Callable[[re.Match[str], ParserState], list[Fact]]
    starts: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.starts:
            raise ValueError(f"rule {self.name!r} declares no starting words")


_INT64: Final = 1 << 63


def to_bytes(value: str, unit: str) -> int:
    """``"117.087", "MiB"`` -> bytes (``±2**63`` for a size no 64-bit counter holds, inf and nan too)."""
    size = float(value) * _UNIT_BYTES[unit.lower()]
    if not math.isfinite(size) or abs(size) >= _INT64:
        return _INT64 if size > 0 else -_INT64 - 1  # beyond 64 bits: _int64 drops the fact
    return round(size)


def _int64(facts: list[Fact], *values: int) -> list[Fact]:
    """``facts``, or none when a number in them is beyond 64 bits (no real count or size is;
    the sinks and the JSON readers could not hold it)."""
    return facts if all(-_INT64 <= v < _INT64 for v in values) else []


def trt_version_from_tag(tag: str) -> str:
    """``8601`` -> ``8.6.1``; ``100400`` -> ``10.4.0`` (the ``[TensorRT vNNNN]`` and cache tags).
    A tag too short to split (no real one is) is returned as it is."""
    if len(tag) >= 6:
        return f"{int(tag[:-4])}.{int(tag[-4:-2])}.{int(tag[-2:])}"
    if len(tag) >= 3:
        return f"{int(tag[0])}.{int(tag[1])}.{int(tag[2:])}"
    return tag


def hex_scale(text: str) -> float:
    """A calibration-cache scale: big-endian IEEE float32 written as 8 hex digits."""
    value: float = struct.unpack(">f", bytes.fromhex(text.rjust(8, "0")))[0]
    return value


# --- handlers -----------------------------------------------------------------------------------


def _fusion(m: re.Match[str], _: ParserState) -> list[Fact]:
    kind = m.group("kind") or "Fusion"
    left, right = m.group("a"), m.group("b")
    result = f"PWN({left}, {right})" if kind == "PointWiseFusion" else f"{left} + {right}"
    layers = list(dict.fromkeys(decompose(left).sources + decompose(right).sources))
    return [("fusion", {"kind": kind, "layers": layers, "result": result})]


def _scale_fusion(m: re.Match[str], _: ParserState) -> list[Fact]:
    conv, scale = m.group(1), m.group(2)
    return [("fusion", {"kind": "ConvScaleFusion", "layers": [conv, scale], "result": f"{conv} + {scale}"})]


_RUNNING = re.compile(r"Running: (\w+) on (.+)$")
# How far back "Removing X" looks for the "Running: Pass on X" that names the pass removing it
# (TensorRT prints it one or two lines before).
RUNNING_LOOKBACK: Final = 3


def _removing(m: re.Match[str], state: ParserState) -> list[Fact]:
    target = m.group(1)
    kind = "Removal"
    for line in reversed(state.preceding(RUNNING_LOOKBACK)):
        running = _RUNNING.search(line)
        if running is not None:
            if target.startswith(running.group(2)):
                kind = running.group(1)
            break
    return [("fusion", {"kind": kind, "layers": list(decompose(target).sources), "result": None})]


def _eliminating(m: re.Match[str], _: ParserState) -> list[Fact]:
    what, target = m.group(1), m.group(2)
    kind = what[:1].upper() + what[1:] + "Elimination"
    return [("fusion", {"kind": kind, "layers": list(decompose(target).sources), "result": None})]


def _stage_slug(stage: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", stage.lower()).strip("_")


def _layer_count(m: re.Match[str], _: ParserState) -> list[Fact]:
    count = int(m.group(2))
    return _int64([("layer_count", {"stage": _stage_slug(m.group(1)), "count": count})], count)


def _source_layer(m: re.Match[str], _: ParserState) -> list[Fact]:
    if m.group(2) == "Constant":
        return []
    return [("source_layer", {"name": m.group(1), "op": m.group(2)})]


# A tensor's type: "(Half[1,64,128,150])" (TensorRT >= 8.4) or "name[Half(1,64,128,150)]"
# (8.0-8.3). The first on each side of " -> " is the layer's input and output type. Dimensions
# are digits, "," ":" and "-" (as in ``_V8_TENSOR`` below): a hostile line stays linear.
_TENSOR_TYPE = re.compile(r"\((\w+)\[[-\d,:]*\]\)|\[(\w+)\([-\d,:]*\)\]")


def _first_type(side: str) -> str | None:
    t = _TENSOR_TYPE.search(side)
    return normalize_precision(t.group(1) or t.group(2)) if t else None


def _layer_v8(m: re.Match[str], _: ParserState) -> list[Fact]:
    name = m.group("name")
    io = m.group("io")
    inputs, arrow, outputs = io.partition(" -> ")
    if not arrow:  # no inputs: "-> out (...)"
        inputs, outputs = "", io.removeprefix("-> ")
    fields: dict[str, Any] = {
        "name": name,
        "layer_type": m.group("type"),
        "precision": _first_type(outputs),
        "tactic": m.group("tactic"),
        "sources": list(decompose(name).sources),
    }
    input_precision = _first_type(inputs)
    if input_precision is not None:
        fields["input_precision"] = input_precision
    fields.update(_v8_tensor_names(inputs, outputs))
    return [("layer", fields)]


def _v8_tensor_names(inputs: str, outputs: str) -> dict[str, list[str]]:
    """``inputs``/``outputs`` of an 8.x layer line (``a (Half[1,40]), b (Int8[…]) -> c (Half[1])``),
    each side only when all of it parses."""
    fields: dict[str, list[str]] = {}
    for key, side in (("inputs", inputs), ("outputs", outputs)):
        names = []
        pos = 0
        while pos < len(side):
            t = _V8_TENSOR.match(side, pos)
            if t is None:
                break
            names.append(t.group(1))
            pos = t.end()
        if pos >= len(side):
            fields[key] = names
    return fields


_FORMAT = re.compile(r"Format/Datatype: ([^},]+)")
_TACTIC_VALUE = re.compile(r"TacticValue: (\S+?),")
_TACTIC_NAME = re.compile(r"TacticName: ([^\s,]+)(?:,|$)")
_TACTIC_ID = re.compile(r"0x[0-9a-fA-F]+|\d+")  # a tactic id where a name was expected
_ONNX_LAYER = re.compile(r"\[ONNX Layer: ([^\]\x1e\x1f]+)\]")


def layer_fields(
    name: str,
    layer_type: str | None,
    output_format: str | None,
    tactic: str | None,
    metadata: str | None,
    input_format: str | None = None,
    tactic_name: str | None = None,
) -> dict[str, Any]:
    """The ``layer`` event fields, shared by the text and JSON layer listings. ``input_format``
    and ``output_format`` are the first input's and output's Format/Datatype; ``tactic`` the
    tactic's id, ``tactic_name`` its kernel name (TensorRT >= 8.6 ``TacticName``, kept only
    when it is one: not empty, not a bare id)."""
    listed = _ONNX_LAYER.findall(metadata) if metadata else []
    if listed:
        sources = list(dict.fromkeys(listed))
    elif metadata is not None and not metadata.strip():
        sources = []  # TensorRT >= 8.6 lists the source layers; an empty list means none (internal layer)
    else:
        sources = list(decompose(name).sources)
    fields: dict[str, Any] = {
        "name": name,
        "layer_type": layer_type,
        "precision": normalize_precision(output_format) if output_format else None,
        "tactic": tactic,
        "sources": sources,
    }
    input_precision = normalize_precision(input_format) if input_format else None
    if input_precision is not None:
        fields["input_precision"] = input_precision
    if tactic_name and not _TACTIC_ID.fullmatch(tactic_name):
        fields["tactic_name"] = tactic_name
    return fields


def _layer_v10(m: re.Match[str], _: ParserState) -> list[Fact]:
    rest = m.group("rest")
    outputs = rest.partition("Outputs: [")[2]
    inputs = rest.partition("Inputs: [")[2].partition("Outputs: [")[0]
    fmt = _FORMAT.search(outputs)
    in_fmt = _FORMAT.search(inputs)
    tactic = _TACTIC_VALUE.search(rest)
    tactic_name = _TACTIC_NAME.search(rest)
    metadata = rest.rpartition("Metadata: ")[2]
    return [
        (
            "layer",
            layer_fields(
                m.group("name"),
                m.group("type"),
                fmt.group(1).strip() if fmt else None,
                tactic.group(1) if tactic else None,
                metadata,
                in_fmt.group(1).strip() if in_fmt else None,
                tactic_name.group(1) if tactic_name else None,
            )
            | _v10_tensor_names(rest, inputs, outputs),
        )
    ]


def _v10_tensor_names(rest: str, inputs: str, outputs: str) -> dict[str, list[str]]:
    """``inputs``/``outputs`` of a 10.x layer line: the names in its ``Inputs: [...]`` and
    ``Outputs: [...]`` lists (the latter ends at `` }]``, other keys follow), when it has both
    whole (not a line cut short)."""
    listed, end, _ = outputs.partition(" }]")
    if "Inputs: [" not in rest or not (end or outputs.startswith("]")):
        return {}
    return {
        "inputs": [t.group(1) for t in _V10_TENSOR.finditer(inputs)],
        "outputs": [t.group(1) for t in _V10_TENSOR.finditer(listed)] if end else [],
    }


_LAYER_V8: Final = re.compile(
    r"^Layer\((?P<type>[^)]*)\): (?P<name>.+?), Tactic: (?P<tactic>\S+?), (?P<io>.*)$"
)
_LAYER_V10: Final = re.compile(r"^Name: (?P<name>.+?), LayerType: (?P<type>[^,]+), (?P<rest>.*)$")
# The input and output tensors a layer line lists: the layer event's ``inputs``/``outputs`` (the
# engine graph's edges), and the redactor must find them in the line: ``layer_name_spans``.
# 8.4+: "a (Half[1,40]), b (Int8[1,96:32,8,8]) -> c (Half[1])"; 8.0-8.3: "a[Half(1,40)] -> c[Half(1)]".
# Dimensions are only digits, "," ":" and "-", so no line, however hostile, takes quadratic time.
_V8_TENSOR = re.compile(r"(.+?)(?: \(\w+\[[-\d,:]*\]\)|\[\w+\([-\d,:]*\)\])(?:, |$)")
_V8_ARROW = re.compile(" -> ")
# 10.x: "Inputs: [ { Name: a, Location: Device, Dimensions: [..], ... }, { Name: b, ... }]"
# (a name never holds the next "{ Name: ", which keeps hostile lines linear too)
_V10_TENSOR = re.compile(r"\{ Name: ((?:[^{]|\{(?! Name: ))+?), (?:Location|Dimensions|Format/Datatype): ")
# A reformat's tensor is named after the layer it feeds or leaves: only that layer name is a name.
_REFORMATTED = re.compile(r"Reformatted (?:Input|Output) Tensor \d+ to ")


def layer_name_spans(text: str) -> list[tuple[int, int]]:
    """Where the layer name and the tensor names of a layer line (``text``, as in the event's
    ``msg``: the line, with or without its header) are, in order; [] for any other line.
    Anything this cannot split is left to the redactor's free-text scrubbing."""
    start = text.find("Layer(")
    m = _LAYER_V8.match(text[start:]) if start >= 0 else None
    if m is not None:
        io_start = start + m.start("io")
        spans = [(start + m.start("name"), start + m.end("name"))]
        arrow = _V8_ARROW.search(text, io_start - 1)  # io follows ", ": no inputs is "-> out"
        sides = (
            [(io_start, max(io_start, arrow.start())), (arrow.end(), len(text))]
            if arrow
            else [(io_start, len(text))]
        )
        for begin, end in sides:
            spans += _v8_tensors(text, begin, end)
        return spans
    start = text.find("Name: ")
    m = _LAYER_V10.match(text[start:]) if start >= 0 else None
    if m is None:
        return []
    spans = [(start + m.start("name"), start + m.end("name"))]
    for t in _V10_TENSOR.finditer(text, start + m.start("rest")):
        spans.append(_without_reformat_prefix(text, t.start(1), t.end(1)))
    return spans


def _v8_tensors(text: str, begin: int, end: int) -> list[tuple[int, int]]:
    """The tensor names of one side of an 8.x layer line's ``in -> out``, as long as it parses."""
    spans = []
    pos = begin
    while pos < end:
        t = _V8_TENSOR.match(text, pos, end)  # ("$" matches at end)
        if t is None:
            break
        spans.append(_without_reformat_prefix(text, t.start(1), t.end(1)))
        pos = t.end()
    return spans


def _without_reformat_prefix(text: str, start: int, end: int) -> tuple[int, int]:
    m = _REFORMATTED.match(text, start, end)
    return (m.end(), end) if m is not None and m.end() < end else (start, end)


def _memory(kind: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    """A memory fact: group 1 is the size, in bytes unless group 2 names a unit (MiB, GiB...)."""

    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        unit = m.group(2) if m.lastindex and m.lastindex >= 2 else None
        size = to_bytes(m.group(1), unit) if unit else int(m.group(1))
        return _int64([("memory", {"kind": kind, "bytes": size})], size)

    return handle


def _mem_usage_change(m: re.Match[str], state: ParserState) -> list[Fact]:
    phase = m.group("phase").strip()
    if m.group("gpu_now") == "0" and any(
        "Unable to determine GPU memory usage" in line for line in state.preceding(2)
    ):
        # CUDA failed to initialise: "GPU 0 (MiB)" is no measurement (tests/data/extra/82), and a
        # 0-byte fact would read as a real one.
        return []
    managed = phase.startswith("TensorRT-managed allocation")
    now, gpu, cpu = (int(m.group(g)) * _MIB for g in ("gpu_now", "gpu_delta", "cpu_delta"))
    fields = {
        "kind": "trt_managed_gpu" if managed else "process_gpu",
        "bytes": now,
        "phase": phase,
        "gpu_delta_bytes": gpu,
        "cpu_delta_bytes": cpu,
    }
    return _int64([("memory", fields)], now, gpu, cpu)


def _peak(m: re.Match[str], _: ParserState) -> list[Fact]:
    facts: list[Fact] = []
    for device, value, unit in re.findall(r"(CPU|GPU):? (" + _NUM + r") ?(MiB|GiB|KiB|bytes)", m.group(0)):
        size = to_bytes(value, unit)
        facts += _int64([("memory", {"kind": f"peak_{device.lower()}", "bytes": size})], size)
    return facts


def _version(component: str, group: int = 1) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        return [("version", {"component": component, "version": m.group(group)})]

    return handle


def _linked_or_loaded_tensorrt(m: re.Match[str], state: ParserState) -> list[Fact]:
    if m.group(1) == "Linked":
        state.linked_tensorrt = m.group(2)
        return []
    fields = {"component": "tensorrt", "version": m.group(2)}
    if state.linked_tensorrt is not None:
        fields["linked"] = state.linked_tensorrt
        state.linked_tensorrt = None
    return [("version", fields)]


def _run_failed(m: re.Match[str], _: ParserState) -> list[Fact]:
    facts: list[Fact] = [("error", {})]
    if m.group(1):
        facts.append(("version", {"component": "tensorrt", "version": trt_version_from_tag(m.group(1))}))
    return facts


def _trtllm_memory_budget(m: re.Match[str], _: ParserState) -> list[Fact]:
    total, available = to_bytes(m.group(1), m.group(2)), to_bytes(m.group(3), m.group(4))
    return _int64(
        [
            ("memory", {"kind": "gpu_total", "bytes": total}),
            ("memory", {"kind": "gpu_available", "bytes": available}),
        ],
        total,
        available,
    )


def _trt_tag(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("version", {"component": "tensorrt", "version": trt_version_from_tag(m.group(1))})]


_LIBRARY: Final = {"cudnn": "cudnn", "cublas": "cublas", "cublaslt": "cublas", "cuda": "cuda"}


def _linked_against(m: re.Match[str], _: ParserState) -> list[Fact]:
    library = m.group("lib").lower().split("/")[0].replace(" ", "")
    component = _LIBRARY.get(library, library)
    return [("version", {"component": component, "version": m.group("loaded"), "linked": m.group("linked")})]


_PERF_METRIC: Final = {
    "Latency": "latency_ms",
    "Host Latency": "latency_ms",
    "GPU Compute Time": "gpu_compute_ms",
    "GPU Compute": "gpu_compute_ms",
    "Enqueue Time": "enqueue_ms",
    "H2D Latency": "h2d_ms",
    "D2H Latency": "d2h_ms",
}
_STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\)) = (" + _NUM + r") ms")


def stat_name(word: str, percent: str | None) -> str:
    """``("percentile", "99")`` -> ``p99``; ``("p", "99.9")`` -> ``p99.9``; other words unchanged."""
    if not percent:
        return word
    return "p" + (percent.rstrip("0").rstrip(".") if "." in percent else percent)


def _perf_stats(m: re.Match[str], _: ParserState) -> list[Fact]:
    metric = _PERF_METRIC[m.group(1)]
    return [
        ("perf_summary", {"metric": metric, "stat": stat_name(word.split("(")[0], pct), "value": float(v)})
        for word, pct, v in _STAT.findall(m.group(2))
    ]


def _perf_single(metric: str, stat: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        return [("perf_summary", {"metric": metric, "stat": stat, "value": float(m.group(1))})]

    return handle


def _build_complete(stage: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        return [("build_complete", {"seconds": float(m.group(1)), "stage": stage})]

    return handle


def _plugin_search(m: re.Match[str], state: ParserState) -> list[Fact]:
    state.plugin_search = (m.group(1), m.group(2))
    return []


def _plugin_created(m: re.Match[str], state: ParserState) -> list[Fact]:
    plugin = m.group(1)
    version = state.plugin_search[1] if state.plugin_search and state.plugin_search[0] == plugin else None
    state.plugin_search = None
    return [("plugin", {"layer": None, "plugin": plugin, "version": version or None, "registered": True})]


def _plugin_missing(m: re.Match[str], state: ParserState) -> list[Fact]:
    plugin, version = m.group(1), m.group(2)
    fields: dict[str, Any] = {"layer": None, "plugin": plugin, "version": version, "registered": False}
    if state.plugin_op == plugin:  # "No importer registered for op: X" said which op wanted it
        fields["op"] = plugin
    state.plugin_missing = (plugin, version)
    state.plugin_op = None
    return [("plugin", fields)]


def _no_importer(m: re.Match[str], state: ParserState) -> list[Fact]:
    # "No importer registered for op: X. Attempting to import as plugin.": the ONNX parser looks
    # for a plugin named after the op. No decision yet: the plugin is found ("Successfully created
    # plugin") or not ("getPluginCreator could not find plugin") on a later line.
    state.plugin_op = m.group(1)
    return []


def _creator_registry(m: re.Match[str], _: ParserState) -> list[Fact]:
    # "Registered plugin creator - ::ROIAlign_TRT version 2" / "Could not register plugin creator -
    # ::X version 1": the plugin registry's creators, not plugins the network uses ("creator").
    fields = {
        "layer": None,
        "plugin": m.group("name"),
        "version": m.group("version"),
        "registered": m.group("refused") is None,
        "creator": True,
    }
    return [("plugin", fields)]


def _fallback_plugin_importer(m: re.Match[str], state: ParserState) -> list[Fact]:
    # TensorRT 10: "In node 11 with name: /x/GridSample and operator: GridSample3D
    # (checkFallbackPluginImporter): INVALID_NODE: creator && "Plugin not found, ...""; TensorRT 8:
    # "In node 848 (importFallbackPluginImporter): UNSUPPORTED_NODE: Assertion failed: creator &&
    # "Plugin not found, ..."", the plugin named by the "Searching for plugin: X" before it.
    op = m.group("op")
    search = state.plugin_search
    plugin = op or (search[0] if search else None)
    if plugin is None:
        return []
    version = search[1] if search and search[0] == plugin and search[1] else None
    state.plugin_search = None
    fields: dict[str, Any] = {"layer": m.group("name"), "plugin": plugin, "version": version}
    fields["registered"] = False
    fields["op"] = op or plugin
    return [("plugin", fields)]


def _while_parsing_node(m: re.Match[str], state: ParserState) -> list[Fact]:
    # "While parsing node number 343 [BatchedNMSCustomDynamic_TRT -> "num_detections"]:" follows any
    # node the ONNX parser failed on; it is a plugin failure when the plugin it could not find on
    # the line before is the node's op.
    op = m.group(1)
    missing = state.plugin_missing
    if missing is None or missing[0] != op:
        return []
    state.plugin_missing = None
    return [("plugin", {"layer": None, "plugin": op, "version": missing[1], "registered": False, "op": op})]


def _no_implementation(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("fallback", {"layer": m.group(1), "reason": "no_implementation"})]


def _skip_tactic(m: re.Match[str], _: ParserState) -> list[Fact]:
    cause = m.group(2)
    reason = (
        "myelin_error"
        if "Myelin" in cause
        else "tactic_exception"
        if cause == "exception"
        else "insufficient_memory"
    )
    # "Skipping tactic 1 due to ... detected for tactic 0x40a12e3938221818.": the first number is
    # the tactic's index in the layer's candidate list, the second its id.
    return [("fallback", {"layer": None, "reason": reason, "tactic": m.group(3) or m.group(1)})]


def _missing_scale(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [
        (
            "fallback",
            {
                "layer": m.group(1),
                "reason": "missing_int8_scale",
                "from_precision": "Int8",
                "to_precision": None,
            },
        )
    ]


def _dla_fallback(m: re.Match[str], _: ParserState) -> list[Fact]:
    # "Default DLA is enabled but layer X is not supported on DLA, ...": the name follows the
    # last "layer " (found with rfind: a regex for it backtracked quadratically on hostile lines)
    text = m.group(1)
    cut = max(text.rfind(" layer "), text.rfind(" Layer "))
    if cut >= 0:
        text = text[cut + len(" layer ") :]
    elif text.startswith(("layer ", "Layer ")):
        text = text[len("layer ") :]
    return [("fallback", {"layer": text, "reason": "dla_unsupported", "to_device": "GPU"})]


def _dla_fallback_named(reason: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        return [("fallback", {"layer": m.group("layer"), "reason": reason, "to_device": "GPU"})]

    return handle


def _precision_ignored(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("fallback", {"layer": m.group(1), "reason": "precision_constraint_ignored"})]


def _generic_fallback(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("fallback", {"layer": None, "reason": "fallback"})]


def _no_native(precision: str, reason: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        return [
            (
                "fallback",
                {"layer": None, "reason": reason, "from_precision": precision, "to_precision": "Float"},
            )
        ]

    return handle


def _dynamic_range(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("calibration", {"tensor": m.group(1), "min": float(m.group(2)), "max": float(m.group(3))})]


def _layer_precision(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [
        ("quantization", {"layer": m.group(1), "precision": normalize_precision(m.group(2)), "scale": None})
    ]


def _calibrator(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("version", {"component": "tensorrt", "version": trt_version_from_tag(m.group(1))})]


def _build_precisions(m: re.Match[str], _: ParserState) -> list[Fact]:
    words = re.split(r"[+,\s\[\]]+", m.group(1))
    found = [p for p in (normalize_precision(w) for w in words if w) if p is not None]
    if not found:
        return []
    return [("build_config", {"precisions": list(dict.fromkeys(found))})]


def _builder_flags(m: re.Match[str], _: ParserState) -> list[Fact]:
    """Polygraphy lists only the flags set; FP32 is always allowed, as trtexec's "FP32+..." says."""
    words = re.split(r"[,\s]+", m.group(1))
    found = [p for p in (normalize_precision(w) for w in words if w) if p is not None]
    return [("build_config", {"precisions": list(dict.fromkeys(["Float", *found]))})]


def _plan_version(m: re.Match[str], _: ParserState) -> list[Fact]:
    # "expecting library version 8.5.1.7 got 8.5.3.1": the runtime is 8.5.1.7, the plan was built
    # by 8.5.3.1 (a plan read in text mode on Windows says "got 0.0.0": NVIDIA/TensorRT#574).
    return [
        ("version", {"component": "tensorrt", "version": m.group(1)}),
        ("version", {"component": "tensorrt_plan", "version": m.group(2)}),
    ]


def _refused_plan(component: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    """A runtime refusing an engine plan: the error itself (with TensorRT's code and category where
    it printed them), then group 1, the running side's ``component``, and group 2, the plan's
    (``component`` + ``_plan``)."""

    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        error: dict[str, Any] = {}
        code = trt_error(m.string, None)
        if code is not None and code[0] is not None:
            error["code"] = code[0]
            if code[1]:
                error["category"] = code[1]
        return [
            ("error", error),
            ("version", {"component": component, "version": m.group(1)}),
            ("version", {"component": f"{component}_plan", "version": m.group(2)}),
        ]

    return handle


# "- 55 weights are affected by this issue: Detected subnormal FP16 values." and its sibling for
# values flushed to the smallest subnormal (TensorRT >= 8.6's summary of the FP16 weight casts).
_WEIGHT_ISSUES: Final = (
    ("less than smallest positive FP16 subnormal", "fp16_underflow_weights"),
    ("subnormal FP16 values", "subnormal_fp16_weights"),
)


def _affected_weights(m: re.Match[str], _: ParserState) -> list[Fact]:
    issue = m.group(2)
    reason = next((r for needle, r in _WEIGHT_ISSUES if needle in issue), None)
    if reason is None:
        return []
    count = int(m.group(1))
    fields = {
        "layer": None,
        "reason": reason,
        "from_precision": "Float",
        "to_precision": "Half",
        "count": count,
    }
    return _int64([("fallback", fields)], count)


def _tactic_device_request(m: re.Match[str], _: ParserState) -> list[Fact]:
    request, available = to_bytes(m.group(1), m.group(2)), to_bytes(m.group(3), m.group(4))
    return _int64(
        [
            ("memory", {"kind": "tactic_device_request", "bytes": request}),
            ("memory", {"kind": "tactic_device_available", "bytes": available}),
        ],
        request,
        available,
    )


def _fallback_reason(reason: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        return [("fallback", {"layer": None, "reason": reason})]

    return handle


def _placement(m: re.Match[str], _: ParserState) -> list[Fact]:
    # TensorRT 7/8.2 "[GpuLayer] Conv_132"; 8.4+ "[GpuLayer] CONVOLUTION: /model.0/conv/Conv + ...";
    # cuDLA's sample "[DlaLayer] {ForeignNode[...]},"
    fields: dict[str, Any] = {"layer": m.group("layer"), "device": m.group("device").upper()}
    if m.group("type"):
        fields["layer_type"] = m.group("type")
    return [("placement", fields)]


def _build_peak(m: re.Match[str], _: ParserState) -> list[Fact]:
    # TensorRT-LLM's build: "Build phase peak memory: 10421.96 MB, children: 6296.07 MB", the RSS of
    # the building process and of its children (MB there is MiB: rss / 1024 / 1024)
    facts: list[Fact] = []
    own = to_bytes(m.group(1), m.group(2))
    facts += _int64([("memory", {"kind": "peak_build_host", "bytes": own})], own)
    if m.group(3):
        children = to_bytes(m.group(3), m.group(4))
        facts += _int64([("memory", {"kind": "peak_build_host_children", "bytes": children})], children)
    return facts


def _timing_cache(action: str) -> Callable[[re.Match[str], ParserState], list[Fact]]:
    def handle(m: re.Match[str], _: ParserState) -> list[Fact]:
        entries = int(m.group(1))
        fields: dict[str, Any] = {"action": action, "entries": entries}
        hits = m.group(2) if m.lastindex and m.lastindex >= 2 else None
        if hits is not None:
            fields["hits"] = int(hits)
        return _int64([("timing_cache", fields)], entries, int(hits or 0))

    return handle


def _app_profile_row(m: re.Match[str], _: ParserState) -> list[Fact]:
    # TensorRT samples' profiler, printf("%-40.40s %4.3fms"): the name is cut at 40 characters
    return [("layer_time", {"layer": m.group(1).rstrip(), "ms": float(m.group(2))})]


def _paddle_profile_row(m: re.Match[str], _: ParserState) -> list[Fact]:
    # Paddle Inference's TensorRT profiler (tensorrt_util): "layer_name: X  total_used: 0.075 ms
    # avg_used: 0.075 ms  run_times: 1"
    runs = int(m.group(4))
    fields = {"layer": m.group(1), "ms": float(m.group(3)), "total_ms": float(m.group(2)), "iterations": runs}
    return _int64([("layer_time", fields)], runs)


# --- the article's own lines (its text lost some symbols: both forms are read) ------------------


def _article_fusion(m: re.Match[str], _: ParserState) -> list[Fact]:
    layers = [part for part in re.split(r"\s*\+\s*|\s+", m.group(1)) if part]
    return [("fusion", {"kind": "Fusion", "layers": list(dict.fromkeys(layers)), "result": m.group(2)})]


def _article_quantization(m: re.Match[str], _: ParserState) -> list[Fact]:
    fields: dict[str, Any] = {"layer": m.group(1), "precision": normalize_precision(m.group(2).upper())}
    fields["scale"] = float(m.group(3)) if m.group(3) else None
    return [("quantization", fields)]


def _article_plugin(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("plugin", {"layer": m.group(2), "plugin": m.group(1), "version": None, "registered": True})]


def _article_calibration(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("calibration", {"tensor": m.group(1), "min": float(m.group(2)), "max": float(m.group(3))})]


def _article_layer_time(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("layer_time", {"layer": m.group(1), "ms": float(m.group(2))})]


def _skipping_fusion(m: re.Match[str], _: ParserState) -> list[Fact]:
    cause = m.group(2).lower()
    reason = "unsupported_plugin" if "unsupported plugin" in cause else "fusion_skipped"
    return [("fallback", {"layer": m.group(1), "reason": reason})]


def _not_supported(m: re.Match[str], _: ParserState) -> list[Fact]:
    generic = m.group(2) is not None and "generic" in m.group(2)
    return [
        ("fallback", {"layer": m.group(1), "reason": "unsupported_generic" if generic else "unsupported"})
    ]


def _device(m: re.Match[str], _: ParserState) -> list[Fact]:
    return [("version", {"component": "device", "version": m.group(1).strip()})]


_MEM_UNIT = r"(" + _NUM + r") ?(MiB|GiB|KiB|MB|GB|bytes)"
# ... and the spellings applications use too ("538MB", "1.8 GB", "12 KB")
_MEM_UNIT_ANY = r"(" + _NUM + r") ?(MiB|GiB|KiB|MB|GB|KB|bytes|B)\b"


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


RULES: Final[tuple[MessageRule, ...]] = (
    # fusions and removals -----------------------------------------------------------------------
    MessageRule(
        "scale_fusion",
        "Fusing convolution weights",
        _r(r"^Fusing convolution weights from (.+?) with scale (.+)$"),
        _scale_fusion,
        starts=(r"Fusing convolution weights ",),
    ),
    MessageRule(
        "fusion",
        "Fusing ",
        _r(r"^(?:(?P<kind>[A-Z]\w*): )?Fusing (?P<a>.+?) with (?P<b>.+)$"),
        _fusion,
        starts=(
            r"Fusing ",
            r"[A-Z]\w*: Fusing ",
        ),
    ),
    MessageRule("removing", "Removing ", _r(r"^Removing (.+)$"), _removing, starts=(r"Removing ",)),
    MessageRule(
        "eliminating",
        "Eliminating ",
        _r(r"^Eliminating (\w+) (.+)$"),
        _eliminating,
        starts=(r"Eliminating ",),
    ),
    MessageRule(
        "layer_count",
        " layers",
        _r(r"^(Original|After [^:]+): (\d+) layers$"),
        _layer_count,
        starts=(
            r"Original: \d",
            r"After [^\n:]{1,60}: \d+ layers",
        ),
    ),
    MessageRule(
        "source_layer",
        "Parsing node: ",
        _r(r"^Parsing node: (.+) \[(\w+)\]$"),
        _source_layer,
        starts=(r"Parsing node: ",),
    ),
    # engine layers ------------------------------------------------------------------------------
    MessageRule("layer_v8", "Layer(", _LAYER_V8, _layer_v8, starts=(r"Layer\(",)),
    MessageRule("layer_v10", "LayerType: ", _LAYER_V10, _layer_v10, starts=(r"Name: [^\n]*?, LayerType: ",)),
    # memory -------------------------------------------------------------------------------------
    MessageRule(
        "mem_change",
        "[MemUsageChange]",
        _r(
            r"^\[MemUsageChange\] (?P<phase>[^:]+): CPU (?P<cpu_delta>[-+]?\d+), GPU (?P<gpu_delta>[-+]?\d+), "
            r"now: CPU (?P<cpu_now>\d+), GPU (?P<gpu_now>\d+) \(MiB\)"
        ),
        _mem_usage_change,
        starts=(r"\[MemUsageChange\] ",),
    ),
    MessageRule(
        "peak",
        "Peak memory usage",
        _r(r"Peak memory usage.*"),
        _peak,
        starts=(
            r"\[MemUsageStats\] Peak memory usage",
            r"Peak memory usage",
        ),
    ),
    MessageRule(
        "activation",
        "Total Activation Memory",
        _r(r"^Total Activation Memory: (\d+)"),
        _memory("activation"),
        starts=(r"Total Activation Memory: ",),
    ),
    MessageRule(
        "host_persistent",
        "Total Host Persistent Memory",
        _r(r"^Total Host Persistent Memory: (\d+)"),
        _memory("host_persistent"),
        starts=(r"Total Host Persistent Memory: ",),
    ),
    MessageRule(
        "device_persistent",
        "Total Device Persistent Memory",
        _r(r"^Total Device Persistent Memory: (\d+)"),
        _memory("device_persistent"),
        starts=(r"Total Device Persistent Memory: ",),
    ),
    MessageRule(
        "scratch",
        "Scratch Memory",
        _r(r"^(?:Total|Max) Scratch Memory: (\d+)"),
        _memory("scratch"),
        starts=(r"(?:Total|Max) Scratch Memory: ",),
    ),
    MessageRule(
        "weights",
        "Total Weights Memory",
        _r(r"^Total Weights Memory: (\d+)"),
        _memory("weights"),
        starts=(r"Total Weights Memory: ",),
    ),
    MessageRule(
        "runner_device",
        "per-runner device persistent",
        _r(r"^Total per-runner device persistent memory is (\d+)"),
        _memory("device_persistent"),
        starts=(r"Total per-runner device persistent memory is ",),
    ),
    MessageRule(
        "runner_host",
        "per-runner host persistent",
        _r(r"^Total per-runner host persistent memory is (\d+)"),
        _memory("host_persistent"),
        starts=(r"Total per-runner host persistent memory is ",),
    ),
    MessageRule(
        "activation_alloc",
        "Allocated activation",
        _r(r"^Allocated activation device memory of size (\d+)"),
        _memory("activation"),
        starts=(r"Allocated activation device memory of size ",),
    ),
    MessageRule(
        "engine_size",
        "engine size",
        _r(r"^Loaded engine size: " + _MEM_UNIT),
        _memory("engine_size"),
        starts=(r"Loaded engine size: ",),
    ),
    MessageRule(
        "engine_created",
        "Created engine with size",
        _r(r"^Created engine with size: " + _MEM_UNIT),
        _memory("engine_size"),
        starts=(r"Created engine with size: ",),
    ),
    MessageRule(
        "workspace",
        "workspace: ",
        _r(r"^Memory Pools: workspace: " + _MEM_UNIT),
        _memory("workspace_limit"),
        starts=(r"Memory Pools: workspace: ",),
    ),
    MessageRule(  # TensorRT-LLM: "Max tokens in paged KV cache: 117760. Allocating 54022635520 bytes."
        "trtllm_kv_cache_bytes",
        "in paged KV cache: ",
        _r(r"^Max tokens in paged KV cache: \d+\. Allocating (\d+) bytes"),
        _memory("kv_cache"),
        starts=(r"Max tokens in paged KV cache: ",),
    ),
    MessageRule(  # TensorRT-LLM: "Memory usage when calculating max tokens in paged kv cache:
        # total: 39.39 GiB, available: 21.89 GiB" (the GPU's memory and what was free for it)
        "trtllm_memory_budget",
        "Memory usage when calculating max tokens",
        _r(
            r"^Memory usage when calculating max tokens in paged kv cache: total: "
            + _MEM_UNIT
            + r", available: "
            + _MEM_UNIT
        ),
        _trtllm_memory_budget,
        starts=(r"Memory usage when calculating max tokens in paged kv cache: ",),
    ),
    MessageRule(
        "kv_cache",
        "k/v cache",
        _r(r"^Allocate (\d+) bytes for k/v cache"),
        _memory("kv_cache"),
        starts=(r"Allocate \d+ bytes for k/v cache",),
    ),
    # TensorRT-LLM's runtime (0.9+): "[MemUsageChange] Allocated 78.30 GiB for max tokens in paged KV
    # cache (3731744)." and "... Allocated 37812.51 MiB for execution context memory."
    MessageRule(
        "trtllm_kv_cache",
        "in paged KV cache",
        _r(r"^\[MemUsageChange\] Allocated " + _MEM_UNIT + r" for max tokens in paged KV cache"),
        _memory("kv_cache"),
        starts=(r"\[MemUsageChange\] Allocated ",),
    ),
    MessageRule(
        "trtllm_context_memory",
        "for execution context memory",
        _r(r"^\[MemUsageChange\] Allocated " + _MEM_UNIT + r" for execution context memory"),
        _memory("execution_context"),
        starts=(r"\[MemUsageChange\] Allocated ",),
    ),
    MessageRule(  # "Tactic Device request: 538MB Available: 166MB. Device memory is insufficient ..."
        "tactic_device_request",
        "Tactic Device request",
        _r(r"^Tactic Device request: " + _MEM_UNIT_ANY + r" Available: " + _MEM_UNIT_ANY),
        _tactic_device_request,
        starts=(r"Tactic Device request: ",),
    ),
    MessageRule(
        "trtllm_build_peak",
        "Build phase peak memory",
        _r(r"^Build phase peak memory: " + _MEM_UNIT_ANY + r"(?:, children: " + _MEM_UNIT_ANY + r")?"),
        _build_peak,
        starts=(r"Build phase peak memory: ",),
    ),
    MessageRule(  # TensorRT >= 8.6 when its builder goes: "Deleting timing cache: 174 entries, served 118 hits ..."
        "timing_cache_deleted",
        "Deleting timing cache",
        _r(r"^Deleting timing cache: (\d+) entries, served (\d+) hits"),
        _timing_cache("deleted"),
        starts=(r"Deleting timing cache: ",),
    ),
    MessageRule(  # TensorRT 10: "Serialized 12 timing cache entries"
        "timing_cache_serialized",
        "timing cache entries",
        _r(r"^Serialized (\d+) timing cache entries"),
        _timing_cache("serialized"),
        starts=(r"Serialized \d+ timing cache entries",),
    ),
    # versions -----------------------------------------------------------------------------------
    MessageRule(
        "trt_version",
        "TensorRT version",
        # jetson-inference: "TensorRT version 7.1.3"; the version ends the message (Paddle's
        # "Inspector needs TensorRT version 8.2 and after." is a requirement, not a version)
        _r(r"^TensorRT version:? (\d[\w.]*?)\.?\s*$"),
        _version("tensorrt"),
        starts=(r"TensorRT version:? \d",),
    ),
    MessageRule(  # TF-TRT: "Linked TensorRT version: 8.4.3" then "Loaded TensorRT version: 8.5.3"
        "linked_loaded_tensorrt",
        "TensorRT version: ",
        _r(r"^(Linked|Loaded) TensorRT version: (\d[\w.]*)\s*$"),
        _linked_or_loaded_tensorrt,
        starts=(r"(?:Linked|Loaded) TensorRT version: \d",),
    ),
    MessageRule(
        "plan_version",
        "engine plan file is not compatible",
        _r(
            r"engine plan file is not compatible with this version of TensorRT, expecting library version (\S+?) got (\S+?),"
        ),
        _plan_version,
        starts=(r"(?:\d+: )?[Tt]he engine plan file is not compatible",),
    ),
    MessageRule(  # "... Version tag does not match. Note: Current Version: 226, Serialized Engine Version: 228)"
        "serialization_version",
        "Serialized Engine Version",
        _r(r"Current Version: (\d+), Serialized Engine Version: (\d+)"),
        _refused_plan("serialization"),
        starts=(r"Current Version: \d+, Serialized Engine Version: ",),
    ),
    MessageRule(  # "The engine plan file is generated on an incompatible device, expecting compute 9.0 got compute 8.9"
        "compute_mismatch",
        "expecting compute",
        _r(r"expecting compute (\d+\.\d+) got compute (\d+\.\d+)"),
        _refused_plan("compute_capability"),
        starts=(
            r"(?:\d+: )?The engine plan file is generated on an incompatible device",
            r"expecting compute \d",
        ),
    ),
    MessageRule(  # Polygraphy --verbose: "Loaded Module: tensorrt | Version: 10.16.2.5 | Path: [...]"
        "polygraphy_module",
        "Loaded Module: tensorrt ",
        _r(r"^Loaded Module: tensorrt +\| Version: (\S+)"),
        _version("tensorrt"),
        starts=(r"Loaded Module: tensorrt ",),
    ),
    MessageRule(  # trtexec and the samples end a run that failed with "&&&& FAILED ..."
        "run_failed",
        "&&&& FAILED ",
        _r(r"^&&&& FAILED \S+(?: \[TensorRT v(\d{3,})\])?"),
        _run_failed,
        starts=(r"&&&& FAILED ",),
    ),
    MessageRule(
        "trt_tag",
        "[TensorRT v",
        _r(r"\[TensorRT v(\d{3,})\]"),
        _trt_tag,
        starts=(
            r"&&&& RUNNING ",
            r"\[TensorRT v\d{3,}\]",
        ),
    ),
    MessageRule(
        "trtllm_version",
        "TensorRT-LLM version",
        _r(r"TensorRT-LLM version: (\S+?)(?:\[|$)"),
        _version("tensorrt_llm"),
        starts=(r"TensorRT-LLM version: ",),
    ),
    MessageRule(
        "linked",
        "linked against",
        _r(
            r"^TensorRT was linked against (?P<lib>[\w/ ]+?) (?P<linked>\d[\w.]*) but loaded (?:[\w/ ]+?) (?P<loaded>\d[\w.]*)"
        ),
        _linked_against,
        starts=(r"TensorRT was linked against ",),
    ),
    MessageRule(
        "builder_resource",
        "libnvinfer_builder_resource",
        _r(r"^Loaded shared library libnvinfer_builder_resource\.so\.(\d+\.\d+\.\d+)"),
        _version("tensorrt"),
        starts=(r"Loaded shared library libnvinfer_builder_resource",),
    ),
    MessageRule(
        "cuda_version",
        "CUDA ",
        _r(r"^CUDA (?:Runtime |Driver )?[Vv]ersion:? (\S+)"),
        _version("cuda"),
        starts=(r"CUDA (?:Runtime |Driver )?[Vv]ersion",),
    ),
    MessageRule(
        "driver_version",
        "Driver",
        _r(r"^(?:CUDA )?Driver [Vv]ersion:? (\S+)"),
        _version("driver"),
        starts=(r"(?:CUDA )?Driver [Vv]ersion",),
    ),
    MessageRule(
        "cudnn_version",
        "cuDNN version",
        _r(r"^cuDNN version:? (\S+)"),
        _version("cudnn"),
        starts=(r"cuDNN version",),
    ),
    # what the build asked for, from trtexec's option dump ("Precision: FP32+INT8")
    MessageRule(
        "build_precision",
        "Precision: ",
        _r(r"^Precision: ([\w+]+)$"),
        _build_precisions,
        starts=(r"Precision: ",),
    ),
    # ... and from Polygraphy's configuration table ("Flags | [FP16, DISABLE_TIMING_CACHE]"), whose
    # rows reach the grammar from the CONFIG_TABLE_OPENER block
    MessageRule(
        "polygraphy_flags",
        "Flags",
        _r(r"^Flags +\| \[([^\]]*)\]$"),
        _builder_flags,
        starts=(r"Flags +\| \[",),
    ),
    MessageRule(
        "polygraphy_workspace",
        "WORKSPACE: ",
        _r(r"^Memory Pools +\| \[WORKSPACE: " + _MEM_UNIT),
        _memory("workspace_limit"),
        starts=(r"Memory Pools +\| \[WORKSPACE: ",),
    ),
    MessageRule(
        "device", "Selected Device: ", _r(r"^Selected Device: (.+)$"), _device, starts=(r"Selected Device: ",)
    ),
    MessageRule(
        "compute_capability",
        "Compute Capability: ",
        _r(r"^Compute Capability: (\S+)"),
        _version("compute_capability"),
        starts=(r"Compute Capability: ",),
    ),
    MessageRule(
        "calibrator",
        "Calibration Cache for calibrator",
        _r(r"calibrator: TRT-(\d+)-"),
        _calibrator,
        starts=(r"\w+ Calibration Cache for calibrator",),
    ),
    # performance --------------------------------------------------------------------------------
    MessageRule(
        "perf_stats",
        " = ",
        _r(r"^(Latency|GPU Compute Time|Enqueue Time|H2D Latency|D2H Latency): (.*ms.*)$"),
        _perf_stats,
        starts=(r"(?:Latency|GPU Compute Time|Enqueue Time|H2D Latency|D2H Latency): ",),
    ),
    MessageRule(
        "throughput",
        "Throughput: ",
        _r(r"^Throughput: (" + _NUM + r") qps"),
        _perf_single("throughput_qps", "mean"),
        starts=(r"Throughput: ",),
    ),
    MessageRule(
        "walltime",
        "Total Host Walltime",
        _r(r"^Total Host Walltime: (" + _NUM + r") s"),
        _perf_single("host_walltime_s", "total"),
        starts=(r"Total Host Walltime: ",),
    ),
    MessageRule(
        "gpu_total",
        "Total GPU Compute Time",
        _r(r"^Total GPU Compute Time: (" + _NUM + r") s"),
        _perf_single("gpu_compute_total_s", "total"),
        starts=(r"Total GPU Compute Time: ",),
    ),
    MessageRule(
        "build_done",
        "Engine generation completed",
        _r(r"^Engine generation completed in (" + _NUM + r") seconds"),
        _build_complete("engine_generation"),
        starts=(r"Engine generation completed in ",),
    ),
    MessageRule(
        "engine_built",
        "Engine built in",
        _r(r"^Engine built in (" + _NUM + r") sec"),
        _build_complete("trtexec_build"),
        starts=(r"Engine built in ",),
    ),
    MessageRule(
        "polygraphy_built",
        "Finished engine building in",
        _r(r"^Finished engine building in (" + _NUM + r") seconds"),
        _build_complete("polygraphy_build"),
        starts=(r"Finished engine building in ",),
    ),
    # plugins ------------------------------------------------------------------------------------
    MessageRule(
        "plugin_search",
        "Searching for plugin",
        _r(r"^Searching for plugin: ([^,]+), plugin_version: ([^,]*)"),
        _plugin_search,
        starts=(r"Searching for plugin: ",),
    ),
    MessageRule(
        "plugin_created",
        "Successfully created plugin",
        _r(r"^Successfully created plugin: (\S+)"),
        _plugin_created,
        starts=(r"Successfully created plugin: ",),
    ),
    MessageRule(
        "plugin_missing",
        "could not find plugin",
        _r(r"getPluginCreator could not find plugin:? (\S+) version:? ?(\S+)"),
        _plugin_missing,
        starts=(r"getPluginCreator could not find plugin",),
    ),
    MessageRule(
        "creator_registry",
        "plugin creator - ",
        _r(
            r'^(?:(?P<refused>Could not register)|Registered) plugin creator - +(?:[\w.]*::)?(?P<name>[^\s"]+)'
            r' version (?P<version>[\w.]+)"?$'
        ),
        _creator_registry,
        starts=(r"(?:Could not register|Registered) plugin creator - ",),
    ),
    MessageRule(
        "no_importer",
        "No importer registered for op",
        _r(r"^No importer registered for op: (\S+?)\. Attempting to import as plugin"),
        _no_importer,
        starts=(r"No importer registered for op: ",),
    ),
    MessageRule(  # the ONNX parser's plugin fallback failed (TensorRT 8: import..., 10: check...)
        "fallback_plugin_importer",
        "FallbackPluginImporter",
        _r(
            r"^In node \d+(?: with name: (?P<name>.+?) and operator: (?P<op>\S+))? "
            r'\((?:check|import)FallbackPluginImporter\): [A-Z_]+: (?:Assertion failed: )?creator && "?Plugin not found'
        ),
        _fallback_plugin_importer,
        starts=(r"In node \d+ ",),
    ),
    MessageRule(
        "while_parsing_node",
        "While parsing node number",
        _r(r"^While parsing node number \d+ \[([^\s\]]+) -> "),
        _while_parsing_node,
        starts=(r"While parsing node number \d+ \[",),
    ),
    MessageRule(  # the article: "[Plugin] Using kernel efficient_attention for node Attention_5"
        "article_plugin",
        "[Plugin] ",
        _r(r"^\[Plugin\] Using (?:kernel|plugin) (\S+) for (?:node|layer) (\S+?)\.?$"),
        _article_plugin,
        starts=(r"\[Plugin\] ",),
    ),
    # fallbacks ----------------------------------------------------------------------------------
    MessageRule(
        "no_impl",
        "Could not find any implementation",
        _r(r"Could not find any implementation for node (.+?)\.?\)?\.?$"),
        _no_implementation,
        starts=(r"Could not find any implementation for node ",),
    ),
    MessageRule(
        "skip_tactic",
        "Skipping tactic",
        _r(
            r"Skipping tactic (\S+) due to (insuf+icient memory|oom error|Myelin error|exception)"
            r"(?:.* detected for tactic (\w+))?"
        ),
        _skip_tactic,
        starts=(r"Skipping tactic ",),
    ),
    MessageRule(
        "missing_scale",
        "Missing scale",
        _r(r"Missing scale and zero-point for tensor (.+?), expect fall back"),
        _missing_scale,
        starts=(r"Missing scale and zero-point for tensor ",),
    ),
    MessageRule(
        "dla_fallback",
        "falling back to GPU",
        _r(
            r"^(.+?) (?:is not supported on DLA|cannot run on DLA|is not running on DLA)"
            r".*falling back to GPU"
        ),
        _dla_fallback,
        starts=(r"(?:is not supported on|cannot run on|is not running on) DLA",),
    ),
    MessageRule(  # TensorRT >= 8.4: "Layer 'X' (CONSTANT): Unsupported on DLA. Switching this layer's device type to GPU."
        "dla_switching",
        "Unsupported on DLA",
        _r(r"^Layer '(?P<layer>.+)' \(\w+\): Unsupported on DLA\. Switching"),
        _dla_fallback_named("dla_unsupported"),
        starts=(r"Layer '",),
    ),
    MessageRule(
        "dla_subgraphs",
        "subgraphs per DLA core",
        _r(r"^DLA supports only \d+ subgraphs per DLA core\. Switching to GPU for layer (?P<layer>.+)$"),
        _dla_fallback_named("dla_subgraph_limit"),
        starts=(r"DLA supports only \d+ subgraphs per DLA core",),
    ),
    MessageRule(  # a strongly-typed/strict build where TensorRT could not honour the requested precision
        "precision_ignored",
        "obeys the requested constraints",
        _r(r"^No implementation of layer (.+?) obeys the requested constraints"),
        _precision_ignored,
        starts=(r"No implementation of layer ",),
    ),
    MessageRule(
        "no_fp16",
        "without native FP16",
        _r(r"FP16 support requested on hardware without native FP16"),
        _no_native("Half", "no_native_fp16"),
        starts=(r"FP16 support requested on hardware without native FP16",),
    ),
    MessageRule(
        "no_int8",
        "without native INT8",
        _r(r"INT8 support requested on hardware without native INT8"),
        _no_native("Int8", "no_native_int8"),
        starts=(r"INT8 support requested on hardware without native INT8",),
    ),
    MessageRule(
        "no_tf32",
        "does not support TF32",
        _r(r"kTF32 is set but hardware does not support TF32"),
        _no_native("TF32", "no_tf32"),
        starts=(r"(?:BuilderFlag::)?kTF32 is set but hardware does not support TF32",),
    ),
    MessageRule(
        "affected_weights",
        "weights are affected by this issue",
        _r(r"^- (\d+) weights are affected by this issue: Detected (.+)$"),
        _affected_weights,
        starts=(r"- \d+ weights are affected by this issue",),
    ),
    MessageRule(
        "insufficient_workspace",
        "sufficient workspace memory",
        _r(r"^Some tactics do not have sufficient workspace memory"),
        _fallback_reason("insufficient_workspace"),
        starts=(r"Some tactics do not have sufficient workspace memory",),
    ),
    MessageRule(  # the article: "[WARNING] Skipping fusion for node CustomLayerNorm due to unsupported plugin."
        "skipping_fusion",
        "Skipping fusion for node",
        _r(r"^Skipping fusion for node (\S+) due to (.+?)\.?$"),
        _skipping_fusion,
        starts=(r"Skipping fusion for node ",),
    ),
    MessageRule(  # the article: "[Fallback] MultiHeadAttn not supported, using generic subgraph"
        "article_fallback",
        "[Fallback] ",
        _r(r"^\[Fallback\] (.+?) (?:is )?not supported(?:, using (.+?))?\.?$"),
        _not_supported,
        starts=(r"\[Fallback\] ",),
    ),
    MessageRule(
        "falling_back", "falling back", _r(r"falling back"), _generic_fallback, starts=(r"falling back",)
    ),
    # INT8 / calibration -------------------------------------------------------------------------
    MessageRule(
        "dynamic_range",
        "ynamic range",
        _r(
            r"[Dd]ynamic range (?:for|of) (?:tensor )?(\S+?):? (?:to |is |= )?\[?("
            + _NUM
            + r"), ?("
            + _NUM
            + r")\]?"
        ),
        _dynamic_range,
        starts=(r"[Dd]ynamic range (?:for|of) ",),
    ),
    MessageRule(  # the article: "[Calibration] Layer: output_head, dynamic range [-98.7, 102.4]"
        "article_calibration",
        "[Calibration] ",
        _r(
            r"^\[Calibration\] (?:Layer|Tensor): ([^,]+), dynamic range \[(" + _NUM + r"), ?(" + _NUM + r")\]"
        ),
        _article_calibration,
        starts=(r"\[Calibration\] ",),
    ),
    MessageRule(  # the article: "[Quantization] Activations of Gemm_4 quantized to INT8, scale=0.023"
        "article_quantization",
        "[Quantization] ",
        _r(
            r"^\[Quantization\] (?:(?:Activations|Weights|Inputs|Outputs) of )?(\S+?),? quantized to (\w+)"
            r"(?:,? scale ?[=:]? ?(" + _NUM + r"))?"
        ),
        _article_quantization,
        starts=(r"\[Quantization\] ",),
    ),
    # fusion, memory and profile lines of the article ---------------------------------------------
    MessageRule(  # "[Fusion] Conv_1 + Bias_2 + ReLU_3 -> fused_conv_bias_relu" (printed: "... ReLU_3 - fused...")
        "article_fusion",
        "[Fusion] ",
        _r(r"^\[Fusion\] (.+?) -+>? (\S+)$"),
        _article_fusion,
        starts=(r"\[Fusion\] ",),
    ),
    MessageRule(
        "article_memory",
        "[Memory] ",
        _r(r"^\[Memory\] Estimated peak GPU memory usage: " + _MEM_UNIT_ANY),
        _memory("peak_estimate"),
        starts=(r"\[Memory\] ",),
    ),
    MessageRule(
        "article_profile",
        "[Profile] ",
        _r(r"^\[Profile\] (.+?) took (" + _NUM + r") ?ms\.?$"),
        _article_layer_time,
        starts=(r"\[Profile\] ",),
    ),
    # placement ----------------------------------------------------------------------------------
    MessageRule(
        "placement",
        "Layer] ",
        _r(r"^\[(?P<device>Gpu|Dla)Layer\] (?:(?P<type>[A-Z][A-Z_]*): )?(?P<layer>.+?),?$"),
        _placement,
        starts=(r"\[(?:Gpu|Dla)Layer\] ",),
    ),
    # profiler output printed by applications ----------------------------------------------------
    MessageRule(  # TensorRT's samples and the programs built on them, after one inference call
        "inference_time",
        "Time taken for inference",
        _r(r"^Time taken for inference is (" + _NUM + r") ms\.?$"),
        _perf_single("inference_ms", "sample"),
        starts=(r"Time taken for inference is ",),
    ),
    MessageRule(
        "paddle_profile_row",
        "layer_name: ",
        _r(
            r"^layer_name: (.+?)\s+total_used:\s+(" + _NUM + r") ms\s+avg_used:\s+(" + _NUM + r") ms"
            r"\s+run_times:\s+(\d+)"
        ),
        _paddle_profile_row,
        starts=(r"layer_name: ",),
    ),
    MessageRule(  # printf("%-40.40s %4.3fms\n", name, ms): the name padded or cut to 40 characters
        "app_profile_row",
        "ms",
        _r(r"^(\S.{39}) (\d+\.\d{3})ms$"),
        _app_profile_row,
        starts=(r" \d+\.\d{3}ms",),
    ),
    MessageRule(
        "layer_precision",
        "precision",
        _r(r"^Set(?:ting)? (?:layer )?(.+?) precision to (\w+)"),
        _layer_precision,
        starts=(r"Set(?:ting)? (?:layer )?[^\n]*? precision to ",),
    ),
)

# A message that opens a block whose continuation lines carry no header.
LAYER_LIST_OPENERS: Final = ("Engine Layer Information:", "Layers:")
CONFIG_TABLE_OPENER: Final = "Building engine with configuration:"  # Polygraphy's "Key | value" rows
CONFIG_TABLE_ROW: Final = re.compile(r"^\s+\w[\w ]*\|")
PROFILE_HEADER = re.compile(r"^=== Profile \((\d+) iterations ?\) ===")
OLD_SUMMARY_HEADERS: Final = {
    "GPU Compute": "gpu_compute_ms",
    "Host Latency": "latency_ms",
    "Enqueue Time": "enqueue_ms",
}
OLD_SUMMARY_LINE = re.compile(
    r"^(min|max|mean|median|percentile|throughput|walltime|total compute time): ("
    + _NUM
    + r") ?(ms|s|qps)?(?: at (\d+(?:\.\d+)?)%)?"
)


# Where the messages that open a block (read in ``log.py``) start.
# TensorRT 5-7's placement summary: "--------------- Layers running on DLA:" and the layers on the
# following line(s), "{a,b}, {c}" (a DLA subgraph per braces) or "conv1, conv2" on the GPU.
PLACEMENT_LIST_OPENER = re.compile(r"^-+ Layers running on (DLA|GPU):\s*$")
BLOCK_STARTS: Final = (
    r"-+ Layers running on (?:DLA|GPU):",
    r"Engine Layer Information:",
    r"Layers:",
    r"Building engine with configuration:",
    r"=== Profile \(",
    r"GPU Compute",
    r"Host Latency",
    r"Enqueue Time",
)
# Every word a message the grammar reads can start with: the log reader's prefilter is built from
# these (and the severity words of ``prefix.py``), never from a list of its own.
MESSAGE_STARTS: Final = tuple(dict.fromkeys([*(s for rule in RULES for s in rule.starts), *BLOCK_STARTS]))
_START = re.compile("|".join(f"(?:{start})" for start in MESSAGE_STARTS))
# A message is looked for this far into a line (no application prefix is longer), and its
# starting words this far further.
MAX_PREFIX_CHARS: Final = 512
_MAX_START_CHARS: Final = MAX_PREFIX_CHARS + 256


# None without google-re2 (the pure-Python path, which tests/contract/test_native.py also runs).
_START_RE2: Any = (
    re2.compile("|".join(f"(?:{start})" for start in MESSAGE_STARTS)) if re2 is not None else None
)


def message_starts(text: str) -> list[int]:
    """Where a message the grammar may read could start in ``text`` (after position 0), in order."""
    head = text[:_MAX_START_CHARS]
    # RE2 tries every start at once (Python's re one after the other at each position); its
    # offsets are bytes, which are characters in ASCII text, as log prefixes nearly always are.
    regex = _START_RE2 if _START_RE2 is not None and head.isascii() else _START
    return [start for start in (m.start() for m in regex.finditer(head, 1)) if start < MAX_PREFIX_CHARS]


def _first_literal(rule: MessageRule) -> str | None:
    """The character every message this rule matches starts with, when its regex says so."""
    pattern = rule.regex.pattern
    if pattern.startswith("^") and len(pattern) > 1 and (pattern[1].isalnum() or pattern[1] in "=#-"):
        return pattern[1]
    if pattern.startswith("^\\") and len(pattern) > 2 and pattern[2] in "[({":  # an escaped bracket
        return pattern[2]
    return None


def _rules_by_first_char() -> dict[str, tuple[MessageRule, ...]]:
    firsts = {_first_literal(rule) for rule in RULES} - {None}
    return {c: tuple(r for r in RULES if _first_literal(r) in (None, c)) for c in firsts if c is not None}


# A message is tried only against the rules that can match it, in RULES order: those anchored on
# its first character, and the unanchored ones. Each rule's needle (a substring every message it
# matches holds) is looked for before its regex; one search for every unanchored needle first (an
# alternation of 26 literals in Python's re: ~1 us a message, ~4 us on a 200-character layer row)
# cost more than it saved, as most messages hold one of them (" = ", "ms") anyway.
_RULES_FOR: Final = _rules_by_first_char()
_UNANCHORED: Final = tuple(rule for rule in RULES if _first_literal(rule) is None)


def match_message(message: str, state: ParserState) -> tuple[bool, list[Fact]]:
    """Run the grammar on one message. Returns (a rule matched, facts)."""
    for rule in _RULES_FOR.get(message[:1], _UNANCHORED):
        if rule.needle in message:
            m = rule.regex.search(message)
            if m is not None:
                return True, rule.handle(m, state)
    return False, []
