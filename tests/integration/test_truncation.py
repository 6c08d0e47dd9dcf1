"""A followed file emptied in place (and rewritten, regrown, or beside a directory or FIFO): a real ``trt-agent run`` process, real files, a
writer appending; the lines ingested must be the lines written (nothing lost, nothing twice)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from harness import LINE, Agent, Writer, assert_exact, follow_one_file, new_agent


def test_truncation_regrown_past_old_size_is_detected_by_fingerprint(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """The file is emptied and grows back beyond the old offset before the agent looks again
    (polling every 2 s here; with inotify, coalesced events do the same): size alone would make
    the agent skip the new file's first bytes."""
    log = tmp_path / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], watch="poll", poll_interval=2.0)
    writer = Writer(log, "tr")
    for _ in range(200):
        writer.write_one()
    agent.start()
    assert not (writer.written - agent.wait_probes(writer.written))
    # Just after a poll (every 2 s), so what follows falls between two looks: a phase of the
    # agent's clock, which nothing it exposes tells.
    time.sleep(0.3)
    os.truncate(log, 0)
    for _ in range(400):  # twice the old size, within one poll interval
        writer.write_one()
    got = agent.wait_probes(writer.written)
    writer.stop()
    assert_exact(writer.written, got)
    assert agent.metrics()["trt_agent_file_truncations_total"] == 1
    assert agent.stop() == 0


def test_truncation_while_writing(tmp_path: Path, agents: list[Agent]) -> None:
    """A writer that truncates its own log (``> app.log``) and goes on appending. Lines that are
    gone before anyone read them cannot be read; the writer truncates once they were ingested."""
    agent, log = follow_one_file(agents, tmp_path)
    with Writer(log, "tw") as writer:
        for _ in range(3):
            writer.wait_count(writer.count + 300)
            with writer.hold():
                agent.wait_probes(writer.written)
                os.truncate(log, 0)
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    assert agent.metrics()["trt_agent_file_truncations_total"] >= 3
    assert agent.stop() == 0


def test_a_file_read_in_one_go_gets_a_fingerprint(tmp_path: Path, agents: list[Agent]) -> None:
    """Rewritten while the agent is down, with more bytes than before: without a fingerprint the
    agent would resume at the old offset and skip the new file's first lines."""
    log = tmp_path / "app.log"
    old = Writer(log, "old")
    for _ in range(100):
        old.write_one()
    old.stop()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    agent.wait_probes(old.written)
    assert agent.stop() == 0
    stored = json.loads((agent.state_dir / "checkpoints.json").read_text())["files"]
    assert stored[0]["fingerprint_len"] == 1024
    with open(log, "r+") as fh:  # same inode, new content, longer
        fh.truncate(0)
        for n in range(300):
            fh.write(LINE.format(tag="new", n=n))
    agent.start()
    expected = old.written + Counter({f"new {n:08d}": 1 for n in range(300)})
    assert_exact(expected, agent.wait_probes(expected))
    assert agent.stop() == 0


@pytest.mark.parametrize("neighbour", ["directory", "fifo"])
def test_directory_or_fifo_beside_a_truncated_log(
    tmp_path: Path, agents: list[Agent], neighbour: str
) -> None:
    log = tmp_path / "app.log"
    if neighbour == "directory":
        (tmp_path / "app.d").mkdir()
    else:
        os.mkfifo(tmp_path / "app.pipe")
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    writer = Writer(log, neighbour)
    for _ in range(50):
        writer.write_one()
    agent.start()
    agent.wait_probes(writer.written)
    os.truncate(log, 0)
    for _ in range(50):
        writer.write_one()
    writer.stop()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop(timeout=15) == 0
