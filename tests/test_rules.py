"""Rules, ``check`` (the CI gate), ``diff`` and the daemon's ``trt_rule_ok``, on real TensorRT text.

Healthy and failing builds come from ``tests/data`` (real logs and NVIDIA's TREx example
artifacts); the seed's attention case is ``tests/data/constructed`` (README there says why).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson
import pytest
from conftest import DATA, model_of
from harness import Agent, new_agent, wait_for

from trt_agent.model import EngineModel, build_models
from trt_agent.model.diff import diff_models
from trt_agent.parse import ParseStats, parse_path
from trt_agent.rules import CHECKS, RulesError, evaluate, load_rules, parse_rules

ROOT = Path(__file__).parent.parent
EXTRA = DATA / "extra"
CORPUS = DATA / "corpus"
ATTENTION_A = DATA / "constructed" / "bert-attention-a-fused"
ATTENTION_B = DATA / "constructed" / "bert-attention-b-generic"
FP16 = next(EXTRA.glob("65_*"))
FP32 = next(EXTRA.glob("66_*"))
QAT = next(EXTRA.glob("67_*"))
OOM_NO_IMPLEMENTATION = next(EXTRA.glob("55_*"))
ALEXNET_BUILD = next(CORPUS.glob("03_*"))
CALIBRATION_CACHE = next(EXTRA.glob("59_*"))

# What a team gates its AlexNet/ResNet builds on (thresholds tuned to the network, as a team does).
GATE = """
[[rule]]
name = "fusion_coverage"
check = "fusion_coverage"
min = 0.6
[[rule]]
name = "no_fallback"
check = "no_fallback"
[[rule]]
name = "plugins_registered"
check = "plugins_registered"
[[rule]]
name = "fp16_everywhere"
check = "precision"
layer_types = ["CaskConvolution", "CaskGemmConvolution"]
allowed = ["Half", "Int8"]
"""

ATTENTION_RULES = """
[[rule]]
name = "attention_fused"
check = "fused"
layers = ["*/attention/self/*"]
[[rule]]
name = "attention_latency"
check = "layer_latency"
layers = ["*/attention/*"]
max_ratio = 1.2
[[rule]]
name = "attention_precision"
check = "precision"
layers = ["*/attention/*"]
allowed = ["Half", "Int8", "FP8"]
"""


def trt_agent(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trt_agent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def rules_file(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- check: the CI gate --------------------------------------------------------------------------


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


def test_diff_of_real_fp16_and_fp32_builds(tmp_path: Path) -> None:
    result = trt_agent("diff", FP16, FP32, "--format", "json")
    assert result.returncode == 1
    doc = orjson.loads(result.stdout)
    assert doc["regressed"] is True
    assert doc["regressions"] == [
        "precision Half -> Float on 23 layer(s): Conv_10 + Add_11 + Relu_12, Conv_16 + Add_17 + Relu_18, "
        "Conv_21 + Add_22 + Relu_23 and 20 more"
    ]
    assert not doc["fusions_lost"] and not doc["fusions_gained"]
    assert trt_agent("diff", FP32, FP16).returncode == 0
    assert trt_agent("diff", FP16, FP16).returncode == 0


def test_int8_coverage_is_judged_only_when_the_build_asked_for_int8(tmp_path: Path) -> None:
    rules = load_rules(str(ROOT / "rules.example.toml"))
    int8 = {r.rule: r for r in evaluate(rules, {"qat": model_of(QAT.name)})}["int8_coverage"]
    assert int8.status == "fail"
    assert int8.message.startswith("INT8 coverage 84.0% (21/25) is below the minimum 98.0%")
    fp16 = {r.rule: r for r in evaluate(rules, {"fp16": model_of(FP16.name)})}["int8_coverage"]
    assert (fp16.status, fp16.message) == ("skip", "the build did not ask for INT8")


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_covrage"\nmin = 0.9\n',
            "rule[0] ('x'): check must be one of fusion_coverage",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\nminimum = 0.9\n',
            "rule[0] ('x'): unknown key 'minimum' for check 'fusion_coverage'",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\n',
            "rule[0] ('x'): check 'fusion_coverage' needs one of: min, max",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\nmin = 90\n',
            "rule[0] ('x'): min must be between 0 and 1, got 90",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "no_fallback"\nseverity = "critical"\n',
            "severity must be error or warning",
        ),
        (
            '[[rule]]\nname = "x y"\ncheck = "no_fallback"\n',
            "rule[0] ('x y'): name 'x y' is invalid: it must start with a letter or _ and hold only letters",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "no_fallback"\n[[rule]]\nname = "x"\ncheck = "no_fallback"\n',
            "rule[1] ('x'): the name 'x' is used twice",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "peak_memory"\nmax_bytes = "lots"\n',
            "max_bytes must be bytes or a size like",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\nmin = 0.9\nlayers = ["a*"]\n',
            "layers does not apply to check 'fusion_coverage'",
        ),
        ("[rule]\nname = 1\n", "rule must be an array of tables"),
        ("rule = [", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_exits_2_naming_the_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    rules = rules_file(tmp_path, text)
    result = trt_agent("check", "--rules", rules, ALEXNET_BUILD)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"trt-agent: {rules}: ")
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_input_or_baseline_gives_no_verdict(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, GATE)
    missing = trt_agent("check", "--rules", rules, ALEXNET_BUILD, tmp_path / "nope.log")
    assert missing.returncode == 2 and "nope.log" in missing.stderr
    baseline = trt_agent("check", "--rules", rules, "--baseline", tmp_path / "gone.json", ALEXNET_BUILD)
    assert baseline.returncode == 2 and "baseline" in baseline.stderr and "gone.json" in baseline.stderr
    no_rules = trt_agent("check", ALEXNET_BUILD)
    assert no_rules.returncode == 2 and "--rules" in no_rules.stderr


def test_the_shipped_rules_file_loads_and_documents_every_check() -> None:
    rules = load_rules(str(ROOT / "rules.example.toml"))
    text = (ROOT / "rules.example.toml").read_text()
    readme = (ROOT / "docs" / "rules.md").read_text()
    assert {"fusion_coverage", "int8_coverage", "unfused_kernel_ratio", "peak_memory", "no_fallback"} <= {
        r.check for r in rules.rules
    }
    for check in CHECKS:
        assert f'check = "{check}"' in text, f"rules.example.toml does not show check {check!r}"
        assert f"`{check}`" in readme, f"docs/rules.md does not document check {check!r}"


def test_check_redacts_names_in_its_messages(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[redaction]\nenabled = true\nkey_file = "{key}"\n[rules]\nfile = "{rules_file(tmp_path, ATTENTION_RULES)}"\n'
    )
    result = trt_agent("check", "-c", config, "--engine", "b", *sorted(ATTENTION_B.iterdir()))
    assert result.returncode == 1
    assert "attention" not in result.stdout.replace("attention_", "").replace("'*/attention/", "")
    assert re.search(r"run unfused; unfused: L[0-9a-f]{10}", result.stdout), result.stdout


# -- the model-level API ---------------------------------------------------------------------------


def test_diff_models_lists_lost_fusions_by_member() -> None:
    base, new = (
        build_models(
            e for path in sorted(folder.iterdir()) for e in parse_path(str(path), "x", ParseStats())
        )["x"]
        for folder in (ATTENTION_A, ATTENTION_B)
    )
    d = diff_models(base, new)
    (lost,) = d.fusions_lost
    assert len(lost["sources"]) == 15
    assert lost["unfused"] == [
        "/encoder/layer.0/attention/self/MatMul",
        "/encoder/layer.0/attention/self/Softmax",
        "/encoder/layer.0/attention/self/MatMul_1",
    ]
    back = diff_models(new, base)
    assert not back.regressions and len(back.fusions_gained) == 1


def test_rules_parse_accepts_sizes_and_engine_filters() -> None:
    rules = parse_rules(
        {"rule": [{"name": "mem", "check": "peak_memory", "max_bytes": "1.5 GiB", "engines": ["bert-*"]}]}
    )
    (rule,) = rules.rules
    assert rule.params["max_bytes"] == 1610612736
    assert rule.applies_to("bert-large") and not rule.applies_to("resnet50")
    model = EngineModel("bert-large")
    model.memory["peak_gpu"] = 2 * 1024**3
    (result,) = evaluate(rules, {"bert-large": model})
    assert result.failed and "2.0 GiB (2147483648 bytes) is above the maximum 1.5 GiB" in result.message
    with pytest.raises(RulesError, match="max_bytes"):
        parse_rules({"rule": [{"name": "mem", "check": "peak_memory", "max_bytes": -1}]})


# -- the daemon --------------------------------------------------------------------------------------


def rule_samples(agent: Agent) -> dict[str, float]:
    return {k: v for k, v in agent.metrics().items() if k.startswith("trt_rule_ok")}


def test_daemon_exports_trt_rule_ok_and_reloads_rules(tmp_path: Path, agents: list[Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "gpt.log").write_bytes(OOM_NO_IMPLEMENTATION.read_bytes())
    rules = rules_file(tmp_path, GATE)
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "gpt"}])
    agent.write_config(f'[rules]\nfile = "{rules}"\n')
    agent.start()

    def samples() -> dict[str, float] | None:
        got = rule_samples(agent)
        return got if len(got) == 2 else None

    got: dict[str, Any] = wait_for(samples, 15, "trt_rule_ok series", agent)
    assert got == {
        'trt_rule_ok{engine="gpt",rule="no_fallback",severity="error"}': 0.0,
        'trt_rule_ok{engine="gpt",rule="plugins_registered",severity="error"}': 1.0,
    }  # fusion_coverage and fp16_everywhere: no layer list in this log, skipped, no series
    failed = agent.wait_log("rule failed", rule="no_fallback")
    assert failed["engine"] == "gpt" and "no_implementation" in failed["detail"]

    # a broken rules file on SIGHUP keeps the running rules
    rules.write_text('[[rule]]\nname = "x"\ncheck = "nonsense"\n')
    agent.send(signal.SIGHUP)
    agent.wait_log("rules reload failed; keeping the running config and rules")
    assert len(rule_samples(agent)) == 2

    # a good one applies
    rules.write_text('[[rule]]\nname = "no_fallback_warning"\ncheck = "no_fallback"\nseverity = "warning"\n')
    agent.send(signal.SIGHUP)
    wait_for(
        lambda: (
            rule_samples(agent)
            == {'trt_rule_ok{engine="gpt",rule="no_fallback_warning",severity="warning"}': 0.0}
        ),
        10,
        "reloaded rules",
        agent,
    )
    assert agent.stop() == 0


def test_daemon_refuses_to_start_with_a_bad_rules_file(tmp_path: Path, agents: list[Agent]) -> None:
    rules = rules_file(tmp_path, '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\n')
    agent = new_agent(agents, tmp_path, [])
    agent.write_config(f'[rules]\nfile = "{rules}"\n')
    agent.start(wait=False)
    assert agent.proc is not None
    assert agent.proc.wait(20) == 2
    err = agent.stderr_path.read_text()
    assert f"{rules}: rule[0] ('x'): check 'fusion_coverage' needs one of: min, max" in err
