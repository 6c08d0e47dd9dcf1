"""The event record every source produces and every sink reads, and the one home of what each
event type holds.

An event is a plain ``dict`` so it serialises with orjson at full speed and ships to JSONL
consumers unchanged. Its keys are the public contract (docs/reference/events.md is generated
from ``EVENT_SPECS``): ``type``, ``ts``, ``severity``, ``engine``, ``source``, ``msg`` and then
the keys of its type. Reading an event stream back validates against the specs
(``parse.event_stream``); redaction replaces the keys the specs mark as names and scrubs ``msg``
as the spec's ``msg`` policy says (``redact``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

Event = dict[str, Any]

# A key's type as the validator checks it (``bool`` is never taken for ``int``).
KeyType = type | tuple[type, ...]
NUMBER: Final = (int, float)
# A list of integers (a tensor's shape); a key of type ``list`` holds strings (names).
INT_LIST: Final = (list,)

# How redaction treats an event's ``msg``, by what its grammar rule pinned down:
#   nothing    the rule matched the whole message, which holds only numbers and fixed words;
#   paths      no layer name, but a file can be named (engine files, libraries): paths scrubbed;
#   one_name   the key ``names[0]`` is the only name in the message (ONNX nodes, profile rows);
#   fusion     its own names only ("Fusing A with B"), replaced longest first;
#   layer_line the layer and the tensors it reads and writes, found by the grammar and replaced
#              where they stand; the rest of the line goes through the learned-name automaton;
#   free_text  anything may be in it: the automaton of every learned name.
MsgPolicy = Literal["nothing", "paths", "one_name", "fusion", "layer_line", "free_text"]

COMMON_KEYS: Final[tuple[tuple[str, str], ...]] = (
    ("type", "the event type (below)"),
    ("ts", "RFC 3339 UTC time of the line, or null if the line had none"),
    ("severity", "verbose | info | warning | error | internal_error"),
    ("engine", "engine/build id (`[[logs]] engine`, or the file's name)"),
    (
        "source",
        '{"file": path, "line": n} for files (+ "pattern": "patterns[N]" when a user pattern gave '
        'the event), {"kind": "profiler"} for the profiler host',
    ),
    ("msg", "the (redacted) original text, where there is one"),
)


@dataclass(frozen=True)
class EventSpec:
    """What one event type holds. ``required`` keys are what the engine model and the sinks read
    (an event without them is a parse error when read back, not a crash); ``optional`` keys may
    be absent or null but have this type when present; ``names``/``name_lists`` hold layer or
    tensor names (a name, a list of names), the keys redaction replaces."""

    type: str
    doc: str
    required: tuple[tuple[str, KeyType], ...] = ()
    optional: tuple[tuple[str, KeyType], ...] = ()
    names: tuple[str, ...] = ()
    name_lists: tuple[str, ...] = ()
    msg: MsgPolicy = "free_text"


_SPECS: Final = (
    EventSpec(
        "fusion",
        "TensorRT fused source layers into one engine layer",
        required=(("layers", list),),
        optional=(("kind", str), ("result", str)),
        names=("result",),
        name_lists=("layers",),
        msg="fusion",
    ),
    EventSpec(
        "layer",
        "an engine layer: its type, precision (of its first output), the precision of its first"
        " input, its tactic (id, and kernel name where printed), the source layers it absorbed, and"
        " from a detailed layer list the bytes of its weights and of its outputs, and the channels"
        " (second dimension) of its first input and output when both are 4-D; where the input names"
        " them, the tensors it reads and writes (inputs, outputs: the engine graph's edges run from"
        " the layer that writes a tensor to each layer that reads it)",
        required=(("name", str),),
        optional=(
            ("layer_type", str),
            ("precision", str),
            ("input_precision", str),
            ("tactic", str),
            ("tactic_name", str),
            ("origin", str),
            ("sources", list),
            ("weights_bytes", int),
            ("activation_bytes", int),
            ("input_channels", int),
            ("output_channels", int),
            ("inputs", list),
            ("outputs", list),
        ),
        names=("name",),
        name_lists=("sources", "inputs", "outputs"),
        msg="layer_line",
    ),
    EventSpec(
        "binding",
        "an input or output of the engine (an I/O binding) from a layer list: its direction"
        " (input, output), its shape as the list gives it (-1 for a dynamic dimension), its type"
        " and its format",
        required=(("name", str), ("direction", str)),
        optional=(("shape", INT_LIST), ("precision", str), ("format", str)),
        names=("name",),
        msg="nothing",
    ),
    EventSpec(
        "layer_count",
        "layers at a stage of the build (original, after fusion, final...)",
        required=(("stage", str), ("count", int)),
        msg="nothing",
    ),
    EventSpec(
        "source_layer",
        "a layer of the network before optimisation (an ONNX node registered)",
        required=(("name", str),),
        optional=(("op", str),),
        names=("name",),
        msg="one_name",
    ),
    EventSpec(
        "quantization",
        "a layer's quantized precision (and scale, where said)",
        required=(("layer", str),),
        optional=(("precision", str), ("scale", NUMBER)),
        names=("layer",),
    ),
    EventSpec(
        "calibration",
        "a tensor's calibration range (min/max) or scale from a calibration cache",
        required=(("tensor", str),),
        optional=(("min", NUMBER), ("max", NUMBER)),
        names=("tensor",),
    ),
    EventSpec(
        "plugin",
        "a plugin implementing a layer, found or not (registered false, with the ONNX op that wanted"
        " it), or a creator the plugin registry lists (creator true: not a plugin of the network)",
        required=(("plugin", str),),
        optional=(("layer", str), ("version", str), ("registered", bool), ("op", str), ("creator", bool)),
        names=("layer",),
    ),
    EventSpec(
        "fallback",
        "TensorRT did not do what was asked: precision, DLA to GPU, a tactic skipped...",
        required=(("reason", str),),
        optional=(("layer", str), ("from_precision", str), ("to_precision", str), ("count", int)),
        names=("layer",),
    ),
    EventSpec(
        "memory",
        "memory TensorRT reported, by kind (activation, weights, scratch, peak_estimate...)",
        required=(("kind", str), ("bytes", int)),
        msg="paths",
    ),
    EventSpec(
        "version",
        "a component's version (tensorrt, cuda, cudnn, cublas, driver, compute_capability,"
        " serialization; X_plan: the version an engine plan was built with, against X of the runtime)",
        required=(("component", str), ("version", str)),
        optional=(("linked", str),),
        # a trtexec command line can name tensors: free text
    ),
    EventSpec(
        "perf_summary",
        "a figure of trtexec's performance summary (throughput, latency, GPU compute...) or an"
        " application's timing of one inference",
        required=(("metric", str), ("stat", str), ("value", NUMBER)),
        msg="nothing",
    ),
    EventSpec(
        "layer_time",
        "a layer's time (the profiler host, a --dumpProfile table or profile JSON)",
        required=(("layer", str), ("ms", NUMBER)),
        optional=(("median_ms", NUMBER),),
        names=("layer",),
        msg="one_name",
    ),
    EventSpec(
        "placement",
        "the device an engine layer runs on (TensorRT's [GpuLayer] / [DlaLayer] lines)",
        required=(("layer", str), ("device", str)),
        optional=(("layer_type", str),),
        names=("layer",),
        msg="one_name",
    ),
    EventSpec(
        "timing_cache",
        "the entries of the builder's timing cache (when serialized, or when the builder let it go)",
        required=(("action", str), ("entries", int)),
        optional=(("hits", int),),
        msg="nothing",
    ),
    EventSpec(
        "build_complete",
        "the engine build finished, with its duration",
        required=(("seconds", NUMBER),),
        optional=(("stage", str),),
        msg="paths",
    ),
    EventSpec(
        "build_config",
        "the precisions the build allowed (trtexec flags, builder config)",
        required=(("precisions", list),),
    ),
    EventSpec("warning", "any other warning line, kept whole"),
    EventSpec(
        "error",
        "any other error line, kept whole; TensorRT's own code and category where it printed them",
        optional=(("code", int), ("category", str)),
    ),
)
EVENT_SPECS: Final[dict[str, EventSpec]] = {spec.type: spec for spec in _SPECS}
EVENT_TYPES: Final = frozenset(EVENT_SPECS)
# Keys whose value is a list of strings, whatever the type (``precisions`` is no name list).
STRING_LIST_KEYS: Final = tuple(
    sorted({key for spec in _SPECS for key, kind in spec.required + spec.optional if kind is list})
)
INT_LIST_KEYS: Final = tuple(
    sorted({key for spec in _SPECS for key, kind in spec.required + spec.optional if kind is INT_LIST})
)


def make_event(
    type_: str,
    ts: str | None,
    severity: str,
    engine: str,
    source: dict[str, Any],
    msg: str | None,
    fields: dict[str, Any],
) -> Event:
    """Build an event with the common keys first, then the type-specific ``fields``.

    Positional on purpose: this runs once per event, and keyword packing doubled its cost.
    """
    return {
        "type": type_,
        "ts": ts,
        "severity": severity,
        "engine": engine,
        "source": source,
        "msg": msg,
        **fields,
    }
