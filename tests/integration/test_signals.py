"""Signals to ``trt-agent run``: SIGHUP reloads (and survives a bad config), the systemd notify
protocol (READY, WATCHDOG, RELOADING, STOPPING), SIGTERM in bounded time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

from harness import Agent, Writer, run_once, wait_for


def test_sighup_reload_adds_and_removes_logs_and_survives_a_bad_config(
    tmp_path: Path, agents: list[Agent]
) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    agent = Agent(tmp_path, [{"path": str(first), "engine": "one"}])
    agents.append(agent)
    one = Writer(first, "one")
    two = Writer(second, "two")
    for _ in range(20):
        one.write_one()
        two.write_one()
    agent.start()
    assert agent.wait_probes(one.written) == one.written

    agent.logs = [{"path": str(second), "engine": "two"}]
    agent.write_config()
    agent.send(signal.SIGHUP)
    agent.wait_log("config reloaded")
    agent.wait_log("stopped following", file=str(first))
    assert agent.wait_probes(one.written + two.written) == one.written + two.written
    assert {e["engine"] for e in agent.events() if "two " in (e.get("msg") or "")} == {"two"}
    for _ in range(5):
        one.write_one()  # no longer followed
    two.write_one()  # written after them: once it arrives, a followed first.log would have been read
    agent.wait_probes(Counter({"two 00000020": 1}))
    assert sum(agent.probes().values()) == 41

    agent.write_config(extra="[bogus]\n")
    agent.send(signal.SIGHUP)
    entry = agent.wait_log("config reload failed; keeping the running config")
    assert "unknown section [bogus]" in entry["error"]
    metrics = agent.metrics()
    assert metrics["trt_agent_config_last_reload_successful"] == 0
    assert metrics['trt_agent_config_reloads_total{result="failure"}'] == 1
    assert metrics['trt_agent_config_reloads_total{result="success"}'] == 1
    for _ in range(5):
        two.write_one()  # the running config still follows second.log
    unfollowed = Counter({f"one {n:08d}": 1 for n in range(20, 25)})
    expected = one.written - unfollowed + two.written
    assert agent.wait_probes(expected) == expected

    # Added back: it resumes where it stopped, so the lines written meanwhile arrive, once.
    agent.logs = [{"path": str(first), "engine": "one"}, {"path": str(second), "engine": "two"}]
    agent.write_config()
    agent.send(signal.SIGHUP)
    expected = one.written + two.written
    assert agent.wait_probes(expected) == expected
    assert agent.stop() == 0
    one.stop()
    two.stop()


def test_systemd_notify_ready_watchdog_reloading_stopping(tmp_path: Path, agents: list[Agent]) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(10)
        agent = Agent(tmp_path, [], env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})
        agents.append(agent)
        agent.start()
        messages: list[str] = []

        def receive_until(wanted: str) -> None:
            while not any(wanted in m for m in messages):
                messages.append(sock.recv(4096).decode())

        receive_until("READY=1")
        receive_until("WATCHDOG=1")
        agent.send(signal.SIGHUP)
        receive_until("RELOADING=1")
        assert agent.stop() == 0
        receive_until("STOPPING=1")
    assert messages[0].splitlines()[0] == "READY=1"
    reloading = next(m for m in messages if "RELOADING=1" in m)
    assert "MONOTONIC_USEC=" in reloading
    assert messages.index(reloading) < max(i for i, m in enumerate(messages) if m.startswith("READY=1"))
    assert sum(m == "WATCHDOG=1" for m in messages) >= 1


def test_sigterm_exits_in_bounded_time_while_the_event_reader_is_stuck(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """Events go to stdout, and nobody reads it: the pipe fills, the writer thread blocks, the
    queue fills, events are dropped and counted; tailing goes on; SIGTERM still exits 0."""
    log = tmp_path / "app.log"
    agent = Agent(
        tmp_path,
        [{"path": str(log), "engine": "e"}],
        events={"path": "-", "queue_events": 100},
        shutdown_timeout=2,
    )
    agents.append(agent)
    writer = Writer(log, "stuck")
    log.touch()
    agent.start(stdout=subprocess.PIPE, read_stdout=False)
    for _ in range(30):  # ~200 KiB of events, in bursts: more than a pipe holds
        for _ in range(100):
            writer.write_one()
        time.sleep(0.02)  # the writer's pace: bursts
    wait_for(lambda: agent.metrics()["trt_agent_events_dropped_total"] > 0, 20, "drops", agent)
    # The tailer went on reading while the writer was stuck.
    wait_for(lambda: agent.metrics()['trt_agent_lines_total{file="%s"}' % log] == 3000, 20, "lines", agent)  # noqa: UP031
    metrics = agent.metrics()
    assert metrics["trt_agent_events_written_total"] + metrics["trt_agent_events_dropped_total"] <= 3000
    started = time.monotonic()
    assert agent.stop(timeout=15) == 0
    assert time.monotonic() - started < 6
    writer.stop()


def test_readiness_holds_across_sighup_reloads(tmp_path: Path, agents: list[Agent]) -> None:
    """A reload re-reads the rules; the agent stays ready meanwhile (it judges the new rules at
    once, in the reload), so a readiness probe or an alert on trt_agent_ready does not flap."""
    from conftest import ROOT, answers_ok

    log = tmp_path / "app.log"
    Writer(log, "one").write_one()
    agent = Agent(tmp_path, [{"path": str(log), "engine": "one"}])
    agents.append(agent)
    agent.write_config(f'[rules]\nfile = "{ROOT / "rules.example.toml"}"\n')
    agent.start()
    ready = agent.metrics_url.replace("/metrics", "/-/ready")
    wait_for(lambda: answers_ok(ready), 10, "ready", agent)
    answers = []
    for reload in range(1, 4):
        agent.send(signal.SIGHUP)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # probing as a kubelet would, only faster
            answers.append(answers_ok(ready))
        wait_for(
            lambda n=reload: agent.metrics().get('trt_agent_config_reloads_total{result="success"}') == n,
            10,
            f"reload {reload}",
            agent,
        )
    assert answers and all(answers), f"{answers.count(False)} of {len(answers)} probes said not ready"


def test_a_fifo_config_is_refused_at_start_at_once(tmp_path: Path) -> None:
    """issue 21 item 4: a config path that is a FIFO hung the agent in open() (no writer ever
    comes); it is refused at once, exit 2, one line naming the file."""
    fifo = tmp_path / "agent.toml"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = run_once(fifo, timeout=10)
    assert time.monotonic() - started < 5
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"trt-agent: {fifo}: config file not readable: it is a FIFO, not a regular file (refused: "
        "reading it could block the agent)\n"
    )


def test_sighup_onto_a_fifo_config_fails_the_reload_and_sigterm_still_stops(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """issue 21 item 4: SIGHUP with the config path turned into a FIFO blocked the main thread
    in open(); SIGTERM then did not stop the agent (a second one exited 1). Now the reload fails
    at once (logged, counted), the running config goes on, and SIGTERM drains and exits 0."""
    log = tmp_path / "app.log"
    agent = Agent(tmp_path, [{"path": str(log), "engine": "e"}])
    agents.append(agent)
    writer = Writer(log, "fifo")
    writer.write_one()
    agent.start()
    assert agent.wait_probes(writer.written) == writer.written

    agent.config_path.unlink()
    os.mkfifo(agent.config_path)
    agent.send(signal.SIGHUP)
    entry = agent.wait_log("config reload failed; keeping the running config", timeout=5)
    assert "it is a FIFO, not a regular file" in entry["error"]
    metrics = agent.metrics()
    assert metrics['trt_agent_config_reloads_total{result="failure"}'] == 1
    assert metrics["trt_agent_config_last_reload_successful"] == 0
    for _ in range(3):
        writer.write_one()  # the running config still follows app.log
    assert agent.wait_probes(writer.written) == writer.written

    started = time.monotonic()
    assert agent.stop(timeout=10) == 0
    assert time.monotonic() - started < 5
    writer.stop()
