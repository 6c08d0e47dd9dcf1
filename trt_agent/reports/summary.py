"""``trt-agent report``: the per-engine summary, as a table for people or JSON for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from trt_agent.model import EngineModel
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.reports.rule_results import result_lines, sorted_results, verdict_line
from trt_agent.rules import Result
from trt_agent.text import cut, format_bytes

WIDTH = 100


def summaries(models: dict[str, EngineModel], redactor: Redactor) -> list[dict[str, Any]]:
    """Each engine's ``summary()``, its layer and tensor names through ``redactor``."""
    out = []
    name = redactor.name
    for model in models.values():
        s = model.summary()
        s["slowest_layers"] = [
            row | {"layer": name(row["layer"])} | _math(model, row["layer"]) for row in s["slowest_layers"]
        ]
        # each listed compute layer's precisions: the output's, the math's and what said so
        s["layer_precisions"] = [
            {
                "layer": name(layer.name),
                "layer_type": layer.layer_type,
                "precision": layer.precision,
                "math_precision": layer.math_precision,
                "evidence": layer.precision_evidence,
            }
            for layer in model.layers.values()
            if layer.is_compute
        ]
        s["plugins"]["layers"] = [name(layer) for layer in s["plugins"]["layers"]]
        s["fallbacks"]["items"] = [
            item | ({"layer": name(item["layer"])} if "layer" in item else {})
            for item in s["fallbacks"]["items"]
        ]
        s["calibration"]["widest"] = [
            row | {"tensor": name(row["tensor"])} for row in s["calibration"]["widest"]
        ]
        out.append(s)
    return out


def _math(model: EngineModel, layer_name: str) -> dict[str, Any]:
    """A profiled layer's output precision, math precision and its evidence (model/precision.py)."""
    layer = model.layers.get(layer_name)
    if layer is None:
        return {"output_precision": None, "math_precision": None, "precision_evidence": "unknown"}
    return {
        "output_precision": layer.precision,
        "math_precision": layer.math_precision,
        "precision_evidence": layer.precision_evidence,
    }


def report_json(
    models: dict[str, EngineModel],
    stats: dict[str, Any],
    redactor: Redactor = NULL_REDACTOR,
    results: Sequence[Result] | None = None,
) -> bytes:
    """The machine-readable report: ``{"engines": [...], "parse": {...}}`` with stable keys.
    With ``results`` (``report --rules``), each engine also has ``rules``: its rule results as
    ``check --format json`` gives them (already redacted by the caller)."""
    engines = summaries(models, redactor)
    if results is not None:
        for s in engines:
            s["rules"] = [r.as_dict() for r in results if r.engine == s["engine"]]
    doc = {"engines": engines, "parse": stats}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def _pct(ratio: dict[str, Any]) -> str:
    if ratio["ratio"] is None:
        return "n/a"
    return f"{ratio['ratio'] * 100:5.1f}%  ({ratio['numerator']}/{ratio['denominator']})"


def _bytes(n: int | None) -> str:
    return "n/a" if n is None else format_bytes(n)


def _rules(results: Sequence[Result]) -> list[str]:
    """The verdict of an engine's rules, then one line per rule. Passed and skipped rules are cut
    to the report's width; a failure is not: its end names the layers, messages, file:line."""
    if not results:
        return ["rules           none applies to this engine"]
    lines = [f"rules           {verdict_line(results)}"]
    for result, line in zip(sorted_results(results), result_lines(results), strict=True):
        lines.append(line if result.failed else cut(line, WIDTH))
    return lines


def report_text(
    models: dict[str, EngineModel],
    stats: dict[str, Any],
    redactor: Redactor = NULL_REDACTOR,
    results: Sequence[Result] | None = None,
) -> str:
    """The human report: one block per engine, fits a 100-column terminal. With ``results``
    (``report --rules``), each block ends with the engine's rule results, failures first."""
    out: list[str] = []
    for s in summaries(models, redactor):
        out.append("=" * WIDTH)
        out.append(cut(f"engine  {s['engine']}", WIDTH))
        out.append("=" * WIDTH)
        layers = s["layers"]
        stages = layers["stages"]
        before = stages.get("original")
        out.append(
            f"layers          source {layers['source'] if layers['source'] is not None else 'n/a'}"
            f" | before opt. {before if before is not None else 'n/a'}"
            f" | engine {layers['engine']} | compute {layers['compute']}"
        )
        cov = s["fusion_coverage"]
        opaque = f", {cov['opaque_layers']} opaque in Myelin" if cov["opaque_layers"] else ""
        out.append(f"fusion coverage {_pct(cov)}{opaque}")
        out.append(f"unfused kernels {_pct(s['unfused_kernel_ratio'])}")
        out.append(f"INT8 coverage   {_pct(s['int8_coverage'])}")
        if s["precisions"]:
            mix = ", ".join(f"{k} {v}" for k, v in s["precisions"].items())
            out.append(cut(f"precision mix   {mix}", WIDTH))
        if s["fusions"]["events"]:
            kinds = ", ".join(f"{k} {v}" for k, v in list(s["fusions"]["by_kind"].items())[:4])
            out.append(cut(f"fusion events   {s['fusions']['events']}: {kinds}", WIDTH))
        versions = ", ".join(f"{k} {v}" for k, v in s["versions"].items())
        out.append(cut(f"versions        {versions or 'n/a'}", WIDTH))
        mem = s["memory"]
        shown = [
            k
            for k in (
                "activation",
                "weights",
                "device_persistent",
                "host_persistent",
                "scratch",
                "engine_size",
                "peak_gpu",
            )
            if k in mem
        ]
        out.append(
            cut("memory          " + (", ".join(f"{k} {_bytes(mem[k])}" for k in shown) or "n/a"), WIDTH)
        )
        plugins = sorted(set(s["plugins"]["created"]) | set(s["plugins"]["layers"]))
        out.append(
            cut(f"plugins         {len(plugins)}" + (f": {', '.join(plugins)}" if plugins else ""), WIDTH)
        )
        fb = s["fallbacks"]
        reasons = ", ".join(f"{k} {v}" for k, v in fb["by_reason"].items())
        out.append(cut(f"fallbacks       {fb['count']}" + (f": {reasons}" if reasons else ""), WIDTH))
        ev = s["events"]
        out.append(f"events          {ev['total']} ({ev['warnings']} warnings, {ev['errors']} errors)")
        perf = s["perf"]
        if "latency_ms" in perf or "gpu_compute_ms" in perf:
            lat = perf.get("latency_ms", {})
            gpu = perf.get("gpu_compute_ms", {})
            qps = perf.get("throughput_qps", {}).get("mean")
            parts = []
            if qps is not None:
                parts.append(f"{qps:g} qps")
            if "median" in lat:
                parts.append(f"latency median {lat['median']:g} ms p99 {lat.get('p99', float('nan')):g} ms")
            if "median" in gpu:
                parts.append(f"GPU compute median {gpu['median']:g} ms")
            out.append(cut("performance     " + ", ".join(parts), WIDTH))
        if results is not None:
            out.extend(_rules([r for r in results if r.engine == s["engine"]]))
        if s["slowest_layers"]:
            out.append("")
            out.append(f"{'slowest layers':<66}{'avg ms':>10}{'share':>8}{'prec':>8}{'fused':>7}")
            for row in s["slowest_layers"]:
                out.append(
                    f"{cut(row['layer'], 65):<66}{row['avg_ms']:>10.4f}{row['share'] * 100:>7.1f}%"
                    f"{(row['precision'] or '-'):>8}{('yes' if row['fused'] else 'no'):>7}"
                )
        out.append("")
    out.append(
        f"parsed {stats['files']} file(s), {stats['lines']} lines, {stats['events']} events, "
        f"{stats['unparsed']} lines without an event"
    )
    return "\n".join(out) + "\n"
