"""The engine graph of ``report --html`` in a real headless Chromium (Debian ``chromium``), as
test_html_report.py opens the heatmap: no console message, nothing fetched, one node per layer
and binding, the search box really run (``#search=`` in the address, and typing into the box),
redacted names only, and a 500+ layer engine drawn in time at a legible size.

"Nothing fetched" is checked three ways: the page names no URL but the SVG namespace, a copy of
it under a Content-Security-Policy of ``default-src 'none'`` (any request would be refused, and
Chromium logs each refusal to the console) says nothing, and the browser's resource timing lists
no resource. Screenshots go to ``.test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import REDACTION_CONFIG, clear_names, data_file, make_redactor, trt_agent, write_key
from test_html_report import ARTIFACTS, CHROMIUM, chromium, console_messages

from trt_agent.reports.graph import MAX_COLUMNS, NAME_CHARS, NODE_H, NODE_W

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium not installed (scripts/test.sh installs it)"
)

NO_REQUESTS = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
)
# Run after the page's own script: what the graph looks like, then a query typed into its box.
PROBE = """<script>
(function () {
  var graph = document.querySelector("div.graph"), nodes = graph.querySelectorAll("g.gn");
  var box = nodes[0].querySelector("rect.box").getBoundingClientRect();
  var label = nodes[0].querySelector("text");
  var out = {
    nodes: nodes.length,
    box: [box.width, box.height],
    font_px: parseFloat(getComputedStyle(label).fontSize),
    laid_out_ms: performance.now(),
    resources: performance.getEntriesByType("resource").map(function (e) { return e.name; })
  };
  var input = graph.querySelector("input.graph-search");
  input.value = QUERY;
  input.dispatchEvent(new Event("input"));
  out.typed_hits = Array.prototype.map.call(graph.querySelectorAll("g.gn.hit"), function (n) {
    return n.querySelector("title").textContent.split("\\n")[0];
  });
  out.typed_count = graph.querySelector(".graph-count").textContent;
  var scroller = graph.querySelector(".graph-scroll");
  out.scroll = [scroller.scrollTop];  // at the first hit; Shift+Enter goes back to the last one
  input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", shiftKey: true}));
  out.scroll.push(scroller.scrollTop);
  out.dimmed = graph.querySelector("svg").classList.contains("searching");
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


class Address:
    """A page's ``file://`` address with a fragment (``chromium`` asks its argument for
    ``as_uri()``)."""

    def __init__(self, page: Path, fragment: str) -> None:
        self.uri = page.as_uri() + fragment

    def as_uri(self) -> str:
        return self.uri


def dom_of(page: Path | Address, tmp_path: Path) -> str:
    """The DOM after the page's scripts ran; fails on any console message."""
    result = chromium(page, tmp_path, "--dump-dom")  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result.stderr) == []
    return result.stdout


def probe(page: Path, tmp_path: Path, query: str) -> dict[str, Any]:
    """What ``PROBE`` reads in a copy of ``page`` that may fetch nothing (a CSP of 'none')."""
    text = page.read_text()
    copy = tmp_path / ("probed-" + page.name)
    copy.write_text(
        text.replace("<head>", "<head>" + NO_REQUESTS, 1).replace(
            "</body>", PROBE.replace("QUERY", json.dumps(query)) + "</body>", 1
        )
    )
    dom = dom_of(copy, tmp_path)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None, "the probe did not run"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def graph_of(dom: str) -> str:
    found = re.search(r'<div class="graph".*?</svg>', dom, re.S)
    assert found is not None, "no engine graph"
    return found.group()


def hits(graph: str) -> list[str]:
    """The first tooltip line (the name) of each node the search lit."""
    return re.findall(r'<g class="gn hit"[^>]*><title>([^\n<]*)', graph)


def raw(path: Path) -> tuple[list[dict[str, Any]], list[str], int]:
    """A layer list's layers, bindings and tensor edges (a writer to a reader, the bindings'
    included), from the file alone."""
    doc = orjson.loads(path.read_bytes())
    writers: dict[str, set[str]] = defaultdict(set)
    readers: dict[str, set[str]] = defaultdict(set)
    for layer in doc["Layers"]:
        for t in layer["Outputs"]:
            writers[t["Name"]].add(layer["Name"])
        for t in layer["Inputs"]:
            readers[t["Name"]].add(layer["Name"])
    for binding in doc["Bindings"]:
        (readers if binding in writers else writers)[binding].add("binding " + binding)
    edges = {(w, r) for t, rs in readers.items() for w in writers.get(t, ()) for r in rs if w != r}
    return doc["Layers"], doc["Bindings"], len(edges)


def only_urls(text: str) -> list[str]:
    return sorted(set(re.findall(r"https?://[^\s\"'<>)]+", text)))


def report(tmp_path: Path, *inputs: Path, engine: str, extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / f"{engine}.html"
    result = trt_agent("report", *extra, "--engine", engine, "--html", out, *inputs)
    assert result.returncode == 0, result.stderr
    return out


def test_graph_of_the_qat_resnet_renders_searches_and_fetches_nothing(tmp_path: Path) -> None:
    """QAT ResNet (67 with its profile 68): 26 layers and 2 bindings, 35 tensor edges; the page's
    only URL is the SVG namespace; ``#search=layer2`` lights the 5 layers of stage 2 and dims
    the rest; typing ``conv1`` into the box lights what names it."""
    ARTIFACTS.mkdir(exist_ok=True)
    layers_file, profile_file = data_file("67_"), data_file("68_")
    page = report(tmp_path, layers_file, profile_file, engine="qat")
    text = page.read_text()
    assert only_urls(text) == ["http://www.w3.org/2000/svg"], "the page must load nothing"
    layers, bindings, edges = raw(layers_file)
    graph = graph_of(dom_of(page, tmp_path))
    assert len(re.findall(r'<g class="gn[ "]', graph)) == len(layers) + len(bindings) == 28
    assert len(re.findall(r"<path ", graph)) == edges == 35
    assert len(re.findall(r'<rect class="lat"', graph)) == 26  # every layer timed: a bar each
    assert hits(graph) == [] and "28 nodes" in graph

    searched = graph_of(dom_of(Address(page, "#search=layer2"), tmp_path))
    want = [layer["Name"] for layer in layers if "layer2" in layer["Name"].lower()]
    assert len(want) == 5 and hits(searched) == want
    assert '<svg class="engine-graph searching"' in searched and "5 of 28 nodes match" in searched

    seen = probe(page, tmp_path, "conv1")
    assert seen["resources"] == [] and len(seen["typed_hits"]) == 9  # the stem and 8 blocks
    assert seen["typed_hits"] == [layer["Name"] for layer in layers if "conv1" in layer["Name"].lower()]
    assert seen["typed_count"] == "9 of 28 nodes match (Enter: next)" and seen["dimmed"]
    assert seen["scroll"][1] > seen["scroll"][0]  # the stem's convolution, then layer4.1's
    shot = chromium(Address(page, "#search=layer2"), tmp_path, f"--screenshot={ARTIFACTS / 'graph-qat.png'}")  # type: ignore[arg-type]
    assert shot.returncode == 0 and console_messages(shot.stderr) == []


def test_search_finds_a_layer_by_a_fused_member_only_its_metadata_names(tmp_path: Path) -> None:
    """AlexNet FP16 (02, 01): ``/classifier/classifier.2/Relu`` is named only by the Metadata of
    the GEMM that runs it (``…classifier_1/Gemm_myl9_2``): the search finds that GEMM; typing
    ``relu`` finds every layer whose name or members say it, as the raw JSON does."""
    layers_file = data_file("02_")
    page = report(tmp_path, layers_file, data_file("01_"), engine="alexnet")
    searched = graph_of(dom_of(Address(page, "#search=classifier.2%2FRelu"), tmp_path))
    assert hits(searched) == ["/classifier/classifier_1/Gemm_myl9_2"]
    layers, _, _ = raw(layers_file)
    want = [
        layer["Name"]
        for layer in layers
        if "relu"
        in (
            layer["Name"] + " " + " ".join(re.findall(r"\[ONNX Layer: ([^\]]+)\]", layer.get("Metadata", "")))
        ).lower()
    ]
    assert len(want) == 8  # 5 convolutions, the reformat named after the first, 2 GEMMs by Metadata
    seen = probe(page, tmp_path, "ReLU")  # the query's case does not matter
    assert seen["typed_hits"] == want and seen["resources"] == []


def test_redacted_graph_names_nothing_in_clear_and_searches_pseudonyms(tmp_path: Path) -> None:
    """With redaction on (TensorRT 8.5 layer lines, 47, whose tensors are numbers such as
    "581", and the QAT ResNet list), no layer, member or tensor name is in the graph, and a
    layer's pseudonym finds its node."""
    write_key(tmp_path)
    (tmp_path / "red.toml").write_text(REDACTION_CONFIG)
    names: set[str] = set()
    layers, bindings, _ = raw(data_file("67_"))
    for layer in layers:
        names.add(layer["Name"])
        names.update(t["Name"] for side in ("Inputs", "Outputs") for t in layer[side])
    names.update(bindings)
    names.update(["QuantizeLinear_2", "581", "596", "610", "Conv_27", "Pad_6"])  # 47's
    for inputs, engine in (((data_file("67_"), data_file("68_")), "qat"), ((data_file("47_"),), "qdq")):
        page = report(tmp_path, *inputs, engine=engine, extra=("-c", str(tmp_path / "red.toml")))
        graph = graph_of(dom_of(page, tmp_path))
        assert len(re.findall(r'<g class="gn', graph)) >= 6
        assert clear_names(graph, sorted(names - {"input", "output"})) == [], engine
    pseudonym = make_redactor().name("layer2.0.downsample.0.weight + QuantizeLinear_105 + Conv_107")
    searched = graph_of(dom_of(Address(tmp_path / "qat.html", "#search=" + pseudonym), tmp_path))
    assert hits(searched) == [pseudonym]


def chained_resnets(folder: Path, copies: int) -> int:
    """A ``copies`` × 63-layer engine from TREx's TF ResNet-50 (85, and its profile 86): the real
    layer records, each copy's names prefixed ``bK/``, each copy reading the one before's output
    (the tensor shapes do not fit; the graph does not look at them). Returns the layer count."""
    doc = orjson.loads(data_file("85_").read_bytes())
    profile = orjson.loads(data_file("86_").read_bytes())
    first, last = doc["Bindings"]
    layers: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = [r for r in profile if "name" not in r]
    for k in range(copies):

        def renamed(tensor: str, k: int = k) -> str:
            if tensor == first:
                return first if k == 0 else f"b{k - 1}/{last}"
            return last if tensor == last and k == copies - 1 else f"b{k}/{tensor}"

        for layer in doc["Layers"]:
            copy = dict(layer, Name=f"b{k}/{layer['Name']}")
            for side in ("Inputs", "Outputs"):
                copy[side] = [dict(t, Name=renamed(t["Name"])) for t in layer[side]]
            layers.append(copy)
        rows += [dict(r, name=f"b{k}/{r['name']}") for r in profile if "name" in r]
    (folder / "layers.json").write_bytes(orjson.dumps({"Layers": layers, "Bindings": [first, last]}))
    (folder / "profile.json").write_bytes(orjson.dumps(rows))
    return len(layers)


# The bounds the 567-layer page must keep (measured on the development machine: the report
# command 0.25 s, the page 0.80 MB, Chromium's parse and first layout 0.13-0.25 s, the whole
# browser run 0.7-1.1 s). Generous, so a slow CI runner passes; a quadratic layout would not.
REPORT_SECONDS = 15.0
PAGE_BYTES = 2_500_000
LAYOUT_MS = 5000.0
BROWSER_SECONDS = 30.0


def test_a_567_layer_engine_is_drawn_in_time_and_stays_legible(tmp_path: Path) -> None:
    """Nine chained copies of the TF ResNet-50 layer list (567 layers): the report is written,
    and Chromium lays it out, within the bounds above; every layer and both bindings are nodes;
    a node is as large as on a small engine (230 × 50 px, 11 px text, not scaled down); no two
    nodes overlap and the drawing is at most MAX_COLUMNS wide (it grows down, the page scrolls);
    a search lights one copy's 63 layers."""
    ARTIFACTS.mkdir(exist_ok=True)
    count = chained_resnets(tmp_path, 9)
    assert count == 567
    start = time.monotonic()
    page = report(tmp_path, tmp_path / "layers.json", tmp_path / "profile.json", engine="big")
    took = time.monotonic() - start
    assert took < REPORT_SECONDS, took
    size = page.stat().st_size
    assert size < PAGE_BYTES, size
    assert only_urls(page.read_text()) == ["http://www.w3.org/2000/svg"]

    start = time.monotonic()
    seen = probe(page, tmp_path, "b3/")
    browser = time.monotonic() - start
    assert browser < BROWSER_SECONDS, browser
    assert seen["nodes"] == count + 2 and seen["resources"] == []
    assert seen["box"] == [NODE_W, NODE_H] and seen["font_px"] >= 11
    assert seen["laid_out_ms"] < LAYOUT_MS, seen["laid_out_ms"]
    assert len(seen["typed_hits"]) == 63 and all(h.startswith("b3/") for h in seen["typed_hits"])
    assert seen["scroll"][0] > 10_000 and seen["scroll"][1] > seen["scroll"][0]  # copy 3 is far down

    graph = graph_of(dom_of(Address(page, "#search=b7%2F"), tmp_path))
    assert "63 of 569 nodes match" in graph
    width = int(re.search(r'<svg class="engine-graph[^"]*"[^>]* width="(\d+)"', graph).group(1))  # type: ignore[union-attr]
    assert width <= 2 * 12 + MAX_COLUMNS * (NODE_W + 34)
    places = re.findall(r'<g class="gn[^"]*" data-s="[^"]*" transform="translate\((\d+),(\d+)\)"', graph)
    assert len(places) == count + 2 and len(set(places)) == len(places)
    labels = re.findall(r'<text x="11" y="15">([^<]*)</text>', graph)
    assert len(labels) == count and max(len(label) for label in labels) <= NAME_CHARS
    shot = chromium(  # a tall window: the graph's first ranks below the rest of the page
        page, tmp_path, f"--screenshot={ARTIFACTS / 'graph-567.png'}", "--window-size=1280,5000"
    )
    assert shot.returncode == 0 and console_messages(shot.stderr) == []
    print(
        f"567 layers: report {took:.2f} s, page {size} bytes, layout {seen['laid_out_ms']:.0f} ms, browser {browser:.2f} s"
    )


def test_the_probe_catches_a_request(tmp_path: Path) -> None:
    """The checks above can fail: a graph page that fetched an image would be caught by the CSP
    copy's console message."""
    page = report(tmp_path, data_file("67_"), engine="qat")
    page.write_text(page.read_text().replace("</h1>", '</h1><img src="http://127.0.0.1:9/x.png">', 1))
    assert only_urls(page.read_text()) != ["http://www.w3.org/2000/svg"]
    with pytest.raises(AssertionError):
        probe(page, tmp_path, "x")


def test_every_build_of_a_diff_has_its_graph(tmp_path: Path) -> None:
    """``diff --html`` shows each build's section, graph included; ``#search=`` searches all."""
    builds = []
    for name, prefixes in (("fp32", ("66_", "84_")), ("fp16", ("65_", "83_"))):
        folder = tmp_path / name
        folder.mkdir()
        for prefix in prefixes:
            src = data_file(prefix)
            (folder / src.name).write_bytes(src.read_bytes())
        builds.append(folder)
    out = tmp_path / "diff.html"
    result = trt_agent("diff", "--html", out, *builds)
    assert result.returncode == 0, result.stderr
    dom = dom_of(Address(out, "#search=Conv_0%20"), tmp_path)
    assert dom.count('<div class="graph"') == 2
    # each build: "Conv_0 + Relu_1" and the reformat named after it
    want = [
        [layer["Name"] for layer in raw(data_file(p))[0] if "conv_0 " in layer["Name"].lower()]
        for p in ("66_", "65_")
    ]
    assert [len(w) for w in want] == [1, 2]
    assert hits(dom) == want[0] + want[1]
