"""Per-layer shares and the time per inference from a profile table's own columns.

A ``trtexec --dumpProfile`` table (and ``--exportProfile`` JSON) gives each layer's total time over
all iterations (``Time (ms)``), its average (``Avg. Time (ms)``, 2 decimals in TensorRT 7) and
trtexec's share (``Time %``). The engine model keeps the average only, which is what a profiler
stream gives too; shares and ranks from the rounded average are off by up to 0.2 points and swap
near-ties. :class:`ProfileTables` keeps the total and the share of each row as the events pass,
and :func:`layer_timing` ranks and shares by them, as trtexec does:

* share = a row's ``Time`` / the sum of ``Time`` over the engine's rows (trtexec's ``Time %``);
* when the rows hold far less than 100 % of trtexec's time (an excerpt someone posted), the sum
  is of the excerpt only: the share is trtexec's own ``Time %`` and the table is called partial;
* time per inference = Σ ``Time`` / iterations over the rows (the table's ``Total`` row, to its
  rounding), else Σ of the per-layer averages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from trt_agent.model.engine import EngineLayer, EngineModel
from trt_agent.vocab.events import Event
from trt_agent.vocab.kernels import kernel_family, tensor_cores

# Rows whose Time sums below this share of the total their Time % imply are an excerpt.
PARTIAL_BELOW: Final = 0.95


@dataclass
class TableRow:
    """One layer's row of a profile table, summed over the tables that named it."""

    total_ms: float = 0.0
    percentage: float = 0.0  # trtexec's Time % in the last table that named the layer
    iterations: int = 0  # the iterations of the tables that named it, summed (0: not given)


class ProfileTables:
    """Per engine and layer, the ``Time`` and ``Time %`` columns of the profile tables in the
    input (fed the event stream; events without a ``total_ms``, from a profiler, are ignored)."""

    def __init__(self) -> None:
        self.engines: dict[str, dict[str, TableRow]] = {}

    def observe(self, event: Event) -> None:
        if event["type"] != "layer_time" or event.get("total_ms") is None:
            return
        rows = self.engines.setdefault(event["engine"], {})
        row = rows.get(event["layer"])
        if row is None:
            row = rows[event["layer"]] = TableRow()
        row.total_ms += float(event["total_ms"])
        row.percentage = float(event.get("percentage") or 0.0)
        row.iterations += int(event.get("iterations") or 0)

    def watch(self, events: Iterable[Event]) -> Iterator[Event]:
        """Pass ``events`` through, recording the profile-table rows."""
        for event in events:
            self.observe(event)
            yield event


def _usable(model: EngineModel, rows: dict[str, TableRow] | None) -> dict[str, TableRow] | None:
    """The table rows when they time every layer the model timed (else the model's averages,
    from a profiler or a mix, are the only common ground)."""
    if not rows or model.other_layer_time.count:
        return None
    if sum(row.total_ms for row in rows.values()) <= 0:
        return None  # a profile JSON without timeMs
    if any(name not in rows for name in model.layer_times):
        return None
    # only the layers the model times: another optimisation profile's rows are no part of it
    return {name: row for name, row in rows.items() if name in model.layer_times}


def _partial(rows: dict[str, TableRow]) -> bool:
    """The rows are an excerpt: their Time % (trtexec's, over its whole table) sum well below 100.
    (The sum, not one row: a 1-decimal Time % of a small row is too coarse to imply the total.)"""
    given = [row.percentage for row in rows.values() if row.percentage > 0]
    return bool(given) and sum(given) < PARTIAL_BELOW * 100.0


def _per_inference_ms(model: EngineModel, table: dict[str, TableRow] | None) -> dict[str, float]:
    """Each timed layer's time per inference: its ``Time`` over the table's iterations where the
    table times every layer (``_usable``), else (and for a row without iterations) its average."""
    times = model.layer_times
    if table is None:
        return {name: t.avg_ms for name, t in times.items()}
    return {
        name: row.total_ms / row.iterations if row.iterations else times[name].avg_ms
        for name, row in table.items()
    }


def per_layer_ms(model: EngineModel, rows: dict[str, TableRow] | None) -> dict[str, float]:
    """Each timed layer's time per inference, on the basis ``time_per_inference`` sums: the
    table's ``Time`` over its iterations where the table times every layer, else the average."""
    return _per_inference_ms(model, _usable(model, rows))


def _groups(
    model: EngineModel, rows: dict[str, TableRow] | None, key: Callable[[EngineLayer], str | None]
) -> dict[str | None, dict[str, Any]] | None:
    """The engine layers grouped by ``key``: per group how many (``count``), how many timed
    (``timed``), their time per inference (``ms``), its share, and the layers' names (``layers``,
    for the caller's own columns). A layer only a profile names is in group None. None when the
    caps left layers out."""
    if model.unknown_because("layer", "layer_time") is not None or model.other_layer_time.count:
        return None
    table = _usable(model, rows)
    per_layer = _per_inference_ms(model, table)
    # an excerpt of a table (``_partial``) shares by trtexec's own Time %, as ``slowest_layers`` do
    percent = (
        {name: row.percentage / 100.0 for name, row in table.items()} if table and _partial(table) else None
    )
    groups: dict[str | None, dict[str, Any]] = {}
    names: list[str] = list(model.layers)
    names += [name for name in per_layer if name not in model.layers]
    for name in names:
        layer = model.layers.get(name)
        group_key = key(layer) if layer is not None else None
        group = groups.get(group_key)
        if group is None:
            group = groups[group_key] = {
                "key": group_key, "count": 0, "timed": 0, "ms": None, "share": None, "layers": []
            }  # fmt: skip
        group["count"] += 1
        group["layers"].append(name)
        if name in per_layer:
            group["timed"] += 1
            group["ms"] = (group["ms"] or 0.0) + per_layer[name]
            if percent is not None:
                group["share"] = (group["share"] or 0.0) + percent[name]
    total = sum(per_layer.values())
    for group in groups.values():
        ms = group["ms"]
        if percent is None:
            group["share"] = ms / total if ms is not None and total > 0 else None
        group["share"] = round(group["share"], 6) if group["share"] is not None else None
        group["ms"] = round(ms, 6) if ms is not None else None
    return groups


def _slowest_first(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Timed groups slowest first, then the untimed; the group of unknown key last of each."""
    return sorted(rows, key=lambda r: (r["ms"] is None, -(r["ms"] or 0.0), r[key] is None, r[key] or ""))


def by_layer_type(model: EngineModel, rows: dict[str, TableRow] | None) -> list[dict[str, Any]] | None:
    """Per layer type: how many engine layers have it, how many of them were timed, their time
    per inference summed (``ms``) and its share of the time of every timed layer, and their
    precisions (``EngineModel.precision_word``: the precision each computes in, as the precision
    mix counts them, not its output's type: an INT8 convolution with a float output is Int8).

    The time is the basis ``time_per_inference`` sums (the table's ``Time`` column where it
    times every layer), so the shares of the types add up to 1; an excerpt of a table (partial)
    shares by trtexec's own ``Time %``, as ``slowest_layers`` do, and they add up to the
    excerpt's. A layer only a profile names has no type (``type`` None): n/a, never a guess from
    its name. Types with time come first,
    slowest first; ``ms`` and ``share`` are None for a type none of whose layers was timed.
    None (n/a) when the agent's caps or memory relief left layers or their times out."""
    groups = _groups(model, rows, lambda layer: layer.layer_type)
    if groups is None:
        return None
    out = []
    for group in groups.values():
        precisions: Counter[str] = Counter()
        for name in group["layers"]:
            layer = model.layers.get(name)
            precisions[model.precision_word(layer) if layer is not None else "unknown"] += 1
        out.append(
            {
                "type": group["key"],
                "count": group["count"],
                "timed": group["timed"],
                "ms": group["ms"],
                "share": group["share"],
                "precisions": dict(sorted(precisions.items(), key=lambda kv: (-kv[1], kv[0]))),
            }
        )
    return _slowest_first(out, "type")


def by_kernel_family(model: EngineModel, rows: dict[str, TableRow] | None) -> list[dict[str, Any]] | None:
    """Per kernel family (``vocab.kernels.kernel_family`` of each layer's kernel name): as
    ``by_layer_type``, with whether the family runs on tensor cores (``tensor_cores``: True or
    False when the names of all its kernels say so alike, else None) and its kernels (distinct
    names). Layers whose kernel is not named (a tactic id only, a profile) are family None."""
    groups = _groups(model, rows, lambda layer: kernel_family(layer.tactic_name))
    if groups is None:
        return None
    out = []
    for group in groups.values():
        kernels = [
            layer.tactic_name
            for layer in (model.layers.get(name) for name in group["layers"])
            if layer is not None and layer.tactic_name
        ]
        verdicts = {tensor_cores(kernel) for kernel in kernels}
        out.append(
            {
                "family": group["key"],
                "count": group["count"],
                "timed": group["timed"],
                "ms": group["ms"],
                "share": group["share"],
                "tensor_cores": verdicts.pop() if len(verdicts) == 1 else None,
                "kernels": len(set(kernels)),
            }
        )
    return _slowest_first(out, "family")


def layer_timing(model: EngineModel, rows: dict[str, TableRow] | None, limit: int = 10) -> dict[str, Any]:
    """``{"slowest_layers": [...], "per_inference": {...} | None}`` for ``model``.

    ``slowest_layers`` are the model's rows (``EngineModel.slowest_layers``), ranked and shared
    by the table's ``Time`` column when ``rows`` time every layer; each then also has
    ``total_ms`` (``avg_ms`` stays the table's average, as ``/metrics`` gives it). ``per_inference`` says
    the time per inference summed over the layers, where it came from, whether the table is
    partial, and the GPU compute time of the log's performance summary beside it."""
    if not model.layer_times:
        return {"slowest_layers": [], "per_inference": None}
    table = _usable(model, rows)
    if table is None:
        ranked = model.slowest_layers(limit)
        per_layer = sum(t.avg_ms for t in model.layer_times.values()) + model.other_layer_time.avg_ms
        per: dict[str, Any] = {
            "sum_of_layers_ms": round(per_layer, 6),
            "from": "average column",
            "layers": len(model.layer_times),
            "partial": False,
            "table_percent": None,
            "whole_table_ms": None,
        }
    else:
        by_name = {row["layer"]: row for row in model.slowest_layers(len(model.layer_times))}
        total = sum(row.total_ms for row in table.values())
        partial = _partial(table)
        order = sorted(table, key=lambda name: table[name].total_ms, reverse=True)[:limit]
        ranked = []
        for name in order:
            row = table[name]
            share = row.percentage / 100.0 if partial else row.total_ms / total
            ranked.append(by_name[name] | {"share": round(share, 6), "total_ms": row.total_ms})
        per_layer = sum(_per_inference_ms(model, table).values())
        percent = round(sum(row.percentage for row in table.values()), 3)
        largest = max(table.values(), key=lambda row: row.total_ms)
        whole = None
        if partial and largest.iterations and largest.percentage > 0:
            whole = largest.total_ms * 100.0 / largest.percentage / largest.iterations
        per = {
            "sum_of_layers_ms": round(per_layer, 6),
            "from": "time column",
            "layers": len(table),
            "partial": partial,
            "table_percent": percent,
            "whole_table_ms": round(whole, 6) if whole is not None else None,
        }
    gpu = model.perf.get("gpu_compute_ms", {})
    compute = gpu.get("median", gpu.get("mean"))
    per["gpu_compute_ms"] = compute
    per["gpu_compute_stat"] = ("median" if "median" in gpu else "mean") if compute is not None else None
    per["overhead_ms"] = (
        round(per["sum_of_layers_ms"] - compute, 6) if compute is not None and not per["partial"] else None
    )
    return {"slowest_layers": ranked, "per_inference": per}
