"""``trt-agent check``, the CI gate, as a process on real TensorRT text: healthy and failing
builds from ``tests/data`` (real logs and NVIDIA's TREx example artifacts), the seed's attention
case from ``tests/data/constructed`` (README there says why), baselines, JUnit and --strict."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET

import orjson
import pytest
from conftest import ATTENTION_RULES, DATA, GATE, ROOT, model_of, rules_file, trt_agent, write

from trt_agent.rules import SKIP, evaluate, load_rules

EXTRA = DATA / "extra"
CORPUS = DATA / "corpus"
ATTENTION_A = DATA / "constructed" / "bert-attention-a-fused"
ATTENTION_B = DATA / "constructed" / "bert-attention-b-generic"
FP16 = next(EXTRA.glob("65_*"))
FP32 = next(EXTRA.glob("66_*"))
OOM_NO_IMPLEMENTATION = next(EXTRA.glob("55_*"))
ALEXNET_BUILD = next(CORPUS.glob("03_*"))
CALIBRATION_CACHE = next(EXTRA.glob("59_*"))


def test_check_passes_a_healthy_build_and_fails_one_with_a_fallback(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, GATE)
    healthy = trt_agent("check", "--rules", rules, ALEXNET_BUILD)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.startswith("trt-agent check: PASS")
    assert "ok    fusion_coverage" in healthy.stdout

    broken = trt_agent("check", "--rules", rules, OOM_NO_IMPLEMENTATION)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert broken.stdout.startswith("trt-agent check: FAIL  (1 failed")
    line = next(line for line in broken.stdout.splitlines() if "no_fallback" in line)
    # the message names the layer TensorRT gave up on, the reason, and where it said so
    assert line.lstrip().startswith("FAIL")
    assert "{ForeignNode[/1/Constant_36_output_0.../1/Slice_4]} [no_implementation]" in line
    assert f"{OOM_NO_IMPLEMENTATION.name}:6" in line


def test_a_threshold_failure_names_the_value_the_threshold_and_the_layers(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, GATE.replace("min = 0.6", "min = 0.9"))
    result = trt_agent("check", "--rules", rules, FP16)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "fusion_coverage" in line)
    assert "fusion coverage 85.7% (42/49) is below the minimum 90.0%" in line
    assert "not covered: Conv_15" in line


def test_precision_fallback_to_fp32_fails_naming_the_layers(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, GATE)
    assert trt_agent("check", "--rules", rules, FP16).returncode == 0
    result = trt_agent("check", "--rules", rules, FP32, "--format", "json")
    assert result.returncode == 1
    doc = orjson.loads(result.stdout)
    failed = {r["rule"]: r for r in doc["results"] if r["status"] == "fail"}
    assert set(failed) == {"fp16_everywhere"}
    assert failed["fp16_everywhere"]["offender_count"] == 21  # every convolution
    assert "Conv_0 + Relu_1 (Float)" in failed["fp16_everywhere"]["offenders"]
    assert doc["passed"] is False and doc["counts"]["failed"] == 1


def test_seed_case_calibration_range_far_wider_than_expected(tmp_path: Path) -> None:
    """The real TensorRT 8.2 cache of issue #2958: input.12 is calibrated to ±11.86 where its
    neighbours sit within ±9; a width bound of 20 flags it, by name, with its range."""
    rules = rules_file(
        tmp_path,
        '[[rule]]\nname = "activation_range"\ncheck = "calibration_range"\nlayers = ["input.*"]\nmax_width = 20\n',
    )
    result = trt_agent("check", "--rules", rules, CALIBRATION_CACHE)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "activation_range" in line)
    assert re.search(
        r"1 of \d+ tensor range\(s\) exceed width ≤ 20; range: input\.12 \[-11\.8\d*, 11\.8\d*\]", line
    ), line
    assert "input.4" not in line  # ±8.57: inside the bound


def test_seed_case_attention_fallback_fails_check_and_shows_in_diff(tmp_path: Path) -> None:
    """Build B ran multi-head attention as a generic subgraph (separate MatMul, Softmax in FP32,
    MatMul) where build A ran one fused Myelin kernel."""
    rules = rules_file(tmp_path, ATTENTION_RULES)
    baseline = ATTENTION_A / "profile.json"
    good = trt_agent(
        "check", "--rules", rules, "--baseline", baseline, "--engine", "a", *sorted(ATTENTION_A.iterdir())
    )
    assert good.returncode == 0, good.stdout

    bad = trt_agent(
        "check", "--rules", rules, "--baseline", baseline, "--engine", "b", *sorted(ATTENTION_B.iterdir())
    )
    assert bad.returncode == 1
    lines = {line.split()[1]: line for line in bad.stdout.splitlines()[2:]}
    assert "3 of 9 layer(s) matching layers '*/attention/self/*' run unfused" in lines["attention_fused"]
    assert "/encoder/layer.0/attention/self/Softmax (SoftMax, Float)" in lines["attention_fused"]
    assert (
        "1.85× baseline 0.0793 ms" in lines["attention_latency"] and "max 1.2×" in lines["attention_latency"]
    )
    assert "/encoder/layer.0/attention/self/Softmax (Float)" in lines["attention_precision"]

    diff = trt_agent("diff", ATTENTION_A, ATTENTION_B)
    assert diff.returncode == 1
    out = diff.stdout
    assert "REGRESSED: 5 regression(s)" in out
    assert (
        "fusion lost: {ForeignNode[/encoder/layer.0/attention/self/query/MatMul.../encoder/layer.0/attention/self/Reshape_3]} "
        "now runs as 9 layers, 3 of them unfused: /encoder/layer.0/attention/self/MatMul, "
        "/encoder/layer.0/attention/self/Softmax, /encoder/layer.0/attention/self/MatMul_1"
    ) in out
    assert "precision Half -> Float on 1 layer(s): /encoder/layer.0/attention/self/Softmax" in out
    assert "engine latency 0.0793 ms -> 0.1469 ms (1.85x)" in out
    # the other way round, B -> A is an improvement: fusions gained, no regression
    assert trt_agent("diff", ATTENTION_B, ATTENTION_A).returncode == 0


def test_junit_has_one_testcase_per_rule_and_engine(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, GATE)
    out = tmp_path / "check.xml"
    result = trt_agent(
        "check", "--rules", rules, "--format", "junit", "-o", out, ALEXNET_BUILD, OOM_NO_IMPLEMENTATION
    )
    assert result.returncode == 1
    assert result.stdout.startswith("trt-agent check: FAIL")  # the summary still goes to the terminal
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "8" and root.get("failures") == "1"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {ALEXNET_BUILD.stem, OOM_NO_IMPLEMENTATION.stem}
    bad = suites[OOM_NO_IMPLEMENTATION.stem]
    cases = {c.get("name"): c for c in bad.iter("testcase")}
    assert set(cases) == {"fusion_coverage", "no_fallback", "plugins_registered", "fp16_everywhere"}
    failure = cases["no_fallback"].find("failure")
    assert failure is not None and "no_implementation" in (failure.get("message") or "")
    assert cases["fusion_coverage"].find("skipped") is not None  # no layer list in an OOM log


def test_warnings_are_reported_but_do_not_gate(tmp_path: Path) -> None:
    rules = rules_file(
        tmp_path,
        GATE.replace(
            'name = "no_fallback"\ncheck = "no_fallback"',
            'name = "no_fallback"\ncheck = "no_fallback"\nseverity = "warning"',
        ),
    )
    result = trt_agent("check", "--rules", rules, OOM_NO_IMPLEMENTATION)
    assert result.returncode == 0
    assert "PASS  (0 failed, 1 warning, " in result.stdout
    assert "  WARN  no_fallback" in result.stdout


def test_strict_fails_an_error_rule_that_had_no_data(tmp_path: Path) -> None:
    """The AlexNet build log passes GATE plus a peak-memory rule (skipped: this log has no
    memory lines) and a warning rule (skipped too); --strict fails the error rule only."""
    rules = rules_file(
        tmp_path,
        GATE
        + '[[rule]]\nname = "memory"\ncheck = "peak_memory"\nmax_bytes = "2 GiB"\n'
        + '[[rule]]\nname = "memory_soft"\ncheck = "peak_memory"\nmax_bytes = "1 GiB"\nseverity = "warning"\n',
    )
    lenient = trt_agent("check", "--rules", rules, ALEXNET_BUILD)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert re.search(r"^  skip  memory +no peak memory reported in the input$", lenient.stdout, re.M)
    strict = trt_agent("check", "--strict", "--rules", rules, ALEXNET_BUILD, "--format", "junit")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    cases = {c.get("name"): c for c in ET.fromstring(strict.stdout).iter("testcase")}
    failure = cases["memory"].find("failure")
    assert failure is not None
    assert failure.get("message") == "not judged (--strict): no peak memory reported in the input"
    assert cases["memory_soft"].find("skipped") is not None


def test_rules_that_apply_to_no_engine_give_no_verdict(tmp_path: Path) -> None:
    """A gate that judged nothing (the engines filters match no engine of the input) is a
    misconfigured gate, not a pass: exit 2, naming the rules file and the engines seen."""
    rules = rules_file(
        tmp_path, '[[rule]]\nname = "bert"\ncheck = "fusion_coverage"\nmin = 0.9\nengines = ["bert*"]\n'
    )
    result = trt_agent("check", "--rules", rules, "--engine", "alexnet-fp16", ALEXNET_BUILD)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("trt-agent check: NOTHING JUDGED")
    assert result.stderr == (
        f"trt-agent: check: no rule of {rules} applies to the engines of the input (alexnet-fp16): "
        "nothing was judged; see the rules' engines = [...]\n"
    )
    as_json = trt_agent(
        "check", "--rules", rules, "--engine", "alexnet-fp16", "--format", "json", ALEXNET_BUILD
    )
    assert as_json.returncode == 2 and orjson.loads(as_json.stdout)["passed"] is False


def test_unreadable_input_or_baseline_gives_no_verdict(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, GATE)
    missing = trt_agent("check", "--rules", rules, ALEXNET_BUILD, tmp_path / "nope.log")
    assert missing.returncode == 2 and "nope.log" in missing.stderr
    baseline = trt_agent("check", "--rules", rules, "--baseline", tmp_path / "gone.json", ALEXNET_BUILD)
    assert baseline.returncode == 2 and "baseline" in baseline.stderr and "gone.json" in baseline.stderr
    no_rules = trt_agent("check", ALEXNET_BUILD)
    assert no_rules.returncode == 2 and "--rules" in no_rules.stderr


RULES_EXAMPLE = ROOT / "rules.example.toml"
BINDING_ERROR = next(CORPUS.glob("27_*"))  # jetson-inference: "failed to create TensorRT engine"
OLD_STYLE_ERROR = next(CORPUS.glob("09_*"))  # TensorRT 7 "[TensorRT] ERROR: ..."
ALEXNET_PROFILE = next(CORPUS.glob("01_*"))


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (BINDING_ERROR, "INVALID_ARGUMENT: Cannot find binding of given name: data"),
        (OLD_STYLE_ERROR, "[TensorRT] ERROR: (Unnamed Layer* 0)"),
    ],
)
def test_the_shipped_rules_fail_a_log_with_tensorrt_errors(log: Path, message: str) -> None:
    """Was PASS, exit 0: a failed build has no layers or memory, so every other rule skipped."""
    result = trt_agent("check", "--rules", RULES_EXAMPLE, log)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("trt-agent check: FAIL  (1 failed, ")
    line = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("FAIL"))
    assert "errors" in line and "1 TensorRT error(s), more than the maximum 0" in line
    assert message in line and f"{log.relative_to(ROOT)}:" in line  # the message and where


def test_errors_max_allows_some_and_a_healthy_build_passes(tmp_path: Path) -> None:
    lenient = write(tmp_path / "r.toml", '[[rule]]\nname = "errors"\ncheck = "errors"\nmax = 1\n')
    result = trt_agent("check", "--rules", lenient, BINDING_ERROR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    errors  1 TensorRT error(s) ≤ 1" in result.stdout
    healthy = trt_agent("check", "--rules", RULES_EXAMPLE, "--format", "json", ALEXNET_BUILD)
    doc = orjson.loads(healthy.stdout)
    [errors] = [r for r in doc["results"] if r["rule"] == "errors"]
    assert (errors["status"], errors["observed"]) == ("pass", 0)
    bad = write(tmp_path / "bad.toml", '[[rule]]\nname = "e"\ncheck = "errors"\nmax = -1\n')
    result = trt_agent("check", "--rules", bad, BINDING_ERROR)
    assert result.returncode == 2 and "max must be a whole number, 0 or more, got -1" in result.stderr


def test_a_baseline_without_layer_timings_is_exit_2(tmp_path: Path) -> None:
    """Was: the latency rule skipped ("no baseline layer matches"), exit 0."""
    rules = write(tmp_path / "r.toml", '[[rule]]\nname = "lat"\ncheck = "layer_latency"\nmax_ratio = 1.2\n')
    result = trt_agent("check", "--rules", rules, "--baseline", ALEXNET_BUILD, ALEXNET_PROFILE)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == f"trt-agent: baseline {ALEXNET_BUILD} holds no layer timings\n"
    assert result.stdout == ""
    ok = trt_agent("check", "--rules", rules, "--baseline", ALEXNET_PROFILE, ALEXNET_PROFILE)
    assert ok.returncode == 0 and "1.00× baseline" in ok.stdout


def test_check_format_has_help() -> None:
    text = " ".join(trt_agent("check", "--help").stdout.split())
    assert "text for people (default), json for scripts, junit (XML) for CI test reports" in text


ALEXNET_LAYERS = next(CORPUS.glob("02_*"))
QAT_PROFILE = next(EXTRA.glob("68_*"))


def test_layer_latency_with_max_ms_zero_fails_instead_of_crashing(tmp_path: Path) -> None:
    rules = rules_file(
        tmp_path, '[[rule]]\nname = "lat"\ncheck = "layer_latency"\nlayers = ["Conv_*"]\nmax_ms = 0\n'
    )
    result = trt_agent("check", "--rules", rules, QAT_PROFILE)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  lat" in result.stdout and "> 0 ms" in result.stdout


def test_layer_latency_against_a_zero_ms_baseline_layer(tmp_path: Path) -> None:
    """The TREx QAT profile has a layer at 0 ms: the ratio to it has no meaning (was a
    ZeroDivisionError, exit 1 with a traceback, i.e. "a rule failed")."""
    rules = rules_file(
        tmp_path,
        '[[rule]]\nname = "squeeze"\ncheck = "layer_latency"\nlayers = ["copied_squeeze_*"]\nmax_ratio = 1.2\n'
        '[[rule]]\nname = "squeeze_ms"\ncheck = "layer_latency"\nlayers = ["copied_squeeze_*"]\n'
        "max_ratio = 1.2\nmax_ms = 1\n",
    )
    result = trt_agent("check", "--rules", rules, "--baseline", QAT_PROFILE, QAT_PROFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skip  squeeze     0 ms in the baseline for layers 'copied_squeeze_*'" in result.stdout
    assert "ok    squeeze_ms  1 layer(s) each ≤ 1 ms" in result.stdout


def test_precision_rule_skips_layers_whose_precision_the_input_does_not_give(tmp_path: Path) -> None:
    """A profile names layers, not their types: the FP16 AlexNet profile failed "all Half" with
    13 layers "(unknown)". With the layer information it is judged."""
    rules = rules_file(tmp_path, '[[rule]]\nname = "fp16"\ncheck = "precision"\nallowed = ["Half"]\n')
    profile_only = trt_agent("check", "--rules", rules, ALEXNET_PROFILE)
    assert profile_only.returncode == 0, profile_only.stdout
    assert "skip  fp16  no precision known for the 13 layer(s) matching all layers" in profile_only.stdout

    model = model_of(ALEXNET_LAYERS.name, ALEXNET_PROFILE.name)
    [result] = evaluate(load_rules(str(rules)), {"test": model})
    assert result.status != SKIP
    assert "unknown" not in result.message


def test_junit_stays_well_formed_with_control_characters_in_a_name(tmp_path: Path) -> None:
    """ONNX node names are any string; a colour code inside one (a log captured from a
    terminal) made the JUnit file unparseable for the CI's test report."""
    log = tmp_path / "build.log"
    log.write_bytes(OOM_NO_IMPLEMENTATION.read_bytes().replace(b"/1/Slice_4", b"/1/Slice_4\x1b[0m\x01"))
    rules = rules_file(tmp_path, '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n')
    out = tmp_path / "check.xml"
    result = trt_agent("check", "--rules", rules, "--format", "junit", "-o", out, log)
    assert result.returncode == 1, result.stderr
    suites = ET.parse(out).getroot()
    [failure] = suites.iter("failure")
    assert "/1/Slice_4\\x1b[0m\\x01]}" in failure.get("message", "")


def test_the_shipped_rules_pass_the_healthy_example_and_fail_the_broken_one() -> None:
    builds = ROOT / "examples" / "builds"
    healthy = trt_agent(
        "check", "--rules", RULES_EXAMPLE, *sorted((builds / "healthy-resnet50-fp16").glob("*.json"))
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.startswith("trt-agent check: PASS")
    broken = trt_agent(
        "check", "--rules", RULES_EXAMPLE, *sorted((builds / "broken-resnet50-int8-qat").glob("*.json"))
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    # (words, not spaces: the rule column is as wide as the file's longest rule name)
    failed = [
        " ".join(line.split()) for line in broken.stdout.splitlines() if line.lstrip().startswith("FAIL")
    ]
    assert failed == [
        "FAIL int8_coverage INT8 coverage 95.5% (21/22) is below the minimum 98.0%; "
        "not covered: GlobalAveragePool_294 (Float)"
    ]
    assert "joined 2 files of engine resnet50-int8-qat" in broken.stderr


def test_a_healthy_trt10_engine_of_myelin_kernels_passes_the_shipped_rules() -> None:
    result = trt_agent("check", "--rules", RULES_EXAMPLE, next(EXTRA.glob("41_*")))
    assert result.returncode == 0, result.stdout
    line = next(line for line in result.stdout.splitlines() if "fusion_coverage" in line)
    assert line.lstrip().startswith("skip") and "Myelin" in line
