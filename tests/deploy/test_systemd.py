"""systemd/trt-agent.service, without a systemd PID 1: the local systemd-analyze verifies it, and
its notify protocol is exercised by starting its ExecStart= the way systemd would (NOTIFY_SOCKET,
WATCHDOG_USEC, ExecReload=, SIGTERM) against a socket the test owns."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from trt_agent.config import load_config

UNIT = ROOT / "systemd" / "trt-agent.service"
SYSTEMD_CONFIG = ROOT / "systemd" / "config.toml"


def unit_settings(path: Path = UNIT) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given (systemd allows keys more than once)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


def unit_value(key: str) -> str:
    values = unit_settings()[f"Service.{key}"]
    return values[-1]


def systemd_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


def local_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart='s binary pointed at this checkout's trt-agent: systemd-analyze
    verify insists that the binary exists, and /usr/local/bin/trt-agent (where the unit expects
    an installed agent) is not there on a development machine. Nothing else changes."""
    binary = Path(sys.executable).parent / "trt-agent"
    assert binary.exists(), f"{binary}: pip install -e . first"
    unit = tmp_path / "trt-agent.service"
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/trt-agent " in text
    unit.write_text(text.replace("ExecStart=/usr/local/bin/trt-agent ", f"ExecStart={binary} "))
    return unit


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed")
    return found


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for unknown keys: any output is a finding
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_unit_verify_catches_unknown_settings(tmp_path: Path) -> None:
    unit = local_unit(tmp_path)
    unit.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "Unknown key" in result.stdout + result.stderr


def test_unit_exposure_stays_low(tmp_path: Path) -> None:
    """`systemd-analyze security` scores 0 (locked) .. 10 (unprotected); the unit is at 1.3."""
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=15", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_unit_settings_match_the_agent() -> None:
    settings = unit_settings()
    service = {k.split(".", 1)[1]: v[-1] for k, v in settings.items() if k.startswith("Service.")}
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert systemd_seconds(service["WatchdogSec"]) == 30
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure" and systemd_seconds(service["RestartSec"]) > 0
    argv = shlex.split(service["ExecStart"])
    assert argv[1:] == ["run", "-c", "/etc/trt-agent/config.toml"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "CapabilityBoundingSet": "",
        "DynamicUser": "yes",
        "StateDirectory": "trt-agent",
        "LogsDirectory": "trt-agent",
    }.items():
        assert service.get(key) == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert settings["Service.SystemCallFilter"][0] == "@system-service"
    # The example /etc/trt-agent/config.toml writes only where the unit lets it.
    config = load_config(str(SYSTEMD_CONFIG))
    assert config.state_dir == "/var/lib/" + service["StateDirectory"]
    assert config.state_dir in service["ReadWritePaths"].split()
    assert Path(config.events.path).parent == Path("/var/log") / service["LogsDirectory"]
    assert systemd_seconds(service["TimeoutStopSec"]) > config.tail.shutdown_timeout
    # covers the start until the agent's first EXTEND_TIMEOUT_USEC (after 5 s of replay)
    assert systemd_seconds(service["TimeoutStartSec"]) >= 30


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        yield sock, address


def test_unit_drives_the_agent_like_systemd(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """No systemd PID 1 here (`systemd-run` needs one), so the test plays systemd for the
    directives that involve the agent: it starts ExecStart= with NOTIFY_SOCKET, WATCHDOG_USEC
    (from WatchdogSec=) and WATCHDOG_PID, waits for READY=1 and a WATCHDOG=1, runs ExecReload=
    with $MAINPID, then stops it with SIGTERM (KillSignal=) within TimeoutStopSec=. The sandbox
    directives themselves (DynamicUser, ProtectSystem...) are not exercised here."""
    sock, address = notify_socket
    state = tmp_path / "state"
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "build.log").write_text("[11/26/2026-10:00:00] [TRT] [W] hello from the unit test\n")
    config_text = (
        SYSTEMD_CONFIG.read_text()
        .replace('"/var/lib/trt-agent"', json.dumps(str(state)))
        .replace('"/var/log/trt/*.log"', json.dumps(str(logs / "*.log")))
        .replace('"/var/log/trt-agent/events.jsonl"', json.dumps(str(tmp_path / "events.jsonl")))
        .replace('"127.0.0.1:9717"', '"127.0.0.1:0"')
    )
    assert str(state) in config_text and str(logs) in config_text
    config = tmp_path / "config.toml"
    config.write_text(config_text)
    argv = shlex.split(unit_value("ExecStart"))
    argv = [str(Path(sys.executable).parent / "trt-agent"), *argv[1:]]
    argv[argv.index("-c") + 1] = str(config)
    watchdog_usec = int(systemd_seconds(unit_value("WatchdogSec")) * 1_000_000)
    env = os.environ | {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(watchdog_usec)}
    # systemd sets WATCHDOG_PID to the main process: exec keeps the shell's pid
    proc = subprocess.Popen(
        ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    messages: list[str] = []

    def receive_until(wanted: str) -> None:
        deadline = time.monotonic() + 20
        while not any(wanted in m.splitlines() for m in messages):
            assert time.monotonic() < deadline, f"no {wanted}; got {messages}"
            messages.append(sock.recv(4096).decode())

    try:
        receive_until("READY=1")
        receive_until("WATCHDOG=1")
        reload = shlex.split(unit_value("ExecReload").replace("$MAINPID", str(proc.pid)))
        subprocess.run(reload, check=True, timeout=10)
        receive_until("RELOADING=1")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=systemd_seconds(unit_value("TimeoutStopSec")))
        receive_until("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, proc.stderr.read().decode() if proc.stderr else code
    assert messages.index(next(m for m in messages if "RELOADING=1" in m)) < max(
        i for i, m in enumerate(messages) if "READY=1" in m.splitlines()
    ), "READY=1 again after the reload"
    assert "hello from the unit test" in (tmp_path / "events.jsonl").read_text()
    assert (state / "checkpoints.json").exists()
