"""The security pass (SECURITY.md): secrets with loose permissions are refused, loose config and
root are warned about, and no secret reaches the agent's logs, metrics or events."""

from __future__ import annotations

import base64
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
from conftest import self_signed
from harness import Agent, new_agent, run_once, wait_for

LOG_LINE = "[11/26/2026-10:00:00] [TRT] [W] Missing scale and zero-point for tensor /encoder/secret_layer_7/MatMul, expect fall back to non-int8 implementation\n"


def test_a_redaction_key_others_can_read_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "redaction.key"
    key.write_text(secrets.token_hex(16))
    key.chmod(0o644)
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\n[redaction]\nenabled = true\nkey_file = "redaction.key"\n'
    )
    result = run_once(config)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"trt-agent: {config}: redaction.key_file {key}: other users can access it (mode 0644); chmod 600"
    ), result.stderr
    key.chmod(0o660)
    assert "its group can write it (mode 0660)" in run_once(config).stderr


def test_a_tls_key_others_can_read_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    key.chmod(0o644)
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
    )
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\nweb_config_file = "web.yml"\n'
    )
    result = run_once(config)
    assert result.returncode == 2
    assert f"tls_server_config.key_file {key}: other users can access it (mode 0644)" in result.stderr


def test_no_secret_in_logs_metrics_or_events_and_loose_config_is_warned(
    tmp_path: Path, agents: list[Agent]
) -> None:
    key_text = secrets.token_hex(24)
    password = "pw-" + secrets.token_hex(8)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "redaction.key").write_text(key_text)
    (tmp_path / "redaction.key").chmod(0o600)
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: {hashed}\n")
    log = tmp_path / "build.log"
    log.write_text(LOG_LINE)
    agent = new_agent(
        agents, tmp_path, [{"path": str(log), "engine": "bert"}], metrics={"web_config_file": "web.yml"}
    )
    agent.write_config('[redaction]\nenabled = true\nkey_file = "redaction.key"\n')
    agent.config_path.chmod(0o666)  # a config anyone may change: warned about
    agent.start()
    url = agent.metrics_url
    for user, pw in (("prometheus", password + "x"), ("prometheus", password), ("admin", password)):
        request = urllib.request.Request(
            url, headers={"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                scraped = response.read().decode()
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    wait_for(lambda: agent.events(), 10, "events", agent)
    assert agent.stop() == 0
    logs = agent.stderr_path.read_text()
    events = agent.events_path.read_text() if agent.events_path.exists() else ""
    outputs = {"logs": logs, "metrics": scraped, "events": events}
    for what, text in outputs.items():
        for secret in (key_text, password, hashed, "secret_layer_7"):
            assert secret not in text, f"{secret!r} leaked into the {what}"
    assert "writable by other users (mode 0666)" in logs
    if os.geteuid() == 0:
        assert "running as root, which the agent never needs" in logs
