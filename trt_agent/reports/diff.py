"""``trt-agent diff`` output: a text page for people, JSON for scripts."""

from __future__ import annotations

from typing import Any

import orjson

from trt_agent.model.align import NOT_ALIGNED, NOTHING_TO_ALIGN, AlignedRow
from trt_agent.model.diff import BuildsDiff, EngineDiff
from trt_agent.model.engine import fallback_label
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.text import cut
from trt_agent.vocab.names import REFORMAT_PREFIXES


def scrubbed(value: Any, redactor: Redactor) -> Any:
    """``value`` (JSON-like) with every string passed through the redactor's free-text scrub."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {k: scrubbed(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(v, redactor) for v in value]
    return value


def diff_json(d: EngineDiff, redactor: Redactor = NULL_REDACTOR) -> bytes:
    doc = scrubbed(d.as_dict(), redactor) | {"regressed": bool(d.regressions)}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _pct(ratio: dict[str, Any]) -> str:
    if ratio["ratio"] is None:
        return "n/a"
    return f"{ratio['ratio'] * 100:.1f}% ({ratio['numerator']}/{ratio['denominator']})"


def _more(items: list[Any], limit: int, indent: str = "  ") -> list[str]:
    """``… and N more`` under a list cut at ``limit`` (nothing when it was not cut)."""
    if len(items) <= limit:
        return []
    return [f"{indent}… and {len(items) - limit} more (--format json lists all)"]


def diff_text(d: EngineDiff, redactor: Redactor = NULL_REDACTOR, limit: int = 15) -> str:
    """The verdict and the regressions first, then what else changed."""
    out = [f"trt-agent diff: BASE {d.base}  vs  NEW {d.new}"]
    if d.regressions:
        out.append(f"REGRESSED: {len(d.regressions)} regression(s)")
        out += [f"  - {r}" for r in d.regressions[:limit]]
        out += _more(d.regressions, limit)
    else:
        out.append("no regression")
    out.append("")
    out.append("coverage                  BASE                     NEW")
    for name, entry in d.coverage.items():
        out.append(f"  {name:<22}  {_pct(entry['base']):<23}  {_pct(entry['new'])}")
    if d.fusions_lost:
        out.append("")
        out.append("fusions lost (one fused layer in BASE, split in NEW)")
        for g in d.fusions_lost[:limit]:
            out.append(f"  {g['fused_in_base']}")
            out.append(f"    members {', '.join(g['sources'])}")
            out.append(f"    NEW runs {', '.join(g['new_layers'])}")
            if g["unfused"]:
                out.append(f"    unfused {', '.join(g['unfused'])}")
        out += _more(d.fusions_lost, limit)
    if d.fusions_gained:
        out.append("")
        out.append("fusions gained")
        for g in d.fusions_gained[:limit]:
            out.append(f"  {g['fused_in_new']}  (was {', '.join(g['base_layers'])})")
        out += _more(d.fusions_gained, limit)
    if d.precision_changes:
        out.append("")
        out.append("precision changes")
        for c in d.precision_changes[:limit]:
            mark = "  worse" if c["regression"] else ""
            out.append(f"  {c['from']:>8} -> {c['to']:<8} {c['new_layer']}{mark}")
        out += _more(d.precision_changes, limit)
    if d.new_fallbacks or d.resolved_fallbacks:
        out.append("")
        out.append("fallbacks")
        for f in d.new_fallbacks[:limit]:
            out.append(f"  new       {fallback_label(f)}")
        out += _more(d.new_fallbacks, limit, "  new       ")
        for f in d.resolved_fallbacks[:limit]:
            out.append(f"  resolved  {fallback_label(f)}")
        out += _more(d.resolved_fallbacks, limit, "  resolved  ")
    if d.plugins_added or d.plugins_removed:
        out.append("")
        out.append(
            f"plugins   added {', '.join(d.plugins_added) or '-'}; removed {', '.join(d.plugins_removed) or '-'}"
        )
    changed_memory = {k: v for k, v in d.memory.items() if v.get("delta")}
    if changed_memory:
        out.append("")
        out.append("memory                    BASE            NEW          delta")
        for kind, m in changed_memory.items():
            out.append(f"  {kind:<22}{m['base']:>14}{m['new']:>15}{m['delta']:>+15}")
    if d.latency_total:
        t = d.latency_total
        out.append("")
        out.append(
            f"latency ({t['what']})  {t['base_ms']:.4g} ms -> {t['new_ms']:.4g} ms ({t['ratio']:.2f}x)"
        )
    if d.latency:
        out.append("")
        out.append(f"{'layer latency (largest increase first)':<60}{'BASE ms':>10}{'NEW ms':>10}{'ratio':>8}")
        for row in d.latency[:limit]:
            ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "n/a"
            # redacted before it is cut: a cut name is no longer recognised and its start would leak
            name = cut(redactor.text(row["layer"]), 58)
            out.append(f"  {name:<58}{row['base_ms']:>10.4f}{row['new_ms']:>10.4f}{ratio:>8}")
        out += _more(d.latency, limit)
    if d.versions:
        out.append("")
        out.append("versions  " + ", ".join(f"{c} {v['base']} -> {v['new']}" for c, v in d.versions.items()))
    for note in d.notes:
        out.append("")
        out.append(f"note: {note}")
    text = "\n".join(out) + "\n"
    return redactor.text(text)


def _pair_doc(d: EngineDiff) -> dict[str, Any]:
    return d.as_dict() | {"regressed": bool(d.regressions)}


def builds_json(bd: BuildsDiff, redactor: Redactor = NULL_REDACTOR) -> bytes:
    """Two builds: the two-way document (``diff_json``) with ``builds``, ``aligned`` and
    ``layer_types`` added; more: ``builds``, ``against``, ``regressed``, ``pairs`` (a two-way
    document each, in order) and the same two tables."""
    tables = {
        "aligned": [row.as_dict() for row in bd.aligned] if bd.aligned is not None else None,
        "layer_types": bd.layer_types,
    }
    if len(bd.pairs) == 1:
        doc = _pair_doc(bd.pairs[0]) | {"builds": bd.builds} | tables
    else:
        doc = {
            "builds": bd.builds,
            "against": bd.against,
            "regressed": bd.regressed,
            "pairs": [_pair_doc(pair) for pair in bd.pairs],
        } | tables
    return orjson.dumps(scrubbed(doc, redactor), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _cell(layers: list[str], ms: float | None, precisions: list[str]) -> str:
    """One build's cell of a row: ms, what it computes in, and how many engine layers run it."""
    if not layers:
        return "-"
    parts = [f"{ms:.4f}" if ms is not None else "n/a", "/".join(precisions)]
    if len(layers) > 1:
        parts.append(f"x{len(layers)}")
    return " ".join(part for part in parts if part)


def _label(row: AlignedRow) -> str:
    """A row's name: the engine layers of the first build that runs it, its reformats left out
    where it has others (their names say only what they feed)."""
    layers = next(layers for layers in row.layers if layers)
    return " | ".join([name for name in layers if not name.startswith(REFORMAT_PREFIXES)] or layers)


def _type_cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "-"
    if cell["ms"] is None:
        return f"{cell['count']}  n/a"
    return f"{cell['count']}  {cell['ms']:.4f} {cell['share'] * 100:4.1f}%"


def _columns(builds: list[str], rows: list[tuple[str, list[str]]], title: str) -> list[str]:
    """``rows`` (label, a cell per build) as a table: a column per build, as wide as its widest cell."""
    widths = [max(len(build), *(len(cells[i]) for _, cells in rows)) + 3 for i, build in enumerate(builds)]
    out = [f"  {title:<48}" + "".join(f"{b:>{w}}" for b, w in zip(builds, widths, strict=True))]
    for label, cells in rows:
        out.append(f"  {label:<48}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    return out


def aligned_text(bd: BuildsDiff, redactor: Redactor = NULL_REDACTOR) -> list[str]:
    """The layers side by side and the per-type table, a column per build."""
    out = [""]
    if bd.aligned is None:
        out.append(f"layers side by side: n/a ({NOT_ALIGNED})")
    elif not bd.aligned:
        out.append(f"layers side by side: none ({NOTHING_TO_ALIGN})")
    else:
        out.append(
            "layers side by side, lined up by the source layers they run "
            "(ms per inference, what they compute in, xN: N engine layers)"
        )
        rows = [
            # redacted before it is cut: a cut name is no longer recognised and its start would leak
            (
                cut(redactor.text(_label(row)), 46),
                [_cell(*cell) for cell in zip(row.layers, row.ms, row.precisions, strict=True)],
            )
            for row in bd.aligned
        ]
        totals = []
        for i in range(len(bd.builds)):
            timed = [ms for ms in (row.ms[i] for row in bd.aligned) if ms is not None]
            totals.append(f"{sum(timed):.4f}" if timed else "n/a")
        rows.append(("total", totals))
        out += _columns(bd.builds, rows, "engine layers of the first build that has them")
    if bd.layer_types:
        out.append("")
        out.append("layer types side by side (layers, ms per inference, share of the build's time)")
        rows = [
            (cut(entry["type"] or "n/a (no layer list)", 46), [_type_cell(cell) for cell in entry["builds"]])
            for entry in bd.layer_types
        ]
        out += _columns(bd.builds, rows, "layer type")
    return out


def builds_text(bd: BuildsDiff, redactor: Redactor = NULL_REDACTOR, limit: int = 15) -> str:
    """Two builds: ``diff_text``, then the layers and layer types side by side. More: each
    build's verdict against the first (or the one before), then the same tables."""
    if len(bd.pairs) == 1:
        return diff_text(bd.pairs[0], redactor, limit) + redactor.text(
            "\n".join(aligned_text(bd, redactor)) + "\n"
        )
    judged = "the first" if bd.against == "first" else "the one before"
    out = [f"trt-agent diff: {len(bd.builds)} builds: {', '.join(bd.builds)} (each judged against {judged})"]
    regressed = sum(1 for pair in bd.pairs if pair.regressions)
    out.append(f"REGRESSED: {regressed} of {len(bd.pairs)} build(s)" if regressed else "no regression")
    for pair in bd.pairs:
        out.append("")
        verdict = f"REGRESSED: {len(pair.regressions)} regression(s)" if pair.regressions else "no regression"
        out.append(f"{pair.new} vs {pair.base}: {verdict}")
        out += [f"  - {r}" for r in pair.regressions[:limit]]
        out += _more(pair.regressions, limit)
    entries = [pair.coverage for pair in bd.pairs]
    # build 0 is the first pair's BASE; build i the NEW of pair i, whatever it is judged against
    coverage = [
        (name, [_pct(v) for v in [entries[0][name]["base"]] + [e[name]["new"] for e in entries]])
        for name in entries[0]
    ]
    out.append("")
    out += _columns(bd.builds, coverage, "coverage")
    out += aligned_text(bd, redactor)
    for pair in bd.pairs:
        for note in pair.notes:
            out.append("")
            out.append(f"note ({pair.new} vs {pair.base}): {note}")
    return redactor.text("\n".join(out) + "\n")
