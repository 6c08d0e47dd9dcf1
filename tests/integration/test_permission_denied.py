"""A log the agent may not read: reported, counted and retried until it may."""

from __future__ import annotations

from pathlib import Path

from harness import Agent, Writer, assert_exact, new_agent, wait_for


def test_permission_denied_is_reported_and_retried(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    writer = Writer(log, "perm")
    for _ in range(100):
        writer.write_one()
    log.chmod(0o000)
    # Root reads anything: the agent runs without the capabilities that let it (CAP_DAC_*).
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], without_root_file_access=True)
    agent.start()
    entry = agent.wait_log("cannot read file; will retry", reason="permission_denied")
    assert entry["file"] == str(log)
    wait_for(
        lambda: agent.metrics().get('trt_agent_tail_errors_total{reason="permission_denied"}', 0) >= 1,
        10,
        "permission error metric",
        agent,
    )
    log.chmod(0o644)
    for _ in range(100):
        writer.write_one()
    writer.stop()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    agent.wait_log("file readable again")
    assert agent.stop() == 0
