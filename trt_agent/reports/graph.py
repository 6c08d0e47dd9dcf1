"""The engine graph of ``report --html``: engine layers as nodes, the tensors between them as
edges, laid out here and drawn as one inline SVG (no library, no URL, nothing fetched).

Edges come from the tensor names a layer list or a layer line gives (``EngineLayer.inputs`` and
``outputs``): a tensor runs from the layer that writes it to each layer that reads it. The
engine's bindings (``EngineModel.bindings``) are nodes of their own, inputs on top and outputs
below what writes them; a tensor that no layer writes and no binding names (a constant built into
the engine) is no node.

Layout (a layered drawing, top to bottom): a node's rank is the longest path to it from a node
nothing feeds; a layer that nothing feeds (it reads only constants) is moved down to the rank
above its first reader. Each rank is a row; within it a node takes the mean column of what feeds
it (halves down) or the first free one right of it (a chain stays straight, a branch goes right),
what nothing feeds fills the columns left, and a rank wider than ``MAX_COLUMNS`` wraps onto more
rows. Nodes have one size whatever the engine's size: a 2000-layer engine makes a longer graph to
scroll, never smaller text. An edge between neighbouring rows is a curve in the gap between them;
a longer one runs down the gap right of a column, where no node stands. A cycle (no engine has
one; a hand-edited list might) is broken at its layer first in plan order, the closing edge dashed.

A node is filled with the colour of the precision the layer computes in, carries a bar as long as
its share of the layers' time (the slowest layer's full width; no bar, and "n/a", without times),
and says in its tooltip its name, type, precision, time, fused members and tensors. The search box
and its script (``GRAPH_JS``) light the nodes whose name or members hold the query.
"""

from __future__ import annotations

import heapq
import html
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from trt_agent.model.engine import EngineLayer, EngineModel
from trt_agent.model.timing import TableRow, per_layer_ms
from trt_agent.redact import Redactor
from trt_agent.text import cut, few

NODE_W: Final = 230  # px, whatever the node count: what keeps 500+ layers legible
NODE_H: Final = 50
GAP_X: Final = 34  # long edges run down these gaps between columns
GAP_Y: Final = 34
MARGIN: Final = 12
MAX_COLUMNS: Final = 6  # nodes side by side; a wider rank wraps onto more rows
NAME_CHARS: Final = 36  # of a node's label (the tooltip has the whole name)
TOOLTIP_NAMES: Final = 40  # members, inputs, outputs named in a tooltip; the rest counted
MAX_GRAPH_LAYERS: Final = 5000  # beyond, the page says so instead of drawing
MAX_GRAPH_EDGES: Final = 50_000  # (a tensor many layers write and many read: no engine's)
BAR_COLOUR: Final = "#c92a2a"
BINDING_COLOUR: Final = "#495057"
OTHER_COLOUR: Final = "#adb5bd"  # a precision PRECISION_COLOURS has no colour for

# The search box of each graph: nodes whose name or fused members contain the query (any case)
# stay lit, the rest dim; the count says how many, the first is scrolled to and Enter (Shift+Enter)
# goes to the next (previous). ``#search=TEXT`` in the page's address searches on load.
GRAPH_JS: Final = """
(function () {
  var graphs = document.querySelectorAll("div.graph"), found = new Map();
  function show(graph, node) {  // into the middle of the graph's own scroll box; the page stays
    var box = graph.querySelector(".graph-scroll"), b = box.getBoundingClientRect();
    var r = node.getBoundingClientRect();
    box.scrollTop += r.top - b.top - (box.clientHeight - r.height) / 2;
    box.scrollLeft += r.left - b.left - (box.clientWidth - r.width) / 2;
  }
  function search(graph, query) {
    var q = query.trim().toLowerCase(), hits = [];
    var nodes = graph.querySelectorAll("g.gn");
    nodes.forEach(function (node) {
      var hit = q !== "" && node.getAttribute("data-s").indexOf(q) >= 0;
      node.classList.toggle("hit", hit);
      if (hit) { hits.push(node); }
    });
    found.set(graph, {hits: hits, at: 0});
    graph.querySelector("svg").classList.toggle("searching", q !== "");
    graph.querySelector(".graph-count").textContent = q === ""
      ? nodes.length + " nodes"
      : hits.length + " of " + nodes.length + " nodes match" + (hits.length > 1 ? " (Enter: next)" : "");
    if (hits.length) { show(graph, hits[0]); }
  }
  graphs.forEach(function (graph) {
    var box = graph.querySelector("input.graph-search");
    box.addEventListener("input", function () { search(graph, box.value); });
    box.addEventListener("keydown", function (event) {
      var state = found.get(graph);
      if (event.key !== "Enter" || !state || !state.hits.length) { return; }
      event.preventDefault();
      state.at = (state.at + (event.shiftKey ? state.hits.length - 1 : 1)) % state.hits.length;
      show(graph, state.hits[state.at]);
    });
  });
  function fromAddress() {
    var m = /^#search=(.*)$/.exec(window.location.hash);
    if (!m) { return; }
    var query;
    try { query = decodeURIComponent(m[1]); } catch (e) { query = m[1]; }
    graphs.forEach(function (graph) {
      graph.querySelector("input.graph-search").value = query;
      search(graph, query);
    });
  }
  fromAddress();
  window.addEventListener("hashchange", fromAddress);
})();
"""

GRAPH_CSS: Final = """
.graph-scroll{overflow:auto;max-height:85vh;border:1px solid #dde;border-radius:6px;margin-top:6px}
input.graph-search{font:inherit;padding:3px 6px;width:22em}
svg.engine-graph path{fill:none;stroke:#8a94a6;stroke-width:1.3}svg.engine-graph path.back{stroke-dasharray:5 4}
svg.engine-graph.searching g.gn{opacity:.2}svg.engine-graph.searching path{opacity:.12}
svg.engine-graph.searching g.gn.hit{opacity:1}svg.engine-graph g.gn.hit rect.box{stroke:#e03131;stroke-width:3}
"""


@dataclass
class Node:
    """A layer (``layer`` set) or a binding (``kind`` input/output) and where it stands."""

    name: str
    kind: str  # layer | input | output
    index: int  # place in plan order (bindings after the layers)
    layer: EngineLayer | None = None
    rank: int = 0
    row: int = 0  # the row it is drawn in (a wide rank takes several)
    column: int = 0

    @property
    def x(self) -> int:
        return MARGIN + self.column * (NODE_W + GAP_X)

    @property
    def y(self) -> int:
        return MARGIN + self.row * (NODE_H + GAP_Y)


@dataclass
class Edge:
    """From the node that writes ``tensors`` to one that reads them; ``back`` closes a cycle."""

    source: int
    target: int
    tensors: list[str] = field(default_factory=list)
    back: bool = False


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    rows: int = 0
    columns: int = 0

    @property
    def width(self) -> int:
        return 2 * MARGIN + self.columns * (NODE_W + GAP_X)

    @property
    def height(self) -> int:
        return 2 * MARGIN + self.rows * (NODE_H + GAP_Y)


def has_graph(model: EngineModel) -> bool:
    """Whether the input named the tensors of some engine layer (a detailed layer list or layer
    lines): the edges of a graph."""
    return any(layer.inputs is not None or layer.outputs is not None for layer in model.layers.values())


def _too_big(model: EngineModel) -> str | None:
    """Why the graph is not drawn (too many layers or tensor edges), or None."""
    if len(model.layers) > MAX_GRAPH_LAYERS:
        return f"{len(model.layers)} engine layers: more than the {MAX_GRAPH_LAYERS} the page draws"
    writers: dict[str, int] = {}
    readers: dict[str, int] = {}
    for layer in model.layers.values():
        for tensor in set(layer.outputs or ()):
            writers[tensor] = writers.get(tensor, 0) + 1
        for tensor in set(layer.inputs or ()):
            readers[tensor] = readers.get(tensor, 0) + 1
    edges = sum(count * readers.get(tensor, 0) for tensor, count in writers.items())
    if edges > MAX_GRAPH_EDGES:
        return f"{edges} tensor edges: more than the {MAX_GRAPH_EDGES} the page draws"
    return None


def build_graph(model: EngineModel) -> Graph:
    """The nodes and edges of ``model``'s engine graph, laid out (see the module's docstring)."""
    layers = list(model.layers.values())
    nodes = [Node(layer.name, "layer", i, layer) for i, layer in enumerate(layers)]
    writers: dict[str, list[int]] = {}
    readers: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        for tensor in dict.fromkeys(layer.outputs or ()):
            writers.setdefault(tensor, []).append(i)
        for tensor in dict.fromkeys(layer.inputs or ()):
            readers.setdefault(tensor, []).append(i)
    for name, info in model.bindings.items():
        written, read = name in writers, name in readers
        if not (written or read):
            continue  # a binding of no listed layer (an excerpt): nothing to join it to
        direction = info.get("direction")
        kind = "output" if direction == "output" or (direction != "input" and written) else "input"
        node = len(nodes)
        nodes.append(Node(name, kind, node))
        (readers if kind == "output" else writers).setdefault(name, []).append(node)
    edges: dict[tuple[int, int], Edge] = {}
    for tensor, targets in readers.items():
        for source in writers.get(tensor, ()):
            for target in targets:
                if source != target:
                    edges.setdefault((source, target), Edge(source, target)).tensors.append(tensor)
    graph = Graph(nodes, list(edges.values()))
    _rank(graph)
    _place(graph)
    return graph


def _rank(graph: Graph) -> None:
    """Longest-path ranks in topological order (Kahn's, plan order first); a cycle is broken at
    its node first in plan order, whose edges from the cycle become ``back`` edges."""
    n = len(graph.nodes)
    incoming: list[list[Edge]] = [[] for _ in range(n)]
    outgoing: list[list[Edge]] = [[] for _ in range(n)]
    for edge in graph.edges:
        incoming[edge.target].append(edge)
        outgoing[edge.source].append(edge)
    waiting = [len(incoming[i]) for i in range(n)]
    ready = [i for i in range(n) if not waiting[i]]
    heapq.heapify(ready)
    done = [False] * n
    left = n
    while left:
        if not ready:  # a cycle: break it at the earliest node not done
            stuck = next(i for i in range(n) if not done[i])
            for edge in incoming[stuck]:
                if not done[edge.source]:
                    edge.back = True
            waiting[stuck] = 0
            ready.append(stuck)
        current = heapq.heappop(ready)
        if done[current]:
            continue
        done[current] = True
        left -= 1
        ranks = [graph.nodes[e.source].rank + 1 for e in incoming[current] if not e.back]
        graph.nodes[current].rank = max(ranks, default=0)
        for edge in outgoing[current]:
            if edge.back or done[edge.target]:
                continue
            waiting[edge.target] -= 1
            if waiting[edge.target] == 0:
                heapq.heappush(ready, edge.target)
    # a layer fed by nothing (it reads constants only) goes just above its first reader
    for i, node in enumerate(graph.nodes):
        if node.kind == "layer" and not any(not e.back for e in incoming[i]):
            below = [graph.nodes[e.target].rank for e in outgoing[i] if not e.back]
            if below:
                node.rank = max(0, min(below) - 1)


def _place(graph: Graph) -> None:
    """Rows and columns: rank by rank, each node at the mean column of what feeds it when free."""
    feeders: list[list[int]] = [[] for _ in graph.nodes]
    feeds = [False] * len(graph.nodes)
    for edge in graph.edges:
        if not edge.back:
            feeders[edge.target].append(edge.source)
            feeds[edge.source] = True
    by_rank: dict[int, list[Node]] = {}
    for node in graph.nodes:
        by_rank.setdefault(node.rank, []).append(node)
    row = 0
    columns = 1
    for rank in sorted(by_rank):
        # a node fed by something wants the mean column of its feeders (halves down: a join stays
        # in the leftmost, main column), then takes the first free column from there; the others
        # (the engine's inputs, layers that read only constants, layers of no tensor) fill the
        # free columns left, in plan order
        wanted: dict[int, float] = {}
        for node in by_rank[rank]:
            fed = feeders[node.index]
            if fed:
                wanted[node.index] = sum(graph.nodes[f].column for f in fed) / len(fed)
        order = sorted(
            (n for n in by_rank[rank] if n.index in wanted), key=lambda n: (wanted[n.index], n.index)
        )
        rest = sorted(
            (n for n in by_rank[rank] if n.index not in wanted),
            key=lambda n: (0 if n.kind == "input" else 1 if feeds[n.index] else 2, n.index),
        )
        last = -1
        used: set[int] = set()
        for node in order:
            column = max(last + 1, min(math.ceil(wanted[node.index] - 0.5), MAX_COLUMNS - 1))
            if column >= MAX_COLUMNS:  # the row is full: wrap
                row, column, used = row + 1, 0, set()
            node.row, node.column = row, column
            used.add(column)
            last = column
        for node in rest:
            free = next((c for c in range(MAX_COLUMNS) if c not in used), None)
            if free is None:
                row, free, used = row + 1, 0, set()
            node.row, node.column = row, free
            used.add(free)
        columns = max(columns, *(node.column + 1 for node in by_rank[rank]))
        row += 1
    graph.rows, graph.columns = row, columns


def _edge_path(graph: Graph, edge: Edge) -> str:
    a, b = graph.nodes[edge.source], graph.nodes[edge.target]
    ax, bx = a.x + NODE_W // 2, b.x + NODE_W // 2
    if edge.back:  # upwards, along the right of both nodes
        side = max(a.x, b.x) + NODE_W + GAP_X // 2
        ay, by = a.y + NODE_H // 2, b.y + NODE_H // 2
        return f"M{a.x + NODE_W},{ay} C{side},{ay} {side},{by} {b.x + NODE_W},{by}"
    top, bottom = a.y + NODE_H, b.y
    half = GAP_Y // 2
    if b.row == a.row + 1:
        return f"M{ax},{top} C{ax},{top + half} {bx},{bottom - half} {bx},{bottom}"
    # down the gap right of the rightmost column of the two (no node stands there), into b
    lane = max(a.column, b.column) * (NODE_W + GAP_X) + MARGIN + NODE_W + GAP_X // 2
    lane += (edge.source * 7 + edge.target * 3) % 9 - 4  # a few px apart, not one thick line
    return (
        f"M{ax},{top} C{ax},{top + half} {lane},{top} {lane},{top + half} "
        f"L{lane},{bottom - half} C{lane},{bottom} {bx},{bottom - half} {bx},{bottom}"
    )


def _named(names: Iterable[str], name: Callable[[str], str]) -> str:
    listed = [name(n) for n in names]
    return few(listed, TOOLTIP_NAMES) if listed else "none"


def graph_section(
    model: EngineModel,
    rows: dict[str, TableRow] | None,
    redactor: Redactor,
    colours: Mapping[str, str],
) -> str:
    """The "Engine graph" part of an engine's section: a search box, a legend and the SVG; ""
    when the input names no layer's tensors. ``rows``: the engine's profile-table rows (shares
    as ``report`` computes them, ``per_layer_ms``); ``colours``: a colour per precision. Every
    layer and tensor name is the redactor's ``name`` of it (fail closed: a short or numeric name
    too); free text goes through its ``text``."""
    if not has_graph(model):
        return ""
    out = ["<h3>Engine graph</h3>"]
    too_big = _too_big(model)
    if too_big is not None:
        return out[0] + f'<p class="muted">{html.escape(too_big)}.</p>'

    def name(text: str, limit: int | None = None) -> str:
        value = redactor.name(text)
        return html.escape(cut(value, limit) if limit is not None else value)

    def text(value: str) -> str:
        return html.escape(redactor.text(value))

    graph = build_graph(model)
    ms = per_layer_ms(model, rows) if model.layer_times else {}
    total = sum(ms.values())
    slowest = max((v for k, v in ms.items() if k in model.layers), default=0.0)
    layers = sum(1 for node in graph.nodes if node.kind == "layer")
    bindings = len(graph.nodes) - layers
    tensors = sum(len(edge.tensors) for edge in graph.edges)
    if ms and total > 0 and slowest > 0:
        latency = (
            f"the red bar is a layer's share of Σ layer time ({total:.4g} ms per inference), "
            f"full width for the slowest layer ({slowest / total * 100:.1f} %)"
        )
    else:
        latency = "no per-layer times in the input: latency n/a (no bar)"
    out.append(
        f'<p class="muted">{layers} layers, {bindings} bindings, {len(graph.edges)} edges '
        f"({tensors} tensors), top to bottom: each layer below the layers whose outputs it reads. "
        f"Fill: the precision a layer computes in; {latency}. Hover a node for its fused members, "
        "times and tensors.</p>"
    )
    used = dict.fromkeys(model.precision_word(node.layer) for node in graph.nodes if node.layer is not None)
    out.append(
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{colours.get(p, OTHER_COLOUR)}"></i>{html.escape(p)}</span>'
            for p in used
        )
        + (f'<span><i style="background:{BINDING_COLOUR}"></i>binding</span>' if bindings else "")
        + "</div>"
    )
    out.append(
        f'<div class="graph" data-engine="{text(model.engine)}"><div>'
        '<input type="search" class="graph-search" placeholder="search layers and fused members" '
        'aria-label="search the engine graph"> '
        f'<span class="graph-count muted">{len(graph.nodes)} nodes</span></div>'
        '<div class="graph-scroll">'
        f'<svg class="engine-graph" xmlns="http://www.w3.org/2000/svg" width="{graph.width}" '
        f'height="{graph.height}" role="img" aria-label="engine graph">'
    )
    parts = []
    for edge in graph.edges:
        cls = ' class="back"' if edge.back else ""
        parts.append(f'<path{cls} d="{_edge_path(graph, edge)}"/>')
    for node in graph.nodes:
        parts.append(_node(model, node, ms, total, slowest, name, text, colours))
    out.append("".join(parts))
    out.append("</svg></div></div>")
    return "".join(out)


def _node(
    model: EngineModel,
    node: Node,
    ms: dict[str, float],
    total: float,
    slowest: float,
    name: Callable[..., str],
    text: Callable[[str], str],
    colours: Mapping[str, str],
) -> str:
    """One node: a box filled by precision, its name, type, precision and fused count, its time
    and share with a bar; the tooltip says it all (``name`` and ``text`` redact and escape)."""
    layer = node.layer
    at = f'transform="translate({node.x},{node.y})"'
    if layer is None:  # a binding
        shape = model.bindings.get(node.name, {}).get("shape")
        dims = "x".join(str(d) for d in shape) if isinstance(shape, list) else ""
        label = f"{node.kind} binding {name(node.name)}" + (f" [{dims}]" if dims else "")
        return (
            f'<g class="gn binding" data-s="{name(node.name).lower()}" {at}><title>{label}</title>'
            f'<rect class="box" width="{NODE_W}" height="{NODE_H}" rx="{NODE_H // 2}" fill="{BINDING_COLOUR}" '
            f'fill-opacity="0.12" stroke="{BINDING_COLOUR}"/>'
            f'<text x="{NODE_H // 2}" y="20">{name(node.name, NAME_CHARS - 4)}</text>'
            f'<text x="{NODE_H // 2}" y="36">{node.kind}{f" [{dims}]" if dims else ""}</text></g>'
        )
    precision = model.precision_word(layer)
    colour = colours.get(precision, OTHER_COLOUR)
    members = layer.sources if layer.is_fused else ()
    line2 = " · ".join(
        part
        for part in (
            text(layer.layer_type or "type n/a"),
            html.escape(precision),
            f"{len(members)} fused" if members else "",
        )
        if part
    )
    title = [name(layer.name), f"type: {text(layer.layer_type or 'n/a')}"]
    title.append(
        f"precision: {html.escape(precision)}"
        + (
            f" (output {html.escape(layer.precision)})"
            if layer.precision and layer.precision != precision
            else ""
        )
    )
    timed = ms.get(layer.name)
    line3 = ""
    bar = ""
    if not ms:
        title.append("time: n/a (no per-layer times in the input)")
    elif timed is None:
        line3 = "not timed"
        title.append("time: not timed (no profile row)")
    else:
        share = timed / total if total > 0 else 0.0
        line3 = f"{timed:.4g} ms · {share * 100:.1f} %"
        title.append(f"time: {timed:.4g} ms per inference, {share * 100:.1f} % of Σ layer time")
        width = round(timed / slowest * (NODE_W - 6), 1) if slowest > 0 else 0.0
        bar = f'<rect class="lat" x="6" y="{NODE_H - 5}" width="{width}" height="4" fill="{BAR_COLOUR}"/>'
    if members:
        listed = "" if layer.members_listed else " (first and last of a Myelin region; the rest not listed)"
        title.append(f"fused members ({len(members)}){listed}: {_named(members, name)}")
    elif layer.sources and layer.sources != (layer.name,):
        title.append(f"runs: {_named(layer.sources, name)}")  # a Myelin kernel's source layer
    if layer.inputs is not None:
        title.append(f"reads: {_named(layer.inputs, name)}")
    if layer.outputs is not None:
        title.append(f"writes: {_named(layer.outputs, name)}")
    search = " ".join(name(n) for n in dict.fromkeys((layer.name, *layer.sources))).lower()
    return (
        f'<g class="gn" data-s="{search}" {at}><title>{chr(10).join(title)}</title>'
        f'<rect class="box" width="{NODE_W}" height="{NODE_H}" rx="4" fill="{colour}" fill-opacity="0.16" '
        f'stroke="{colour}"/><rect width="5" height="{NODE_H}" fill="{colour}"/>'
        f'<text x="11" y="15">{name(layer.name, NAME_CHARS)}</text>'
        f'<text x="11" y="29">{line2}</text>'
        + (f'<text x="11" y="42">{line3}</text>' if line3 else "")
        + bar
        + "</g>"
    )
