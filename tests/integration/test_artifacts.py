"""JSON artifacts (trtexec --exportLayerInfo/--exportProfile) followed by the daemon: a half-written
one is counted and read once complete, and none is emitted again after a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import DATA
from harness import Agent, new_agent, wait_for


def test_a_half_written_artifact_is_counted_then_read_when_complete(
    tmp_path: Path, agents: list[Agent]
) -> None:
    whole = (DATA / "corpus" / "02_trtexec-exportLayerInfo-alexnet-fp16.json").read_bytes()
    artifact = tmp_path / "layers.json"
    artifact.write_bytes(whole[: len(whole) // 2])  # trtexec still writing it
    agent = Agent(tmp_path, [{"path": str(artifact), "engine": "alexnet", "format": "json"}])
    agents.append(agent)
    agent.start()
    wait_for(
        lambda: agent.metrics().get("trt_agent_artifact_errors_total", 0) >= 1, 10, "artifact error", agent
    )
    artifact.write_bytes(whole)
    metrics = wait_for(
        lambda: (m := agent.metrics()).get('trt_engine_layers{engine="alexnet",precision="Half"}') and m,
        10,
        "the complete artifact read",
        agent,
    )
    assert "trt_agent_redaction_collisions_total" not in metrics  # only with [redaction] on
    assert agent.stop() == 0


def test_artifacts_are_not_emitted_again_after_a_restart(tmp_path: Path, agents: list[Agent]) -> None:
    artifact = tmp_path / "layers.json"
    shutil.copyfile(next((DATA / "corpus").glob("02_*")), artifact)
    agent = new_agent(agents, tmp_path, [{"path": str(artifact), "engine": "e"}])
    agent.start()
    first = wait_for(lambda: len(agent.events()), 20, "events", agent)
    assert agent.stop() == 0
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    # the artifact replayed into the model, and whatever that gave the event stream written
    wait_for(
        lambda: (
            (m := agent.metrics()).get('trt_engine_layers{engine="e",precision="Half"}', 0) > 0
            and m["trt_agent_events_queued"] == 0
        ),
        20,
        "the artifact replayed",
        agent,
    )
    assert len(agent.events()) == first
    assert agent.metrics()['trt_engine_layers{engine="e",precision="Half"}'] > 0  # replayed into the model
    assert agent.stop() == 0
