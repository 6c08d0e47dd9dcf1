"""``trt-agent profile`` as a process whose ``import tensorrt`` / ``import pycuda`` find the
doubles (PYTHONPATH), or find nothing, or find no GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from conftest import trt_agent
from trt_double.profiling import LAYERS, SITE, engine_file, with_double


def test_profile_command_prints_percentiles_joined_with_the_build(tmp_path: Path) -> None:
    path = engine_file(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "trt_agent",
        "profile",
        str(path),
        "--iterations",
        "30",
        "--shapes",
        "input:2x3x8x8",
    ]
    text = subprocess.run(cmd, capture_output=True, text=True, env=with_double(), timeout=60)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "engine model: 30 profiled inferences, 3 layers"
    conv = next(line for line in lines if line.startswith("conv1 + bn1 + relu1"))
    median, p90, p99, share, precision, fused = conv.split()[-6:]
    assert 0.28 < float(median) < 0.32 and float(median) <= float(p90) <= float(p99)
    assert (precision, fused) == ("Half", "yes") and 60 < float(share.rstrip("%")) < 72
    doc = orjson.loads(
        subprocess.run([*cmd, "--json"], capture_output=True, env=with_double(), timeout=60).stdout
    )
    assert [row["layer"] for row in doc["layers"]] == [layer["name"] for layer in LAYERS]
    assert {row["count"] for row in doc["layers"]} == {30}


def test_profile_without_tensorrt_says_what_to_install(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(tmp_path)}  # no double on the path
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "profile", str(engine_file(tmp_path))],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "pip install 'trt-agent[gpu]'" in result.stderr and "Traceback" not in result.stderr


def test_profile_on_a_machine_without_a_gpu_exits_2_without_a_traceback(tmp_path: Path) -> None:
    fake = tmp_path / "nogpu" / "pycuda"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "driver.py").write_text(
        "class Error(Exception):\n    pass\n\n\n"
        "def init():\n    raise Error('cuInit failed: no CUDA-capable device is detected')\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "nogpu"), str(SITE)])}
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "profile", str(engine_file(tmp_path))],
        capture_output=True,
        text=True,
        env=os.environ | env,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "no usable CUDA device 0" in result.stderr and "Traceback" not in result.stderr


def test_profile_says_the_engine_file_is_missing_before_tensorrt(tmp_path: Path) -> None:
    result = trt_agent("profile", tmp_path / "nonexist.plan")
    assert result.returncode == 2
    assert result.stderr == f"trt-agent: {tmp_path / 'nonexist.plan'}: no such file\n"
    assert "not a file" in trt_agent("profile", tmp_path).stderr
