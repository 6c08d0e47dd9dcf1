"""JSON artifacts TREx users already have.

* ``trtexec --exportLayerInfo`` and ``IEngineInspector.get_engine_information(JSON)``:
  ``{"Layers": [...], "Bindings": [...]}``; a layer is a dict (DETAILED verbosity) or just its
  name (LAYER_NAMES_ONLY). ``get_layer_information(i, JSON)`` gives one layer dict.
* ``trtexec --exportProfile``: ``[{"count": N}, {"name", "timeMs", "averageMs", "medianMs",
  "percentage"}, ...]`` (``medianMs`` only from TensorRT 8.x).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from trt_agent.parse.docker import is_docker_json
from trt_agent.parse.grammar import layer_fields
from trt_agent.parse.log import ParseStats
from trt_agent.vocab.events import Event, make_event
from trt_agent.vocab.names import normalize_precision
from trt_agent.vocab.tensors import tensor_bytes, weights_bytes


class ArtifactError(ValueError):
    """A JSON artifact that cannot be read (truncated, not JSON, unknown shape)."""


def looks_like_json(head: bytes) -> bool:
    """A JSON document, not a log line that happens to start with ``[``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        # An object's first key, not a log line that starts with a layer named "{Cast}" or a
        # record of Docker's json-file driver (a log: parse/docker.py).
        rest = text[1:].lstrip()
        if rest[:1] not in (b'"', b"}", b"") or is_docker_json(text):
            return False
        # One line that is a whole object, and more lines after it: JSON lines (a structured
        # logger), read as a log; an artifact is one document.
        first, _, after = text.partition(b"\n")
        if after.strip():
            try:
                return not isinstance(orjson.loads(first), dict)
            except orjson.JSONDecodeError:
                return True
        return True
    if text.startswith(b"["):
        rest = text[1:].lstrip()
        return rest[:1] in (b"{", b"]", b'"') or rest == b""
    return False


def _first_format(layer: dict[str, Any], side: str) -> str | None:
    """The Format/Datatype of a layer's first ``Inputs`` or ``Outputs`` tensor."""
    tensors = layer.get(side)
    if isinstance(tensors, list) and tensors and isinstance(tensors[0], dict):
        fmt = tensors[0].get("Format/Datatype")
        return str(fmt).rstrip(".") if fmt is not None else None
    return None


def _tensors(layer: dict[str, Any], side: str) -> list[dict[str, Any]] | None:
    tensors = layer.get(side)
    if not isinstance(tensors, list) or not all(isinstance(t, dict) for t in tensors):
        return None
    return tensors


def _memory_fields(layer: dict[str, Any], graph: tuple[set[str], set[str]] | None) -> dict[str, int]:
    """``weights_bytes`` and ``activation_bytes`` of a detailed layer, where the list says them.

    Weights are the layer's ``Weights`` and ``Bias`` and every input no layer produces and no
    binding feeds: a constant built into the engine, as TensorRT 10's Myelin GEMMs take their
    weights (``__mye583_dconst``), with their scalars and broadcast biases. Activations are the
    layer's outputs. ``graph`` is (tensors some layer produces, binding names): without the whole
    list (one layer's JSON) an input cannot be told a constant, and the weights are unknown."""
    fields: dict[str, int] = {}
    inputs, outputs = _tensors(layer, "Inputs"), _tensors(layer, "Outputs")
    if outputs is not None:
        sizes = [tensor_bytes(t.get("Dimensions"), t.get("Format/Datatype")) for t in outputs]
        if all(size is not None for size in sizes):
            fields["activation_bytes"] = sum(size for size in sizes if size is not None)
    if inputs is None or graph is None:
        return fields
    produced, bindings = graph
    if not all(isinstance(t.get("Name"), str) for t in inputs):
        return fields  # an input without a name: whether it is a constant is unknown
    parts = [weights_bytes(layer[key]) if key in layer else 0 for key in ("Weights", "Bias")]
    parts += [
        tensor_bytes(t.get("Dimensions"), t.get("Format/Datatype"))
        for t in inputs
        if t["Name"] not in produced and t["Name"] not in bindings
    ]
    if all(part is not None for part in parts):
        fields["weights_bytes"] = sum(part for part in parts if part is not None)
    return fields


def _channels(layer: dict[str, Any]) -> dict[str, int]:
    """``input_channels``/``output_channels``: C of the first input and output, when both are
    4-D (NCHW) with a known C; what the channel-alignment check reads."""
    inputs, outputs = _tensors(layer, "Inputs"), _tensors(layer, "Outputs")
    if not inputs or not outputs:
        return {}
    dims = [inputs[0].get("Dimensions"), outputs[0].get("Dimensions")]
    if not all(isinstance(d, list) and len(d) == 4 for d in dims):
        return {}
    channels = [d[1] for d in dims]  # type: ignore[index]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
        return {}
    return {"input_channels": channels[0], "output_channels": channels[1]}


def _tensor_names(layer: dict[str, Any]) -> dict[str, list[str]]:
    """``inputs``/``outputs``: the names of the tensors a detailed layer reads and writes (the
    engine graph's edges), each side only when every tensor on it is named."""
    fields: dict[str, list[str]] = {}
    for side, key in (("Inputs", "inputs"), ("Outputs", "outputs")):
        tensors = _tensors(layer, side)
        if tensors is not None and all(isinstance(t.get("Name"), str) for t in tensors):
            fields[key] = [t["Name"] for t in tensors]
    return fields


def _graph(doc: dict[str, Any]) -> tuple[set[str], set[str]] | None:
    """(the tensors the layers produce, the names of the engine's bindings) of a layer list; None
    without ``Bindings``: the engine's inputs could not be told from constants."""
    produced = {
        t["Name"]
        for layer in doc["Layers"]
        if isinstance(layer, dict)
        for t in _tensors(layer, "Outputs") or []
        if isinstance(t.get("Name"), str)
    }
    bindings = doc.get("Bindings")
    if not isinstance(bindings, list):
        return None
    return produced, {name for name in map(_binding_name, bindings) if name is not None}


def _binding_name(binding: Any) -> str | None:
    """A ``Bindings`` entry's name: the entry itself (trtexec, the inspector) or its ``Name``."""
    name = binding.get("Name") if isinstance(binding, dict) else binding
    return name if isinstance(name, str) else None


def _binding_events(
    doc: dict[str, Any], graph: tuple[set[str], set[str]] | None, file: str, engine: str
) -> list[Event]:
    """The engine's bindings (``Bindings``, named in ``graph``: ``_graph(doc)``), each with the
    shape and type of the tensor of that name: a layer's output is an output binding, a layer's
    input an input binding."""
    if graph is None:
        return []
    _, names = graph
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for layer in doc["Layers"]:
        if not isinstance(layer, dict):
            continue
        for side, direction in (("Outputs", "output"), ("Inputs", "input")):
            for tensor in _tensors(layer, side) or []:
                name = tensor.get("Name")
                if isinstance(name, str) and name in names and (name not in found or direction == "output"):
                    found[name] = (direction, tensor)
    events = []
    for index, binding in enumerate(doc["Bindings"]):
        name = _binding_name(binding)
        if name is None:
            continue
        direction, tensor = found.get(name, ("unknown", {}))
        fields: dict[str, Any] = {"name": name, "direction": direction}
        shape = tensor.get("Dimensions")
        if isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            fields["shape"] = shape
        fmt = tensor.get("Format/Datatype")
        if isinstance(fmt, str):
            fields["precision"] = normalize_precision(fmt)
            fields["format"] = fmt
        source = {"file": file, "line": None, "record": index}  # (its place in Bindings)
        events.append(make_event("binding", None, "info", engine, source, None, fields))
    return events


def _layer_event(
    layer: Any, file: str, engine: str, index: int, graph: tuple[set[str], set[str]] | None = None
) -> Event | None:
    source = {"file": file, "line": None, "record": index}
    if isinstance(layer, str):
        fields = layer_fields(layer, None, None, None, None)
    elif isinstance(layer, dict) and isinstance(layer.get("Name"), str):
        tactic = layer.get("TacticValue")
        metadata = layer.get("Metadata")
        tactic_name = layer.get("TacticName")
        fields = layer_fields(
            layer["Name"],
            str(layer.get("LayerType")) if layer.get("LayerType") is not None else None,
            _first_format(layer, "Outputs"),
            str(tactic) if tactic is not None else None,
            metadata if isinstance(metadata, str) else None,
            _first_format(layer, "Inputs"),
            tactic_name if isinstance(tactic_name, str) else None,
        )
        if isinstance(layer.get("Origin"), str):
            fields["origin"] = layer["Origin"]
        fields.update(_memory_fields(layer, graph))
        fields.update(_channels(layer))
        fields.update(_tensor_names(layer))
    else:
        return None
    return make_event("layer", None, "info", engine, source, None, fields)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _profile_events(records: list[Any], file: str, engine: str, stats: ParseStats) -> Iterator[Event]:
    iterations = None
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        if "count" in record and "name" not in record:
            iterations = record["count"] if _number(record["count"]) else None
            continue
        if "name" not in record or "averageMs" not in record:
            continue
        optional = [record.get(key) for key in ("timeMs", "percentage", "medianMs")]
        if not (isinstance(record["name"], str) and _number(record["averageMs"])) or not all(
            value is None or _number(value) for value in optional
        ):
            stats.parse_errors += 1  # a record of another shape (edited, another tool's): skipped
            continue
        fields: dict[str, Any] = {
            "layer": record["name"],
            "ms": float(record["averageMs"]),
            "iterations": iterations,
            "total_ms": float(record.get("timeMs") or 0.0),
            "percentage": float(record.get("percentage") or 0.0),
        }
        if record.get("medianMs") is not None:
            fields["median_ms"] = float(record["medianMs"])
        yield make_event(
            "layer_time", None, "info", engine, {"file": file, "line": None, "record": index}, None, fields
        )


def parse_artifact(data: bytes, file: str, engine: str, stats: ParseStats) -> Iterator[Event]:
    """Yield the events of one JSON artifact; raise ``ArtifactError`` for unreadable ones."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(f"{file}: not valid JSON ({exc}); truncated or not a TensorRT artifact") from exc
    stats.files += 1
    stats.bytes += len(data)
    events: list[Event] = []
    if isinstance(doc, dict) and isinstance(doc.get("Layers"), list):
        graph = _graph(doc)
        for index, layer in enumerate(doc["Layers"]):
            event = _layer_event(layer, file, engine, index, graph)
            if event is not None:
                events.append(event)
        events.extend(_binding_events(doc, graph, file, engine))
    elif isinstance(doc, dict) and "Name" in doc:
        event = _layer_event(doc, file, engine, 0)
        if event is not None:
            events.append(event)
    elif isinstance(doc, list):
        events.extend(_profile_events(doc, file, engine, stats))
    else:
        raise ArtifactError(
            f"{file}: JSON but not a TensorRT artifact (expected --exportLayerInfo, --exportProfile "
            "or engine-inspector output)"
        )
    stats.lines += len(events)
    stats.events += len(events)
    stats.event_lines += len(events)
    yield from events
