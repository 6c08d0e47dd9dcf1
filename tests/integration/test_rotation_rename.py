"""Rename rotation (logrotate's default), while running and while stopped: a real ``trt-agent run`` process, real files, a
writer appending; the lines ingested must be the lines written (nothing lost, nothing twice)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness import Agent, Writer, assert_exact, follow_one_file, probe_lines, reload_logs


def test_rename_rotation(tmp_path: Path, agents: list[Agent]) -> None:
    """logrotate's default: rename, the writer keeps writing to the renamed file until it reopens."""
    agent, log = follow_one_file(agents, tmp_path)
    with Writer(log, "rot") as writer:
        for generation in range(1, 4):
            writer.wait_count(writer.count + 300)
            os.rename(log, f"{log}.{generation}")
            time.sleep(0.2)  # lines written to the renamed file before the writer reopens
            writer.reopen()
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    assert agent.metrics()["trt_agent_file_rotations_total"] >= 3
    assert agent.stop() == 0


def test_rotation_while_stopped(tmp_path: Path, agents: list[Agent]) -> None:
    """The file is renamed while the agent is down: the rest of it is found by its inode."""
    agent, log = follow_one_file(agents, tmp_path)
    with Writer(log, "rw") as writer:
        writer.wait_count(300)
        assert agent.stop() == 0
        writer.wait_count(writer.count + 200)
        os.rename(log, f"{log}.1")
        writer.wait_count(writer.count + 50)
        writer.reopen()
        writer.wait_count(writer.count + 200)
        agent.start()
        writer.wait_count(writer.count + 200)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_entry_removed_by_sighup_then_rotated_then_added_back(tmp_path: Path, agents: list[Agent]) -> None:
    """A reload takes the [[logs]] entry away (its checkpoint is kept); while the file is not
    followed the application writes more and logrotate renames it; the entry comes back: the
    renamed file is read from the checkpoint on, then the new one. (Before issue 21 the lines
    written after the removal were never read: 1,000 of 3,000.)"""
    agent, log = follow_one_file(agents, tmp_path)
    entry = list(agent.logs)
    first, written = probe_lines("before", 1000)
    log.write_text(first)
    agent.wait_probes(written)
    reload_logs(agent, [{"path": str(tmp_path / "other.log"), "engine": "o"}])
    agent.wait_log("stopped following", file=str(log))
    text, more = probe_lines("removed", 1000)
    with log.open("a") as fh:
        fh.write(text)
    os.rename(log, f"{log}.1")
    text, new = probe_lines("new", 1000)
    log.write_text(text)
    written += more + new
    reload_logs(agent, entry)
    assert_exact(written, agent.wait_probes(written))
    assert agent.stop() == 0
