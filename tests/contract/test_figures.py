"""Figures a gate can rest on (issue 16), on real engines: a figure the input cannot give is n/a
with its reason (``report``), absent (``/metrics``) and a skip (``check``), never a 0 or a red.

- Myelin-generated kernels (``__myl_*``, ``__mye*``, ``…_myl0_1``) say nothing of what they
  fused: the unfused-kernel ratio leaves them out, and fusion coverage is n/a while Myelin hides
  how many source layers it absorbed (``extra/41``, ``extra/62``, ``corpus/31``).
- A profile gives no precision: INT8 coverage is n/a, not 0 % (``corpus/08``, ``extra/41``).
- Bookkeeping rows of a profile are not kernels (``corpus/28``: DLA and TensorRT 7 reformatter
  rows; ``corpus/31``: ``[HostToDeviceCopy 0]``).
- Weights and biases in fused names are not source layers (``extra/67``, the QAT ResNet).
"""

from __future__ import annotations

import json

from conftest import ROOT, data_file, model_of, parse_file, rules_file, trt_agent
from prometheus_client import CollectorRegistry, generate_latest

from trt_agent.config import MetricsConfig
from trt_agent.model import EngineModel
from trt_agent.model.store import EngineStore
from trt_agent.reports.summary import report_text
from trt_agent.rules import FAIL, PASS, SKIP, Result, evaluate, load_rules, parse_rules, strict
from trt_agent.sinks.prometheus import EngineCollector
from trt_agent.vocab.names import decompose

STATS = {"files": 1, "lines": 0, "events": 0, "unparsed": 0}


def _results(model: EngineModel, rules: list[dict[str, object]]) -> dict[str, Result]:
    return {r.rule: r for r in evaluate(parse_rules({"rule": rules}), {model.engine: model})}


def _scrape(*names: str) -> str:
    store = EngineStore()
    for name in names:
        events, _ = parse_file(name, engine=name.rstrip("_"))
        store.fold(events, count=True)
    registry = CollectorRegistry()
    registry.register(EngineCollector(store, MetricsConfig()))
    return generate_latest(registry).decode()


def _samples(text: str, metric: str, engine: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f'{metric}{{engine="{engine}"')]


# -- 1. Myelin-generated kernels and ForeignNode regions ----------------------------------------


def test_myelin_kernel_names_are_their_own_kind() -> None:
    for name in (
        "__mye59_0_myl0_0",
        "__myl_MaxrSubExpSum_myl5_4",
        "node_conv2d_myl0_1",
        "node_linear_1_2_myl5_3",
        "dummy_shape_call__mye622_0_myl9_0",
    ):
        assert decompose(name).kind == "myelin_kernel", name
    assert decompose("node_max_pool2d").kind == "single"
    assert decompose("{ForeignNode[node_conv2d_1...node_relu_1]}").kind == "myelin"


def test_trt10_profile_of_myelin_kernels_has_no_fusion_coverage_and_judges_two_kernels() -> None:
    """``extra/41``: 14 compute layers, 12 of them Myelin kernels; before, fusion coverage
    0/14 and unfused kernels 14/14 (every Myelin kernel counted as an unfused layer)."""
    model = model_of("41_")
    cov = model.fusion_coverage()
    assert cov.value is None and cov.reason is not None and "Myelin" in cov.reason
    unfused = model.unfused_kernel_ratio()
    assert (unfused.numerator, unfused.denominator, unfused.excluded) == (2, 2, 12)
    assert unfused.reason is not None and "Myelin" in unfused.reason
    assert model.summary()["fusion_coverage"]["ratio"] is None


def test_check_skips_fusion_coverage_it_cannot_judge_and_names_only_judged_kernels() -> None:
    model = model_of("41_")
    results = {r.rule: r for r in evaluate(load_rules(str(ROOT / "rules.example.toml")), {"test": model})}
    fusion = results["fusion_coverage"]
    assert fusion.status == SKIP and "Myelin" in fusion.message, fusion.message
    # 2 of 14 kernels are stand-alone max-pools, whatever the 12 Myelin kernels are: ≥ 14 % > 5 %
    unfused = _results(model, [{"name": "unfused", "check": "unfused_kernel_ratio", "max": 0.05}])["unfused"]
    assert unfused.status == FAIL and unfused.offenders == ["node_max_pool2d", "node_max_pool2d_1"]
    assert "12" in unfused.message and "not judged" in unfused.message


def test_fused_rule_does_not_call_a_myelin_kernel_unfused() -> None:
    model = model_of("41_")
    result = _results(model, [{"name": "linear", "check": "fused", "layers": ["node_linear*"]}])["linear"]
    assert result.status == SKIP and "Myelin" in result.message, result.message


def test_ratio_verdict_waits_when_the_layers_left_out_could_decide_it() -> None:
    """1 judged unfused layer and 12 Myelin kernels: 100 % of the judged ones, but anything from
    1/13 to 13/13 of all: a 50 % bound cannot be judged; a 5 % bound fails whatever they are."""
    model = model_of("41_")
    del model.layer_times["node_max_pool2d_1"]
    results = _results(
        model,
        [
            {"name": "half", "check": "unfused_kernel_ratio", "max": 0.5},
            {"name": "tight", "check": "unfused_kernel_ratio", "max": 0.05},
        ],
    )
    assert results["half"].status == SKIP and "not judged" in results["half"].message
    assert results["tight"].status == FAIL


def test_metrics_have_no_fusion_coverage_sample_for_a_figure_that_is_na() -> None:
    text = _scrape("41_")
    assert _samples(text, "trt_engine_fusion_coverage_ratio", "41") == []
    assert _samples(text, "trt_engine_opaque_layers", "41") == []
    assert _samples(text, "trt_engine_unfused_kernel_ratio", "41") == [
        'trt_engine_unfused_kernel_ratio{engine="41"} 1.0'
    ]


def test_report_shows_na_with_the_reason() -> None:
    text = report_text({"test": model_of("41_")}, STATS)
    fusion = next(line for line in text.splitlines() if line.startswith("fusion coverage"))
    assert "n/a (" in fusion and "Myelin" in fusion and "0.0%" not in fusion
    unfused = next(line for line in text.splitlines() if line.startswith("unfused kernels"))
    assert "(2/2" in unfused and "12 not judged" in unfused


def test_report_json_gives_null_and_the_reason() -> None:
    run = trt_agent("report", "--json", data_file("41_"))
    assert run.returncode == 0, run.stderr
    [engine] = json.loads(run.stdout)["engines"]
    assert engine["fusion_coverage"]["ratio"] is None and "Myelin" in engine["fusion_coverage"]["reason"]
    assert engine["int8_coverage"]["ratio"] is None and engine["int8_coverage"]["reason"]
    assert engine["unfused_kernel_ratio"]["excluded"] == 12


def test_one_myelin_region_hiding_its_members_has_no_fusion_coverage() -> None:
    """``extra/62``: a whole BERT in one ``{ForeignNode[first...last]}``, no layer counts: how many
    source layers it absorbed is unknown (before: 3/3 from the names in the region's name)."""
    model = model_of("62_")
    assert model.fusion_coverage().value is None
    unfused = model.unfused_kernel_ratio()
    assert (unfused.numerator, unfused.denominator, unfused.excluded) == (0, 1, 0)


def test_a_myelin_kernel_whose_members_are_listed_is_judged() -> None:
    """The AlexNet layer JSON lists each Myelin kernel's ONNX layers: the worked example's 14/19
    and 6/13 (README "How coverage is computed") stand."""
    model = model_of("02_")
    assert model.layers["__myl_Res_myl9_1"].kind == "myelin_kernel"
    cov, unfused = model.fusion_coverage(), model.unfused_kernel_ratio()
    assert (cov.numerator, cov.denominator) == (14, 19)
    assert (unfused.numerator, unfused.denominator, unfused.excluded) == (6, 13, 0)


# -- 2. Unknown is not zero ---------------------------------------------------------------------


def test_profile_only_engine_has_no_int8_coverage() -> None:
    """``corpus/08``: before, "INT8 coverage 0.0% (0/6)" with every precision unknown."""
    model = model_of("08_")
    int8 = model.int8_coverage()
    assert int8.value is None and int8.excluded == 6
    assert int8.reason is not None and "precision" in int8.reason
    text = report_text({"test": model}, STATS)
    line = next(line for line in text.splitlines() if line.startswith("INT8 coverage"))
    assert "n/a (" in line and "0.0%" not in line
    assert _samples(_scrape("08_"), "trt_engine_int8_coverage_ratio", "08") == []


def test_int8_rule_skips_unknown_precisions_and_strict_fails_it() -> None:
    model = model_of("08_")
    rule = {"name": "int8", "check": "int8_coverage", "min": 0.9, "only_if_requested": False}
    [result] = _results(model, [rule]).values()
    assert result.status == SKIP and "precision" in result.message, result.message
    [judged] = strict([result])
    assert judged.status == FAIL and judged.message.startswith("not judged (--strict)")


def test_int8_coverage_counts_only_layers_of_known_precision() -> None:
    model = model_of("02_")
    model.layers["/features/features.2/MaxPool"].precision = None
    int8 = model.int8_coverage()
    assert (int8.numerator, int8.denominator, int8.excluded) == (0, 12, 1)


def test_check_gives_exit_0_on_a_skip_and_strict_keeps_its_meaning(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    rules = rules_file(tmp_path, '[[rule]]\nname = "fusion"\ncheck = "fusion_coverage"\nmin = 0.9\n')
    run = trt_agent("check", "--rules", rules, data_file("41_"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skip" in run.stdout and "Myelin" in run.stdout
    run = trt_agent("check", "--strict", "--rules", rules, data_file("41_"))
    assert run.returncode == 1 and "not judged (--strict)" in run.stdout


# -- 3. Bookkeeping rows are not kernels --------------------------------------------------------


def test_bookkeeping_rows_are_not_kernels() -> None:
    for name in (
        "data to nvm",
        "data from nvm",
        "data copy finish",
        "loss3/classifier finish",
        "prob input reformatter 0",
        "[HostToDeviceCopy 0]",
    ):
        assert decompose(name) == ((), "reformat"), name


def test_trt7_dla_profile_counts_the_dla_region_and_softmax_only() -> None:
    """``corpus/28``: before, 6 compute layers (5/6 unfused) and 140/145 fusion coverage, the
    DLA copy/finish rows and the reformatter counted as layers and as source layers."""
    model = model_of("28_")
    assert [layer.name for layer in model.compute_layers()][1:] == ["prob"]
    unfused, cov = model.unfused_kernel_ratio(), model.fusion_coverage()
    assert (unfused.numerator, unfused.denominator) == (1, 2)
    assert (cov.numerator, cov.denominator) == (140, 141)


def test_host_to_device_copy_is_not_an_unfused_layer() -> None:
    """``corpus/31``: before, ``[HostToDeviceCopy 0]`` was an unfused kernel and a source layer."""
    model = model_of("31_")
    assert "[HostToDeviceCopy 0]" not in {layer.name for layer in model.compute_layers()}
    unfused = model.unfused_kernel_ratio()
    assert (unfused.numerator, unfused.denominator) == (7, 25)
    # its LSTM is one {ForeignNode[lstm_W...Max_reduce_min]}: how much it absorbed is unknown
    assert model.fusion_coverage().value is None


# -- 4. Weights and biases are not layers -------------------------------------------------------


def test_weights_in_fused_names_are_not_source_layers() -> None:
    """``extra/67``: ``conv1.weight + QuantizeLinear_7 + Conv_9 + MaxPool_12``; before, the 23
    weights counted as fused source layers: 85/90 = 94.4 % instead of 62/67 = 92.5 %."""
    model = model_of("67_")
    sources, _, _ = model.coverage_counts()
    assert not [s for s in sources if s.endswith((".weight", ".bias"))]
    cov = model.fusion_coverage()
    assert (cov.numerator, cov.denominator) == (62, 67)
    assert decompose("conv1.weight + QuantizeLinear_7 + Conv_9").sources[0] == "conv1.weight"  # names stay


def test_a_check_pass_is_unchanged_on_a_fully_judged_engine() -> None:
    model = model_of("02_")
    [result] = _results(model, [{"name": "f", "check": "fusion_coverage", "min": 0.7}]).values()
    assert result.status == PASS and result.message == "fusion coverage 73.7% (14/19) ≥ 70.0%"
