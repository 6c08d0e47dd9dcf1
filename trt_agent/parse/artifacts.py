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


def _layer_event(layer: Any, file: str, engine: str, index: int) -> Event | None:
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
        for index, layer in enumerate(doc["Layers"]):
            event = _layer_event(layer, file, engine, index)
            if event is not None:
                events.append(event)
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
