"""``trt-agent run`` with node_exporter's flags and ``TRT_AGENT_*`` variables over its config
file, as an operator starts it (flag > environment > file > default), scraped over HTTP, and a
SIGHUP that re-reads the file keeping them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import bcrypt
import pytest
from harness import Agent, Writer, run_once, written_events


def _scrape(url: str, user: str | None = None, password: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_flags_beat_the_environment_which_beats_the_file_and_a_reload_keeps_them(
    tmp_path: Path, agents: list[Agent]
) -> None:
    busy = socket.socket()  # the port of the file and of the environment: taken, so using either fails
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = f"127.0.0.1:{busy.getsockname()[1]}"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: {hashed}\n")
    log = tmp_path / "one.log"
    writer = Writer(log, "one")
    for _ in range(5):
        writer.write_one()
    agent = Agent(
        tmp_path,
        [{"path": str(log), "engine": "one"}],
        metrics={"listen": taken, "web_config_file": "missing.yml"},
        log_level="error",  # would hide "started" (info): the flag wins
        env={
            "TRT_AGENT_METRICS_LISTEN": taken,
            "TRT_AGENT_LOG_LEVEL": "warning",
            "TRT_AGENT_EVENTS_PATH": str(tmp_path / "env-events.jsonl"),
            "TRT_AGENT_METRICS_MAX_ENGINES": "7",  # typed: read as a TOML integer
            "TRT_AGENT_METRICS_LISTN": ":1",  # a typo: warned about, not fatal
            "TRT_AGENT_RECOVERY_MB": "100",  # someone else's: left alone
        },
        # relative: from the working directory (the agent's is tmp_path), as on a command line
        args=("--web.listen-address", "127.0.0.1:0", "--web.config.file", "web.yml", "--log.level", "info"),
    )
    agents.append(agent)
    agent.start()
    served = agent.wait_log("serving metrics")
    assert served["address"] != taken and served["basic_auth"] is True
    assert agent.wait_log("started")["severity"] == "info"
    warnings = [e["msg"] for e in agent.agent_logs() if e.get("severity") == "warning"]
    assert any(
        w.startswith("$TRT_AGENT_METRICS_LISTN is ignored: [metrics] has no such key") for w in warnings
    )
    assert not any("RECOVERY_MB" in w for w in warnings)

    url = f"http://{served['address']}/metrics"
    assert _scrape(url)[0] == 401
    status, text = _scrape(url, "prometheus", "s3cret")
    assert status == 200 and "trt_agent_ready" in text
    events = tmp_path / "env-events.jsonl"
    assert (tmp_path / "events.jsonl").exists() is False
    assert len([e for e in written_events(events) if e["engine"] == "one"]) >= 1

    # SIGHUP re-reads the file, which still says error, the taken port and missing.yml: the
    # overrides apply again, so the reload logs at info, asks for no restart and serves as before
    agent.write_config()
    agent.send(signal.SIGHUP)
    agent.wait_log("config reloaded")
    assert not [e for e in agent.agent_logs() if e.get("msg") == "changed key needs a restart to apply"]
    status, text = _scrape(url, "prometheus", "s3cret")
    assert status == 200 and 'trt_agent_config_reloads_total{result="success"} 1.0' in text
    assert "trt_agent_config_last_reload_successful 1.0" in text
    busy.close()


def test_a_bad_variable_or_flag_is_refused_at_start_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(tmp_path, [])
    monkeypatch.setenv("TRT_AGENT_METRICS_MAX_ENGINES", "0")
    result = run_once(agent.config_path)
    assert result.returncode == 2
    assert "$TRT_AGENT_METRICS_MAX_ENGINES: metrics.max_engines must be at least 1, got 0" in result.stderr
    monkeypatch.setenv("TRT_AGENT_METRICS_MAX_ENGINES", "lots")
    result = run_once(agent.config_path)
    assert result.returncode == 2
    assert "$TRT_AGENT_METRICS_MAX_ENGINES: metrics.max_engines must be a TOML value" in result.stderr


def test_an_unusable_web_config_or_address_names_the_flag_or_variable_that_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors found after the config is read (the web config file, the listen address) name what
    set the value, not the config file that did not."""
    agent = Agent(tmp_path, [])
    monkeypatch.setenv("TRT_AGENT_METRICS_WEB_CONFIG_FILE", "from-env.yml")
    result = run_once(agent.config_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("trt-agent: $TRT_AGENT_METRICS_WEB_CONFIG_FILE: metrics.web_config_file:")
    assert "from-env.yml: web config file not found" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_agent",
            "run",
            "-c",
            str(agent.config_path),
            "--web.config.file",
            "flag.yml",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and result.stderr.startswith("trt-agent: --web.config.file: "), (
        result.stderr
    )
    monkeypatch.delenv("TRT_AGENT_METRICS_WEB_CONFIG_FILE")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("TRT_AGENT_METRICS_LISTEN", f"127.0.0.1:{busy.getsockname()[1]}")
        result = run_once(agent.config_path)
    assert result.returncode == 2
    assert result.stderr.startswith("trt-agent: $TRT_AGENT_METRICS_LISTEN: metrics.listen 127.0.0.1:"), (
        result.stderr
    )
