"""``trt-agent run`` as a process: start-up errors, signals, reload, systemd, the event stream."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from conftest import DATA
from harness import Agent, Writer, run_once, wait_for

REPO = Path(__file__).resolve().parent.parent


# -- start-up --------------------------------------------------------------------------------------


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[agent]\npoll_interval = "fast"\n')
    result = run_once(config)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"trt-agent: {config}: agent.poll_interval must be int/float, got str 'fast'"
    )
    config.write_text('[events]\nfsync = "sometimes"\n')
    result = run_once(config)
    assert result.returncode == 2
    assert "events.fsync must be one of never, interval, always, got 'sometimes'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unusable_state_dir_and_busy_port_are_clear_errors(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nstate_dir = "/dev/null/state"\n[metrics]\nlisten = "127.0.0.1:0"\n')
    result = run_once(config)
    assert result.returncode == 2
    assert result.stderr.startswith(f"trt-agent: {config}: agent.state_dir '/dev/null/state' is not writable")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config.write_text(f'[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
        result = run_once(config)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"trt-agent: {config}: metrics.listen 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.stderr


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


# -- the README's main job -------------------------------------------------------------------------


def test_example_config_runs_and_serves_metrics(tmp_path: Path, agents: list[Agent]) -> None:
    """``trt-agent run -c config.example.toml``, as the README starts it (from a copy)."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    shutil.copy(REPO / "rules.example.toml", tmp_path)
    text = (REPO / "config.example.toml").read_text()
    assert 'listen = "127.0.0.1:9717"' in text
    agent = Agent(tmp_path, [])
    agents.append(agent)
    agent.config_path.write_text(text.replace("127.0.0.1:9717", "127.0.0.1:0"))
    agent.start(stdout=subprocess.PIPE)
    metrics = wait_for(
        lambda: (m := agent.metrics()).get("trt_agent_ready") == 1 and m,  # every file read once
        10,
        "examples read",
        agent,
    )
    # AlexNet, README's worked example: 14 of 19 source layers fused, 6 of 13 kernels unfused.
    assert metrics['trt_engine_fusion_coverage_ratio{engine="alexnet-fp16"}'] == pytest.approx(14 / 19)
    assert metrics['trt_engine_unfused_kernel_ratio{engine="alexnet-fp16"}'] == pytest.approx(6 / 13)
    assert metrics["trt_agent_up"] == 1
    # the shipped rules: AlexNet is a healthy build with few fusions to make (14/19 < 90 %)
    assert metrics['trt_rule_ok{engine="alexnet-fp16",rule="no_fallback",severity="error"}'] == 1
    assert metrics['trt_rule_ok{engine="alexnet-fp16",rule="fusion_coverage",severity="error"}'] == 0
    assert agent.stop() == 0
    events = [orjson.loads(line) for line in bytes(agent.stdout_data).splitlines()]
    expected = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_agent",
            "parse",
            "-c",
            "agent.toml",
            *sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "examples" / "logs").iterdir()),
        ],
        capture_output=True,
        cwd=tmp_path,
        check=True,
    ).stdout.splitlines()
    assert sorted(orjson.dumps(e) for e in events) == sorted(orjson.dumps(orjson.loads(e)) for e in expected)


# -- signals and reload ----------------------------------------------------------------------------


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
        time.sleep(0.02)
    wait_for(lambda: agent.metrics()["trt_agent_events_dropped_total"] > 0, 20, "drops", agent)
    # The tailer went on reading while the writer was stuck.
    wait_for(lambda: agent.metrics()['trt_agent_lines_total{file="%s"}' % log] == 3000, 20, "lines", agent)  # noqa: UP031
    metrics = agent.metrics()
    assert metrics["trt_agent_events_written_total"] + metrics["trt_agent_events_dropped_total"] <= 3000
    started = time.monotonic()
    assert agent.stop(timeout=15) == 0
    assert time.monotonic() - started < 6
    writer.stop()


# -- the event stream ------------------------------------------------------------------------------


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


def test_a_glob_without_engine_names_each_files_engine_after_the_file(
    tmp_path: Path, agents: list[Agent]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("resnet50-int8.log", "bert-fp16.log"):
        (logs / name).write_text("[11/26/2026-10:00:00] [TRT] [W] probe x 00000001\n")
    agent = Agent(tmp_path, [{"path": str(logs / "*.log")}])
    agents.append(agent)
    agent.start()
    wait_for(lambda: len(agent.events()) == 2, 10, "two events", agent)
    assert sorted(e["engine"] for e in agent.events()) == ["bert-fp16", "resnet50-int8"]
    assert agent.stop() == 0


def test_a_half_written_artifact_is_counted_then_read_when_complete(
    tmp_path: Path, agents: list[Agent]
) -> None:
    whole = (DATA / "corpus" / "02_trtexec-exportLayerInfo-alexnet-fp16.json").read_bytes()
    artifact = tmp_path / "layers.json"
    artifact.write_bytes(whole[: len(whole) // 2])  # trtexec still writing it
    agent = Agent(tmp_path, [{"path": str(artifact), "engine": "alexnet", "format": "json"}])
    agents.append(agent)
    agent.start()
    wait_for(
        lambda: agent.metrics().get("trt_agent_artifact_errors_total", 0) >= 1, 10, "artifact error", agent
    )
    artifact.write_bytes(whole)
    metrics = wait_for(
        lambda: (m := agent.metrics()).get('trt_engine_layers{engine="alexnet",precision="Half"}') and m,
        10,
        "the complete artifact read",
        agent,
    )
    assert "trt_agent_redaction_collisions_total" not in metrics  # only with [redaction] on
    assert agent.stop() == 0
