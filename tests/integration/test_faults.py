"""Fault injection: a real ``trt-agent run`` process on real filesystems while a writer appends.

One test per fault: a full disk (a small tmpfs holding the state dir and the event file), a
read-only state dir (the tmpfs remounted read-only), ``kill -9`` at random moments, and hostile
log paths (a directory, a symlink loop, a symlink to a file outside the configured globs). Each
test checks that the agent stays up (process alive, ``/-/healthy`` answers 200), that the fault
shows in a self-metric and the agent's log, and that once the fault is gone the lines ingested
are the lines written. Each prints what it measured (lines lost, duplicated, recovery time) for
README's reliability table (``pytest -s`` shows it).
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness import LINE, Agent, Writer, assert_exact, report, wait_for, written_so_far


class FaultAgent(Agent):
    """An agent whose event files are read line by line, counting lines that are not JSON (a
    torn or glued event) in ``torn`` instead of failing the read: a fault must not cause any."""

    torn = 0

    def events(self) -> list[dict[str, Any]]:
        files = sorted(self.events_path.parent.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
        files.append(self.events_path)
        out, torn = [], 0
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                for line in path.read_bytes().splitlines():
                    try:
                        out.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        torn += 1
        self.torn = torn
        return out


def new_agent(agents: list[Agent], root: Path, logs: list[dict[str, Any]], **options: Any) -> FaultAgent:
    agent = FaultAgent(root, logs, **options)
    agents.append(agent)
    return agent


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` mounted at ``path`` (unmounted afterwards)."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, mode: str) -> None:
    """Remount the tmpfs at ``path`` ``ro`` or ``rw`` (retried: a checkpoint save in progress
    holds a file open for writing, which makes a read-only remount fail with EBUSY)."""
    for _ in range(100):
        if subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.02)  # the retry's pace
    raise AssertionError(f"cannot remount {path} {mode}")


def fill(directory: Path) -> Path:
    """Write a file into ``directory`` until its filesystem is full."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 512)
    return filler


def healthy(agent: Agent) -> bool:
    url = agent.metrics_url.removesuffix("/metrics") + "/-/healthy"
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(response.status == 200)


def assert_up(agent: Agent) -> None:
    assert agent.proc is not None and agent.proc.poll() is None, "the agent exited"
    assert healthy(agent)


def cpu_seconds(agent: Agent) -> float:
    assert agent.proc is not None
    fields = Path(f"/proc/{agent.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logged(agent: Agent, event: str) -> list[dict[str, object]]:
    return [e for e in agent.agent_logs() if e.get("msg") == event]


def _agent_on(
    agents: list[Agent], root: Path, log: Path, state_dir: Path, events: Path, **options: object
) -> Agent:
    agent = new_agent(
        agents,
        root,
        [{"path": str(log), "engine": "e"}],
        state_dir=str(state_dir),
        events={"path": str(events)} | options.pop("events", {}),
        **options,
    )
    agent.events_path = events
    return agent


# -- disk full -------------------------------------------------------------------------------------


def test_disk_full_holds_events_and_recovers(tmp_path: Path, agents: list[Agent]) -> None:
    """The state dir and the event file share a 2 MiB tmpfs that a filler fills while a writer
    appends: the agent serves on, counts and logs the failed writes, does not spin, and once the
    filler is gone writes every line's event exactly once."""
    with tmpfs(tmp_path / "small", "2m") as small:
        log = tmp_path / "app.log"
        log.touch()
        agent = _agent_on(agents, tmp_path, log, small / "state", small / "events.jsonl")
        agent.start()
        with Writer(log, "full", interval=0.002) as writer:
            writer.wait_count(300)
            agent.wait_probes(writer.written)
            filler = fill(small)
            full_at = writer.count
            cpu_before, wall_before = cpu_seconds(agent), time.monotonic()
            writer.wait_count(full_at + 600)  # ~1.5 s of lines while nothing can be written
            wait_for(
                lambda: agent.metrics()["trt_agent_event_write_errors_total"] > 0, 10, "write errors", agent
            )
            cpu = (cpu_seconds(agent) - cpu_before) / (time.monotonic() - wall_before)
            assert_up(agent)
            metrics = agent.metrics()
            errors_logged = len(logged(agent, "cannot write events"))
            assert errors_logged >= 1
            filler.unlink()
            freed = time.monotonic()
            # Every line written until the disk had room again is in the stream.
            until_freed = written_so_far(writer)
            agent.wait_probes(until_freed, timeout=20)
            recovery = time.monotonic() - freed
            writer.wait_count(writer.count + 300)
        got = agent.wait_probes(writer.written)
        lost, duplicated = report(
            "disk full",
            writer.written,
            got,
            write_errors=metrics["trt_agent_event_write_errors_total"],
            checkpoint_errors=metrics["trt_agent_checkpoint_errors_total"],
            dropped=agent.metrics()["trt_agent_events_dropped_total"],
            error_logs=errors_logged,
            cpu_share_while_full=round(cpu, 3),
            torn_events=agent.torn,
            recovery_s=round(recovery, 2),
        )
        assert agent.torn == 0, "torn or glued events in the event file"
        assert cpu < 0.25, f"the agent used {cpu:.0%} of a CPU while the disk was full"
        assert errors_logged <= 3, "one error log per outage, not one per retry"
        assert_exact(writer.written, got)
        assert agent.metrics()["trt_agent_events_dropped_total"] == 0
        assert logged(agent, "events written again")
        assert agent.stop() == 0
        assert (lost, duplicated) == (0, 0)


def test_sigterm_while_disk_full_loses_nothing(tmp_path: Path, agents: list[Agent]) -> None:
    """Stopped while nothing can be written: it exits 0 at once, and the next start (with room
    again) writes the lines whose events were still queued. The checkpoint store shares the full
    disk, so lines delivered after its last save before the disk filled come again."""
    with tmpfs(tmp_path / "small", "2m") as small:
        log = tmp_path / "app.log"
        log.touch()
        agent = _agent_on(agents, tmp_path, log, small / "state", small / "events.jsonl")
        agent.start()
        with Writer(log, "term", interval=0.002) as writer:
            writer.wait_count(300)
            agent.wait_probes(writer.written)
            filler = fill(small)
            writer.wait_count(writer.count + 300)
            agent.wait_log("cannot write events")
            started = time.monotonic()
            assert agent.stop() == 0
            stop_s = time.monotonic() - started
            agent.wait_log("events not written at shutdown; their lines are read again at the next start")
            stale = sum(agent.probes().values()) - _stored_offset(small / "state") // len(
                LINE.format(tag="term", n=0)
            )
            filler.unlink()
            agent.start()
            writer.wait_count(writer.count + 300)
        got = agent.wait_probes(writer.written)
        lost, duplicated = report(
            "SIGTERM while disk full",
            writer.written,
            got,
            stop_s=round(stop_s, 2),
            lines_after_last_checkpoint=stale,
        )
        assert agent.torn == 0
        assert lost == 0
        assert duplicated <= stale
        assert agent.stop() == 0


# -- read-only state dir ---------------------------------------------------------------------------


def _stored_offset(state_dir: Path) -> int:
    doc = orjson.loads((state_dir / "checkpoints.json").read_bytes())
    return int(doc["files"][0]["offset"])


def test_read_only_state_dir(tmp_path: Path, agents: list[Agent]) -> None:
    """The state dir's filesystem goes read-only: events flow on, checkpoint saves fail (counted,
    logged once) and resume when it is writable again. A crash while it is read-only re-delivers
    the lines since the last saved checkpoint, and loses none."""
    with tmpfs(tmp_path / "state", "1m") as state_dir:
        log = tmp_path / "app.log"
        log.touch()
        agent = _agent_on(agents, tmp_path, log, state_dir, tmp_path / "events.jsonl")
        agent.start()
        with Writer(log, "ro", interval=0.002) as writer:
            writer.wait_count(300)
            agent.wait_probes(writer.written)
            remount(state_dir, "ro")
            ro_at = writer.count
            writer.wait_count(ro_at + 400)
            # Lines written while the state dir is read-only still reach the stream.
            agent.wait_probes(written_so_far(writer))
            wait_for(lambda: agent.metrics()["trt_agent_checkpoint_errors_total"] > 0, 10, "errors", agent)
            assert_up(agent)
            assert len(logged(agent, "cannot save checkpoints")) == 1
            stale = _stored_offset(state_dir)
            remount(state_dir, "rw")
            rw = time.monotonic()
            wait_for(lambda: _stored_offset(state_dir) > stale, 10, "a checkpoint saved again", agent)
            recovery = time.monotonic() - rw
            agent.wait_log("checkpoints saved again")
            # Read-only again, then a crash: the next start re-reads from the last saved checkpoint.
            remount(state_dir, "ro")
            writer.wait_count(writer.count + 400)
            agent.wait_probes(written_so_far(writer))
            errors = agent.metrics()["trt_agent_checkpoint_errors_total"]
            agent.kill()
            delivered = sum(agent.probes().values())
            stale_lines = delivered - _stored_offset(state_dir) // len(LINE.format(tag="ro", n=0))
            remount(state_dir, "rw")
            agent.start()
            writer.wait_count(writer.count + 300)
        got = agent.wait_probes(writer.written)
        lost, duplicated = report(
            "read-only state dir",
            writer.written,
            got,
            checkpoint_errors_before_crash=errors,
            checkpoint_recovery_s=round(recovery, 2),
            lines_after_last_checkpoint_at_crash=stale_lines,
        )
        assert lost == 0
        assert duplicated <= stale_lines  # at least once: only lines after the last saved checkpoint
        assert agent.stop() == 0


# -- kill -9 ---------------------------------------------------------------------------------------


def test_kill_9_at_random_moments(tmp_path: Path, agents: list[Agent]) -> None:
    """SIGKILL at random moments while the agent tails and writes, restarted each time: no line
    is lost; lines read after the last checkpoint (checkpoint_interval = 0.2 s) come again."""
    rng = random.Random(int(os.environ.get("FAULT_SEED", "9")))
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    per_kill: list[int] = []
    with Writer(log, "k9") as writer:
        duplicates = 0
        for _ in range(6):
            time.sleep(rng.uniform(0.05, 0.8))  # a random moment: what the test is about
            agent.kill()
            time.sleep(rng.uniform(0.0, 0.2))  # down for a random while, the writer going on
            agent.start()
            written_before_restart = written_so_far(writer)
            got = agent.wait_probes(written_before_restart)
            total = sum(v - 1 for v in got.values() if v > 1)
            per_kill.append(total - duplicates)
            duplicates = total
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    lost, _ = report("kill -9 x6", writer.written, got, duplicates_per_kill=per_kill)
    assert lost == 0
    # At ~2,000 lines/s, checkpoint_interval 0.2 s: a kill re-delivers at most what was read since
    # the last checkpoint (and never more than ~1 s of lines).
    assert max(per_kill) <= 2000, per_kill
    assert agent.stop() == 0


# -- hostile log paths -----------------------------------------------------------------------------


def test_configured_path_that_is_a_directory(tmp_path: Path, agents: list[Agent]) -> None:
    directory = tmp_path / "logs.d"
    directory.mkdir()
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(
        agents, tmp_path, [{"path": str(directory), "engine": "d"}, {"path": str(log), "engine": "e"}]
    )
    agent.start()
    with Writer(log, "dir") as writer:
        writer.wait_count(300)
    entry = agent.wait_log("cannot read file; will retry", reason="not_a_regular_file")
    assert entry["file"] == str(directory)
    assert agent.metrics()['trt_agent_tail_errors_total{reason="not_a_regular_file"}'] >= 1
    assert_up(agent)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_symlink_loop_in_glob(tmp_path: Path, agents: list[Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").symlink_to(logs / "b.log")
    (logs / "b.log").symlink_to(logs / "a.log")
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "e"}])
    agent.start()
    with Writer(logs / "app.log", "loop") as writer:
        writer.wait_count(300)
        time.sleep(0.6)  # a few re-scans meet the loop (a window: "once per path" is an absence)
    entry = agent.wait_log("cannot read file; will retry", reason="symlink_loop")
    assert entry["file"] in (str(logs / "a.log"), str(logs / "b.log"))
    assert len(logged(agent, "cannot read file; will retry")) == 2  # once per path, not per re-scan
    assert agent.metrics()['trt_agent_tail_errors_total{reason="symlink_loop"}'] >= 2
    assert_up(agent)
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_symlink_to_a_file_outside_the_globs_is_not_followed(tmp_path: Path, agents: list[Agent]) -> None:
    """A followed log is replaced by a symlink to a file no ``[[logs]]`` path names (a stand-in
    for /etc/shadow, written in the log format so a leak would show as events): it is not read.
    A symlink whose target a configured path matches is followed (read once)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    secret = tmp_path / "shadow"
    secret_writer = Writer(secret, "secret")
    for _ in range(50):
        secret_writer.write_one()
    log = logs / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "e"}])
    agent.start()
    with Writer(log, "app") as writer:
        writer.wait_count(300)
        os.rename(log, logs / "app.log.1")  # rotated away; the writer keeps writing there
        log.symlink_to(secret)
        writer.wait_count(writer.count + 100)
    for _ in range(50):
        secret_writer.write_one()  # the target grows: still not read
    # A symlink inside the glob to a file the glob also matches is followed; the file is read once.
    with Writer(logs / "current-target.log", "cur") as current:
        (logs / "current.log").symlink_to(logs / "current-target.log")
        current.wait_count(300)
    written = writer.written + current.written
    got = agent.wait_probes(written)
    secret_writer.stop()
    entry = agent.wait_log("symlink to a file outside the configured [[logs]] paths; not followed")
    assert entry["file"] == str(log) and entry["target"] == str(secret)
    assert agent.metrics()['trt_agent_tail_errors_total{reason="symlink_outside_logs"}'] >= 1
    assert not [k for k in got if k.startswith("secret")], "the symlinked file was read"
    assert_up(agent)
    assert_exact(written, got)
    assert agent.stop() == 0
