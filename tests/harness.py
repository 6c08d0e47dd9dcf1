"""Drive a real ``trt-agent run`` process and real log writers, for the daemon's integration tests
(tests/integration/)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# A TensorRT 8/10 warning line: every line the writers write becomes exactly one ``warning``
# event whose ``msg`` carries the line, so the multiset of lines ingested can be compared with
# the lines written.
LINE = "[11/26/2026-10:00:00] [TRT] [W] probe {tag} {n:08d}\n"
_PROBE = re.compile(r"probe (\S+) (\d{8})")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


class Agent:
    """One ``trt-agent run`` subprocess with its own config, state dir and event file."""

    def __init__(
        self,
        root: Path,
        logs: list[dict[str, Any]],
        *,
        events: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        without_root_file_access: bool = False,
        env: dict[str, str] | None = None,
        **agent: Any,
    ) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.events_path = root / "events.jsonl"
        self.config_path = root / "agent.toml"
        self.stderr_path = root / "agent.stderr"
        self.logs = logs
        self.agent_options = {
            "state_dir": str(self.state_dir),
            "log_format": "json",
            "log_level": "debug",
            "poll_interval": 0.25,
            "rotate_wait": 1.0,
            "partial_line_timeout": 2.0,
            "checkpoint_interval": 0.2,
            "shutdown_timeout": 10,
        } | agent
        self.event_options = {"path": str(self.events_path)} | (events or {})
        self.metrics_options = {"listen": "127.0.0.1:0"} | (metrics or {})
        self.without_root_file_access = without_root_file_access
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_config()

    def write_config(self, extra: str = "") -> None:
        lines = ["[agent]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.agent_options.items()]
        for entry in self.logs:
            lines.append("[[logs]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
        lines += ["[metrics]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.metrics_options.items()]
        lines += ["[events]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.event_options.items()]
        self.config_path.write_text("\n".join(lines) + "\n" + extra)

    # -- process -----------------------------------------------------------------------------------

    def start(
        self, *, stdout: int | None = subprocess.DEVNULL, wait: bool = True, read_stdout: bool = True
    ) -> Agent:
        """Start the agent; with ``stdout=PIPE`` its output is collected in ``stdout_data``
        unless ``read_stdout`` is False (then nobody reads the pipe)."""
        self.stderr_path.write_bytes(b"")
        self._stderr_seen = 0
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "trt_agent", "run", "-c", str(self.config_path)],
                stdout=stdout,
                stderr=err,
                # Only root bypasses file permissions; anyone else meets them anyway.
                preexec_fn=drop_file_capabilities
                if self.without_root_file_access and os.geteuid() == 0
                else None,
                env=None if self.env is None else os.environ | self.env,
                cwd=self.root,
            )
        self.stdout_data = bytearray()
        self._collector: threading.Thread | None = None
        if stdout == subprocess.PIPE and read_stdout:
            self._collector = threading.Thread(target=self._collect_stdout, args=(self.proc,), daemon=True)
            self._collector.start()
        if wait:
            self.wait_log("started", timeout=30)
        return self

    def _collect_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            self.stdout_data += chunk

    def send(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        if self._collector is not None:
            self._collector.join(10)  # it has read the last bytes: the pipe's end of file
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    # -- what it says ------------------------------------------------------------------------------

    def agent_logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def wait_log(self, event: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for entry in self.agent_logs():
                if entry.get("event") == event and all(entry.get(k) == v for k, v in match.items()):
                    return entry
            return None

        entry = wait_for(found, timeout, f"agent log {event!r} {match}", self)
        assert entry is not None
        return entry

    @property
    def metrics_url(self) -> str:
        return f"http://{self.wait_log('serving metrics')['address']}/metrics"

    def metrics(self) -> dict[str, float]:
        """The scrape, as ``{'name{labels}': value}``."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def events(self) -> list[dict[str, Any]]:
        """Every event in the event file and its rotated predecessors, oldest first."""
        files = sorted(self.root.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
        files.append(self.events_path)
        out = []
        for path in files:
            if path.exists():
                out += [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return out

    def checkpoint_offset(self, path: Path) -> int | None:
        """The offset the checkpoint store holds for the file now at ``path`` (None: none yet)."""
        try:
            doc = json.loads((self.state_dir / "checkpoints.json").read_bytes())
            st = path.stat()
        except (OSError, ValueError):
            return None
        for entry in doc.get("files", []):
            if (entry.get("dev"), entry.get("ino")) == (st.st_dev, st.st_ino):
                return int(entry["offset"])
        return None

    def probes(self) -> Counter[str]:
        """Multiset of probe lines (``tag n``) that reached the event file."""
        return probe_counts(self.events())

    def wait_probes(self, expected: Counter[str], timeout: float = 20) -> Counter[str]:
        """Wait until every expected probe arrived; returns what arrived."""
        got: Counter[str] = Counter()

        def done() -> bool:
            nonlocal got
            got = self.probes()
            return not (expected - got)

        with contextlib.suppress(AssertionError):
            wait_for(done, timeout, "probes", self)
            # Everything arrived; give duplicates that would follow a moment to show up. (A fixed
            # window: what must not happen has no condition to wait for.)
            time.sleep(0.3)
            got = self.probes()
        return got


def drop_file_capabilities() -> None:
    """Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this process's bounding set, so a
    process running as root meets file permissions like any user (prctl PR_CAPBSET_DROP)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def probe_counts(events: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for event in events:
        m = _PROBE.search(event.get("msg") or "")
        if m:
            counts[f"{m.group(1)} {m.group(2)}"] += 1
    return counts


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, agent: Agent | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        if agent is not None and agent.proc is not None and agent.proc.poll() is not None:
            raise AssertionError(
                f"agent exited ({agent.proc.returncode}) waiting for {what}:\n{_tail(agent)}"
            )
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{_tail(agent)}" if agent else ""))


def _tail(agent: Agent) -> str:
    return "\n".join(agent.stderr_path.read_text(errors="replace").splitlines()[-30:])


class Writer:
    """Appends probe lines to ``path`` from a thread, like an application's logger.

    Each line is one ``write`` of a file opened for append; ``hold()`` pauses it (for the one
    hazard where real tools also lose lines unless the writer pauses: see the copytruncate
    test) and ``reopen()`` makes it open the path again, as a logger does on SIGHUP.
    """

    def __init__(self, path: Path, tag: str, *, interval: float = 0.0005) -> None:
        self.path = path
        self.tag = tag
        self.interval = interval
        self.written: Counter[str] = Counter()
        self.count = 0
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._reopen = False
        self._fh = open(path, "a")  # noqa: SIM115 - closed in stop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                if self._reopen:
                    self._fh.close()
                    self._fh = open(self.path, "a")  # noqa: SIM115
                    self._reopen = False
                self.write_one()
            time.sleep(self.interval)  # the writer's pace: an application logging steadily

    def write_one(self) -> None:
        self._fh.write(LINE.format(tag=self.tag, n=self.count))
        self._fh.flush()
        self.written[f"{self.tag} {self.count:08d}"] += 1
        self.count += 1

    def wait_count(self, at_least: int) -> None:
        wait_for(lambda: self.count >= at_least, 20, f"{at_least} lines written")

    def reopen(self) -> None:
        with self.lock:
            self._reopen = True

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self.lock:
            self._fh.flush()
            yield

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with contextlib.suppress(ValueError):
            self._fh.close()


def run_once(config: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """``trt-agent run -c CONFIG`` to its exit (for start-up errors), from the config's folder."""
    return subprocess.run(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent,
    )


def new_agent(agents: list[Agent], root: Path, logs: list[dict[str, Any]], **options: Any) -> Agent:
    """An ``Agent`` registered with the ``agents`` fixture (killed at teardown)."""
    agent = Agent(root, logs, **options)
    agents.append(agent)
    return agent


def follow_one_file(agents: list[Agent], root: Path, **options: object) -> tuple[Agent, Path]:
    """An agent started on ``root/app.log`` (created empty)."""
    log = root / "app.log"
    agent = new_agent(agents, root, [{"path": str(log), "engine": "e"}], **options)
    log.touch()
    agent.start()
    return agent, log


def assert_exact(written: Counter[str], got: Counter[str]) -> None:
    """The lines ingested are exactly the lines written: none lost, none twice."""
    lost, duplicated = lost_and_duplicated(written, got)
    assert not lost, f"{len(lost)} lines lost, first {lost[:5]}"
    assert not duplicated, f"{len(duplicated)} lines read twice, first {duplicated[:5]}"
    assert sum(written.values()) > 0


def lost_and_duplicated(written: Counter[str], got: Counter[str]) -> tuple[list[str], list[str]]:
    lost = sorted((written - got).elements())
    duplicated = sorted(k for k, v in got.items() if v > 1 or k not in written)
    return lost, duplicated
