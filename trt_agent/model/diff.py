"""Build A vs build B: what TensorRT decided differently, and which differences are regressions.

Both sides are engine models (from logs, layer-information JSON or profiles). Fusions and
precisions are compared per *source* layer (the network's layers, which both builds share), so a
fusion that became three separate kernels shows as one lost fusion naming its members; latencies
are compared per engine layer name (what the profiler reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from trt_agent.model.align import AlignedRow, align, types_side_by_side
from trt_agent.model.engine import EngineLayer, EngineModel, Ratio, fallback_label
from trt_agent.model.timing import TableRow
from trt_agent.text import few
from trt_agent.vocab.names import without_profile

# Narrow to wide: a change to a later entry is a precision regression (slower, more memory).
PRECISION_RANK: Final = {"FP4": 0, "Int4": 1, "Int8": 2, "FP8": 3, "Half": 4, "BFloat16": 4, "Float": 5}


@dataclass(frozen=True)
class Tolerances:
    """How much worse NEW may be before a difference is a regression."""

    latency_ratio: float = 0.10  # a layer (or the whole engine) 10 % slower
    latency_min_ms: float = 0.005  # ... and slower by at least this much (noise on tiny layers)
    memory_ratio: float = 0.05  # a memory kind 5 % larger
    coverage_drop: float = 0.001  # a coverage ratio lower by more than this


@dataclass
class EngineDiff:
    """Everything that differs between ``base`` and ``new``; ``regressions`` says what is worse."""

    base: str
    new: str
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    fusions_lost: list[dict[str, Any]] = field(default_factory=list)
    fusions_gained: list[dict[str, Any]] = field(default_factory=list)
    precision_changes: list[dict[str, Any]] = field(default_factory=list)
    new_fallbacks: list[dict[str, Any]] = field(default_factory=list)
    resolved_fallbacks: list[dict[str, Any]] = field(default_factory=list)
    plugins_added: list[str] = field(default_factory=list)
    plugins_removed: list[str] = field(default_factory=list)
    unregistered_plugins: list[str] = field(default_factory=list)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: list[dict[str, Any]] = field(default_factory=list)
    latency_total: dict[str, Any] | None = None
    layers_only_in_base: list[str] = field(default_factory=list)
    layers_only_in_new: list[str] = field(default_factory=list)
    versions: dict[str, dict[str, str | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


def _owner_map(layers: list[EngineLayer]) -> dict[str, EngineLayer]:
    """Source layer -> the compute engine layer that runs it."""
    owners: dict[str, EngineLayer] = {}
    for layer in layers:
        if not layer.is_compute:
            continue
        for source in layer.sources:
            # A source listed by a fused layer wins over a reformat or a single copy of itself.
            if source not in owners or (layer.is_fused and not owners[source].is_fused):
                owners[source] = layer
    return owners


def _split_groups(
    a: dict[str, EngineLayer], b: dict[str, EngineLayer], fused_key: str, parts_key: str
) -> list[dict[str, Any]]:
    """Fused layers of ``a`` whose members ``b`` runs in more than one engine layer."""
    groups: dict[str, dict[str, Any]] = {}
    for source in sorted(set(a) & set(b)):
        la = a[source]
        if not la.is_fused:
            continue
        group = groups.setdefault(la.name, {fused_key: la.name, "sources": [], parts_key: [], "unfused": []})
        group["sources"].append(source)
        lb = b[source]
        if lb.name not in group[parts_key]:
            group[parts_key].append(lb.name)
            if not lb.is_fused:
                group["unfused"].append(lb.name)
    order: dict[str, int] = {}
    for layer in b.values():  # owner maps are filled in engine layer order
        order.setdefault(layer.name, len(order))
    split = [g for g in groups.values() if len(g[parts_key]) > 1]
    for g in split:
        g[parts_key].sort(key=lambda name: order.get(name, 0))
        g["unfused"].sort(key=lambda name: order.get(name, 0))
    return split


def _fusion_changes(
    a: dict[str, EngineLayer], b: dict[str, EngineLayer]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(fused layers of ``a`` split up in ``b``, fused layers of ``b`` that ``a`` ran split)."""
    return _split_groups(a, b, "fused_in_base", "new_layers"), _split_groups(
        b, a, "fused_in_new", "base_layers"
    )


def _precision_changes(a: dict[str, EngineLayer], b: dict[str, EngineLayer]) -> list[dict[str, Any]]:
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for source in sorted(set(a) & set(b)):
        # the precision each computes in (an INT8 convolution writing FP32 is INT8 math)
        pa, pb = a[source].math_precision, b[source].math_precision
        if pa is None or pb is None or pa == pb:
            continue
        key = (a[source].name, b[source].name)
        entry = changes.setdefault(
            key,
            {
                "base_layer": key[0],
                "new_layer": key[1],
                "from": pa,
                "to": pb,
                "sources": [],
                "regression": PRECISION_RANK.get(pb, 5) > PRECISION_RANK.get(pa, 5),
            },
        )
        entry["sources"].append(source)
    return list(changes.values())


def _fallback_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item.get("layer"), item.get("reason"), item.get("from_precision"), item.get("to_precision"))


def _ms(model: EngineModel) -> dict[str, float]:
    """Each timed layer's median (else average) ms, by its name without a ``[profile N]``: two
    builds that ran different optimisation profiles still compare layer by layer."""
    return {
        without_profile(name): (t.median_ms if t.median_ms is not None else t.avg_ms)
        for name, t in model.layer_times.items()
    }


def _ratio_entry(a: Ratio, b: Ratio) -> dict[str, Any]:
    return {"base": a.as_dict(), "new": b.as_dict()}


def diff_models(base: EngineModel, new: EngineModel, tol: Tolerances | None = None) -> EngineDiff:
    """Compare two builds of the same network."""
    tol = tol or Tolerances()
    d = EngineDiff(base=base.engine, new=new.engine)

    for name, a, b, worse_if_lower in (
        ("fusion_coverage", base.fusion_coverage(), new.fusion_coverage(), True),
        ("int8_coverage", base.int8_coverage(), new.int8_coverage(), True),
        ("unfused_kernel_ratio", base.unfused_kernel_ratio(), new.unfused_kernel_ratio(), False),
    ):
        d.coverage[name] = _ratio_entry(a, b)
        va, vb = a.value, b.value
        if va is None or vb is None:
            continue
        drop = va - vb if worse_if_lower else vb - va
        if drop > tol.coverage_drop:
            d.regressions.append(f"{name.replace('_', ' ')} {va * 100:.1f}% -> {vb * 100:.1f}%")

    a_layers, b_layers = base.engine_layers(), new.engine_layers()
    if a_layers and b_layers:
        owners_a, owners_b = _owner_map(a_layers), _owner_map(b_layers)
        d.fusions_lost, d.fusions_gained = _fusion_changes(owners_a, owners_b)
        for group in d.fusions_lost:
            unfused = f", {len(group['unfused'])} of them unfused" if group["unfused"] else ""
            d.regressions.append(
                f"fusion lost: {group['fused_in_base']} now runs as {len(group['new_layers'])} "
                f"layers{unfused}: {few(group['unfused'] or group['new_layers'])}"
            )
        d.precision_changes = _precision_changes(owners_a, owners_b)
        widened: dict[tuple[str, str], list[str]] = {}
        for change in d.precision_changes:
            if change["regression"]:
                widened.setdefault((change["from"], change["to"]), []).append(change["new_layer"])
        for (narrow, wide), names in widened.items():
            d.regressions.append(f"precision {narrow} -> {wide} on {len(names)} layer(s): {few(names)}")
        names_a = {without_profile(layer.name) for layer in a_layers}
        names_b = {without_profile(layer.name) for layer in b_layers}
        d.layers_only_in_base = sorted(names_a - names_b)
        d.layers_only_in_new = sorted(names_b - names_a)
    else:
        d.notes.append(
            "fusions and precisions not compared: "
            + ("BASE" if not a_layers else "NEW")
            + " has no layer list (a verbose build log, --exportLayerInfo or a profile)"
        )

    seen = {_fallback_key(f) for f in base.fallbacks}
    now = {_fallback_key(f) for f in new.fallbacks}
    d.new_fallbacks = [f for f in new.fallbacks if _fallback_key(f) not in seen]
    d.resolved_fallbacks = [f for f in base.fallbacks if _fallback_key(f) not in now]
    for f in d.new_fallbacks:
        d.regressions.append(f"new fallback: {fallback_label(f)}")

    d.plugins_added = sorted(set(new.plugins) - set(base.plugins))
    d.plugins_removed = sorted(set(base.plugins) - set(new.plugins))
    d.unregistered_plugins = sorted(
        name
        for name, info in new.plugins.items()
        if not info.get("registered", True) and base.plugins.get(name, {}).get("registered", True)
    )
    for name in d.unregistered_plugins:
        d.regressions.append(f"plugin {name} is not registered in NEW")

    for kind in sorted(set(base.memory) | set(new.memory)):
        ma, mb = base.memory.get(kind), new.memory.get(kind)
        entry: dict[str, Any] = {"base": ma, "new": mb}
        if ma is not None and mb is not None:
            entry["delta"] = mb - ma
            entry["ratio"] = round(mb / ma, 6) if ma else None
            if kind not in ("workspace_limit",) and mb > ma * (1 + tol.memory_ratio) and mb - ma > 0:
                d.regressions.append(
                    f"memory {kind} grew {ma} -> {mb} bytes ({(mb - ma) / max(ma, 1) * 100:+.1f}%)"
                )
        d.memory[kind] = entry

    ta, tb = _ms(base), _ms(new)
    rows = []
    # largest increase first; equal ones in NEW's layer order (a set's order changes per run)
    for name in sorted((n for n in tb if n in ta), key=lambda n: tb[n] - ta[n], reverse=True):
        a_ms, b_ms = ta[name], tb[name]
        ratio = b_ms / a_ms if a_ms else None
        worse = ratio is not None and ratio > 1 + tol.latency_ratio and b_ms - a_ms >= tol.latency_min_ms
        rows.append(
            {
                "layer": name,
                "base_ms": a_ms,
                "new_ms": b_ms,
                "delta_ms": b_ms - a_ms,
                "ratio": ratio,
                "regression": worse,
            }
        )
        if worse:
            d.regressions.append(f"layer {name} {a_ms:.4g} ms -> {b_ms:.4g} ms ({ratio:.2f}x)")
    d.latency = rows
    total_a = sum(ta.values()) if ta else None
    total_b = sum(tb.values()) if tb else None
    median_a = base.perf.get("gpu_compute_ms", {}).get("median") or base.perf.get("latency_ms", {}).get(
        "median"
    )
    median_b = new.perf.get("gpu_compute_ms", {}).get("median") or new.perf.get("latency_ms", {}).get(
        "median"
    )
    if total_a and total_b:
        d.latency_total = {"what": "sum of per-layer times", "base_ms": total_a, "new_ms": total_b}
    elif median_a and median_b:
        d.latency_total = {"what": "median GPU compute / latency", "base_ms": median_a, "new_ms": median_b}
    if d.latency_total:
        a_ms, b_ms = d.latency_total["base_ms"], d.latency_total["new_ms"]
        d.latency_total["ratio"] = b_ms / a_ms
        if b_ms > a_ms * (1 + tol.latency_ratio) and b_ms - a_ms >= tol.latency_min_ms:
            d.regressions.append(f"engine latency {a_ms:.4g} ms -> {b_ms:.4g} ms ({b_ms / a_ms:.2f}x)")

    for component in sorted(set(base.versions) | set(new.versions)):
        was, now_is = base.versions.get(component), new.versions.get(component)
        if was != now_is:
            d.versions[component] = {"base": was, "new": now_is}
    return d


# What each build after the first is judged against: the first (a reference build), or the one
# before it (a history, oldest first).
AGAINST: Final = ("first", "previous")


@dataclass
class BuildsDiff:
    """Builds of one network side by side (``builds``, in the order given): each build after the
    first judged against the first or the one before (``against``) as a two-way diff does
    (``pairs``), their engine layers lined up by source layer (``aligned``, None: n/a) and their
    per-type tables (``layer_types``)."""

    builds: list[str]
    against: str
    pairs: list[EngineDiff]
    aligned: list[AlignedRow] | None
    layer_types: list[dict[str, Any]]

    @property
    def regressed(self) -> bool:
        return any(pair.regressions for pair in self.pairs)


def diff_builds(
    models: Sequence[EngineModel],
    tables: Sequence[dict[str, TableRow] | None],
    tol: Tolerances | None = None,
    against: str = "first",
) -> BuildsDiff:
    """Compare two or more builds of one network (``tables``: each build's profile-table rows,
    ``ProfileTables.engines``, or None)."""
    if len(models) < 2 or len(tables) != len(models) or against not in AGAINST:
        raise ValueError("diff_builds: two or more models, a table (or None) each, against first|previous")
    pairs = [
        diff_models(models[0] if against == "first" else models[i - 1], models[i], tol)
        for i in range(1, len(models))
    ]
    return BuildsDiff(
        builds=[m.engine for m in models],
        against=against,
        pairs=pairs,
        aligned=align(models, tables),
        layer_types=types_side_by_side(models, tables),
    )
