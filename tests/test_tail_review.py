"""Regression tests for problems a review of the daemon found: each reproduces one of them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import DATA
from harness import LINE, Agent, Writer, assert_exact, lost_and_duplicated, new_agent, wait_for


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


def test_artifacts_are_not_emitted_again_after_a_restart(tmp_path: Path, agents: list[Agent]) -> None:
    artifact = tmp_path / "layers.json"
    shutil.copyfile(next((DATA / "corpus").glob("02_*")), artifact)
    agent = new_agent(agents, tmp_path, [{"path": str(artifact), "engine": "e"}])
    agent.start()
    first = wait_for(lambda: len(agent.events()), 20, "events", agent)
    assert agent.stop() == 0
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    time.sleep(0.5)
    assert len(agent.events()) == first
    assert agent.metrics()['trt_engine_layers{engine="e",precision="Half"}'] > 0  # replayed into the model
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


def test_restart_after_copytruncate_does_not_recover_twice(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], watch="poll", poll_interval=1.5)
    writer = Writer(log, "ct")
    for _ in range(100):
        writer.write_one()
    agent.start()
    agent.wait_probes(writer.written)
    time.sleep(0.2)
    for _ in range(100):
        writer.write_one()
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    time.sleep(0.5)  # a checkpoint interval
    assert agent.stop() == 0
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    writer.stop()
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


def test_lines_that_break_a_rule_or_json_are_counted_not_fatal(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "[11/26/2026-10:00:00] [TRT] [I] Total Activation Memory: 99999999999999999999999\n"
        "[11/26/2026-10:00:00] [TRT] [I] Loaded engine size: 1e999 MiB\n"
    )
    writer = Writer(log, "after")
    for _ in range(5):
        writer.write_one()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    # sizes no 64-bit counter holds are no facts: both lines give no event and are counted as
    # lines without one; the probes around them all arrive
    assert not [e for e in agent.events() if e["type"] == "memory"]
    assert agent.metrics()[f'trt_agent_unparsed_lines_total{{file="{log}"}}'] == 2
    for _ in range(5):  # both threads still work
        writer.write_one()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_failed_writes_are_held_and_counted(tmp_path: Path, agents: list[Agent]) -> None:
    """Events that cannot be written are held and retried, not dropped (README "Write failures";
    tests/test_faults.py frees the space and checks nothing is lost)."""
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], events={"path": "/dev/full"})
    agent.start()
    writer = Writer(log, "full")
    for _ in range(100):
        writer.write_one()
        time.sleep(0.005)

    def errors() -> dict[str, float] | None:
        metrics = agent.metrics()
        return metrics if metrics["trt_agent_event_write_errors_total"] >= 2 else None  # retried

    metrics = wait_for(errors, 20, "write errors", agent)
    assert metrics["trt_agent_events_written_total"] == 0
    assert metrics["trt_agent_events_dropped_total"] == 0
    assert 1 <= metrics["trt_agent_events_queued"] <= 100
    assert agent.stop() == 0
    agent.wait_log("events not written at shutdown; their lines are read again at the next start")


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


def test_a_first_write_of_one_bracket_is_not_taken_for_json(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    line = LINE.format(tag="br", n=0)
    with open(log, "a") as fh:
        fh.write(line[:1])  # an unbuffered logger writes "[" first
        fh.flush()
        time.sleep(0.3)
        fh.write(line[1:])
        for n in range(1, 50):
            fh.write(LINE.format(tag="br", n=n))
            if n % 10 == 0:  # the file grows several times
                fh.flush()
                time.sleep(0.1)
    expected = Counter({f"br {n:08d}": 1 for n in range(50)})
    assert_exact(expected, agent.wait_probes(expected))
    assert len(agent.events()) == 50
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


def test_parse_cli_survives_big_integers(tmp_path: Path) -> None:
    """A size beyond 64 bits (no real one is) gives no event, so report/check/diff JSON, which
    orjson writes, never meet a number it cannot encode (tests/test_fuzz.py found the crash)."""
    text = b"[11/26/2026-10:00:00] [TRT] [I] Total Activation Memory: 99999999999999999999999\n"
    for command in ("parse", "report"):
        result = subprocess.run(
            [sys.executable, "-m", "trt_agent", command, "-", *(["--json"] if command == "report" else [])],
            input=text,
            capture_output=True,
            check=True,
        )
        assert b"99999999999999999999999" not in result.stdout and not result.stderr
    report = json.loads(result.stdout)
    assert report["parse"]["lines"] == 1 and report["parse"]["unparsed"] == 1
