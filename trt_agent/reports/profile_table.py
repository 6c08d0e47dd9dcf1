"""``trt-agent profile``: per-layer times of one profiling run, joined with the engine's build
facts, as a table (like ``trtexec --dumpProfile``, with percentiles) or JSON."""

from __future__ import annotations

from typing import Any

import orjson

from trt_agent.model import EngineModel
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.text import cut
from trt_agent.vocab.names import decompose

WIDTH = 100


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list (``q`` in 0..1)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def profile_rows(times: dict[str, list[float]], model: EngineModel) -> list[dict[str, Any]]:
    """One row per layer in execution order: median/p90/p99/mean ms, share of the total time,
    and what the build says of the layer (type, precision, fused)."""
    total = sum(sum(values) for values in times.values()) or 1.0
    rows = []
    for name, values in times.items():
        ordered = sorted(values)
        layer = model.layers.get(name)
        rows.append(
            {
                "layer": name,
                "count": len(values),
                "median_ms": percentile(ordered, 0.5),
                "p90_ms": percentile(ordered, 0.9),
                "p99_ms": percentile(ordered, 0.99),
                "mean_ms": sum(values) / len(values),
                "share": sum(values) / total,
                "type": layer.layer_type if layer else None,
                "precision": layer.precision if layer else None,
                "fused": layer.is_fused if layer else decompose(name).kind in ("fused", "myelin", "dla"),
            }
        )
    return rows


def _redacted(rows: list[dict[str, Any]], redactor: Redactor) -> list[dict[str, Any]]:
    return [row | {"layer": redactor.name(row["layer"])} for row in rows]


def profile_json(
    engine: str, iterations: int, rows: list[dict[str, Any]], redactor: Redactor = NULL_REDACTOR
) -> bytes:
    per_iteration = sum(row["mean_ms"] for row in rows)
    doc = {
        "engine": engine,
        "iterations": iterations,
        "mean_ms_per_inference": per_iteration,
        "layers": _redacted(rows, redactor),
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def profile_text(
    engine: str, iterations: int, rows: list[dict[str, Any]], redactor: Redactor = NULL_REDACTOR
) -> str:
    out = [f"engine {engine}: {iterations} profiled inferences, {len(rows)} layers"]
    out.append(f"{'layer':<52}{'median':>9}{'p90':>9}{'p99':>9}{'share':>8}{'prec':>7}{'fused':>6}")
    for row in _redacted(rows, redactor):
        name = cut(row["layer"], 51)
        out.append(
            f"{name:<52}{row['median_ms']:>9.4f}{row['p90_ms']:>9.4f}{row['p99_ms']:>9.4f}"
            f"{row['share'] * 100:>7.1f}%{(row['precision'] or '-'):>7}{('yes' if row['fused'] else 'no'):>6}"
        )
    out.append(f"{'total (sum of layer means, ms)':<52}{sum(r['mean_ms'] for r in rows):>9.4f}")
    out.append("times in ms; median/p90/p99 over the profiled inferences (GPU time per layer, CUDA events)")
    return "\n".join(out) + "\n"
