"""Restarts resume at the checkpoints: after SIGTERM, after SIGKILL (at most a checkpoint interval
again, nothing lost), after a file larger than one read budget; a checkpoint store that is
corrupt or holds entries of the wrong type is set aside."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from harness import (
    LINE,
    Agent,
    Writer,
    assert_exact,
    follow_one_file,
    lost_and_duplicated,
    new_agent,
    wait_for,
)


def test_restart_resumes_at_checkpoint(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = follow_one_file(agents, tmp_path)
    with Writer(log, "rs") as writer:
        for _ in range(3):
            writer.wait_count(writer.count + 300)
            assert agent.stop(signal.SIGTERM) == 0
            writer.wait_count(writer.count + 200)  # written while the agent is down
            agent.start()
        writer.wait_count(writer.count + 300)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop(signal.SIGINT) == 0


def test_restart_after_a_file_larger_than_one_read_budget(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "big.log"
    writer = Writer(log, "big")
    with open(log, "a") as fh:  # 20.8 MB: more than the 16 MiB a pass reads from one file
        for n in range(400_000):
            fh.write(LINE.format(tag="big", n=n))
            writer.written[f"big {n:08d}"] += 1
    writer.count = 400_000
    assert log.stat().st_size > 16 * 1024 * 1024
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 60, "ready", agent)
    assert agent.stop() == 0
    agent.start()
    for _ in range(10):
        writer.write_one()
    assert_exact(writer.written, agent.wait_probes(writer.written, timeout=60))
    assert agent.stop() == 0


@pytest.mark.parametrize("entry_change", [{"dev": [1]}, {"offset": "5"}, {"path": 5}, {"line": -1}])
def test_checkpoint_entries_of_the_wrong_type_are_set_aside(
    tmp_path: Path, agents: list[Agent], entry_change: dict[str, object]
) -> None:
    log = tmp_path / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    entry = {
        "path": str(log), "dev": 1, "ino": 2, "offset": 0, "line": 1, "start_offset": 0,
        "start_line": 1, "fingerprint_len": 0, "fingerprint": "",
    } | entry_change  # fmt: skip
    agent.state_dir.mkdir()
    (agent.state_dir / "checkpoints.json").write_text(json.dumps({"version": 1, "files": [entry]}))
    writer = Writer(log, "cp")
    for _ in range(10):
        writer.write_one()
    agent.start()
    agent.wait_log("checkpoint store unreadable; starting without it")
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_sigkill_loses_nothing_and_repeats_at_most_a_checkpoint_interval(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """After a crash the agent resumes at its last checkpoint: lines may be delivered twice, never
    lost. (The checkpoint only covers events the writer has already written.)"""
    log = tmp_path / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], checkpoint_interval=0.5)
    log.touch()
    agent.start()
    with Writer(log, "kill") as writer:
        writer.wait_count(500)
        agent.send(signal.SIGKILL)
        assert agent.proc is not None
        agent.proc.wait(10)
        writer.wait_count(writer.count + 200)
        agent.start()
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    lost, _ = lost_and_duplicated(writer.written, got)
    assert not lost
    repeated = sum(got.values()) - sum(writer.written.values())
    assert 0 <= repeated < 2000
    assert agent.stop() == 0


def test_corrupt_checkpoint_store_is_set_aside(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    agent = Agent(tmp_path, [{"path": str(log), "engine": "e"}])
    agents.append(agent)
    agent.state_dir.mkdir()
    (agent.state_dir / "checkpoints.json").write_bytes(b'{"version": 1, "files": [{"pa')
    writer = Writer(log, "cc")
    for _ in range(10):
        writer.write_one()
    agent.start()
    entry = agent.wait_log("checkpoint store unreadable; starting without it")
    assert Path(entry["kept_as"]).read_bytes().startswith(b'{"version": 1')
    assert agent.wait_probes(writer.written) == writer.written
    assert agent.stop() == 0
