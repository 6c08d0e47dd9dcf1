"""``trt-agent run`` start-up: a config it cannot run with is exit 2 naming the file and the key
(no traceback); the largest values it accepts run."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pytest
from conftest import agent_toml, rules_file
from harness import LINE, Agent, new_agent, run_once, wait_for

from trt_agent.config import MAX_WAIT_SECONDS, load_config


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


def _refused(config: Path, message: str) -> None:
    """``trt-agent run`` exits 2 at load, naming the file and the key (no traceback)."""
    result = run_once(config)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"trt-agent: {config}: "), result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("poll_interval", "inf"),
        ("poll_interval", "1e10"),
        ("checkpoint_interval", "inf"),
        ("rotate_wait", "1e12"),
        ("partial_line_timeout", "inf"),
        ("shutdown_timeout", "1e12"),
        ("poll_interval", "nan"),
    ],
)
def test_timers_beyond_a_day_are_config_errors(tmp_path: Path, key: str, value: str) -> None:
    config = agent_toml(tmp_path, "")
    config.write_text(config.read_text().replace("[agent]\n", f"[agent]\n{key} = {value}\n"))
    message = (
        "must be more than 0 seconds"
        if value == "nan"
        else "must be a finite number of seconds, at most 86400"
    )
    _refused(config, f"agent.{key} {message}")


def test_a_day_is_accepted_and_series_ttl_nan_or_inf_is_refused(tmp_path: Path) -> None:
    config = agent_toml(tmp_path, "")
    text = config.read_text()
    config.write_text(text.replace("[agent]\n", f"[agent]\npoll_interval = {MAX_WAIT_SECONDS}\n"))
    assert load_config(str(config)).tail.poll_interval == 86400
    for value in ("nan", "inf"):
        config.write_text(text.replace("[metrics]\n", f"[metrics]\nseries_ttl = {value}\n"))
        _refused(
            config, f"metrics.series_ttl must be 0 (never) or more seconds, a finite number, got {value}"
        )


def test_a_huge_poll_interval_no_longer_crash_loops(tmp_path: Path, agents: list[Agent]) -> None:
    """The largest accepted values run: the tailer and the event writer wait on them."""
    log = tmp_path / "app.log"
    log.write_text(LINE.format(tag="t", n=0))
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(log), "engine": "e"}],
        poll_interval=MAX_WAIT_SECONDS,
        checkpoint_interval=MAX_WAIT_SECONDS,
        rotate_wait=MAX_WAIT_SECONDS,
        partial_line_timeout=MAX_WAIT_SECONDS,
    ).start()
    assert agent.wait_probes(Counter({"t 00000000": 1}))["t 00000000"] == 1
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 10, "ready", agent)
    assert not [e for e in agent.agent_logs() if "died" in e.get("msg", "")]
    assert agent.stop() == 0


def test_no_logs_at_all_is_warned_and_an_empty_path_refused(tmp_path: Path, agents: list[Agent]) -> None:
    agent = new_agent(agents, tmp_path, []).start()
    agent.wait_log("no [[logs]] in the config: no file is followed")
    assert agent.stop() == 0
    config = agent_toml(tmp_path, '[[logs]]\npath = ""\nengine = "e"\n')
    _refused(config, "logs[0].path is empty")


def test_rotation_without_rotated_files_is_a_config_error(tmp_path: Path) -> None:
    config = agent_toml(tmp_path, '[events]\npath = "events.jsonl"\nmax_bytes = 1048576\nmax_files = 0\n')
    _refused(config, "events.max_files must be at least 1 when events.max_bytes rotates the event file")
    config = agent_toml(tmp_path, '[events]\npath = "events.jsonl"\nmax_files = 0\n')  # default max_bytes
    _refused(config, "events.max_files must be at least 1")
    config = agent_toml(tmp_path, '[events]\npath = "events.jsonl"\nmax_bytes = 0\nmax_files = 0\n')
    assert load_config(str(config)).events.max_files == 0  # never rotated: nothing to keep


def test_redaction_key_errors_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRT_AGENT_TEST_UNSET_KEY", raising=False)
    config = agent_toml(tmp_path, '[redaction]\nenabled = true\nkey_env = "TRT_AGENT_TEST_UNSET_KEY"\n')
    _refused(config, "redaction.key_env: $TRT_AGENT_TEST_UNSET_KEY is not set")
    assert "16 bytes (got 0)" not in run_once(config).stderr
    monkeypatch.setenv("TRT_AGENT_TEST_UNSET_KEY", "")  # run_once's process inherits it
    _refused(config, "redaction.key_env: $TRT_AGENT_TEST_UNSET_KEY is empty")
    monkeypatch.delenv("TRT_AGENT_TEST_UNSET_KEY")
    key = tmp_path / "redaction.key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    config = agent_toml(
        tmp_path,
        '[redaction]\nenabled = true\nkey_file = "redaction.key"\nkey_env = "TRT_AGENT_TEST_UNSET_KEY"\n',
    )
    _refused(config, "redaction.key_file and redaction.key_env are both set")
    # a disabled [redaction] table is inert: configs that keep both keys while it is off still load
    from trt_agent.config import load_config

    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    assert not load_config(str(config)).redaction.enabled


@pytest.mark.parametrize("listen", ["9717", "localhost", "127.0.0.1:99999", "127.0.0.1:\u00b2", "127.0.0.1:"])
def test_a_malformed_listen_address_names_the_config_file(tmp_path: Path, listen: str) -> None:
    config = agent_toml(tmp_path, "")
    config.write_text(config.read_text().replace('"127.0.0.1:0"', f'"{listen}"'))
    _refused(config, "metrics.listen must be host:port")


def test_daemon_refuses_to_start_with_a_bad_rules_file(tmp_path: Path, agents: list[Agent]) -> None:
    rules = rules_file(tmp_path, '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\n')
    agent = new_agent(agents, tmp_path, [])
    agent.write_config(f'[rules]\nfile = "{rules}"\n')
    agent.start(wait=False)
    assert agent.proc is not None
    assert agent.proc.wait(20) == 2
    err = agent.stderr_path.read_text()
    assert f"{rules}: rule[0] ('x'): check 'fusion_coverage' needs one of: min, max" in err
