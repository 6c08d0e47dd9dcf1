"""systemd/trt-agent.service, without a systemd PID 1: the local systemd-analyze verifies it, and
its notify protocol is exercised by starting its ExecStart= the way systemd would (NOTIFY_SOCKET,
WATCHDOG_USEC, ExecReload=, SIGTERM) against a socket the test owns."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
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


# -- the watchdog while a large rotated copy is read back ------------------------------------------

RECOVERY_WATCHDOG_SEC = 1.0  # WatchdogSec= of the recovery test: a WATCHDOG=1 every 0.5 s
RECOVERY_PERIODS = 5  # the recovery must last at least this many WatchdogSec to show anything
# What app.log grows by while the agent is down: a real verbose FP16 build log (55 lines, one
# event for every three), repeated; 100 MB take about 14 s to read back on the 2-core development
# machine. A much faster machine may need more (TRT_AGENT_RECOVERY_MB).
RECOVERY_SOURCE = "45_polygraphy"
RECOVERY_BYTES = int(float(os.environ.get("TRT_AGENT_RECOVERY_MB", "100")) * 1_000_000)
FIRST_RUN = "first-run marker: the last line the first run reads"
COPY_END = "copy-end marker: the last line before the copytruncate"
AFTER_TRUNCATE = "after-truncate marker: the first line written after it"


def warning(text: str) -> bytes:
    return f"[12/06/2026-10:00:00] [TRT] [W] {text}\n".encode()


def unit_config(tmp_path: Path, logs_glob: str) -> Path:
    """systemd/config.toml with its paths moved under ``tmp_path``, a free metrics port, and an
    event file that is not rotated (so a test finds its lines in one file)."""
    text = (
        SYSTEMD_CONFIG.read_text()
        .replace("max_bytes = 104857600", "max_bytes = 0")
        .replace('"/var/lib/trt-agent"', json.dumps(str(tmp_path / "state")))
        .replace('"/var/log/trt/*.log"', json.dumps(logs_glob))
        .replace('"/var/log/trt-agent/events.jsonl"', json.dumps(str(tmp_path / "events.jsonl")))
        .replace('"127.0.0.1:9717"', '"127.0.0.1:0"')
    )
    assert str(tmp_path / "state") in text and logs_glob in text and "max_bytes = 0" in text
    config = tmp_path / "config.toml"
    config.write_text(text)
    return config


def start_like_systemd(
    config: Path, notify_address: str, watchdog_sec: float, stderr: Path
) -> subprocess.Popen[bytes]:
    """ExecStart= of the unit with NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (exec keeps the
    shell's pid, which systemd would give as the main pid)."""
    argv = shlex.split(unit_value("ExecStart"))
    argv = [str(Path(sys.executable).parent / "trt-agent"), *argv[1:]]
    argv[argv.index("-c") + 1] = str(config)
    env = os.environ | {"NOTIFY_SOCKET": notify_address, "WATCHDOG_USEC": str(int(watchdog_sec * 1e6))}
    with open(stderr, "ab") as err:
        return subprocess.Popen(
            ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


class Notifications:
    """Every datagram on the notify socket, with the ``time.monotonic()`` it arrived at."""

    def __init__(self, sock: socket.socket) -> None:
        self.received: list[tuple[float, str]] = []
        self._sock = sock
        self._stop = threading.Event()
        sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def times(self, line: str, since: float = 0.0) -> list[float]:
        return [t for t, m in list(self.received) if t >= since and line in m.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def poll_until(
    what: str, condition: Callable[[], bool], proc: subprocess.Popen[bytes], stderr: Path, timeout: float
) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(
                f"the agent exited ({proc.returncode}) waiting for {what}:\n{stderr.read_text()[-3000:]}"
            )
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{stderr.read_text()[-3000:]}"
        time.sleep(0.05)
    return time.monotonic()


def metrics_address(stderr: Path) -> str | None:
    """The address the last agent started on ``stderr`` serves its metrics on."""
    for line in reversed(stderr.read_text().splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("msg") == "serving metrics":
            return str(entry["address"])
    return None


def recovered_bytes(address: str | None) -> float:
    """``trt_agent_recovered_bytes_total`` (0 until the endpoint answers)."""
    if address is None:
        return 0.0
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("trt_agent_recovered_bytes_total "):
            return float(line.split()[1])
    return 0.0


class Markers:
    """Which of ``needles`` the lines a file gains (after its size when this was made) carry."""

    def __init__(self, path: Path, *needles: str) -> None:
        self.path, self.needles = path, needles
        self.pos = path.stat().st_size if path.exists() else 0
        self.found: set[str] = set()
        self._carry = b""

    def seen(self, needle: str) -> bool:
        if needle not in self.found:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(self.pos)
                    data = fh.read()
            except FileNotFoundError:
                return False
            self.pos += len(data)
            window = self._carry + data
            self.found.update(n for n in self.needles if n.encode() in window)
            self._carry = window[-200:]
        return needle in self.found


class Every:
    """``check`` at most every ``seconds`` (False in between): a scrape costs the agent time."""

    def __init__(self, seconds: float, check: Callable[[], bool]) -> None:
        self.seconds, self.check, self._next = seconds, check, 0.0

    def __call__(self) -> bool:
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.seconds
        return self.check()


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=systemd_seconds(unit_value("TimeoutStopSec")))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def test_watchdog_keeps_beating_while_a_large_copytruncated_log_is_recovered(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    """The agent followed app.log and was stopped; while it was down app.log grew by
    RECOVERY_BYTES and logrotate's copytruncate copied it to app.log.1 and emptied it. At the
    next start the agent reads the rest of the old content back from app.log.1 (seconds of
    work), and all that time it must go on sending WATCHDOG=1 every WatchdogSec/2, from when an
    agent with nothing to recover would be up: systemd kills a service whose pings stop for
    longer than WatchdogSec= (once it has sent READY=1; before, only TimeoutStartSec= and the
    agent's EXTEND_TIMEOUT_USEC cover it, and the agent is 'activating' all that time)."""
    sock, address = notify_socket
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    source = data_lines(RECOVERY_SOURCE)
    app.write_bytes(source + warning(FIRST_RUN))  # the part the first run reads and checkpoints
    config = unit_config(tmp_path, str(logs / "*.log"))
    events = tmp_path / "events.jsonl"
    stderr = tmp_path / "agent.stderr"
    heard = Notifications(sock)
    try:
        # 1. The first run: it reads app.log, checkpoints it and stops cleanly. Its start (no
        #    recovery) gives the time an agent needs to be up on this machine.
        read = Markers(events, FIRST_RUN)
        started = time.monotonic()
        first = start_like_systemd(config, address, RECOVERY_WATCHDOG_SEC, stderr)
        try:
            ready = poll_until("READY=1", lambda: bool(heard.times("READY=1", started)), first, stderr, 30)
            start_up = ready - started
            poll_until("the first run's last line", lambda: read.seen(FIRST_RUN), first, stderr, 30)
        finally:
            first_code = stop(first)
        assert first_code == 0, stderr.read_text()[-3000:]
        # 2. While the agent is down: app.log grows, then logrotate's copytruncate.
        checkpointed = app.stat().st_size
        with open(app, "ab") as fh:
            while fh.tell() < RECOVERY_BYTES:
                fh.write(source * 1000)
            fh.write(warning(COPY_END))
        shutil.copyfile(app, logs / "app.log.1")
        os.truncate(app, 0)
        app.write_bytes(warning(AFTER_TRUNCATE))
        to_recover = (logs / "app.log.1").stat().st_size - checkpointed
        # 3. The second run recovers the copy under a short watchdog.
        # The recovery is over when the copy's last line is written, or (should that event be
        # dropped from a full queue) when trt_agent_recovered_bytes_total has counted all of it.
        # (Not when the new line of app.log is: it may come first.)
        written = Markers(events, COPY_END, AFTER_TRUNCATE)
        counted = Every(0.5, lambda: recovered_bytes(metrics_address(stderr)) >= to_recover)
        ended_by: list[str] = []

        def recovery_over() -> bool:
            for name, over in (
                ("the copy's last line written", lambda: written.seen(COPY_END)),
                ("trt_agent_recovered_bytes_total complete", counted),
            ):
                if over():
                    ended_by.append(name)
                    return True
            return False

        since = time.monotonic()
        second = start_like_systemd(config, address, RECOVERY_WATCHDOG_SEC, stderr)
        try:
            done = poll_until("the end of the recovery", recovery_over, second, stderr, 120)
            poll_until(
                "the first line written after the copytruncate",
                lambda: written.seen(AFTER_TRUNCATE),
                second,
                stderr,
                30,
            )
        finally:
            code = stop(second)
    finally:
        heard.close()
    assert code == 0, stderr.read_text()[-3000:]
    recovery = done - since
    readies = heard.times("READY=1", since)
    pings = [t for t in heard.times("WATCHDOG=1", since) if t <= done]
    at = [round(t - since, 2) for t in pings]
    assert readies, "no READY=1 from the second run"
    assert recovery >= RECOVERY_PERIODS * RECOVERY_WATCHDOG_SEC + start_up, (
        f"reading back {to_recover / 1e6:.0f} MB took only {recovery:.1f} s "
        f"({recovery / RECOVERY_WATCHDOG_SEC:.1f} watchdog periods of {RECOVERY_WATCHDOG_SEC} s, "
        f"start-up {start_up:.2f} s; ended by: {ended_by[0]}): raise TRT_AGENT_RECOVERY_MB so the test "
        "shows something"
    )
    # From when an agent without a recovery is up (start_up) to the end of the recovery, the
    # pings must come at most WatchdogSec apart.
    marks = [since + start_up, *pings, done]
    gaps = [(b - a, a - since, b - since) for a, b in itertools.pairwise(marks)]
    gap, gap_from, gap_to = max(gaps)
    extends = [round(t - since, 2) for t in heard.times("EXTEND_TIMEOUT_USEC=10000000", since) if t <= done]
    print(
        f"recovered {to_recover / 1e6:.0f} MB in {recovery:.2f} s; start-up {start_up:.2f} s; READY=1 at "
        f"{readies[0] - since:.2f} s; {len(pings)} WATCHDOG=1, largest gap {gap:.2f} s at {gap_from:.2f} s"
    )
    assert gap < RECOVERY_WATCHDOG_SEC, (
        f"no WATCHDOG=1 for {gap:.2f} s (from {gap_from:.2f} s to {gap_to:.2f} s after the start) while "
        f"{to_recover / 1e6:.0f} MB were read back from app.log.1, with WatchdogSec={RECOVERY_WATCHDOG_SEC:g} s "
        f"(a ping due every {RECOVERY_WATCHDOG_SEC / 2:g} s). The recovery took {recovery:.1f} s "
        f"({recovery / RECOVERY_WATCHDOG_SEC:.0f} watchdog periods; an agent with nothing to recover is up in "
        f"{start_up:.2f} s); READY=1 came {readies[0] - since:.2f} s after the start; during the recovery "
        f"WATCHDOG=1 at {at} s, EXTEND_TIMEOUT_USEC at {extends} s"
    )


def data_lines(name: str) -> bytes:
    """The text of a tests/data log (by the start of its name), ending in a newline."""
    for folder in ("corpus", "extra"):
        for path in sorted((ROOT / "tests" / "data" / folder).glob(name + "*.log")):
            data = path.read_bytes()
            return data if data.endswith(b"\n") else data + b"\n"
    raise FileNotFoundError(name)
