"""``trt-agent report``: the per-engine summary, as a table for people or JSON for machines."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import orjson

from trt_agent.model import EngineModel
from trt_agent.model.timing import ProfileTables, by_kernel_family, by_layer_type, layer_timing
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.reports.rule_results import result_lines, verdict_line
from trt_agent.rules import Result
from trt_agent.text import cut, format_bytes, plural

WIDTH = 100
MAX_NAMED = 20  # plugin layers named in the text report; the rest are counted
MEMORY_SHOWN = (
    "activation",
    "weights",
    "device_persistent",
    "host_persistent",
    "scratch",
    "engine_size",
    "peak_gpu",
)


def engine_summary(model: EngineModel, tables: ProfileTables | None = None) -> dict[str, Any]:
    """``model.summary()`` with the slowest layers ranked and shared by the profile table's
    ``Time`` column where ``tables`` has it (``model.timing``), and ``time_per_inference``."""
    s = model.summary()
    rows = tables.engines.get(model.engine) if tables is not None else None
    timing = layer_timing(model, rows)
    s["slowest_layers"] = timing["slowest_layers"]
    s["time_per_inference"] = timing["per_inference"]
    s["by_layer_type"] = by_layer_type(model, rows)
    s["by_kernel_family"] = by_kernel_family(model, rows)
    s["bindings"] = [{"name": name} | info for name, info in model.bindings.items()]
    s["optimization_profiles"] = model.optimization_profiles()
    memory = model.layer_memory()
    s["memory_by_layer"] = memory["layers"] if memory is not None else None
    s["layer_memory_totals"] = memory["totals"] if memory is not None else None
    return s


def summaries(
    models: dict[str, EngineModel], redactor: Redactor, tables: ProfileTables | None = None
) -> list[dict[str, Any]]:
    """Each engine's ``engine_summary()``, its layer and tensor names (and the free text of its
    versions) through ``redactor``."""
    out = []
    name, text = redactor.name, redactor.text
    for model in models.values():
        s = engine_summary(model, tables)
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
        # a binding's format and a kernel family are text the input wrote: scrubbed like a msg
        s["bindings"] = [
            row
            | {"name": name(row["name"]), "format": text(row["format"]) if row["format"] else row["format"]}
            for row in s["bindings"]
        ]
        if s["by_kernel_family"] is not None:
            s["by_kernel_family"] = [
                row | {"family": text(row["family"]) if row["family"] else row["family"]}
                for row in s["by_kernel_family"]
            ]
        if s["memory_by_layer"] is not None:
            s["memory_by_layer"] = [row | {"layer": name(row["layer"])} for row in s["memory_by_layer"]]
        s["plugins"]["layers"] = [name(layer) for layer in s["plugins"]["layers"]]
        # a fallback's reason and the rest of its fields are free text when a [[patterns]]
        # group captured them
        by_reason: Counter[str] = Counter()
        for reason, count in s["fallbacks"]["by_reason"].items():
            by_reason[text(reason)] += count
        s["fallbacks"]["by_reason"] = dict(by_reason)
        s["fallbacks"]["items"] = [
            {k: name(v) if k == "layer" else text(v) if isinstance(v, str) else v for k, v in item.items()}
            for item in s["fallbacks"]["items"]
        ]
        s["calibration"]["widest"] = [
            row | {"tensor": name(row["tensor"])} for row in s["calibration"]["widest"]
        ]
        # versions are free text the logs wrote (a device name, a build string): scrubbed of
        # learned names like any message
        for key in ("versions", "linked_versions"):
            s[key] = {component: text(value) for component, value in s[key].items()}
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
    tables: ProfileTables | None = None,
) -> bytes:
    """The machine-readable report: ``{"engines": [...], "parse": {...}}`` with stable keys.
    With ``results`` (``report --rules``), each engine also has ``rules``: its rule results as
    ``check --format json`` gives them (already redacted by the caller); with ``tables``, shares
    and the time per inference come from the profile tables' ``Time`` column."""
    engines = summaries(models, redactor, tables)
    if results is not None:
        for s in engines:
            s["rules"] = [r.as_dict() for r in results if r.engine == s["engine"]]
    doc = {"engines": engines, "parse": stats}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def _pct(ratio: dict[str, Any]) -> str:
    """``73.7%  (14/19)``; ``n/a (why)`` for a figure the input cannot give; the count of layers
    left out as not judged, when there are some."""
    if ratio["ratio"] is None:
        return f"n/a ({ratio['reason']})" if ratio.get("reason") else "n/a"
    left_out = f"; {ratio['excluded']} not judged" if ratio.get("excluded") else ""
    return f"{ratio['ratio'] * 100:5.1f}%  ({ratio['numerator']}/{ratio['denominator']}{left_out})"


def _bytes(n: int | None) -> str:
    return "n/a" if n is None else format_bytes(n)


def _rules(results: Sequence[Result]) -> list[str]:
    """The verdict of an engine's rules, then one line per rule, whole (a skip's reason, why a
    figure is n/a, is as much the report as a failure's layers and file:line)."""
    if not results:
        return ["rules           none applies to this engine"]
    return [f"rules           {verdict_line(results)}", *result_lines(results)]


_BREAKS = re.compile(r"(?<=, )|(?<=; )|(?<= \| )")


_WHITESPACE: Final = re.compile(r"[\t\n\r\x0b\x0c]")


def _field(label: str, text: str) -> list[str]:
    """``label`` in a 16-column margin, then ``text`` wrapped to the report's width (never cut:
    the end of a long line, the peak memory say, is as much the report as its start). Lines
    break after a ``,``, ``;`` or ``|`` that separates items, inside an item only when it is
    longer than a line."""
    lines: list[str] = []
    line = f"{label:<15} "
    text = _WHITESPACE.sub(" ", text)  # a tab or newline in a name would break the columns
    for item in _BREAKS.split(text):
        if len(line) + len(item.rstrip()) > WIDTH and len(line.strip()) > len(label):
            lines.append(line.rstrip())
            line = " " * 16
        line += item
        while len(line.rstrip()) > WIDTH:  # an item longer than a line: broken at a space
            # (wrapped after the margin: a word longer than a line would take the margin's place)
            body = line[16:]
            head = textwrap.wrap(body, WIDTH - 16, break_long_words=True, break_on_hyphens=False)[0]
            lines.append(line[:16] + head)
            line = " " * 16 + body[body.index(head) + len(head) :].lstrip()
    lines.append(line.rstrip())
    return [ln for ln in lines if ln.strip()] or [label]


def _names(names: Sequence[str], shown: int = MAX_NAMED) -> str:
    more = f", … and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _plugins(plugins: dict[str, Any]) -> str:
    """The plugin layers of the engine (what ``/metrics`` counts), then the plugin types the log
    created them from: ``6 layers: LayerNormN-0, … (created: LayerNorm v1 x6)``."""
    layers = plugins["layers"]
    created = [
        f"{name}{' v' + info['version'] if info.get('version') else ''} x{info['count']}"
        + ("" if info.get("registered", True) else " not registered")
        for name, info in plugins["created"].items()
    ]
    text = plural(len(layers), "layer") + (f": {_names(layers)}" if layers else "")
    return text + (f" (created: {', '.join(created)})" if created else "")


def _linked(s: dict[str, Any]) -> str | None:
    """Components TensorRT loaded in another version than it was linked against."""
    items = [
        f"{component} linked {linked}, loaded {s['versions'].get(component) or '?'}"
        for component, linked in s["linked_versions"].items()
        if s["versions"].get(component) != linked
    ]
    return "; ".join(items) or None


def _ms(value: float) -> str:
    return f"{value:.4g} ms"


def _per_inference(per: dict[str, Any]) -> str:
    """Σ per-layer time per inference, where it came from, and the GPU compute time beside it."""
    source = "Time column / iterations" if per["from"] == "time column" else "sum of layer averages"
    text = f"{_ms(per['sum_of_layers_ms'])}, Σ of {plural(per['layers'], 'layer')} (profiled; {source})"
    if per["partial"]:
        text += (
            f"; a partial table: its rows hold {per['table_percent']:g}% of trtexec's time,"
            " so the shares below are trtexec's own percentages"
        )
        if per["whole_table_ms"] is not None:
            text += f"; the whole table ≈ {_ms(per['whole_table_ms'])} by those percentages"
    if per["gpu_compute_ms"] is not None:
        text += f" | GPU compute {per['gpu_compute_stat']} {_ms(per['gpu_compute_ms'])}"
        gap = per["overhead_ms"]
        if gap is not None and gap >= 0:
            text += f" | profiling overhead {gap:+.4g} ms"
        elif gap is not None:
            text += f" | Σ layers {-gap:.4g} ms below GPU compute: GPU time outside the layers' kernels"
    return text


def report_text(
    models: dict[str, EngineModel],
    stats: dict[str, Any],
    redactor: Redactor = NULL_REDACTOR,
    results: Sequence[Result] | None = None,
    tables: ProfileTables | None = None,
) -> str:
    """The human report: one block per engine, 100 columns wide (long lines wrap). With
    ``results`` (``report --rules``), each block ends with the engine's rule results, failures
    first; with ``tables``, shares and time per inference come from the ``Time`` column."""
    out: list[str] = []
    for s in summaries(models, redactor, tables):
        out.append("=" * WIDTH)
        out.extend(_field("engine", s["engine"]))
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
        out.extend(_field("fusion coverage", f"{_pct(cov)}{opaque}"))
        out.extend(_field("unfused kernels", _pct(s["unfused_kernel_ratio"])))
        out.extend(_field("INT8 coverage", _pct(s["int8_coverage"])))
        if s["precisions"]:
            out.extend(_field("precision mix", ", ".join(f"{k} {v}" for k, v in s["precisions"].items())))
        if s["fusions"]["events"]:
            kinds = ", ".join(f"{k} {v}" for k, v in list(s["fusions"]["by_kind"].items())[:4])
            out.extend(_field("fusion events", f"{s['fusions']['events']}: {kinds}"))
        versions = ", ".join(f"{k} {v}" for k, v in s["versions"].items())
        out.extend(_field("versions", versions or "n/a"))
        linked = _linked(s)
        if linked:
            out.extend(_field("linked/loaded", linked))
        mem = s["memory"]
        shown = [k for k in MEMORY_SHOWN if k in mem]
        out.extend(_field("memory", ", ".join(f"{k} {_bytes(mem[k])}" for k in shown) or "n/a"))
        profiles = s["optimization_profiles"]
        if profiles is not None and profiles["count"] > 1:
            out.extend(_field("profiles", _profiles(profiles)))
        if s["bindings"]:
            out.extend(_field("bindings", "; ".join(_binding(row) for row in s["bindings"])))
        if s["layer_memory_totals"] is not None:
            out.extend(_field("layer memory", _layer_memory(s["memory_by_layer"], s["layer_memory_totals"])))
        out.extend(_field("plugins", _plugins(s["plugins"])))
        fb = s["fallbacks"]
        reasons = ", ".join(f"{k} {v}" for k, v in fb["by_reason"].items())
        out.extend(_field("fallbacks", f"{fb['count']}" + (f": {reasons}" if reasons else "")))
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
            out.extend(_field("performance", ", ".join(parts)))
        if s["time_per_inference"] is not None:
            out.extend(_field("time/inference", _per_inference(s["time_per_inference"])))
        if results is not None:
            out.extend(_rules([r for r in results if r.engine == s["engine"]]))
        if s["by_layer_type"] and any(row["type"] for row in s["by_layer_type"]):
            out.append("")
            out.extend(_layer_types(s["by_layer_type"]))
        if s["by_kernel_family"] and any(row["family"] for row in s["by_kernel_family"]):
            out.append("")
            out.extend(_kernel_families(s["by_kernel_family"]))
        if s["slowest_layers"]:
            out.append("")
            out.append(f"{'slowest layers':<66}{'avg ms':>10}{'share':>8}{'prec':>8}{'fused':>7}")
            for row in s["slowest_layers"]:
                out.append(
                    f"{cut(row['layer'], 65):<66}{row['avg_ms']:>10.4f}{row['share'] * 100:>7.1f}%"
                    f"{(row['precision'] or '-'):>8}{_yes_no(row['fused']):>7}"
                )
        out.append("")
    out.append(
        f"parsed {stats['files']} file(s), {stats['lines']} lines, {stats['events']} events, "
        f"{stats['unparsed']} lines without an event"
    )
    return "\n".join(out) + "\n"


def _profiles(profiles: dict[str, Any]) -> str:
    """``2 optimisation profiles (layers: 0 36, 1 36); the figures are of profile 1``."""
    layers = ", ".join(f"{p} {n}" for p, n in profiles["layers"].items())
    return (
        f"{profiles['count']} optimisation profiles (layers: {layers}); "
        f"the figures are of profile {profiles['shown']}"
    )


def _binding(row: dict[str, Any]) -> str:
    """``input input [1,3,224,224] Half``: a binding's direction, name, shape and type."""
    shape = "[" + ",".join(str(d) for d in row["shape"]) + "]" if row["shape"] is not None else "[?]"
    return f"{row['direction']} {row['name']} {shape} {row['precision'] or '?'}"


def _layer_memory(rows: list[dict[str, Any]], totals: dict[str, Any]) -> str:
    """Weights and outputs summed over the layer list, and the layer holding the most weights."""
    weights = totals["weights_bytes"]
    text = (
        f"weights {_bytes(weights)}, outputs {_bytes(totals['activation_bytes'])} (Σ over {len(rows)} layers)"
    )
    heaviest = max(rows, key=lambda row: row["weights_bytes"] or 0)
    if weights and heaviest["weights_bytes"]:
        share = heaviest["weights_bytes"] / weights * 100
        text += f"; most weights: {heaviest['layer']} {_bytes(heaviest['weights_bytes'])} ({share:.0f}%)"
    return text


def _ms_share(row: dict[str, Any]) -> str:
    """A group's ``ms`` and ``share`` columns (``-`` for a group none of whose layers was timed)."""
    ms = f"{row['ms']:.4f}" if row["ms"] is not None else "-"
    share = f"{row['share'] * 100:.1f}%" if row["share"] is not None else "-"
    return f"{ms:>10}{share:>8}"


def _kernel_families(rows: list[dict[str, Any]]) -> list[str]:
    """The time per kernel family (``by_kernel_family``), with tensor-core use as the names say."""
    lines = [f"{'kernel family':<44}{'layers':>7}{'ms':>10}{'share':>8}  tensor cores"]
    for row in rows:
        cores = {True: "yes", False: "no (CUDA cores)", None: "-"}[row["tensor_cores"]]
        label = cut(row["family"] or "n/a (kernel not named)", 43)
        lines.append(f"{label:<44}{row['count']:>7}{_ms_share(row)}  {cores}")
    return lines


def _layer_types(rows: list[dict[str, Any]]) -> list[str]:
    """The time per layer type (``by_layer_type``): where the time goes, TREx's first chart."""
    lines = [f"{'layer type':<28}{'layers':>7}{'timed':>7}{'ms':>10}{'share':>8}  precisions"]
    for row in rows:
        precisions = ", ".join(f"{k} {v}" for k, v in row["precisions"].items())
        label = cut(row["type"] or "n/a (no layer list)", 27)
        lines.append(f"{label:<28}{row['count']:>7}{row['timed']:>7}{_ms_share(row)}  {precisions}")
    return lines


def _yes_no(value: bool | None) -> str:
    """A yes/no column; ``-`` where the input cannot tell (a Myelin kernel's fusion)."""
    return "-" if value is None else "yes" if value else "no"
