"""logrotate ``copytruncate``: a real ``trt-agent run`` process, real files, a
writer appending; the lines ingested must be the lines written (nothing lost, nothing twice)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    LINE,
    Agent,
    EventTail,
    Writer,
    assert_exact,
    bytes_read,
    copytruncate,
    follow_one_file,
    has_open,
    new_agent,
    probe_lines,
    reload_logs,
    report,
    wait_for,
)


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


# -- copytruncate meeting a restart or a reload ------------------------------------------------------
#
# Large files, so that what the agent does at start-up or after a reload takes long enough to be
# caught in the middle: a probe line every fifth line, the others TensorRT verbose lines that
# make no event (tactic timings), so the event file stays a fraction of the log. The event file
# is read as it grows (EventTail): hundreds of thousands of events.

CHECKPOINT_INTERVAL = 0.2  # s (the harness's default, stated: bounds depend on it)
FILLER = "[11/26/2026-10:00:00] [TRT] [V] Tactic: 0x{k:016x} Time: 0.{t:07d}\n"


def big_log(path: Path, probes: int, tag: str = "big", fillers: int = 4) -> Counter[str]:
    """Append ``probes`` probe lines of ``tag`` to ``path``, each followed by ``fillers`` lines that
    make no event; returns the probe lines written."""
    with open(path, "a") as fh:
        for start in range(0, probes, 10_000):
            chunk = []
            for n in range(start, min(probes, start + 10_000)):
                chunk.append(LINE.format(tag=tag, n=n))
                chunk += [
                    FILLER.format(k=n * fillers + j, t=(n * fillers + j) % 9_999_999) for j in range(fillers)
                ]
            fh.write("".join(chunk))
    return Counter(f"{tag} {n:08d}" for n in range(probes))


def probes_after(path: Path, offset: int) -> int:
    """Probe lines in ``path`` after ``offset``: what a restart may deliver again."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().count(b"] probe ")


def append(path: Path, tag: str, count: int) -> Counter[str]:
    text, written = probe_lines(tag, count)
    with open(path, "a") as fh:
        fh.write(text)
    return written


def _big_agent(agents: list[Agent], root: Path, log: Path, **options: Any) -> tuple[Agent, EventTail]:
    # Every rotated event file kept: EventTail tells them apart by inode.
    agent = new_agent(
        agents,
        root,
        [{"path": str(log), "engine": "e"}],
        checkpoint_interval=CHECKPOINT_INTERVAL,
        events={"max_files": 50},
        **options,
    )
    return agent, EventTail(agent)


def _freeze_mid_read(agent: Agent, log: Path, size: int, what: str, over: Callable[[], bool]) -> int | None:
    """Wait until the agent holds ``log`` open and has read a quarter of its ``size`` bytes since,
    then SIGSTOP it; returns the bytes it read since it opened the file, or None (not stopped) when
    the work was ``over`` first. The caller sends SIGCONT.

    The agent reads the file from the moment it opens it (/proc/PID/fd) to the end of the work
    (``rchar`` of /proc/PID/io counts every byte it reads, pread included): frozen between the
    two, whatever the caller does to the file next lands in the middle of that work, on any
    machine and at any speed. The caller asserts the work was not over (fewer than ``size`` bytes
    read)."""
    wait_for(lambda: has_open(agent, log) or over(), 60, f"the agent opens {log.name}", agent)
    base = bytes_read(agent)
    wait_for(lambda: bytes_read(agent) - base >= size // 4 or over(), 60, f"a quarter of {what}", agent)
    agent.send(signal.SIGSTOP)
    if over():
        agent.send(signal.SIGCONT)
        return None
    return bytes_read(agent) - base


def _logged(agent: Agent, event: str, **match: object) -> int:
    return sum(
        1
        for e in agent.agent_logs()
        if e.get("msg") == event and all(e.get(k) == v for k, v in match.items())
    )


def test_copytruncate_during_start_up_replay(tmp_path: Path, agents: list[Agent]) -> None:
    """A restart replays the followed file up to its checkpoint (into the engine models only: no
    event again); logrotate copytruncates the file in the middle of that replay and the
    application appends new lines. The lines already delivered must not be delivered again
    (beyond those after the last checkpoint: none, the agent was stopped with SIGTERM), and none
    may be lost: the new lines arrive.

    Without the model snapshot (deleted here, so the replay path runs) the agent took the emptied
    file for a truncation in the middle of the file and read the copy from where the replay had
    got to: on bbc9497 three quarters of the file were delivered a second time."""
    log = tmp_path / "app.log"
    written = big_log(log, 150_000)  # 52 MB: a replay of about a second here
    agent, tail = _big_agent(agents, tmp_path, log)
    agent.start()
    tail.wait(written, timeout=30)
    size = log.stat().st_size
    wait_for(lambda: agent.checkpoint_offset(log) == size, 20, "a checkpoint at the end", agent)
    assert agent.stop() == 0
    offset = agent.checkpoint_offset(log)
    assert offset is not None
    bound = probes_after(log, offset)  # lines after the last checkpoint: 0 after a SIGTERM
    (agent.state_dir / "models.snapshot").unlink(missing_ok=True)
    agent.start(wait=False)
    replayed = _freeze_mid_read(agent, log, offset, "the replay", lambda: _logged(agent, "started") > 0)
    assert replayed is not None, "the start-up was over before a quarter of the file was replayed"
    try:
        # The agent is frozen mid-replay: the copytruncate and the new lines land inside it.
        assert replayed < offset, "the replay was over before the copytruncate; make the file bigger"
        copytruncate(log)
        written += append(log, "new", 500)
    finally:
        agent.send(signal.SIGCONT)
    agent.wait_log("started", timeout=60)
    got = tail.wait(written, timeout=30)
    lost, duplicated = report(
        "copytruncate during start-up replay",
        written,
        got,
        file_mb=round(size / 1e6, 1),
        replayed_mb_at_copytruncate=round(replayed / 1e6, 1),
        bound=bound,
    )
    assert lost == 0, f"{lost} lines lost"
    assert duplicated <= bound, (
        f"{duplicated} lines delivered again, at most {bound} were after the checkpoint"
    )
    assert agent.stop() == 0


def test_kill_during_copy_recovery(tmp_path: Path, agents: list[Agent]) -> None:
    """The agent's checkpoint is early in the file (stopped when only its first lines existed);
    while it is down the file grows by 70 MB (200,000 probe lines) and is copytruncated. At the next start it reads those
    lines back from the copy; SIGKILL in the middle of that, start again: the lines delivered
    again must be at most those read after the last checkpoint (checkpoint_interval = 0.2 s of
    reading), not everything recovered before the kill.

    On bbc9497 the recovery was one read with no checkpoint until its end, so the second start
    recovered the copy from the old checkpoint again."""
    log = tmp_path / "app.log"
    written = append(log, "early", 100)
    agent, tail = _big_agent(agents, tmp_path, log)
    agent.start()
    tail.wait(written)
    wait_for(lambda: agent.checkpoint_offset(log) == log.stat().st_size, 20, "a checkpoint at the end", agent)
    assert agent.stop() == 0
    copied = 200_000
    written += big_log(log, copied)  # while the agent is down: read from the copy only
    copytruncate(log)
    written += append(log, "new", 100)
    agent.start(wait=False)
    # Three quarters of the copy delivered, not all of it.
    wait_for(lambda: tail.poll() >= 100 + copied * 3 // 4, 90, "3/4 of the copy delivered", agent)
    killed_at = time.monotonic()
    agent.kill()
    tail.poll()
    from_copy = sum(1 for k in tail.counts if k.startswith("big "))
    assert from_copy < copied, "the copy was read to its end before the kill; make it bigger"
    # What the kill may deliver again: lines delivered since the last checkpoint. A checkpoint
    # lags the event file by at most checkpoint_interval (0.2 s) plus its own fsyncs; twice the
    # interval covers the fsyncs, and 1,000 lines the batch being written at the kill.
    interval = CHECKPOINT_INTERVAL
    bound = tail.total - tail.total_before(killed_at - 2 * interval) + 1000
    agent.start()
    got = tail.wait(written, timeout=30)
    lost, duplicated = report(
        "kill during copy recovery",
        written,
        got,
        copied_lines=copied,
        delivered_from_copy_at_kill=from_copy,
        bound=bound,
    )
    assert lost == 0, f"{lost} lines lost"
    assert duplicated <= bound, (
        f"{duplicated} lines delivered again, at most {bound} after the last checkpoint"
    )
    assert agent.stop() == 0


def test_copytruncate_again_while_the_copy_is_read(tmp_path: Path, agents: list[Agent]) -> None:
    """The agent comes back to a file copytruncated while it was down (the copy: 70 MB it had not
    read) and new lines in the emptied file. While it still reads the copy, logrotate
    copytruncates the file again: the new lines are now only in the second copy, which must be
    read too (no kill here: nothing may be lost or delivered twice).

    Found by the chaos test (CHAOS_SEED=1, 4, 5 on df91319): the live file, waiting for the first
    copy to be read, had not been read yet when it was emptied again, and the second copy was never
    looked for: its 300 lines are lost (on bbc9497 too, which read the live file from its start
    after the first copy)."""
    log = tmp_path / "app.log"
    written = append(log, "early", 100)
    agent, tail = _big_agent(agents, tmp_path, log)
    agent.start()
    tail.wait(written)
    wait_for(lambda: agent.checkpoint_offset(log) == log.stat().st_size, 20, "a checkpoint at the end", agent)
    assert agent.stop() == 0
    written += big_log(log, 200_000)  # while the agent is down
    first_copy = copytruncate(log)
    written += append(log, "mid", 300)  # only in the live file, not read yet
    size = first_copy.stat().st_size
    agent.start(wait=False)
    read = _freeze_mid_read(agent, first_copy, size, "the first copy", lambda: False)
    try:
        assert read is not None and read < size, "the first copy was read before the second copytruncate"
        copytruncate(log)  # the first copy becomes app.log.2, the "mid" lines app.log.1
        written += append(log, "late", 300)
    finally:
        agent.send(signal.SIGCONT)
    got = tail.wait(written, timeout=30)
    lost, duplicated = report(
        "copytruncate again while the copy is read",
        written,
        got,
        first_copy_mb=round(size / 1e6, 1),
        read_mb_at_second_copytruncate=round((read or 0) / 1e6, 1),
        mid_lost=sum(1 for k in written if k.startswith("mid ") and not got[k]),
    )
    assert (lost, duplicated) == (0, 0)
    assert agent.stop() == 0


def test_log_entry_removed_by_sighup_during_copytruncate(tmp_path: Path, agents: list[Agent]) -> None:
    """An operator flaps the [[logs]] entry by SIGHUP around a copytruncate: removed (the agent
    stops following the file, keeping its checkpoint), lines appended, the file copytruncated,
    new lines appended, the entry added back. The lines appended while it was removed are read
    from the copy, once; the lines read before are not delivered again."""
    log = tmp_path / "app.log"
    written = big_log(log, 20_000)
    agent, tail = _big_agent(agents, tmp_path, log)
    entry = list(agent.logs)
    agent.start()
    tail.wait(written)
    reload_logs(agent, [{"path": str(tmp_path / "other.log"), "engine": "o"}])
    agent.wait_log("stopped following", file=str(log))
    written += append(log, "removed", 300)
    copytruncate(log)
    written += append(log, "new", 300)
    reload_logs(agent, entry)
    got = tail.wait(written)
    lost, duplicated = report("[[logs]] entry removed by SIGHUP during copytruncate", written, got)
    assert (lost, duplicated) == (0, 0)
    assert agent.stop() == 0


def test_copytruncate_while_sighup_re_adds_the_file(tmp_path: Path, agents: list[Agent]) -> None:
    """The same flap, the copytruncate landing while the entry is being added back: when the
    agent reads the file up to its checkpoint again to rebuild the engine model (bbc9497 did, as
    at a start), in the middle of that re-read. Nothing may be delivered twice (the checkpoint
    covered every line) or lost.

    On bbc9497 the re-read took the emptied file for a truncation in the middle of the file and
    delivered the copy from where the re-read had got to again: three quarters of the file."""
    log = tmp_path / "app.log"
    written = big_log(log, 150_000)
    agent, tail = _big_agent(agents, tmp_path, log)
    entry = list(agent.logs)
    agent.start()
    tail.wait(written, timeout=30)
    size = log.stat().st_size
    reload_logs(agent, [{"path": str(tmp_path / "other.log"), "engine": "o"}])
    agent.wait_log("stopped following", file=str(log))
    wait_for(lambda: not has_open(agent, log), 10, "app.log closed", agent)
    resumed = _logged(agent, "resuming", file=str(log))
    agent.logs = entry
    agent.write_config()
    agent.send(signal.SIGHUP)
    # Over: the file is followed again (logged once its position is restored).
    reread = _freeze_mid_read(
        agent, log, size, "the re-read", lambda: _logged(agent, "resuming", file=str(log)) > resumed
    )
    try:
        assert reread is None or reread < size, "the re-read was over before the copytruncate"
        copytruncate(log)
        written += append(log, "new", 500)
    finally:
        if reread is not None:
            agent.send(signal.SIGCONT)
    got = tail.wait(written, timeout=30)
    lost, duplicated = report(
        "copytruncate while SIGHUP re-adds the file",
        written,
        got,
        landed="after the re-add (no re-read)"
        if reread is None
        else f"{reread / 1e6:.1f} MB into the re-read",
    )
    assert (lost, duplicated) == (0, 0)
    assert agent.stop() == 0
