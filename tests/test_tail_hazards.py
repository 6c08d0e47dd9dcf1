"""One integration test per tailing hazard: a real ``trt-agent run`` process, real files on a real
filesystem, a writer thread appending continuously, real signals.

For each hazard the multiset of probe lines that reached the event stream must equal the
multiset written: nothing lost, nothing read twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

from harness import LINE, Agent, Writer, assert_exact, new_agent, wait_for


def _follow_one_file(agents: list[Agent], root: Path, **options: object) -> tuple[Agent, Path]:
    """An agent started on ``root/app.log`` (created empty)."""
    log = root / "app.log"
    agent = new_agent(agents, root, [{"path": str(log), "engine": "e"}], **options)
    log.touch()
    agent.start()
    return agent, log


def test_rename_rotation(tmp_path: Path, agents: list[Agent]) -> None:
    """logrotate's default: rename, the writer keeps writing to the renamed file until it reopens."""
    agent, log = _follow_one_file(agents, tmp_path)
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


def test_copytruncate(tmp_path: Path, agents: list[Agent]) -> None:
    """logrotate ``copytruncate``: the lines the agent had not read when the file was emptied are
    read from the copy. (logrotate itself loses lines written between its copy and its truncate,
    whatever reads the file; the writer pauses across those two steps to leave that window out.)"""
    agent, log = _follow_one_file(agents, tmp_path)
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
    time.sleep(0.3)  # just after a poll
    os.truncate(log, 0)
    for _ in range(400):  # twice the old size, within one poll interval
        writer.write_one()
    got = agent.wait_probes(writer.written)
    writer.stop()
    assert_exact(writer.written, got)
    assert agent.metrics()["trt_agent_file_truncations_total"] == 1
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
    time.sleep(0.3)  # just after a poll
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


def test_truncation_while_writing(tmp_path: Path, agents: list[Agent]) -> None:
    """A writer that truncates its own log (``> app.log``) and goes on appending. Lines that are
    gone before anyone read them cannot be read; the writer truncates once they were ingested."""
    agent, log = _follow_one_file(agents, tmp_path)
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


def test_delete_and_recreate(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = _follow_one_file(agents, tmp_path)
    with Writer(log, "dr") as writer:
        for _ in range(3):
            writer.wait_count(writer.count + 300)
            os.unlink(log)
            time.sleep(0.1)  # still writing to the deleted file
            writer.reopen()
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    assert agent.stop() == 0


def test_file_that_does_not_exist_yet(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "later" / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e", "read_from": "end"}])
    agent.start()
    time.sleep(0.5)
    log.parent.mkdir()
    with Writer(log, "late") as writer:
        writer.wait_count(500)
    # A file that appears after start-up is read from its beginning, even with read_from = "end".
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_partial_line_is_held_until_its_newline(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = _follow_one_file(agents, tmp_path, partial_line_timeout=3.0)
    line = LINE.format(tag="part", n=1)
    with open(log, "a") as fh:
        fh.write(line[:30])
        fh.flush()
        time.sleep(1.0)
        assert agent.probes() == Counter()
        fh.write(line[30:])
    got = agent.wait_probes(Counter({"part 00000001": 1}))
    assert got == Counter({"part 00000001": 1})
    assert [e["msg"] for e in agent.events()] == [line.rstrip("\n")]
    assert agent.stop() == 0


def test_partial_line_flushed_after_timeout(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = _follow_one_file(agents, tmp_path, partial_line_timeout=0.5)
    line = LINE.format(tag="nonl", n=7).rstrip("\n")
    with open(log, "a") as fh:
        fh.write(line)  # a writer that died before its newline
    got = agent.wait_probes(Counter({"nonl 00000007": 1}), timeout=10)
    assert got == Counter({"nonl 00000007": 1})
    assert agent.metrics()["trt_agent_partial_lines_flushed_total"] == 1
    assert agent.stop() == 0


def test_glob_picks_up_new_files(tmp_path: Path, agents: list[Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "e"}])
    agent.start()
    with Writer(logs / "a.log", "a") as first:
        first.wait_count(300)
        with Writer(logs / "b.log", "b") as second:
            second.wait_count(300)
            with Writer(logs / "c.log", "c") as third:
                third.wait_count(300)
    written = first.written + second.written + third.written
    assert_exact(written, agent.wait_probes(written))
    assert agent.metrics()["trt_agent_open_files"] == 3
    assert agent.stop() == 0


def test_more_files_than_max_followed_files(tmp_path: Path, agents: list[Agent]) -> None:
    """A glob matches 6 files, agent.max_followed_files is 3: the 3 newest are followed, the
    other 3 are counted once each (too_many_files) under one warning; when followed files go
    away, the others are followed from their start, so none of their lines is lost."""
    logs = tmp_path / "logs"
    logs.mkdir()
    written: Counter[str] = Counter()
    for i in range(6):
        path = logs / f"{i}.log"
        path.write_text("".join(LINE.format(tag=f"f{i}", n=n) for n in range(50)))
        written.update(f"f{i} {n:08d}" for n in range(50))
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # 5.log is the newest
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "e"}], max_followed_files=3)
    agent.start()
    newest = Counter({k: v for k, v in written.items() if k[:2] in ("f3", "f4", "f5")})
    assert_exact(newest, agent.wait_probes(newest))
    metrics = agent.metrics()
    assert metrics["trt_agent_open_files"] == 3
    assert metrics['trt_agent_tail_errors_total{reason="too_many_files"}'] == 3
    time.sleep(1)  # more scans: still counted once each, and warned once
    assert agent.metrics()['trt_agent_tail_errors_total{reason="too_many_files"}'] == 3
    warnings = [e for e in agent.agent_logs() if "max_followed_files" in e.get("event", "")]
    assert [(w["not_followed"], w["example"]) for w in warnings] == [(3, str(logs / "0.log"))]
    for i in (3, 4, 5):
        os.unlink(logs / f"{i}.log")
    assert_exact(written, agent.wait_probes(written))
    agent.wait_log("every matching file is followed again")
    assert agent.stop() == 0


def test_read_from_end_holds_for_a_file_the_cap_kept_out_at_start(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """read_from = "end", 3 files at start, max_followed_files = 2: the oldest waits. Followed
    later, its history (what it held at start) is still skipped; lines written after start are
    read."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(3):
        path = logs / f"{i}.log"
        path.write_text("".join(LINE.format(tag=f"old{i}", n=n) for n in range(20)))
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # 0.log is the oldest
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(logs / "*.log"), "engine": "e", "read_from": "end"}],
        max_followed_files=2,
    )
    agent.start()
    wait_for(
        lambda: agent.metrics()['trt_agent_tail_errors_total{reason="too_many_files"}'] == 1, 10, "cap", agent
    )
    with (logs / "0.log").open("a") as out:  # written after start, while the file waits
        out.write("".join(LINE.format(tag="new0", n=n) for n in range(5)))
    os.unlink(logs / "2.log")
    expected = Counter(f"new0 {n:08d}" for n in range(5))
    got = agent.wait_probes(expected)
    assert_exact(expected, got)  # was: the 20 old lines of 0.log too
    assert agent.stop() == 0


def test_restart_resumes_at_checkpoint(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = _follow_one_file(agents, tmp_path)
    with Writer(log, "rs") as writer:
        for _ in range(3):
            writer.wait_count(writer.count + 300)
            assert agent.stop(signal.SIGTERM) == 0
            writer.wait_count(writer.count + 200)  # written while the agent is down
            agent.start()
        writer.wait_count(writer.count + 300)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop(signal.SIGINT) == 0


def test_rotation_while_stopped(tmp_path: Path, agents: list[Agent]) -> None:
    """The file is renamed while the agent is down: the rest of it is found by its inode."""
    agent, log = _follow_one_file(agents, tmp_path)
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


def test_read_from_end_skips_history_but_keeps_line_numbers(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    writer = Writer(log, "old")
    for _ in range(50):
        writer.write_one()
    with open(log, "a") as fh:
        fh.write("[11/26/2026-10:00:00] [TRT] [W] half a li")  # an unfinished line: read once finished
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e", "read_from": "end"}])
    agent.start()
    with open(log, "a") as fh:
        fh.write("ne\n")
    new = Writer(log, "new")
    for _ in range(10):
        new.write_one()
    got = agent.wait_probes(new.written)
    new.stop()
    writer.stop()
    assert got == new.written
    events = agent.events()
    assert [e["source"]["line"] for e in events] == list(range(51, 62))
    assert events[0]["msg"].endswith("half a line")
    assert agent.stop() == 0
