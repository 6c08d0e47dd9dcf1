"""Builds of one network side by side: their engine layers lined up by the source layers they run.

Two builds of one network rarely have the same engine layers: FP16 fuses what FP32 did not, a
Q/DQ build folds the quantize nodes into the convolutions, a reformat appears where precisions
meet. What they share is the network: every engine layer names the source layers it runs
(``EngineLayer.sources``). Engine layers of different builds that run a common source layer are
one *row*; rows are closed under that (a fusion boundary that moved joins the layers on both
sides of it into one row), so a row's time is comparable across builds whatever was fused.

Source layers are matched by name, except where an exporter numbers its names over the whole
graph: ONNX's ``Conv_9`` is ``Conv_0`` of the same network exported with Q/DQ nodes in front of
it (the counter counts the inserted nodes too), and TensorRT's ``(Unnamed Layer* 12) [Shuffle]``
moves with every layer added before it. Such names are matched by place where that explains
clearly more than their names do: a longest common subsequence of the operators in counter
order pairs the n-th ``Conv`` both builds keep in order (the export keeps the order of the
network's nodes), whatever one inserted or left unnamed; names are kept when they match at
least nine tenths of what that pairs. Past ``_LCS_CELLS`` the n-th of each operator both builds
have as many of is paired instead. Names an exporter gives by place (``/layer1/layer1.0/conv1/Conv``) are matched as they
are.

A reformat or copy TensorRT inserted (``Reformatting CopyNode for Input Tensor 0 to X``, or
``… Output Tensor 0 to X``, which X writes) joins X's row: the cost of a precision boundary shows
where it is paid. A layer whose name says nothing of its sources (a kernel Myelin generated:
``__myl_Res_myl9_1``) is matched by its own name too (a profile alone does not say what it
runs; a layer list's Metadata may).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from trt_agent.model.engine import EngineLayer, EngineModel
from trt_agent.model.timing import TableRow, by_layer_type, per_layer_ms
from trt_agent.vocab.names import reformat_target

# Names numbered over the whole graph: (operator, number).
_NUMBERED: Final = (
    re.compile(r"^(?P<op>[A-Za-z][A-Za-z0-9_]*?)_(?P<n>\d+)$"),  # ONNX exporter: Conv_0, node_Conv_12
    re.compile(r"^\(Unnamed Layer\* (?P<n>\d+)\) \[(?P<op>[^\]]+)\]$"),  # TensorRT's own
)
# Above this many cells (operators of one build x of the other) the n-th of each operator both
# have as many of is matched instead of a longest common subsequence (about 16 MB and a second or
# two at the cap).
_LCS_CELLS: Final = 4_000_000
# Names are matched as they are when they match at least this share of what matching by place
# would (a build with the same numbering, some nodes added or gone).
_BY_NAME: Final = 0.9
# Why the rows are n/a, or empty (one wording for every output)
NOT_ALIGNED: Final = "a build's caps left layers or their times out"
NOTHING_TO_ALIGN: Final = "no build has a layer list or per-layer times"


@dataclass
class AlignedRow:
    """Engine layers of each build that run the same source layers (``layers[i]``: build i's,
    in its order; empty when build i runs none of them), their time per inference summed
    (``ms[i]``; None: build i has no per-layer time for them) and the precisions they compute in
    (``precisions[i]``, ``EngineModel.precision_word``)."""

    layers: list[list[str]]
    ms: list[float | None]
    precisions: list[list[str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "builds": [
                {"layers": layers, "ms": ms, "precisions": precisions}
                for layers, ms, precisions in zip(self.layers, self.ms, self.precisions, strict=True)
            ]
        }


def _in_counter_order(sources: Sequence[str], pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(operator, name) of the names ``pattern`` numbers, in the counter's order."""
    found = []
    for name in dict.fromkeys(sources):
        m = pattern.match(name)
        if m is not None:
            found.append((int(m.group("n")), name, m.group("op")))
    return [(op, name) for _, name, op in sorted(found)]


def _common_subsequence(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of ``a`` and ``b``. Above ``_LCS_CELLS``
    cells, in linear time: the n-th of each operator both have as many of is paired (an
    operator one build has more or fewer of, a ReLU a fused name leaves out, is not: pairing it
    by rank would shift every later one)."""
    if len(a) * len(b) > _LCS_CELLS:
        where_a: dict[str, list[int]] = {}
        where_b: dict[str, list[int]] = {}
        for i, op in enumerate(a):
            where_a.setdefault(op, []).append(i)
        for j, op in enumerate(b):
            where_b.setdefault(op, []).append(j)
        return sorted(
            pair
            for op, found in where_a.items()
            if len(found) == len(where_b.get(op, ()))
            for pair in zip(found, where_b[op], strict=True)
        )
    # lengths[i][j]: LCS of a[i:] and b[j:]
    lengths = [array("I", bytes(4 * (len(b) + 1))) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        row, below, ai = lengths[i], lengths[i + 1], a[i]
        for j in range(len(b) - 1, -1, -1):
            row[j] = below[j + 1] + 1 if ai == b[j] else max(below[j], row[j + 1])
    pairs, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _by_place(reference: list[tuple[str, str]], build: list[tuple[str, str]]) -> dict[str, str]:
    """``build``'s names matched to ``reference``'s keys by a longest common subsequence of their
    operators: the n-th ``Conv`` both keep in order is the same node, whatever a build inserted
    (Q/DQ nodes) or left unnamed (a ReLU a QAT build's fused name does not list)."""
    pairs = _common_subsequence([op for op, _ in reference], [op for op, _ in build])
    return {build[j][1]: reference[i][1] for i, j in pairs}


def _match(
    reference: list[tuple[str, str]], build: list[tuple[str, str]], tag: str
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Keys for ``build``'s numbered names against ``reference`` ((operator, key) in graph order),
    and the reference with the names it did not match merged in after the last one before them
    that it did (keyed ``tag:name``: a renumbered build's ``Conv_9`` is not the reference's)."""
    known = {key for _, key in reference}
    names = [name for _, name in build]
    shared = {name: name for name in names if name in known}
    # One numbering when the names both have explain (nearly) every node their operators' order
    # matches; names that coincide in a renumbered build match far fewer.
    by_name = len(shared) == min(len(known), len(names))
    placed: dict[str, str] = {}
    if not by_name:
        placed = _by_place(reference, build)
        by_name = len(shared) >= _BY_NAME * len(placed)
    keys = shared if by_name else placed
    after: dict[str | None, list[tuple[str, str]]] = {}
    last: str | None = None
    for op, name in build:
        if name in keys:
            last = keys[name]
        else:
            keys[name] = name if by_name else f"{tag}:{name}"
            after.setdefault(last, []).append((op, keys[name]))
    merged = list(after.get(None, []))
    for entry in reference:
        merged += [entry, *after.get(entry[1], [])]
    return keys, merged


def source_keys(builds: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    """Per build, each of its source layers' key: what it is matched by across builds (module
    docstring). Each build is matched against the ones before it."""
    keys: list[dict[str, str]] = [{name: name for name in sources} for sources in builds]
    for pattern in _NUMBERED:
        reference: list[tuple[str, str]] = []
        for i, sources in enumerate(builds):
            ordered = _in_counter_order(sources, pattern)
            if not reference:
                reference = ordered
                continue
            matched, reference = _match(reference, ordered, str(i))
            keys[i].update(matched)
    return keys


def _matched_sources(layer: EngineLayer) -> tuple[str, ...]:
    """The source layers a layer runs, as far as its name or Metadata says (a kernel Myelin
    generated names none)."""
    return layer.sources if layer.fusion_known else ()


class _Rows:
    """Union-find over (build, engine layer)."""

    def __init__(self) -> None:
        self.parent: dict[tuple[int, str], tuple[int, str]] = {}

    def find(self, node: tuple[int, str]) -> tuple[int, str]:
        self.parent.setdefault(node, node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def join(self, a: tuple[int, str], b: tuple[int, str]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _layers(model: EngineModel, times: dict[str, float] | None) -> list[EngineLayer]:
    """The build's engine layers in order, and the layers only its profile names after them."""
    layers = model.engine_layers()
    known = {layer.name for layer in layers}
    return layers + [model.profiled_layer(name) for name in times or {} if name not in known]


def align(
    models: Sequence[EngineModel], tables: Sequence[dict[str, TableRow] | None]
) -> list[AlignedRow] | None:
    """The builds' engine layers lined up by source layer (module docstring), in the order of
    the first build, then where each other build runs what the ones before did not. None (n/a)
    when a build's caps or memory relief left layers or their times out."""
    if any(m.unknown_because("layer", "layer_time") is not None or m.other_layer_time.count for m in models):
        return None
    times = [per_layer_ms(m, t) if m.layer_times else None for m, t in zip(models, tables, strict=True)]
    builds = [_layers(m, t) for m, t in zip(models, times, strict=True)]
    keys = source_keys([[s for layer in layers for s in _matched_sources(layer)] for layers in builds])
    rows = _Rows()
    owners: dict[str, list[tuple[int, str]]] = {}
    for i, layers in enumerate(builds):
        names = {layer.name for layer in layers}
        own: dict[str, str] = {}  # key -> the first layer of this build that runs it
        for layer in layers:
            rows.find((i, layer.name))
            serves = reformat_target(layer.name)
            if serves is not None and serves in names:
                rows.join((i, serves), (i, layer.name))
            matched = [keys[i][source] for source in _matched_sources(layer)]
            if (layer.kind == "myelin_kernel" or not matched) and layer.kind != "reformat":
                # a kernel Myelin generated names no source (but where Metadata lists them): the
                # same name is the same kernel
                matched.append(f"layer:{layer.name}")
            for key in matched:
                # a source in two layers of one build (a copy of itself): one row
                rows.join((i, own.setdefault(key, layer.name)), (i, layer.name))
        for key, name in own.items():
            owners.setdefault(key, []).append((i, name))
    for holders in owners.values():
        for other in holders[1:]:
            rows.join(holders[0], other)
    grouped: dict[tuple[int, str], AlignedRow] = {}
    for i, layers in enumerate(builds):
        for layer in layers:
            root = rows.find((i, layer.name))
            row = grouped.get(root)
            if row is None:
                row = grouped[root] = AlignedRow(
                    [[] for _ in models], [None] * len(models), [[] for _ in models]
                )
            row.layers[i].append(layer.name)
            build_times = times[i]
            if build_times is not None and layer.name in build_times:
                row.ms[i] = (row.ms[i] or 0.0) + build_times[layer.name]
    for row in grouped.values():
        for i, in_row in enumerate(row.layers):
            listed = [models[i].layers[name] for name in in_row if name in models[i].layers]
            compute = [layer for layer in listed if layer.is_compute] or listed
            row.precisions[i] = sorted({models[i].precision_word(layer) for layer in compute})
            ms = row.ms[i]
            row.ms[i] = round(ms, 6) if ms is not None else None
    return list(grouped.values())  # dicts keep the order rows were first met: build 0's, then 1's …


def types_side_by_side(
    models: Sequence[EngineModel], tables: Sequence[dict[str, TableRow] | None]
) -> list[dict[str, Any]]:
    """Per layer type, each build's ``by_layer_type`` row (None: the build has no layer of that
    type, or its caps left layers out), types in the first build's order (slowest first), then
    the types only later builds have."""
    per_build = [by_layer_type(m, t) for m, t in zip(models, tables, strict=True)]
    order: dict[str | None, None] = {}
    for rows in per_build:
        for row in rows or []:
            order.setdefault(row["type"], None)
    out = []
    for layer_type in order:
        cells = []
        for rows in per_build:
            match = next((r for r in rows or [] if r["type"] == layer_type), None)
            cells.append({k: v for k, v in match.items() if k != "type"} if match is not None else None)
        out.append({"type": layer_type, "builds": cells})
    return out
