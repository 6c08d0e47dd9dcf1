"""The engine graph of ``report --html`` (reports/graph.py) on real layer lists: every layer is a
node, every edge runs from the layer (or input binding) that writes a tensor to one that reads it,
as the raw JSON says, ranks grow along every edge and are the longest path, no two nodes share a
place; latency is n/a without times (never 0); and no layer or tensor name is left in clear when
redaction is on."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import NAMES_THAT_ARE_WORDS, PSEUDONYMS, clear_names, data_file, make_redactor, model_of

from trt_agent.model import EngineModel, build_models
from trt_agent.model.timing import ProfileTables
from trt_agent.parse import ParseStats, parse_path
from trt_agent.redact import NULL_REDACTOR
from trt_agent.reports.graph import MAX_COLUMNS, NODE_H, NODE_W, Graph, build_graph, graph_section
from trt_agent.reports.html import PRECISION_COLOURS
from trt_agent.vocab.events import make_event

# The real layer lists (trtexec --exportLayerInfo, TREx's ResNets) and their layer counts.
LAYER_LISTS = {"02_": 14, "65_": 36, "66_": 32, "67_": 26, "85_": 63}
NodeKey = tuple[str, str]  # (kind, name): ("layer", name), ("input", binding), ("output", binding)


def raw_graph(path: Path) -> tuple[list[NodeKey], set[tuple[NodeKey, NodeKey]]]:
    """The nodes and edges a layer list's JSON says, computed here from the file alone: a
    tensor's writer to each of its readers; a binding no layer writes feeds its readers, a
    binding a layer writes is an output fed by that layer."""
    doc = orjson.loads(path.read_bytes())
    writers: dict[str, set[NodeKey]] = defaultdict(set)
    readers: dict[str, set[NodeKey]] = defaultdict(set)
    nodes: list[NodeKey] = []
    for layer in doc["Layers"]:
        node = ("layer", layer["Name"])
        nodes.append(node)
        for tensor in layer["Outputs"]:
            writers[tensor["Name"]].add(node)
        for tensor in layer["Inputs"]:
            readers[tensor["Name"]].add(node)
    for binding in doc["Bindings"]:
        if binding in writers:
            nodes.append(("output", binding))
            readers[binding].add(("output", binding))
        elif binding in readers:
            nodes.append(("input", binding))
            writers[binding].add(("input", binding))
    edges = {(w, r) for tensor, rs in readers.items() for w in writers.get(tensor, ()) for r in rs if w != r}
    return nodes, edges


def keyed(graph: Graph) -> tuple[list[NodeKey], set[tuple[NodeKey, NodeKey]]]:
    nodes = [(node.kind, node.name) for node in graph.nodes]
    return nodes, {(nodes[e.source], nodes[e.target]) for e in graph.edges}


def longest_paths(nodes: list[NodeKey], edges: set[tuple[NodeKey, NodeKey]]) -> dict[NodeKey, int]:
    """Each node's longest path from a node nothing feeds, by memoised recursion (not Kahn's)."""
    feeders: dict[NodeKey, list[NodeKey]] = defaultdict(list)
    for a, b in edges:
        feeders[b].append(a)
    memo: dict[NodeKey, int] = {}

    def depth(node: NodeKey) -> int:
        if node not in memo:
            memo[node] = max((depth(f) + 1 for f in feeders[node]), default=0)
        return memo[node]

    return {node: depth(node) for node in nodes}


def assert_laid_out(graph: Graph) -> None:
    """Ranks grow along every edge; a node nothing feeds aside, a rank is the longest path to it;
    rows follow ranks; no two nodes share a place; all of them inside the drawing."""
    nodes, edges = keyed(graph)
    rank = {key: node.rank for key, node in zip(nodes, graph.nodes, strict=True)}
    assert not any(e.back for e in graph.edges)
    for a, b in edges:
        assert rank[a] < rank[b], (a, b)
    expected = longest_paths(nodes, edges)
    fed = {b for _, b in edges}
    for key in nodes:
        if key in fed:
            assert rank[key] == expected[key], key
    places = {(node.row, node.column) for node in graph.nodes}
    assert len(places) == len(graph.nodes)
    for a in graph.nodes:
        assert 0 <= a.column < MAX_COLUMNS
        assert a.x + NODE_W <= graph.width and a.y + NODE_H <= graph.height
        for b in graph.nodes:
            if a.rank < b.rank:
                assert a.row < b.row


@pytest.mark.parametrize("prefix", LAYER_LISTS)
def test_real_layer_lists_every_layer_a_node_every_edge_a_tensor(prefix: str) -> None:
    model = model_of(prefix)
    graph = build_graph(model)
    nodes, edges = keyed(graph)
    want_nodes, want_edges = raw_graph(data_file(prefix))
    layers = [name for kind, name in nodes if kind == "layer"]
    assert len(layers) == LAYER_LISTS[prefix] == len(model.layers)
    assert layers == list(model.layers)  # plan order
    assert sorted(nodes) == sorted(want_nodes)
    assert edges == want_edges
    assert_laid_out(graph)


def test_alexnet_is_one_chain_from_input_to_output() -> None:
    """AlexNet FP16 (02): input, a reformat, 5 convolutions and 3 pools, the Myelin reshape and
    3 GEMMs (their weights are constants, no node), output: 15 ranks; the shape-call layer reads
    and writes nothing and stands alone; its 14 edges each carry one tensor."""
    graph = build_graph(model_of("02_"))
    edges = keyed(graph)[1]
    assert len(edges) == 14 and all(len(e.tensors) == 1 for e in graph.edges)
    by_name = {node.name: node for node in graph.nodes}
    assert by_name["input"].rank == 0 and by_name["output"].rank == 14
    assert by_name["/classifier/classifier_6/Gemm_myl9_4"].rank == 13
    alone = by_name["dummy_shape_call__mye622_0_myl9_0"]
    assert not any(alone.index in (e.source, e.target) for e in graph.edges)
    gemm = next(
        e for e in graph.edges if graph.nodes[e.target].name == "/classifier/classifier_1/Gemm_myl9_2"
    )
    assert gemm.tensors == ["/classifier/classifier_2/Relu_output_0'.1_2"]  # not __mye583_dconst
    assert graph.columns == 2 and graph.rows == 15  # the chain in one column, the shape call beside


def test_resnet_downsample_branch_runs_beside_the_block() -> None:
    """QAT ResNet (67): where a stage starts, its first convolution and the downsample read the
    same tensor (one rank, two columns) and the add fused into the stage's second convolution
    reads both; the chain stays in the first column."""
    graph = build_graph(model_of("67_"))
    by_name = {node.name: node for node in graph.nodes}
    conv = by_name["layer3.0.conv1.weight + QuantizeLinear_155 + Conv_157"]
    downsample = by_name["layer3.0.downsample.0.weight + QuantizeLinear_178 + Conv_180"]
    add = by_name["layer3.0.conv2.weight + QuantizeLinear_167 + Conv_169 + Add_188 + Relu_189"]
    assert conv.rank == downsample.rank == add.rank - 1 and conv.row == downsample.row
    assert (conv.column, downsample.column, add.column) == (0, 1, 0)
    assert {graph.nodes[e.source].name for e in graph.edges if e.target == add.index} == {
        conv.name,
        downsample.name,
    }


def test_layer_lines_of_a_log_give_the_same_edges_as_the_json() -> None:
    """The TensorRT 10 layer lines of AlexNet's build log (03, an excerpt) name the tensors the
    layer list (02) names: the edges between their layers are the JSON's."""
    from_log = keyed(build_graph(model_of("03_")))[1]
    from_json = keyed(build_graph(model_of("02_")))[1]
    between_layers = {(a, b) for a, b in from_log if a[0] == b[0] == "layer"}
    assert between_layers and between_layers <= from_json


def test_bert_myelin_log_one_region_and_its_output_reformat() -> None:
    """BERT on TensorRT 10.10 (62, 8.x-style layer lines): the whole model is one Myelin region
    whose output a reformat copies; the log lists no bindings, so its inputs are no nodes."""
    model = model_of("62_")
    graph = build_graph(model)
    nodes, edges = keyed(graph)
    region = next(name for name in model.layers if name.startswith("{ForeignNode["))
    copy = next(name for name in model.layers if name.startswith("Reformatting CopyNode"))
    assert nodes == [("layer", region), ("layer", copy)]
    assert edges == {(("layer", region), ("layer", copy))}
    assert graph.edges[0].tensors == [f"Reformatted Output Tensor 0 to {region}"]
    assert model.layers[region].inputs == ("concat_ids", "concat_mask", "sent_ids", "pos_ids")
    assert_laid_out(graph)


def test_old_layer_lines_and_numeric_tensor_names() -> None:
    """TensorRT 8.5 layer lines (47) name tensors by number ("581"): edges all the same."""
    graph = build_graph(model_of("47_"))
    nodes, edges = keyed(graph)
    assert (("layer", "QuantizeLinear_2"), ("layer", nodes[1][1])) in edges
    assert graph.edges[0].tensors == ["581"]
    assert_laid_out(graph)


def layer_event(name: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    fields = {"name": name, "layer_type": "CaskConvolution", "inputs": inputs, "outputs": outputs}
    return make_event("layer", None, "info", "e", {"file": "x.json", "line": None}, None, fields)


def test_a_cycle_is_broken_and_drawn_dashed() -> None:
    """No engine has a cycle; a hand-edited list may: the layout ends, one edge is a back edge
    (dashed), and ranks grow along the others."""
    events = [
        layer_event("A", ["x", "input"], ["y"]),
        layer_event("B", ["y"], ["x"]),
        layer_event("C", ["y"], ["z"]),
    ]
    model = build_models(events)["e"]
    graph = build_graph(model)
    back = [e for e in graph.edges if e.back]
    assert len(back) == 1 and graph.nodes[back[0].target].name == "A"
    for e in graph.edges:
        if not e.back:
            assert graph.nodes[e.source].rank < graph.nodes[e.target].rank
    page = graph_section(model, None, NULL_REDACTOR, PRECISION_COLOURS)
    assert page.count('<path class="back"') == 1


def test_a_layer_of_constants_sits_above_its_reader_and_a_branch_keeps_its_column() -> None:
    """A layer fed by nothing (K reads a constant) is drawn in the rank above its reader (D), not
    at the top; a node takes its feeder's column when free (Z under Y, in the third column)."""
    events = [
        layer_event("A", ["const0"], ["a"]),
        layer_event("B", ["a"], ["b"]),
        layer_event("X", ["a"], ["x"]),
        layer_event("Y", ["a"], ["y"]),
        layer_event("C", ["b"], ["c"]),
        layer_event("Z", ["y"], ["z"]),
        layer_event("K", ["const1"], ["k"]),
        layer_event("D", ["c", "k"], ["d"]),
    ]
    graph = build_graph(build_models(events)["e"])
    at = {node.name: (node.rank, node.column) for node in graph.nodes}
    assert at == {
        "A": (0, 0),
        "B": (1, 0),
        "X": (1, 1),
        "Y": (1, 2),
        "C": (2, 0),
        "Z": (2, 2),
        "K": (2, 1),
        "D": (3, 0),
    }
    assert_laid_out(graph)


def test_a_graph_too_big_to_draw_is_said_not_drawn() -> None:
    """250 layers writing one tensor that 250 others read would be 62,500 edges: the section
    says so in a line instead of drawing (no engine has such a tensor; a hostile list might)."""
    events = [layer_event(f"W{i}", [], ["t"]) for i in range(250)]
    events += [layer_event(f"R{i}", ["t"], [f"r{i}"]) for i in range(250)]
    page = graph_section(build_models(events)["e"], None, NULL_REDACTOR, PRECISION_COLOURS)
    assert "62500 tensor edges: more than the 50000 the page draws" in page and "<svg" not in page


def section(model: EngineModel, *profile: str) -> str:
    tables = ProfileTables()
    for name in profile:
        for event in parse_path(str(data_file(name)), "test", ParseStats()):
            tables.observe(event)
            model.apply(event)
    return graph_section(model, tables.engines.get("test"), NULL_REDACTOR, PRECISION_COLOURS)


def test_latency_share_bar_per_timed_layer_and_na_without_times() -> None:
    """With the profile (68), each of the 26 layers has a bar and its share (the bars' widths
    follow the times, the slowest full); without it there is no bar and no ms, and the page says
    latency is n/a: never a 0."""
    timed = section(model_of("67_"), "68_")
    bars = [float(w) for w in re.findall(r'<rect class="lat" x="6" y="\d+" width="([\d.]+)"', timed)]
    assert len(bars) == 26 and max(bars) == NODE_W - 6
    assert "QuantizeLinear_2" in timed and "0.09523 ms · 13.0 %" in timed  # trtexec says 13.0 %
    bare = section(model_of("67_"))
    assert 'class="lat"' not in bare and " ms" not in bare.split("</p>", 1)[1]
    assert "no per-layer times in the input: latency n/a" in bare
    assert "time: n/a (no per-layer times in the input)" in bare


def test_fused_members_are_in_the_tooltip_and_the_search_text() -> None:
    """AlexNet's first GEMM runs two ONNX layers (Metadata): its node says "2 fused" and its
    tooltip and search text name both."""
    page = section(model_of("02_"))
    node = re.search(
        r'<g class="gn" data-s="([^"]*)"[^>]*><title>(/classifier/classifier_1/Gemm[^<]*)</title>', page
    )
    assert node is not None
    members = model_of("02_").layers["/classifier/classifier_1/Gemm_myl9_2"].sources
    assert len(members) == 2
    for member in members:
        assert member.lower() in node.group(1) and member in node.group(2)
    assert "fused members (2)" in node.group(2)


def test_no_graph_without_tensor_names() -> None:
    """A profile alone (01) names no tensor: no graph section, not an empty one."""
    assert section(model_of("01_")) == ""


@pytest.mark.parametrize("prefix", ["02_", "47_", "62_", "67_", "85_"])
def test_redaction_leaves_no_layer_or_tensor_name_in_the_graph(prefix: str) -> None:
    """With redaction on, every layer, member and tensor name in the graph is a pseudonym, the
    numeric and short ones too ("581"): the redactor's ``name`` of each, not free-text scrubbing."""
    model = model_of(prefix)
    names = set(model.layers)
    for layer in model.layers.values():
        names.update(layer.sources)
        names.update(layer.inputs or ())
        names.update(layer.outputs or ())
    names.update(model.bindings)
    page = graph_section(model, None, make_redactor(), PRECISION_COLOURS)
    assert "<svg" in page
    # "input"/"output" are words the page says ("input binding"): the bindings' labels are checked
    assert clear_names(page, sorted(names - NAMES_THAT_ARE_WORDS)) == []
    for label in re.findall(r'<g class="gn binding" data-s="([^"]*)"', page):
        assert PSEUDONYMS.fullmatch("L" + label[1:]), label  # (the search text is lower case)
    # and the check can fail: without redaction the names are there
    clear = graph_section(model, None, NULL_REDACTOR, PRECISION_COLOURS)
    assert clear_names(clear, sorted(names - NAMES_THAT_ARE_WORDS))
