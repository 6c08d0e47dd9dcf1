"""``trt-agent diff`` output: a text page for people, JSON for scripts."""

from __future__ import annotations

from typing import Any

import orjson

from trt_agent.model.diff import EngineDiff
from trt_agent.model.engine import fallback_label
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.text import cut


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
