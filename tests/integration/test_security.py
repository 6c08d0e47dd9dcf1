"""The security pass (SECURITY.md): secrets with loose permissions are refused, loose config and
root are warned about, no secret reaches the agent's logs, metrics or events, and the state dir
cannot be turned against the host (no link in it is followed; one others can write is tightened
when the agent's, refused when another user's)."""

from __future__ import annotations

import base64
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
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


# -- the state dir (issue 21, item 2) --------------------------------------------------------------

STATE_CONFIG = (
    '[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\n[events]\npath = "out/events.jsonl"\n'
)


@pytest.mark.parametrize("name", [".write-test", "checkpoints.json.tmp", "models.snapshot.tmp"])
def test_a_link_planted_in_the_state_dir_is_never_followed(
    tmp_path: Path, agents: list[Agent], name: str
) -> None:
    """Whoever could write the state dir used to make the agent truncate (at start, through
    ``.write-test``) or overwrite (at every save, through the temporary copies) any file."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / name).symlink_to(victim)
    log = tmp_path / "build.log"
    log.write_text(LOG_LINE)
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "bert"}])
    agent.start()
    wait_for(lambda: agent.events(), 10, "events", agent)
    assert agent.stop() == 0
    assert victim.read_text() == "precious\n"
    for saved in ("checkpoints.json", "models.snapshot"):
        assert (state / saved).is_file() and not (state / saved).is_symlink(), saved
        assert (state / saved).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("mode", "tight", "who"),
    [
        (0o2770, 0o2750, "its group"),  # a Kubernetes fsGroup volume, at each pod start
        (0o775, 0o755, "its group"),  # made by an older release under umask 002
        (0o777, 0o755, "its group and other users"),
    ],
)
def test_a_state_dir_of_the_agent_others_can_write_is_tightened(
    tmp_path: Path, agents: list[Agent], mode: int, tight: int, who: str
) -> None:
    """Refusing it broke restarts on a Kubernetes volume with ``fsGroup`` (the kubelet makes the
    0700 state dir 2770 at each pod start) and upgrades from a release that made it 0775."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    log = tmp_path / "build.log"
    log.write_text(LOG_LINE)
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "bert"}])
    agent.start()
    wait_for(lambda: agent.events(), 10, "events", agent)
    assert agent.stop() == 0
    assert state.stat().st_mode & 0o7777 == tight
    warnings = [e for e in agent.agent_logs() if "removed their write access" in str(e.get("msg"))]
    assert len(warnings) == 1, agent.agent_logs()
    assert warnings[0]["msg"].startswith(
        f"agent.state_dir {state}: {who} could write it (mode {mode:04o}); the agent removed their "
        f"write access (now {tight:04o})"
    )
    assert (state / "checkpoints.json").is_file()


@pytest.mark.parametrize("mode", [0o700, 0o2770])
def test_a_state_dir_of_another_user_is_refused(tmp_path: Path, mode: int) -> None:
    """Run as root (as here), another user's state dir is exactly the clobbering primitive: that
    user could plant links for root to write through. It is not tightened: not the agent's."""
    state = tmp_path / "state"
    state.mkdir()
    me = os.geteuid()
    other = 54321 if me != 54321 else 54322
    if me != 0:
        pytest.skip("only root can give a directory to another user")
    os.chown(state, other, other)
    state.chmod(mode)
    config = tmp_path / "agent.toml"
    config.write_text(STATE_CONFIG)
    result = run_once(config)
    assert result.returncode == 2, result.stderr
    assert f"agent.state_dir state: it belongs to uid {other}, not to the agent's user" in result.stderr
    assert f"(mode {mode:04o}, owner uid {other})" in result.stderr
    assert "chown root state" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert state.stat().st_mode & 0o7777 == mode
    assert not (state / "checkpoints.json").exists()


def test_an_event_directory_other_users_can_write_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    config = tmp_path / "agent.toml"
    config.write_text(STATE_CONFIG)
    result = run_once(config)
    assert result.returncode == 2, result.stderr
    assert f"the directory of events.path {out}: other users can write it (mode 0777" in result.stderr
    assert f"chmod o-w {out} (or chmod +t, like /tmp)" in result.stderr
    assert out.stat().st_mode & 0o7777 == 0o777  # (not the agent's to change)


def test_an_event_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another user")
    os.chown(out, 54321, 54321)
    config = tmp_path / "agent.toml"
    config.write_text(STATE_CONFIG)
    result = run_once(config)
    assert result.returncode == 2, result.stderr
    assert f"the directory of events.path {out}: it belongs to uid 54321" in result.stderr


@pytest.mark.parametrize("mode", [0o775, 0o2770])
def test_an_event_directory_its_group_can_write_is_accepted(
    tmp_path: Path, agents: list[Agent], mode: int
) -> None:
    """/var/log (root:syslog 0775) or a volume with a Kubernetes fsGroup: left as it is."""
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(mode)
    log = tmp_path / "build.log"
    log.write_text(LOG_LINE)
    agent = new_agent(
        agents, tmp_path, [{"path": str(log), "engine": "bert"}], events={"path": str(out / "events.jsonl")}
    )
    agent.events_path = out / "events.jsonl"
    agent.start()
    wait_for(lambda: agent.events(), 10, "events", agent)
    assert agent.stop() == 0
    assert out.stat().st_mode & 0o7777 == mode


def test_a_link_at_a_state_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "elsewhere.json").write_text("{}")
    (tmp_path / "state" / "checkpoints.json").symlink_to(tmp_path / "elsewhere.json")
    config = tmp_path / "agent.toml"
    config.write_text(STATE_CONFIG)
    result = run_once(config)
    assert result.returncode == 2, result.stderr
    assert "checkpoint file state/checkpoints.json is a symbolic link" in result.stderr


@pytest.mark.parametrize("mode", [0o1777, 0o775, 0o2770])
def test_a_link_at_the_event_file_in_a_shared_directory_is_not_followed(
    tmp_path: Path, agents: list[Agent], mode: int
) -> None:
    """A sticky directory others can write (/tmp, a tmpfs), or one its group can write
    (/var/log, an fsGroup volume), is allowed for events, but a link someone put at the path is
    not followed there."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (shared / "events.jsonl").symlink_to(victim)
    log = tmp_path / "build.log"
    log.write_text(LOG_LINE)
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(log), "engine": "bert"}],
        events={"path": str(shared / "events.jsonl")},
    )
    agent.start(wait=False)
    assert agent.proc is not None
    assert agent.proc.wait(20) == 2
    assert (
        "a symbolic link in a directory other users can write: not followed" in agent.stderr_path.read_text()
    )
    assert victim.read_text() == "precious\n"


def test_the_directories_the_agent_creates_are_private_whatever_the_umask(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """The quick start's ``.trt-agent/state`` is made by the agent: 0700, parents included,
    even under umask 002 (which would make them group-writable)."""
    log = tmp_path / "build.log"
    log.write_text(LOG_LINE)
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "bert"}], state_dir=".trt-agent/state")
    old = os.umask(0o002)
    try:
        agent.start()
    finally:
        os.umask(old)
    assert agent.stop() == 0
    for path in (tmp_path / ".trt-agent", tmp_path / ".trt-agent" / "state"):
        assert path.stat().st_mode & 0o777 == 0o700, path
