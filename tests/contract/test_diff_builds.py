"""``trt-agent diff`` of three real builds of one network (TREx's ResNet-18 on an A100: FP32, FP16
and a Q/DQ INT8 build, each a layer list and a profile), judged against what the raw JSON and the
network's own structure say, without trt-agent's code.

The QAT build is a second ONNX export of the network, with Q/DQ nodes: its node numbers all moved
(``Conv_9`` is the FP32 build's ``Conv_0``), but its fused names keep the PyTorch weights
(``layer2.0.downsample.0.weight + QuantizeLinear_105 + Conv_107``), which say which convolution
of torchvision's ResNet-18 each layer runs. The FP32 export numbers its convolutions in the order
the model's forward pass runs them: that order, from the architecture, is the ground truth."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, trt_agent

EXTRA = DATA / "extra"
BUILDS = {
    "fp32": ("66_", "84_"),
    "fp16": ("65_", "83_"),
    "qat": ("67_", "68_"),
}

# torchvision ResNet-18's convolutions in the order forward() runs them (BasicBlock: conv1,
# conv2, then the downsample of the block's input, for the first block of layers 2-4)
RESNET18_CONVS = ["conv1"] + [
    f"layer{layer}.{block}.{conv}"
    for layer in range(1, 5)
    for block in range(2)
    for conv in ("conv1", "conv2", *(("downsample.0",) if layer > 1 and block == 0 else ()))
]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("resnet")
    out = {}
    for name, prefixes in BUILDS.items():
        folder = root / name
        folder.mkdir()
        for prefix in prefixes:
            (src,) = EXTRA.glob(f"{prefix}*")
            (folder / src.name).write_bytes(src.read_bytes())
        out[name] = folder
    return out


def _diff(builds: dict[str, Path], *names: str, against: str = "first") -> tuple[int, dict[str, Any]]:
    result = trt_agent("diff", *(builds[n] for n in names), "--against", against, "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def _raw(name: str) -> tuple[list[str], dict[str, float]]:
    """A build's engine layer names (layer list order) and each profiled layer's ms per inference."""
    layers_file, profile_file = (next(EXTRA.glob(f"{p}*")) for p in BUILDS[name])
    names = [layer["Name"] for layer in json.loads(layers_file.read_text())["Layers"]]
    records = json.loads(profile_file.read_text())
    (count,) = [r["count"] for r in records if "count" in r]
    return names, {r["name"]: r["timeMs"] / count for r in records if "name" in r}


@pytest.fixture(scope="module")
def three(builds: dict[str, Path]) -> dict[str, Any]:
    code, doc = _diff(builds, "fp32", "fp16", "qat")
    assert code == 0  # FP16 and INT8 are no regression against FP32
    return doc


def test_three_builds_are_judged_against_the_first(three: dict[str, Any]) -> None:
    assert three["builds"] == ["fp32", "fp16", "qat"] and three["against"] == "first"
    assert [(p["base"], p["new"]) for p in three["pairs"]] == [("fp32", "fp16"), ("fp32", "qat")]
    assert three["regressed"] is False and not any(p["regressions"] for p in three["pairs"])


def test_every_engine_layer_is_in_one_row_and_the_rows_time_adds_up(three: dict[str, Any]) -> None:
    for i, name in enumerate(three["builds"]):
        layers, ms = _raw(name)
        placed = [layer for row in three["aligned"] for layer in row["builds"][i]["layers"]]
        assert sorted(placed) == sorted(set(layers) | set(ms)), name
        total = sum(row["builds"][i]["ms"] or 0.0 for row in three["aligned"])
        assert total == pytest.approx(sum(ms.values()), abs=1e-5), name
        for row in three["aligned"]:
            cell = row["builds"][i]
            timed = [ms[layer] for layer in cell["layers"] if layer in ms]
            assert (cell["ms"] is None) == (not timed)
            if timed:
                assert cell["ms"] == pytest.approx(sum(timed), abs=1e-6)


def _row_of(doc: dict[str, Any], build: int, member: str) -> int:
    """The row whose engine layers of ``build`` list ``member`` among their " + " parts."""
    (row,) = [
        n
        for n, row in enumerate(doc["aligned"])
        if any(member in layer.split(" + ") for layer in row["builds"][build]["layers"])
    ]
    return row


def test_the_qat_layers_line_up_with_the_convolutions_they_run(three: dict[str, Any]) -> None:
    """Each QAT layer that names a weight is in the row of the FP32 and FP16 layers that run the
    same convolution of the architecture, though no node name is shared."""
    layers, _ = _raw("fp32")
    convs = sorted(
        {int(m.group(1)) for layer in layers for m in re.finditer(r"(?:^|\+ )Conv_(\d+)(?= \+|$)", layer)}
    )
    assert len(convs) == len(RESNET18_CONVS) == 20
    qat_layers, _ = _raw("qat")
    checked = 0
    for layer in qat_layers:
        weights = re.findall(r"(\S+)\.weight\b", layer)
        for module in weights:
            if module == "fc":
                continue
            row = _row_of(three, 2, f"{module}.weight")
            conv = f"Conv_{convs[RESNET18_CONVS.index(module)]}"
            assert _row_of(three, 0, conv) == row, (module, conv)
            assert _row_of(three, 1, conv) == row, (module, conv)
            checked += 1
    assert checked == 20
    assert _row_of(three, 2, "fc.weight") == _row_of(three, 0, "Gemm_48") == _row_of(three, 1, "Gemm_48")


def test_builds_that_share_names_line_up_by_name(three: dict[str, Any]) -> None:
    fp32, _ = _raw("fp32")
    fp16, _ = _raw("fp16")
    for layer in set(fp32) & set(fp16):
        assert _row_of(three, 0, layer.split(" + ")[0]) == _row_of(three, 1, layer.split(" + ")[0])


def test_the_layer_types_side_by_side_are_each_builds_report(
    builds: dict[str, Path], three: dict[str, Any]
) -> None:
    for i, name in enumerate(three["builds"]):
        report = json.loads(trt_agent("report", "--json", "--engine", name, *builds[name].iterdir()).stdout)
        (engine,) = report["engines"].values() if isinstance(report["engines"], dict) else report["engines"]
        mine = {row["type"]: {k: v for k, v in row.items() if k != "type"} for row in engine["by_layer_type"]}
        side = {entry["type"]: entry["builds"][i] for entry in three["layer_types"]}
        assert {t: c for t, c in side.items() if c is not None} == mine, name


def test_against_previous_judges_each_build_against_the_one_before(builds: dict[str, Path]) -> None:
    code, doc = _diff(builds, "fp16", "fp32", "qat", against="previous")
    assert [(p["base"], p["new"]) for p in doc["pairs"]] == [("fp16", "fp32"), ("fp32", "qat")]
    # FP16 -> FP32 widens every convolution: the gate fails on that pair alone
    assert code == 1 and doc["regressed"] is True
    assert [bool(p["regressions"]) for p in doc["pairs"]] == [True, False]
    assert doc["pairs"][0]["regressions"][0].startswith("precision Half -> Float on 23 layer(s)")
    code, doc = _diff(builds, "fp16", "fp32", "qat")  # against the first: QAT vs FP16 is no regression
    assert code == 1 and [bool(p["regressions"]) for p in doc["pairs"]] == [True, False]


def test_text_shows_a_column_per_build(builds: dict[str, Path], three: dict[str, Any]) -> None:
    result = trt_agent("diff", builds["fp32"], builds["fp16"], builds["qat"])
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "trt-agent diff: 3 builds: fp32, fp16, qat (each judged against the first)"
    start = next(i for i, line in enumerate(lines) if line.startswith("layers side by side"))
    header = lines[start + 1].split()
    assert header[-3:] == ["fp32", "fp16", "qat"]
    rows = lines[start + 2 : start + 2 + len(three["aligned"])]
    for line, row in zip(rows, three["aligned"], strict=True):
        for cell in row["builds"]:
            assert (f"{cell['ms']:.4f}" in line) if cell["ms"] is not None else True, line
    total = lines[start + 2 + len(three["aligned"])].split()
    assert total == ["total", "2.1238", "1.0168", "0.7311"]


def test_a_profile_alone_lines_up_with_the_layer_list_of_its_engine() -> None:
    """AlexNet's --exportProfile (names and times) against its --exportLayerInfo (types and
    precisions): every row holds layers of both, the Myelin kernels (``__myl_Res_myl9_1``, whose
    sources only the layer list's Metadata names) by their own name."""
    (profile,) = (DATA / "corpus").glob("01_*")
    (layers,) = (DATA / "corpus").glob("02_*")
    result = trt_agent("diff", profile, layers, "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["aligned"] and all(all(cell["layers"] for cell in row["builds"]) for row in doc["aligned"])
    assert ["__myl_Res_myl9_1"] in [row["builds"][0]["layers"] for row in doc["aligned"]]
    assert sum(row["builds"][0]["ms"] for row in doc["aligned"]) == pytest.approx(
        0.5500488, abs=1e-5
    )  # rows rounded to 1e-6


def test_builds_without_layers_say_so_in_the_side_by_side() -> None:
    logs = sorted(EXTRA.glob("7[03]_*"))
    result = trt_agent("diff", *logs)
    assert "layers side by side: none (no build has a layer list or per-layer times)" in result.stdout
    assert json.loads(trt_agent("diff", *logs, "--format", "json").stdout)["aligned"] == []


def test_builds_without_layers_say_so_in_the_html(tmp_path: Path) -> None:
    page = tmp_path / "diff.html"
    trt_agent("diff", *sorted(EXTRA.glob("7[03]_*")), "--html", page)
    html = page.read_text()
    assert "None: no build has a layer list or per-layer times." in html
    assert 'class="sortable aligned"' not in html


def test_a_build_that_ran_another_optimisation_profile_compares_layer_by_layer(
    builds: dict[str, Path],
) -> None:
    """The two-profile build (tests/data/constructed) ran profile 1: its layers are named
    ``X [profile 1]``, and its times are a quarter of the FP16 build's."""
    two = DATA / "constructed" / "resnet-fp16-two-profiles"
    result = trt_agent("diff", builds["fp16"], two, "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["layers_only_in_base"] == [] and doc["layers_only_in_new"] == []
    _, ms = _raw("fp16")
    assert len(doc["latency"]) == len(ms) == 36
    assert all(row["new_ms"] == pytest.approx(row["base_ms"] / 4, rel=1e-6) for row in doc["latency"])


def test_times_of_two_profiles_are_not_added_into_one_inference(
    builds: dict[str, Path], tmp_path: Path
) -> None:
    """One build given the profiles of both its optimisation profiles (profile 0's first): the
    figures are of profile 0, and profile 1's times are no part of its inference."""
    two = DATA / "constructed" / "resnet-fp16-two-profiles"
    both = tmp_path / "both"
    both.mkdir()
    (both / "layers.json").write_bytes((two / "layers.json").read_bytes())
    (both / "p1.profile.json").write_bytes((two / "profile.json").read_bytes())
    (profile0,) = EXTRA.glob("83_*")
    (both / "p0.profile.json").write_bytes(profile0.read_bytes())
    result = trt_agent("diff", builds["fp16"], both, "--format", "json")
    assert result.returncode == 0, result.stdout
    doc = json.loads(result.stdout)
    assert doc["regressions"] == []
    assert doc["latency_total"]["new_ms"] == pytest.approx(doc["latency_total"]["base_ms"])
    report = json.loads(trt_agent("report", "--json", "--engine", "both", *sorted(both.iterdir())).stdout)
    (engine,) = report["engines"]
    assert engine["optimization_profiles"] == {"count": 2, "shown": 0, "layers": {"0": 36, "1": 36}}
    assert engine["time_per_inference"]["sum_of_layers_ms"] == pytest.approx(1.016832, abs=1e-6)
    assert engine["time_per_inference"]["layers"] == 36


def test_diff_output_is_the_same_whatever_the_hash_seed(builds: dict[str, Path]) -> None:
    """Layers whose latency changed by the same amount (ties: ResNet's twin convolutions) are
    listed in NEW's layer order, not in the order of a set of names, which Python's string hash
    seed changes from one run to the next."""
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = trt_agent("diff", builds["fp32"], builds["fp16"], builds["qat"], "--format", "json", env=env)
        outputs.add(result.stdout)
    assert len(outputs) == 1
