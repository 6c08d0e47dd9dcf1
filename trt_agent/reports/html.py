"""``report --html`` / ``diff --html``: one self-contained HTML page (no CDN, no network).

The page an engineer attaches to a pull request: coverage, precision mix, rule results and a
per-layer latency heatmap (layers × successive observations: profiler reports, profile tables),
drawn server-side as inline SVG so it shows even where scripts are blocked. A few lines of script
only add sorting by column; the page works without them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from trt_agent import __version__
from trt_agent.model import EngineModel
from trt_agent.model.align import NOT_ALIGNED, NOTHING_TO_ALIGN
from trt_agent.model.diff import BuildsDiff, EngineDiff
from trt_agent.model.timing import ProfileTables
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.reports.graph import GRAPH_CSS, GRAPH_JS, graph_section
from trt_agent.reports.summary import engine_summary
from trt_agent.rules import Result, gate
from trt_agent.text import cut
from trt_agent.vocab.events import Event

HEATMAP_ROWS: Final = 40
HEATMAP_COLUMNS: Final = 60
MAX_POINTS: Final = 2 * HEATMAP_COLUMNS  # per layer, kept by averaging neighbours


@dataclass
class LayerSeries:
    """Successive latencies of one layer, averaged pairwise once longer than ``MAX_POINTS`` so
    memory stays bounded on any input; ``stride`` observations make one point."""

    points: list[float] = field(default_factory=list)
    stride: int = 1
    pending: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.pending.append(ms)
        if len(self.pending) < self.stride:
            return
        self.points.append(sum(self.pending) / len(self.pending))
        self.pending.clear()
        if len(self.points) >= MAX_POINTS:
            self.points = [(a + b) / 2 for a, b in zip(self.points[::2], self.points[1::2], strict=False)]
            self.stride *= 2

    def values(self) -> list[float]:
        tail = [sum(self.pending) / len(self.pending)] if self.pending else []
        return self.points + tail


class LatencySeries:
    """Per engine and layer, the latency of each successive observation (fed the event stream),
    and the profile tables' ``Time`` column (``tables``: what shares are computed from)."""

    def __init__(self) -> None:
        self.engines: dict[str, dict[str, LayerSeries]] = {}
        self.tables = ProfileTables()

    def watch(self, events: Iterable[Event]) -> Iterator[Event]:
        """Pass ``events`` through, recording the ``layer_time`` ones."""
        for event in events:
            if event["type"] == "layer_time":
                self.tables.observe(event)
                layers = self.engines.setdefault(event["engine"], {})
                series = layers.get(event["layer"])
                if series is None:
                    series = layers[event["layer"]] = LayerSeries()
                series.add(event["ms"])
            yield event


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#667}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:150px}.card b{font-size:18px;display:block}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #eef;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f6fa;cursor:pointer;user-select:none}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#17803d}.fail{color:#c0262d;font-weight:600}.warn{color:#a15c00;font-weight:600}.skip{color:#889}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.verdict.ok{background:#17803d}.verdict.bad{background:#c0262d}
.bar{display:flex;height:18px;border-radius:3px;overflow:hidden;max-width:640px}.bar span{display:block}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
i.chip{display:inline-block;width:9px;height:9px;margin-right:3px}td.layers{font-size:12px;max-width:30em;overflow-wrap:anywhere}
code{background:#f5f6fa;padding:0 3px;border-radius:3px}svg text{font:11px system-ui,sans-serif;fill:#1d2330}
"""
_CSS += GRAPH_CSS  # the engine graph's search highlighting (reports/graph.py)

# Sorting by a column header: the page is complete without it.
_JS = """
document.querySelectorAll("table.sortable th").forEach(function (th, index) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.dataset.order !== "asc";
    th.dataset.order = asc ? "asc" : "desc";
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.v || a.cells[index].textContent;
      var y = b.cells[index].dataset.v || b.cells[index].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""
_JS += GRAPH_JS  # the engine graph's search box (reports/graph.py)

PRECISION_COLOURS: Final = {
    "Int8": "#2b8a3e",
    "FP8": "#5c940d",
    "Half": "#1971c2",
    "BFloat16": "#4c6ef5",
    "Float": "#e8590c",
    "Int32": "#868e96",
    "unknown": "#ced4da",
}


class _Page:
    def __init__(self, title: str, redactor: Redactor) -> None:
        self.title = title
        self.redactor = redactor
        self.parts: list[str] = []

    def esc(self, text: object, limit: int | None = None) -> str:
        """Escaped text, with layer and tensor names redacted, then cut to ``limit`` characters
        (after redaction: a cut name would no longer be recognised, and its start would leak)."""
        value = self.redactor.text(str(text))
        return html.escape(cut(value, limit) if limit is not None else value)

    def add(self, fragment: str) -> None:
        self.parts.append(fragment)

    def render(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width"><title>{self.esc(self.title)}</title>'
            f"<style>{_CSS}</style></head><body>\n"
            + "\n".join(self.parts)
            + f'\n<p class="muted">trt-agent {__version__}</p><script>{_JS}</script></body></html>\n'
        )


def _pct(entry: dict[str, Any]) -> str:
    if entry["ratio"] is None:
        return "n/a"
    return f"{entry['ratio'] * 100:.1f}%"


def _colour(value: float, lo: float, hi: float) -> str:
    """Light yellow (fast) to dark red (slow), on a log scale from ``lo`` to ``hi`` (> 0)."""
    t = 0.5 if hi <= lo else (math.log(max(value, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo))
    t = min(1.0, max(0.0, t))
    stops = ((255, 247, 188), (254, 196, 79), (236, 112, 20), (153, 52, 4))
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    f = pos - i
    rgb = [round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f) for k in range(3)]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _binned(values: list[float], columns: int) -> list[float]:
    if len(values) <= columns:
        return values
    out = []
    for c in range(columns):
        start = c * len(values) // columns
        end = max(start + 1, (c + 1) * len(values) // columns)
        chunk = values[start:end]
        out.append(sum(chunk) / len(chunk))
    return out


def _heatmap(page: _Page, model: EngineModel, series: dict[str, LayerSeries]) -> None:
    ranked = sorted(model.layer_times.items(), key=lambda kv: kv[1].sum_ms, reverse=True)[:HEATMAP_ROWS]
    page.add("<h3>Per-layer latency heatmap</h3>")
    if not ranked:
        page.add(
            '<p class="muted">No per-layer timings in the input (a profile, --dumpProfile or the profiler).</p>'
        )
        return
    rows = []
    for name, t in ranked:
        values = series[name].values() if name in series else [t.avg_ms]
        rows.append((name, _binned(values, HEATMAP_COLUMNS)))
    columns = max(len(v) for _, v in rows)
    flat = [v for _, vals in rows for v in vals if v > 0]
    lo, hi = (min(flat), max(flat)) if flat else (1e-6, 1e-6)
    label_w, cell_h = 330, 16
    cell_w = max(8, min(64, 640 // columns))
    width = max(label_w + columns * cell_w, label_w + 600) + 10  # room for the axis caption
    height = 24 + len(rows) * cell_h + 30
    svg = [
        f'<svg id="heatmap-{page.esc(model.engine)}" class="heatmap" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" role="img" aria-label="per-layer latency heatmap">'
    ]
    observations = max(t.count for _, t in ranked)
    axis = (
        f"{observations} observations, oldest left (each cell the mean of its span)"
        if columns > 1
        else "one observation per layer (a profile); the profiler or an event stream gives a time axis"
    )
    svg.append(f'<text x="{label_w}" y="14">{axis}</text>')
    for r, (name, values) in enumerate(rows):
        y = 24 + r * cell_h
        svg.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{page.esc(name, 48)}</text>')
        for c, ms in enumerate(values):
            svg.append(
                f'<rect class="cell" x="{label_w + c * cell_w}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{_colour(ms, lo, hi)}"><title>{page.esc(name)}: {ms:.4g} ms</title></rect>'
            )
    y = 24 + len(rows) * cell_h + 16
    svg.append(f'<text x="{label_w}" y="{y}">{lo:.3g} ms</text>')
    for i in range(20):
        svg.append(
            f'<rect x="{label_w + 80 + i * 8}" y="{y - 10}" width="8" height="10" '
            f'fill="{_colour(lo * (hi / lo) ** (i / 19), lo, hi)}"/>'
        )
    svg.append(f'<text x="{label_w + 250}" y="{y}">{hi:.3g} ms</text></svg>')
    page.add("".join(svg))


def _precision_bar(page: _Page, precisions: dict[str, int]) -> None:
    total = sum(precisions.values())
    if not total:
        page.add('<p class="muted">No engine layer list in the input.</p>')
        return
    spans, legend = [], []
    for name, count in precisions.items():
        colour = PRECISION_COLOURS.get(name, "#adb5bd")
        spans.append(
            f'<span style="width:{count / total * 100:.2f}%;background:{colour}" title="{html.escape(name)}: {count}"></span>'
        )
        legend.append(f'<span><i style="background:{colour}"></i>{html.escape(name)} {count}</span>')
    page.add(
        f'<div class="bar precision-mix">{"".join(spans)}</div><div class="legend">{"".join(legend)}</div>'
    )


def _time_card(per: dict[str, Any] | None) -> tuple[str, str, str]:
    """Σ per-layer time per inference (profiled), with the GPU compute time beside it."""
    if per is None:
        return ("time / inference", "n/a", "no per-layer times")
    note = "Σ layers, profiled" + (f"; partial table ({per['table_percent']:g} %)" if per["partial"] else "")
    if per["gpu_compute_ms"] is not None:
        note += f"; GPU compute {per['gpu_compute_stat']} {per['gpu_compute_ms']:.4g} ms"
    if per["overhead_ms"] is not None and per["overhead_ms"] >= 0:
        note += f"; profiling overhead {per['overhead_ms']:+.4g} ms"
    return ("time / inference", f"{per['sum_of_layers_ms']:.4g} ms", note)


def _cards(page: _Page, s: dict[str, Any]) -> None:
    peak = s["peak_memory_bytes"]
    cards = [
        (
            "fusion coverage",
            _pct(s["fusion_coverage"]),
            f"{s['fusion_coverage']['numerator']}/{s['fusion_coverage']['denominator']} source layers",
        ),
        (
            "INT8 coverage",
            _pct(s["int8_coverage"]),
            f"{s['int8_coverage']['numerator']}/{s['int8_coverage']['denominator']} compute layers",
        ),
        (
            "unfused kernels",
            _pct(s["unfused_kernel_ratio"]),
            f"{s['unfused_kernel_ratio']['numerator']}/{s['unfused_kernel_ratio']['denominator']} compute layers",
        ),
        ("peak memory", f"{peak / 2**20:.1f} MiB" if peak is not None else "n/a", "as TensorRT reported it"),
        _time_card(s["time_per_inference"]),
        ("fallbacks", str(s["fallbacks"]["count"]), ", ".join(s["fallbacks"]["by_reason"]) or "none"),
        (
            "versions",
            ", ".join(f"{k} {v}" for k, v in s["versions"].items() if k in ("tensorrt", "cuda", "cudnn"))
            or "n/a",
            "",
        ),
    ]
    page.add(
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{page.esc(t)}</span><b>{page.esc(v)}</b><span class="muted">{page.esc(n)}</span></div>'
            for t, v, n in cards
        )
        + "</div>"
    )


def _rule_table(page: _Page, results: Sequence[Result]) -> None:
    verdict = gate(results)
    page.add(
        f'<h2>Rules <span class="verdict {"ok" if verdict else "bad"}">{"PASS" if verdict else "FAIL"}</span></h2>'
        '<table class="sortable rules"><thead><tr><th>engine</th><th>rule</th><th>severity</th><th>result</th>'
        "<th>message</th></tr></thead><tbody>"
    )
    for r in results:
        cls = (
            "pass"
            if r.status == "pass"
            else "skip"
            if r.status == "skip"
            else ("fail" if r.severity == "error" else "warn")
        )
        page.add(
            f"<tr><td>{page.esc(r.engine)}</td><td>{page.esc(r.rule)}</td><td>{r.severity}</td>"
            f'<td class="{cls}">{r.status}</td><td>{page.esc(r.message)}</td></tr>'
        )
    page.add("</tbody></table>")


def _slowest(page: _Page, s: dict[str, Any]) -> None:
    if not s["slowest_layers"]:
        return
    page.add(
        '<h3>Slowest layers</h3><table class="sortable"><thead><tr><th>layer</th><th>avg ms</th><th>median ms</th>'
        "<th>share</th><th>precision</th><th>fused</th></tr></thead><tbody>"
    )
    for row in s["slowest_layers"]:
        median = f"{row['median_ms']:.4f}" if row["median_ms"] is not None else "-"
        page.add(
            f'<tr><td>{page.esc(row["layer"])}</td><td class="num">{row["avg_ms"]:.4f}</td>'
            f'<td class="num">{median}</td><td class="num">{row["share"] * 100:.1f}%</td>'
            f"<td>{page.esc(row['precision'] or '-')}</td><td>{'-' if row['fused'] is None else 'yes' if row['fused'] else 'no'}</td></tr>"
        )
    page.add("</tbody></table>")


def _engine_section(page: _Page, model: EngineModel, series: LatencySeries) -> None:
    s = engine_summary(model, series.tables)
    page.add(f"<h2>Engine {page.esc(model.engine)}</h2>")
    page.add(f'<p class="muted">{page.esc(", ".join(s["files"]))}</p>')
    _cards(page, s)
    page.add("<h3>Precision mix (compute layers)</h3>")
    _precision_bar(page, s["precisions"])
    _heatmap(page, model, series.engines.get(model.engine, {}))
    _slowest(page, s)
    page.add(graph_section(model, series.tables.engines.get(model.engine), page.redactor, PRECISION_COLOURS))


def report_html(
    models: dict[str, EngineModel],
    series: LatencySeries,
    results: Sequence[Result] = (),
    redactor: Redactor = NULL_REDACTOR,
) -> str:
    """The report page for every engine of the input (with rule results when rules were given)."""
    page = _Page("trt-agent report: " + ", ".join(models) if models else "trt-agent report", redactor)
    page.add(f"<h1>{page.esc(page.title)}</h1>")
    if results:
        _rule_table(page, results)
    for model in models.values():
        _engine_section(page, model, series)
    if not models:
        page.add('<p class="muted">The input held no TensorRT facts.</p>')
    return page.render()


def _pair_details(page: _Page, d: EngineDiff) -> None:
    """What a two-way diff found beyond the verdict: lost fusions, precision changes, per-layer
    latency change."""
    if d.fusions_lost:
        page.add(
            "<h2>Fusions lost</h2><table><thead><tr><th>fused in BASE</th><th>members</th><th>NEW runs</th></tr></thead><tbody>"
        )
        for g in d.fusions_lost:
            page.add(
                f"<tr><td>{page.esc(g['fused_in_base'])}</td><td>{page.esc(', '.join(g['sources']))}</td>"
                f"<td>{page.esc(', '.join(g['new_layers']))}</td></tr>"
            )
        page.add("</tbody></table>")
    if d.precision_changes:
        page.add(
            "<h2>Precision changes</h2><table><thead><tr><th>layer (NEW)</th><th>BASE</th><th>NEW</th></tr></thead><tbody>"
        )
        for c in d.precision_changes:
            cls = ' class="fail"' if c["regression"] else ""
            page.add(
                f"<tr><td>{page.esc(c['new_layer'])}</td><td>{html.escape(c['from'])}</td>"
                f"<td{cls}>{html.escape(c['to'])}</td></tr>"
            )
        page.add("</tbody></table>")
    if d.latency:
        page.add(
            '<h2>Layer latency</h2><table class="sortable"><thead><tr><th>layer</th><th>BASE ms</th><th>NEW ms</th>'
            "<th>ratio</th></tr></thead><tbody>"
        )
        for row in d.latency[:100]:
            ratio = row["ratio"]
            cls = ' class="fail num"' if row["regression"] else ' class="num"'
            page.add(
                f'<tr><td>{page.esc(row["layer"])}</td><td class="num">{row["base_ms"]:.4f}</td>'
                f'<td class="num">{row["new_ms"]:.4f}</td><td{cls} data-v="{ratio or 0}">'
                f"{f'{ratio:.2f}x' if ratio is not None else 'n/a'}</td></tr>"
            )
        page.add("</tbody></table>")


def _verdicts(page: _Page, bd: BuildsDiff) -> None:
    """The verdict, then each judged build's regressions."""
    regressed = [pair for pair in bd.pairs if pair.regressions]
    count = sum(len(pair.regressions) for pair in regressed)
    page.add(
        f'<p><span class="verdict {"bad" if regressed else "ok"}">'
        f"{f'{count} REGRESSION(S)' if regressed else 'NO REGRESSION'}</span></p>"
    )
    for pair in regressed:
        if len(bd.pairs) > 1:
            page.add(f"<h3>{page.esc(pair.new)} vs {page.esc(pair.base)}</h3>")
        page.add(
            '<ul class="regressions">'
            + "".join(f'<li class="fail">{page.esc(r)}</li>' for r in pair.regressions)
            + "</ul>"
        )


def _coverage(page: _Page, bd: BuildsDiff) -> None:
    heads = ["BASE", "NEW"] if len(bd.builds) == 2 else bd.builds
    page.add(
        "<h2>Coverage</h2><table><thead><tr><th></th>"
        + "".join(f"<th>{page.esc(h)}</th>" for h in heads)
        + "</tr></thead><tbody>"
    )
    for name, entry in bd.pairs[0].coverage.items():
        values = [entry["base"]] + [pair.coverage[name]["new"] for pair in bd.pairs]
        page.add(
            f"<tr><td>{name.replace('_', ' ')}</td>"
            + "".join(f'<td class="num">{_pct(v)}</td>' for v in values)
            + "</tr>"
        )
    page.add("</tbody></table>")


def _precision_chips(precisions: list[str]) -> str:
    return "".join(
        f'<i class="chip" style="background:{PRECISION_COLOURS.get(p, "#adb5bd")}"></i>{html.escape(p)} '
        for p in precisions
    )


def _aligned(page: _Page, bd: BuildsDiff) -> None:
    """The layers side by side (one row per group of engine layers that run the same source
    layers), then the layer types side by side."""
    page.add("<h2>Layers side by side</h2>")
    if bd.aligned is None:
        page.add(f'<p class="muted">n/a: {html.escape(NOT_ALIGNED)}.</p>')
    elif not bd.aligned:
        page.add(f'<p class="muted">None: {html.escape(NOTHING_TO_ALIGN)}.</p>')
    else:
        page.add(
            '<p class="muted">Engine layers lined up by the source layers they run: a row holds what '
            "each build runs for the same part of the network, whatever it fused. ms per inference.</p>"
        )
        page.add(
            '<table class="sortable aligned"><thead><tr>'
            + "".join(f"<th>{page.esc(b)}</th><th>ms</th>" for b in bd.builds)
            + "</tr></thead><tbody>"
        )
        for row in bd.aligned:
            cells = []
            for layers, ms, precisions in zip(row.layers, row.ms, row.precisions, strict=True):
                names = "<br>".join(page.esc(name, 80) for name in layers) or "-"
                cells.append(
                    f'<td class="layers">{names}<div class="muted">{_precision_chips(precisions)}</div></td>'
                    f'<td class="num" data-v="{ms if ms is not None else -1}">'
                    f"{f'{ms:.4f}' if ms is not None else ('n/a' if layers else '-')}</td>"
                )
            page.add("<tr>" + "".join(cells) + "</tr>")
        page.add("</tbody></table>")
    if not bd.layer_types:
        return
    page.add(
        '<h2>Layer types side by side</h2><table class="sortable"><thead><tr><th>layer type</th>'
        + "".join(f"<th>{page.esc(b)} layers</th><th>ms</th><th>share</th>" for b in bd.builds)
        + "</tr></thead><tbody>"
    )
    for entry in bd.layer_types:
        cells = [f"<td>{page.esc(entry['type'] or 'n/a (no layer list)')}</td>"]
        for cell in entry["builds"]:
            if cell is None:
                cells.append('<td class="num">-</td><td class="num">-</td><td class="num">-</td>')
                continue
            ms_text = f"{cell['ms']:.4f}" if cell["ms"] is not None else "n/a"
            share = f"{cell['share'] * 100:.1f}%" if cell["share"] is not None else "n/a"
            cells.append(
                f'<td class="num">{cell["count"]}</td><td class="num">{ms_text}</td>'
                f'<td class="num" data-v="{cell["share"] or 0}">{share}</td>'
            )
        page.add("<tr>" + "".join(cells) + "</tr>")
    page.add("</tbody></table>")


def builds_html(
    models: Sequence[EngineModel],
    bd: BuildsDiff,
    series: LatencySeries,
    redactor: Redactor = NULL_REDACTOR,
) -> str:
    """The diff page: the verdict and regressions, coverage side by side, (two builds) lost
    fusions, precision changes and per-layer latency change, the layers and layer types side
    by side, then each build's own section."""
    title = (
        f"trt-agent diff: {bd.builds[0]} vs {bd.builds[1]}"
        if len(bd.builds) == 2
        else f"trt-agent diff: {', '.join(bd.builds)}"
    )
    page = _Page(title, redactor)
    page.add(f"<h1>{page.esc(page.title)}</h1>")
    if len(bd.builds) > 2:
        judged = "the first" if bd.against == "first" else "the one before it"
        page.add(f'<p class="muted">Each build after the first is judged against {judged}.</p>')
    _verdicts(page, bd)
    _coverage(page, bd)
    if len(bd.pairs) == 1:
        _pair_details(page, bd.pairs[0])
    _aligned(page, bd)
    for model in models:
        _engine_section(page, model, series)
    return page.render()
