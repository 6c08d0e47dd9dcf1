"""Restarts restore the engine models from their snapshot in state_dir instead of re-reading the
followed logs: the same figures on /metrics after SIGTERM and after SIGKILL, nothing parsed again,
each line folded into the models exactly once across kills (the event stream may repeat lines of
the last checkpoint interval; the models may not), and a snapshot this agent cannot use is set
aside for a replay of the logs."""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

from conftest import ROOT
from harness import Agent, Writer, new_agent, wait_for, written_so_far

EXAMPLES = ROOT / "examples" / "logs"


def engine_samples(agent: Agent) -> dict[str, float]:
    """What /metrics says of the engines (trt_engine_*: not their deprecated aliases, not the
    agent's own trt_agent_*)."""
    return {
        k: v
        for k, v in agent.metrics().items()
        if k.startswith("trt_engine_") and not k.startswith("trt_engine_rule")
    }


def example_agent(agents: list[Agent], root: Path) -> Agent:
    logs = root / "logs"
    shutil.copytree(EXAMPLES, logs)
    return new_agent(agents, root, [{"path": str(logs / "*")}])


def test_sigterm_restart_restores_the_models_and_reads_nothing_again(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent = example_agent(agents, tmp_path)
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 30, "ready", agent)
    before = engine_samples(agent)
    assert any(k.startswith("trt_engine_fusion_coverage") for k in before), sorted(before)[:20]
    assert agent.stop() == 0
    agent.start()
    agent.wait_log("engine models restored from the snapshot")
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 30, "ready", agent)
    assert engine_samples(agent) == before
    # Not one read: the files are where their checkpoints say, the models came from the snapshot.
    assert agent.metrics()["trt_agent_parse_seconds_count"] == 0
    assert agent.stop() == 0


def test_sigkill_restarts_fold_every_line_into_the_models_exactly_once(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """Killed at random moments while lines arrive: the event stream may repeat what came after
    the last checkpoint, but trt_engine_log_events_total counts every line once (the snapshot's models
    stand ahead of or behind the checkpoints, and the restart folds exactly the difference)."""
    rng = random.Random(17)
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    with Writer(log, "snap") as writer:
        for _ in range(4):
            time.sleep(rng.uniform(0.2, 0.9))  # a random moment: what the test is about
            agent.kill()
            agent.start()
            agent.wait_probes(written_so_far(writer), timeout=60)
    written = writer.written
    got = agent.wait_probes(written, timeout=60)
    assert not (written - got), "lines lost"
    key = 'trt_engine_log_events_total{engine="e",severity="warning",type="warning"}'
    wait_for(lambda: agent.metrics().get(key) == sum(written.values()), 30, "every line counted once", agent)
    assert agent.stop() == 0


def test_a_snapshot_of_another_version_is_set_aside_and_the_logs_replayed(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent = example_agent(agents, tmp_path)
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 30, "ready", agent)
    before = engine_samples(agent)
    assert agent.stop(signal.SIGINT) == 0
    snapshot = agent.state_dir / "models.snapshot"
    head, _, body = snapshot.read_bytes().partition(b"\n")
    snapshot.write_bytes(head.replace(b'"format":1', b'"format":0') + b"\n" + body)
    agent.start()
    logged = agent.wait_log("model snapshot not used; the logs are replayed to rebuild the models")
    assert "another format" in logged["reason"]
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 30, "ready", agent)
    after = engine_samples(agent)
    # The replay rebuilds every figure; event counts start over (old lines are not counted again).
    assert {k: v for k, v in after.items() if not k.startswith("trt_engine_log_events")} == {
        k: v for k, v in before.items() if not k.startswith("trt_engine_log_events")
    }
    assert agent.metrics()["trt_agent_parse_seconds_count"] > 0
    assert agent.stop() == 0
