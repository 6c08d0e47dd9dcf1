"""``trt-agent diff`` as a process: real FP16 and FP32 builds, tolerances, and a side with nothing
to compare."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import DATA, trt_agent

EXTRA = DATA / "extra"
FP16 = next(EXTRA.glob("65_*"))
FP32 = next(EXTRA.glob("66_*"))


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


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e999", "ten"])
def test_diff_rejects_a_negative_or_non_finite_tolerance(value: str) -> None:
    for option in ("--latency-tolerance", "--memory-tolerance"):
        result = trt_agent("diff", f"{option}={value}", FP16, FP16)
        assert result.returncode == 2, (option, value, result.stdout)
        assert f"argument {option}: expected a finite ratio, 0 or more" in result.stderr


def test_diff_help_shows_the_default_tolerances() -> None:
    text = " ".join(trt_agent("diff", "--help").stdout.split())
    assert "default 0.1 = 10 %" in text and "default 0.05 = 5 %" in text


CORPUS = DATA / "corpus"
ALEXNET_PROFILE = next(CORPUS.glob("01_*"))


def test_diff_with_an_empty_side_is_no_verdict(tmp_path: Path) -> None:
    """A NEW build whose log is empty (the build died, a wrong path in CI) was "no regression",
    exit 0; ``check`` says exit 2 for the same input."""
    empty_log = tmp_path / "new.log"
    empty_log.write_bytes(b"")
    empty_dir = tmp_path / "new"
    empty_dir.mkdir()
    for new in (empty_log, empty_dir):
        result = trt_agent("diff", ALEXNET_PROFILE, new)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"trt-agent: diff: NEW {new} holds no TensorRT facts to compare" in result.stderr
    result = trt_agent("diff", empty_log, ALEXNET_PROFILE)
    assert result.returncode == 2
    assert "diff: BASE" in result.stderr
    assert trt_agent("diff", ALEXNET_PROFILE, ALEXNET_PROFILE).returncode == 0
