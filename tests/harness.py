"""Drive a real ``trt-agent run`` process and real log writers, for the daemon's integration tests
(tests/integration/)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import re
import shutil
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


def load_events(data: bytes) -> list[dict[str, Any]]:
    """The events of JSON lines ``data``."""
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def written_events(path: Path) -> list[dict[str, Any]]:
    """The events of an event file an agent may be writing to: its last line is an event once
    its newline is there (as for any tailer; a batch reaches the file in more than one write)."""
    data = path.read_bytes()
    return load_events(data[: data.rfind(b"\n") + 1])


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
        args: tuple[str, ...] = (),
        **agent: Any,
    ) -> None:
        self.root = root
        self.args = args  # after ``run -c CONFIG`` (--web.listen-address ...)
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
                [sys.executable, "-m", "trt_agent", "run", "-c", str(self.config_path), *self.args],
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

    def wait_log(self, msg: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """The first line of the agent's own logs whose ``msg`` is ``msg`` and whose keys match."""

        def found() -> dict[str, Any] | None:
            for entry in self.agent_logs():
                if entry.get("msg") == msg and all(entry.get(k) == v for k, v in match.items()):
                    return entry
            return None

        entry = wait_for(found, timeout, f"agent log {msg!r} {match}", self)
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
            if not path.exists():
                continue
            # A rotated file is complete: read whole, so that a torn line there fails the test.
            out += written_events(path) if path == self.events_path else load_events(path.read_bytes())
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


def written_so_far(writer: Writer) -> Counter[str]:
    """The lines ``writer`` has written until now (a copy taken while it waits)."""
    with writer.lock:
        return Counter(writer.written)


def report(fault: str, written: Counter[str], got: Counter[str], **measured: object) -> tuple[int, int]:
    """Print what a fault test measured (``pytest -s`` shows it); returns (lines lost, extra
    deliveries: every delivery of a line beyond its first, and every line never written)."""
    lost, duplicated = lost_and_duplicated(written, got)
    extra = sum(got[k] - 1 for k in duplicated if k in written) + sum(
        got[k] for k in duplicated if k not in written
    )
    details = " ".join(f"{k}={v}" for k, v in measured.items())
    print(f"\nFAULT {fault}: written={sum(written.values())} lost={len(lost)} duplicated={extra} {details}")
    return len(lost), extra


def probe_lines(tag: str, count: int, start: int = 0) -> tuple[str, Counter[str]]:
    """``count`` probe lines (``tag start`` ... ) as one string, and their multiset."""
    text = "".join(LINE.format(tag=tag, n=n) for n in range(start, start + count))
    return text, Counter(f"{tag} {n:08d}" for n in range(start, start + count))


# -- the event file, read as it grows ---------------------------------------------------------------

_PROBE_EVENT = re.compile(rb'"msg":\s*"[^"\n]*?probe (\S+) (\d{8})"')


class EventTail:
    """Counts the probe events of an agent's event file (and its rotated predecessors) as they are
    written, reading only what is new at each ``poll``: for runs of hundreds of thousands of
    events, where ``Agent.probes`` (every event parsed again at each look) would be too slow.

    Only complete lines are counted (an event a crash cut in half is removed by the next start).
    Files are told apart by inode: give the agent an ``events.max_files`` that keeps every rotated
    file, so no inode is reused. ``extra`` counts every delivery of a probe beyond its first;
    ``samples`` holds (time.monotonic(), probes counted) of each poll."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.extra = 0
        self.samples: list[tuple[float, int]] = []
        self._offsets: dict[int, int] = {}
        self._lock = threading.Lock()

    def poll(self) -> int:
        """Read what is new; returns the probes counted so far."""
        with self._lock:
            now = time.monotonic()
            root = self.agent.events_path.parent
            name = self.agent.events_path.name
            rotated = sorted(root.glob(name + ".*"), key=lambda p: -int(p.suffix[1:]))
            for path in [*rotated, self.agent.events_path]:
                try:
                    fh = open(path, "rb")  # noqa: SIM115 - closed below
                except FileNotFoundError:
                    continue
                with fh:
                    ino = os.fstat(fh.fileno()).st_ino
                    start = self._offsets.get(ino, 0)
                    fh.seek(start)
                    data = fh.read()
                end = data.rfind(b"\n") + 1
                if not end:
                    continue
                self._offsets[ino] = start + end
                for m in _PROBE_EVENT.finditer(data, 0, end):
                    key = f"{m.group(1).decode()} {m.group(2).decode()}"
                    if self.counts[key]:
                        self.extra += 1
                    self.counts[key] += 1
                    self.total += 1
            self.samples.append((now, self.total))
            return self.total

    def total_before(self, moment: float) -> int:
        """Probes counted at the last poll at or before ``moment`` (0 before the first)."""
        with self._lock:
            return max((n for t, n in self.samples if t <= moment), default=0)

    def wait(self, expected: Counter[str], timeout: float = 60) -> Counter[str]:
        """Poll until every expected probe arrived (or ``timeout``), then a moment more for
        duplicates that would follow; returns the counts."""

        def done() -> bool:
            self.poll()
            with self._lock:  # another thread may poll too
                return not (expected - self.counts)

        with contextlib.suppress(AssertionError):
            wait_for(done, timeout, "probes", self.agent)
            time.sleep(0.3)  # a fixed window: what must not happen has no condition to wait for
        self.poll()
        with self._lock:
            return Counter(self.counts)


# -- rotations, the way logrotate does them --------------------------------------------------------


def shift_generations(log: Path) -> None:
    """Make room for a new ``LOG.1``: ``LOG.N`` -> ``LOG.N+1``, oldest first (``.gz`` too)."""
    generations: list[tuple[int, Path]] = []
    for path in log.parent.glob(log.name + ".*"):
        suffix = path.name[len(log.name) + 1 :].removesuffix(".gz")
        if suffix.isdigit():
            generations.append((int(suffix), path))
    for number, path in sorted(generations, reverse=True):
        gz = ".gz" if path.name.endswith(".gz") else ""
        os.rename(path, log.parent / f"{log.name}.{number + 1}{gz}")


def rename_rotate(log: Path) -> Path:
    """logrotate's default: shift the generations, rename ``LOG`` to ``LOG.1``; the writer keeps
    writing to it until it reopens ``LOG``. Returns ``LOG.1``."""
    shift_generations(log)
    os.rename(log, f"{log}.1")
    return Path(f"{log}.1")


def copytruncate(log: Path) -> Path:
    """logrotate ``copytruncate``: shift the generations, copy ``LOG`` to ``LOG.1``, empty ``LOG``.
    Lines appended between the copy and the truncate are lost whatever reads the file: callers
    keep the writer paused across this call. Returns ``LOG.1``."""
    shift_generations(log)
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    return Path(f"{log}.1")


# -- the agent process, from /proc -----------------------------------------------------------------


def has_open(agent: Agent, path: Path) -> bool:
    """The agent process holds ``path`` open (a descriptor in /proc/PID/fd names it)."""
    assert agent.proc is not None
    fd_dir = Path(f"/proc/{agent.proc.pid}/fd")
    target = str(path)
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == target:
                    return True
    return False


def bytes_read(agent: Agent) -> int:
    """Bytes the agent process has read so far (``rchar`` of /proc/PID/io: read and pread alike)."""
    assert agent.proc is not None
    for line in Path(f"/proc/{agent.proc.pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


# -- many files, fast, rotated at random -------------------------------------------------------------


class _Rotated:
    """One file of ``RotatingWriters``: its handle, its probe tag and count, its rotations due."""

    def __init__(self, path: Path, tag: str, next_rotation: float) -> None:
        self.path = path
        self.tag = tag
        self.count = 0
        self.fh = open(path, "a")  # noqa: SIM115 - closed by RotatingWriters.stop()
        self.half = ""  # the second half of a line written in two parts, not written yet
        self.reopen_at: float | None = None  # renamed: the logger reopens the path then
        self.next_rotation = next_rotation
        self.forced: list[tuple[float, str]] = []  # rotations asked for: (when, kind)
        self.forced_done: threading.Event | None = None
        self.forced_until = 0.0


class RotatingWriters:
    """One thread appending probe lines to several files at ``rate`` lines/s in all, as
    applications log, while each file is rotated every ``rotate_every`` seconds (a random span)
    like logrotate: by rename (``LOG`` -> ``LOG.1``, older generations shifted; the logger writes
    on to the renamed file for a moment, then reopens ``LOG``) or by copytruncate.

    Each ``write`` call carries a burst of 1-12 lines to one file; now and then the burst's last
    line is written in two parts (the first half flushed, the rest with the next write to the file),
    so readers meet partial lines. File ``i`` writes the probes ``w{i} 00000000`` onwards.

    Lines appended between logrotate's copy and its truncate are lost whatever reads the file
    (they exist nowhere afterwards): that window is closed by pausing the writer of that file
    across the copy and the truncate, as ``Writer.hold`` does. Here one thread writes every file
    and performs the rotations, so nothing is written to a file while it is copied and truncated;
    a line written in two parts is completed before any rotation, since a copytruncate between
    its halves would cut it in two for good (again, for any reader)."""

    def __init__(
        self,
        paths: list[Path],
        *,
        rate: float,
        rng: random.Random,
        rotate_every: tuple[float, float] = (2.0, 6.0),
        split_share: float = 0.05,
    ) -> None:
        self.rate = rate
        self.rng = rng
        self.rotate_every = rotate_every
        self.split_share = split_share
        now = time.monotonic()
        self.files = [_Rotated(p, f"w{i}", now + rng.uniform(*rotate_every)) for i, p in enumerate(paths)]
        self.rotations: Counter[str] = Counter()
        self.count = 0
        self.started_at = self.stopped_at = 0.0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._pause = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rotating-writers", daemon=True)

    # -- control (the test's thread) -----------------------------------------------------------------

    def start(self) -> RotatingWriters:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop writing: every line is complete, every file closed."""
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise AssertionError(f"the writer thread failed: {self.error!r}") from self.error

    def written(self) -> Counter[str]:
        return Counter(f"{f.tag} {n:08d}" for f in self.files for n in range(f.count))

    @property
    def lines_per_second(self) -> float:
        """Lines written per second over the writing period."""
        end = self.stopped_at or time.monotonic()
        return self.count / max(1e-9, end - self.started_at)

    def rotate_twice(self, index: int, kinds: tuple[str, str], gap: float = 0.2) -> None:
        """Rotate file ``index`` twice, ``gap`` s apart, lines written to it before, between and
        after (the middle generation gets its own lines); returns once that is done."""
        f = self.files[index]
        done = threading.Event()
        with self._pause:
            now = time.monotonic()
            f.forced = [(now, kinds[0]), (now + gap, kinds[1])]
            f.forced_until = now + 2 * gap
            f.forced_done = done
            f.next_rotation = max(f.next_rotation, now + 2 * gap + self.rng.uniform(*self.rotate_every))
        if not done.wait(30):
            raise AssertionError(f"the writer thread did not rotate {f.path.name} twice: {self.error!r}")

    # -- the writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._pause:
                    now = time.monotonic()
                    for f in self.files:
                        self._housekeep(f, now)
                    due = int((now - self.started_at) * self.rate) - self.count
                    budget = min(due, 400)  # then look at the rotations again
                    while budget > 0:
                        budget -= self._burst(self.files[self.rng.randrange(len(self.files))])
                if due <= 0:
                    time.sleep(0.001)  # ahead of the rate: the writer's pace
            with self._pause:
                for f in self.files:
                    if f.half:
                        f.fh.write(f.half)
                        f.half = ""
                    f.fh.close()
        except BaseException as exc:  # reported by stop() and rotate_twice()
            self.error = exc
        finally:
            self.stopped_at = time.monotonic()

    def _burst(self, f: _Rotated) -> int:
        lines = self.rng.randint(1, 12)
        text = f.half + "".join(LINE.format(tag=f.tag, n=f.count + i) for i in range(lines))
        f.half = ""
        if self.rng.random() < self.split_share:
            cut = len(text) - self.rng.randint(1, len(LINE.format(tag=f.tag, n=0)) - 1)
            text, f.half = text[:cut], text[cut:]
        f.fh.write(text)
        f.fh.flush()
        f.count += lines
        self.count += lines
        return lines

    def _housekeep(self, f: _Rotated, now: float) -> None:
        if f.reopen_at is not None and now >= f.reopen_at:
            self._reopen(f)
        if f.forced and f.forced[0][0] <= now:
            self._rotate(f, f.forced.pop(0)[1], now, reopen_in=(0.02, 0.08))
        elif not f.forced and f.forced_done is not None and now >= f.forced_until and f.reopen_at is None:
            f.forced_done.set()
            f.forced_done = None
        elif now >= f.next_rotation and f.forced_done is None:
            self._rotate(f, self.rng.choice(("rename", "copytruncate")), now, reopen_in=(0.02, 0.3))
            f.next_rotation = now + self.rng.uniform(*self.rotate_every)

    def _reopen(self, f: _Rotated) -> None:
        if f.half:
            f.fh.write(f.half)
            f.half = ""
        f.fh.close()
        f.fh = open(f.path, "a")  # noqa: SIM115 - closed at the end of _run
        f.reopen_at = None

    def _rotate(self, f: _Rotated, kind: str, now: float, reopen_in: tuple[float, float]) -> None:
        if f.reopen_at is not None:
            self._reopen(f)
        if f.half:
            f.fh.write(f.half)
            f.half = ""
        f.fh.flush()
        if kind == "rename":
            rename_rotate(f.path)
            f.reopen_at = now + self.rng.uniform(*reopen_in)
        else:
            copytruncate(f.path)
        self.rotations[kind] += 1


def reload_logs(agent: Agent, logs: list[dict[str, Any]]) -> None:
    """Rewrite the agent's config with ``logs`` and SIGHUP it; returns once it reloaded."""
    before = sum(1 for e in agent.agent_logs() if e.get("msg") == "config reloaded")
    agent.logs = logs
    agent.write_config()
    agent.send(signal.SIGHUP)
    wait_for(
        lambda: sum(1 for e in agent.agent_logs() if e.get("msg") == "config reloaded") > before,
        20,
        "config reloaded",
        agent,
    )
