"""The event file: rotated at max_bytes without losing events, max_files kept, an unfinished
event a crash left at its end cut, and the file deleted or renamed by someone else while the agent
runs opened again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import Agent, Writer, assert_exact, follow_one_file, new_agent, probe_counts, wait_for


def test_event_file_rotates_at_max_bytes_without_losing_events(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    agent = Agent(
        tmp_path,
        [{"path": str(log), "engine": "e"}],
        events={"max_bytes": 50_000, "max_files": 100, "fsync": "always"},
    )
    agents.append(agent)
    log.touch()
    agent.start()
    with Writer(log, "rot") as writer:
        writer.wait_count(2000)
    assert agent.wait_probes(writer.written) == writer.written
    rotated = sorted(tmp_path.glob("events.jsonl.*"))
    assert len(rotated) >= 5
    assert all(p.stat().st_size <= 50_000 for p in [*rotated, agent.events_path])
    assert agent.stop() == 0


def test_event_file_keeps_max_files(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    agent = Agent(tmp_path, [{"path": str(log), "engine": "e"}], events={"max_bytes": 20_000, "max_files": 2})
    agents.append(agent)
    writer = Writer(log, "keep")
    for _ in range(2000):
        writer.write_one()
    agent.start()
    wait_for(lambda: f"keep {1999:08d}" in agent.probes(), 20, "last line", agent)
    assert agent.stop() == 0
    assert sorted(p.name for p in tmp_path.glob("events.jsonl*")) == [
        "events.jsonl",
        "events.jsonl.1",
        "events.jsonl.2",
    ]


def test_unfinished_event_at_the_end_of_the_event_file_is_cut(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    writer = Writer(log, "torn")
    for _ in range(10):
        writer.write_one()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.events_path.write_bytes(b'{"type":"warning","engine":"e","ms')  # what a SIGKILL mid-write leaves
    agent.start()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    lines = agent.events_path.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)  # every line parses: nothing glued to the fragment
    agent.wait_log("unfinished event at the end of the event file", cut_bytes=34)
    assert agent.stop() == 0


@pytest.mark.parametrize("change", ["deleted", "renamed"])
def test_event_file_deleted_or_renamed_while_running_is_opened_again(
    tmp_path: Path, agents: list[Agent], change: str
) -> None:
    """A cleanup job deletes events.jsonl (or a logrotate renames it and creates an empty one)
    while the agent runs: the lines written afterwards all arrive in the file at the path, not in
    the old inode nobody sees; the reopen is counted and logged once. (Before: written into the
    old inode until a restart.)"""
    agent, log = follow_one_file(agents, tmp_path)
    before = Writer(log, "old")
    for _ in range(100):
        before.write_one()
    before.stop()
    assert_exact(before.written, agent.wait_probes(before.written))
    moved = tmp_path / "moved.jsonl"
    if change == "deleted":
        agent.events_path.unlink()
    else:
        agent.events_path.rename(moved)
        agent.events_path.touch()  # as logrotate's `create` does
    after = Writer(log, "new")
    with after:
        after.wait_count(500)
    assert_exact(after.written, agent.wait_probes(after.written, timeout=10))  # all in the new file
    if change == "renamed":
        assert probe_counts([json.loads(line) for line in moved.read_bytes().splitlines()]) == before.written
    agent.wait_log(
        "event file deleted or replaced by someone else; opening it again", path=str(agent.events_path)
    )
    metrics = agent.metrics()
    assert metrics["trt_agent_event_file_reopens_total"] == 1
    assert metrics["trt_agent_events_dropped_total"] == 0
    assert agent.stop() == 0
    warnings = [e for e in agent.agent_logs() if e.get("msg", "").startswith("event file deleted")]
    assert len(warnings) == 1
    assert warnings[0]["found"] == ("missing" if change == "deleted" else "replaced")
