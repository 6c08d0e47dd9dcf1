"""Events that cannot be written are held, retried and counted, not dropped (test_faults.py fills
a real disk and checks nothing is lost once it has room again)."""

from __future__ import annotations

import time
from pathlib import Path

from harness import Agent, Writer, new_agent, wait_for


def test_failed_writes_are_held_and_counted(tmp_path: Path, agents: list[Agent]) -> None:
    """Events that cannot be written are held and retried, not dropped (README "Write failures";
    tests/integration/test_faults.py frees the space and checks nothing is lost)."""
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], events={"path": "/dev/full"})
    agent.start()
    writer = Writer(log, "full")
    for _ in range(100):
        writer.write_one()
        time.sleep(0.005)  # the writer's pace: 100 lines over about half a second

    def errors() -> dict[str, float] | None:
        metrics = agent.metrics()
        return metrics if metrics["trt_agent_event_write_errors_total"] >= 2 else None  # retried

    metrics = wait_for(errors, 20, "write errors", agent)
    assert metrics["trt_agent_events_written_total"] == 0
    assert metrics["trt_agent_events_dropped_total"] == 0
    assert 1 <= metrics["trt_agent_events_queued"] <= 100
    assert agent.stop() == 0
    agent.wait_log("events not written at shutdown; their lines are read again at the next start")
