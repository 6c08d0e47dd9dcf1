"""``trt-agent run -c config.example.toml``, as the README starts it: the examples read, their
metrics served, their events the ones ``parse`` gives."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import ROOT
from harness import Agent, wait_for

from trt_agent import __version__
from trt_agent.daemon import tensorrt_version


def test_example_config_runs_and_serves_metrics(tmp_path: Path, agents: list[Agent]) -> None:
    """``trt-agent run -c config.example.toml``, as the README starts it (from a copy)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copy(ROOT / "rules.example.toml", tmp_path)
    text = (ROOT / "config.example.toml").read_text()
    assert 'listen = "127.0.0.1:9717"' in text
    agent = Agent(tmp_path, [])
    agents.append(agent)
    agent.config_path.write_text(text.replace("127.0.0.1:9717", "127.0.0.1:0"))
    agent.start(stdout=subprocess.PIPE)
    metrics = wait_for(
        lambda: (m := agent.metrics()).get("trt_agent_ready") == 1 and m,  # every file read once
        10,
        "examples read",
        agent,
    )
    # AlexNet, README's worked example: 14 of 19 source layers fused, 6 of 13 kernels unfused.
    assert metrics['trt_engine_fusion_coverage_ratio{engine="alexnet-fp16"}'] == pytest.approx(14 / 19)
    assert metrics['trt_engine_unfused_kernel_ratio{engine="alexnet-fp16"}'] == pytest.approx(6 / 13)
    # the agent's versions, as node_exporter_build_info; no constant trt_agent_up (Prometheus's up)
    versions = f'python="{platform.python_version()}",tensorrt="{tensorrt_version()}",version="{__version__}"'
    assert metrics[f"trt_agent_build_info{{{versions}}}"] == 1
    assert not any(key.startswith("trt_agent_up") for key in metrics)
    # the shipped rules: AlexNet is a healthy build with few fusions to make (14/19 < 90 %)
    assert metrics['trt_engine_rule_ok{engine="alexnet-fp16",rule="no_fallback",severity="error"}'] == 1
    assert metrics['trt_engine_rule_ok{engine="alexnet-fp16",rule="fusion_coverage",severity="error"}'] == 0
    assert agent.stop() == 0
    events = [orjson.loads(line) for line in bytes(agent.stdout_data).splitlines()]
    expected = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_agent",
            "parse",
            "-c",
            "agent.toml",
            *sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "examples" / "logs").iterdir()),
        ],
        capture_output=True,
        cwd=tmp_path,
        check=True,
    ).stdout.splitlines()
    assert sorted(orjson.dumps(e) for e in events) == sorted(orjson.dumps(orjson.loads(e)) for e in expected)
