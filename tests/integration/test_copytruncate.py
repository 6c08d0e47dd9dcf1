"""logrotate ``copytruncate``: a real ``trt-agent run`` process, real files, a
writer appending; the lines ingested must be the lines written (nothing lost, nothing twice)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from harness import LINE, Agent, Writer, assert_exact, follow_one_file, new_agent, wait_for


def test_copytruncate(tmp_path: Path, agents: list[Agent]) -> None:
    """logrotate ``copytruncate``: the lines the agent had not read when the file was emptied are
    read from the copy. (logrotate itself loses lines written between its copy and its truncate,
    whatever reads the file; the writer pauses across those two steps to leave that window out.)"""
    agent, log = follow_one_file(agents, tmp_path)
    with Writer(log, "ct") as writer:
        for generation in range(1, 4):
            writer.wait_count(writer.count + 400)
            with writer.hold():
                shutil.copyfile(log, f"{log}.{generation}")
                os.truncate(log, 0)
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    assert agent.metrics()["trt_agent_file_truncations_total"] >= 3
    assert agent.stop() == 0


def test_copytruncate_between_looks_reads_the_rest_from_the_copy(tmp_path: Path, agents: list[Agent]) -> None:
    """Lines appended and then copytruncated between two looks exist only in the copy."""
    log = tmp_path / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], watch="poll", poll_interval=2.0)
    writer = Writer(log, "cb")
    for _ in range(200):
        writer.write_one()
    agent.start()
    assert not (writer.written - agent.wait_probes(writer.written))
    # Just after a poll (every 2 s), so what follows falls between two looks: a phase of the
    # agent's clock, which nothing it exposes tells.
    time.sleep(0.3)
    for _ in range(100):  # not read before the truncation
        writer.write_one()
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    for _ in range(50):
        writer.write_one()
    got = agent.wait_probes(writer.written)
    writer.stop()
    assert_exact(writer.written, got)
    assert agent.metrics()["trt_agent_recovered_bytes_total"] == 100 * len(LINE.format(tag="cb", n=0))
    assert agent.stop() == 0


def test_restart_after_copytruncate_does_not_recover_twice(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], watch="poll", poll_interval=1.5)
    writer = Writer(log, "ct")
    for _ in range(100):
        writer.write_one()
    agent.start()
    agent.wait_probes(writer.written)
    time.sleep(0.2)  # just after a poll (every 1.5 s): what follows falls between two looks
    for _ in range(100):
        writer.write_one()
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    # a checkpoint saved after the recovery: the file's offset is its (empty) end again
    wait_for(lambda: agent.checkpoint_offset(log) == log.stat().st_size, 10, "a checkpoint", agent)
    assert agent.stop() == 0
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    writer.stop()
    assert agent.stop() == 0
