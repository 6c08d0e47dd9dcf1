"""The daemon hosting the engine through the doubles (PYTHONPATH), or going on without TensorRT."""

from __future__ import annotations

from pathlib import Path

from harness import Agent, new_agent, wait_for
from trt_double.profiling import double_path, engine_file


def test_daemon_hosts_the_engine_and_exports_its_layers(tmp_path: Path, agents: list[Agent]) -> None:
    path = engine_file(tmp_path)
    agent = new_agent(agents, tmp_path, [], env=double_path())
    agent.write_config(
        f'[profiler]\nengine = "{path}"\nengine_id = "resnet"\nmax_duty_cycle = 0.2\nevents_every = 10\n'
    )
    agent.start()

    def profiled() -> dict[str, float] | None:
        m = agent.metrics()
        key = 'trt_engine_layer_latency_seconds_count{engine="resnet",layer="conv1 + bn1 + relu1"}'
        return m if m.get(key, 0) >= 20 else None

    metrics = wait_for(profiled, 20, "profiled layers on /metrics", agent)
    assert metrics["trt_agent_profiler_up"] == 1
    assert metrics["trt_agent_profiler_reports_total"] >= 60
    assert metrics['trt_engine_layers{engine="resnet",precision="Half"}'] == 3  # from the inspector
    assert 0 < metrics["trt_agent_profiler_duty_cycle_ratio"] <= 0.25
    assert agent.stop() == 0
    sampled = [e for e in agent.events() if e["type"] == "layer_time"]
    assert sampled and all(e["source"] == {"kind": "profiler"} for e in sampled)


def test_daemon_without_tensorrt_keeps_tailing_and_says_why(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "build.log"
    log.write_text("[11/26/2026-10:00:00] [TRT] [W] probe x 00000001\n")
    agent = new_agent(
        agents, tmp_path, [{"path": str(log), "engine": "logs"}], env={"PYTHONPATH": str(tmp_path)}
    )
    agent.write_config(f'[profiler]\nengine = "{engine_file(tmp_path)}"\n')
    agent.start()
    failed = agent.wait_log("profiler not started; logs and metrics go on")
    assert "pip install 'trt-agent[gpu]'" in failed["error"]
    metrics = wait_for(lambda: (m := agent.metrics()).get("trt_agent_ready") == 1 and m, 10, "ready", agent)
    assert metrics["trt_agent_profiler_up"] == 0
    assert agent.stop() == 0
