"""Restart cost: how long after a restart does ``trt-agent run`` deliver a new line of a large followed log?

Run from the repository root (opt-in; about 2.5 minutes per tree at the defaults, 2 cores)::

    .venv/bin/python bench/restart.py [--size-mb 300] [--repeat 3] [--variant sigterm --variant sigkill]
    .venv/bin/python bench/restart.py --size-mb 50 --repeat 1                        # smoke test
    .venv/bin/python bench/restart.py --baseline-trt-agent "env PYTHONPATH=/tmp/old .venv/bin/python -m trt_agent"

The followed log is ``--size-mb`` of real TensorRT log text: whole copies of every ``*.log`` of
tests/data/corpus and tests/data/extra (the cycle ``parse_vs_mtail.py`` builds), nothing
rewritten. For every run, with a fresh state directory:

1. start ``trt-agent run`` (that one ``[[logs]]`` file, events to a JSONL file, metrics on
   127.0.0.1:0, JSON logs on stderr) and wait until its checkpoint (``checkpoints.json``) has
   reached the end of the file: the *first read* (checkpoints are saved every second, so this
   is rounded up to about that); should a tree's ``checkpoints.json`` not be understood, 3 s
   after ``/-/ready`` with ``trt_agent_tail_lag_bytes`` 0 (a warning says so);
2. stop it: ``sigterm`` (a clean stop, which drains and saves its state) or ``sigkill`` (a crash,
   right after the checkpoint reached the end; ``--settle`` waits longer first);
3. append one unique TensorRT warning line (``[12/06/2026-10:00:00] [TRT] [W] restart-marker N``)
   and start the agent again on the same state directory, then measure from the moment the new
   process is started:

   * ``up s``: until its metrics endpoint is bound (the ``serving metrics`` log line: start-up);
   * ``marker s``: until the marker's event is in the event file;
   * ``ready s``: until ``GET /-/ready`` answers 200;
   * ``RSS MiB``: the restarted process's peak RSS (``VmHWM`` of ``/proc/PID/status``);
   * ``CPU s``: its user + system CPU seconds when the marker arrived.

Each variant runs ``--repeat`` times; with ``--baseline-trt-agent`` every run is made with both
commands, taking turns (ABBA), and the ratio of the medians (this / baseline) is printed.

A command (``--trt-agent``, ``--baseline-trt-agent``) is split like a shell would and run with
``run -c CONFIG`` appended, in a temporary working directory (relative paths in it are made
absolute first); it must exec the agent (no shell wrapper: the pid is the one measured). For
another tree: ``env PYTHONPATH=/path/to/tree .venv/bin/python -m trt_agent`` (this venv's
editable install comes after ``PYTHONPATH``), e.g. with ``git archive REV trt_agent | tar -x -C
/path/to/tree``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_vs_mtail import DEFAULT_CORPUS, DEFAULT_EXTRA, corpus_files, one_cycle

REPO = Path(__file__).resolve().parent.parent
MB = 1e6
MIB = 1 << 20
TICKS = os.sysconf("SC_CLK_TCK")
MARKER = "[12/06/2026-10:00:00] [TRT] [W] restart-marker {id}\n"
POLL = 0.02  # seconds between looks at the event file and /-/ready
VARIANTS = ("sigterm", "sigkill")

# Every agent this script started, so an interrupted run leaves none behind.
_CHILDREN: list[subprocess.Popen[bytes]] = []


def default_command() -> str:
    venv = REPO / ".venv" / "bin" / "trt-agent"
    return shlex.join([str(venv)] if venv.exists() else [sys.executable, "-m", "trt_agent"])


def command_argv(command: str) -> list[str]:
    """``command`` split like a shell would; a relative path in it (``.venv/bin/python``, or after
    ``=`` as in ``PYTHONPATH=../old``) is made absolute from here, as the agent runs elsewhere."""
    argv = []
    for token in shlex.split(command):
        key, eq, value = token.rpartition("=") if "=" in token else ("", "", token)
        if value and not os.path.isabs(value) and ("/" in value or value == ".") and os.path.exists(value):
            token = f"{key}{eq}{os.path.abspath(value)}"
        argv.append(token)
    return argv


def kill_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: children killed, dirs removed


# -- /proc ----------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_bytes(pid: int) -> int:
    """``VmHWM`` (the process's peak resident set) from ``/proc/PID/status``; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# -- one agent process ----------------------------------------------------------------------------


def write_config(work: Path, log: Path, *, extra_agent: str = "") -> Path:
    """One [[logs]] file, events to a file (never rotated), metrics on a free port, JSON logs."""
    config = work / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = {json.dumps(str(work / "state"))}\nlog_format = "json"\n{extra_agent}'
        f'[[logs]]\npath = {json.dumps(str(log))}\nengine = "bench"\nread_from = "beginning"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f"[events]\npath = {json.dumps(str(work / 'events.jsonl'))}\nmax_bytes = 0\n"
    )
    return config


class Agent:
    """``COMMAND run -c CONFIG`` with its stderr (JSON logs) in a file."""

    def __init__(
        self, command: str, config: Path, stderr: Path, cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        self.stderr_path = stderr
        self._stderr = open(stderr, "ab")  # noqa: SIM115
        self._stderr_seen = stderr.stat().st_size  # this process's lines start here
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*command_argv(command), "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=cwd,
            env=env,
        )
        _CHILDREN.append(self.proc)
        self.address: str | None = None
        self.bound_at: float | None = None
        self.idle_since: float | None = None  # read_without_checkpoint

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_lines(self) -> list[dict[str, object]]:
        """This process's JSON log lines so far (other lines are skipped)."""
        out: list[dict[str, object]] = []
        with open(self.stderr_path, "rb") as fh:
            fh.seek(self._stderr_seen)
            for raw in fh.read().splitlines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def look_for_address(self) -> str | None:
        """The metrics address once the agent logged ``serving metrics`` (notes when it was seen)."""
        if self.address is None:
            for entry in self.log_lines():
                if entry.get("msg") == "serving metrics":
                    self.address = str(entry["address"])
                    self.bound_at = time.monotonic()
                    break
        return self.address

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            tail = self.stderr_path.read_bytes()[self._stderr_seen :][-3000:].decode("utf-8", "replace")
            raise RuntimeError(f"the agent exited with {code}:\n{tail}")

    def ready(self) -> bool:
        if self.look_for_address() is None:
            return False
        try:
            with urllib.request.urlopen(f"http://{self.address}/-/ready", timeout=2) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
        return int(self.proc.returncode)


def checkpoint_offset(state: Path, log: Path) -> int:
    """The checkpointed offset of ``log`` in ``state/checkpoints.json`` (-1: none yet)."""
    try:
        doc = json.loads((state / "checkpoints.json").read_bytes())
    except (OSError, ValueError):
        return -1
    offsets = [int(e["offset"]) for e in doc.get("files", []) if e.get("path") == str(log)]
    return max(offsets, default=-1)


def read_without_checkpoint(agent: Agent, state: Path, log: Path, grace: float = 3.0) -> bool:
    """True ``grace`` seconds after the agent was first seen ready with nothing left to read
    while ``checkpoints.json`` never named ``log`` (a format this script does not know)."""
    if checkpoint_offset(state, log) >= 0 or not agent.ready():
        return False
    lag = [v for k, v in scrape(agent.address).items() if k.startswith("trt_agent_tail_lag_bytes")]
    if not lag or any(lag):
        return False
    if agent.idle_since is None:
        agent.idle_since = time.monotonic()
    if time.monotonic() - agent.idle_since < grace:
        return False
    print(f"  warning: {state / 'checkpoints.json'} does not name {log}; the first read ended at /-/ready")
    return True


def scrape(address: str | None) -> dict[str, float]:
    """The samples of ``/metrics`` (empty when it does not answer)."""
    if address is None:
        return {}
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


def wait_for(what: str, condition: Callable[[], bool], agent: Agent, timeout: float) -> float:
    """Poll ``condition`` until true; seconds since the agent started. Raises on timeout or exit."""
    deadline = time.monotonic() + timeout
    while not condition():
        agent.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - agent.started


class FileWatch:
    """Looks for ``needle`` in what a file gains after its current end."""

    def __init__(self, path: Path, needle: bytes) -> None:
        self.path, self.needle = path, needle
        self.pos = path.stat().st_size if path.exists() else 0
        self._carry = b""

    def found(self) -> bool:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.pos)
                data = fh.read()
        except FileNotFoundError:
            return False
        self.pos += len(data)
        window = self._carry + data
        if self.needle in window:
            return True
        self._carry = window[-len(self.needle) :]
        return False


# -- one run --------------------------------------------------------------------------------------


@dataclass
class Run:
    first_read_s: float
    up_s: float
    marker_s: float
    ready_s: float
    rss: int
    cpu_s: float


@dataclass
class Tree:
    label: str
    command: str
    runs: dict[str, list[Run]] = field(default_factory=dict)


def one_run(
    tree: Tree, variant: str, log: Path, base: Path, marker_id: str, timeout: float, settle: float
) -> Run:
    work = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    try:
        config = write_config(work, log)
        state = work / "state"
        stderr = work / "agent.stderr"
        stderr.touch()
        size = log.stat().st_size
        first = Agent(tree.command, config, stderr, work)
        try:
            first_read = wait_for(
                "the checkpoint to reach the end of the file",
                lambda: checkpoint_offset(state, log) >= size or read_without_checkpoint(first, state, log),
                first,
                timeout,
            )
            if variant == "sigkill":
                time.sleep(settle)
                first.stop(signal.SIGKILL)
            else:
                code = first.stop(signal.SIGTERM, timeout=120)
                if code != 0:
                    raise RuntimeError(f"the agent exited with {code} after SIGTERM")
        finally:
            first.stop(signal.SIGKILL)
        with open(log, "a") as fh:
            fh.write(MARKER.format(id=marker_id))
        events = FileWatch(work / "events.jsonl", f"restart-marker {marker_id}".encode())
        second = Agent(tree.command, config, stderr, work)
        try:
            marker_s = ready_s = None
            cpu = float("nan")
            deadline = second.started + timeout
            while marker_s is None or ready_s is None:
                second.check_alive()
                if time.monotonic() > deadline:
                    seen = "the marker's event" if marker_s is None else "/-/ready"
                    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {seen}")
                now = time.monotonic()
                if marker_s is None and events.found():
                    marker_s = now - second.started
                    cpu = cpu_seconds(second.pid)
                if ready_s is None and second.ready():
                    ready_s = now - second.started
                time.sleep(POLL)
            rss = peak_rss_bytes(second.pid)
            bound = second.bound_at if second.bound_at is not None else float("nan")
            return Run(first_read, bound - second.started, marker_s, ready_s, rss, cpu)
        finally:
            second.stop(signal.SIGTERM, timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- input ------------------------------------------------------------------------------------------


def build_log(path: Path, size_mb: float, sources: list[Path] | None = None) -> tuple[int, int, int]:
    """Whole copies of the cycle of ``sources`` (default: the corpus cycle) until ``size_mb``;
    returns (copies, lines, cycle lines)."""
    files = sources or corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None)
    cycle = one_cycle(files)
    copies = max(1, -(-int(size_mb * MB) // len(cycle)))
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(cycle)
    per_copy = cycle.count(b"\n")
    return copies, copies * per_copy, per_copy


def warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


# -- report ---------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_run(tree: Tree, variant: str, rep: int, repeat: int, run: Run) -> None:
    print(
        f"  {tree.label:<10} {variant:<8} {rep + 1}/{repeat}  first read {run.first_read_s:7.2f} s  "
        f"up {run.up_s:5.2f} s  marker {run.marker_s:7.2f} s  ready {run.ready_s:7.2f} s  "
        f"RSS {run.rss / MIB:6.1f} MiB  CPU {run.cpu_s:6.2f} s",
        flush=True,
    )


def print_summary(trees: list[Tree], variants: list[str], repeat: int) -> None:
    print(f"\nmedians of {repeat} run(s), seconds from the restarted process's start:")
    print(
        f"{'tree':<10} {'variant':<8} {'first read s':>12} {'up s':>6} {'marker s':>9} {'ready s':>8} "
        f"{'RSS MiB':>8} {'CPU s':>7}"
    )
    for variant in variants:
        for tree in trees:
            runs = tree.runs.get(variant, [])
            print(
                f"{tree.label:<10} {variant:<8} {median([r.first_read_s for r in runs]):>12.2f} "
                f"{median([r.up_s for r in runs]):>6.2f} {median([r.marker_s for r in runs]):>9.2f} "
                f"{median([r.ready_s for r in runs]):>8.2f} {median([r.rss / MIB for r in runs]):>8.1f} "
                f"{median([r.cpu_s for r in runs]):>7.2f}"
            )
    if len(trees) == 2:
        this, base = trees
        print(f"\nratio of medians, {this.label} / {base.label}:")
        for variant in variants:
            parts = []
            for name in ("marker_s", "ready_s", "rss", "cpu_s"):
                a = median([getattr(r, name) for r in this.runs.get(variant, [])])
                b = median([getattr(r, name) for r in base.runs.get(variant, [])])
                label = name.removesuffix("_s")
                parts.append(f"{label} {a / b:.3f}x" if b else f"{label} n/a")
            print(f"  {variant:<8} " + ", ".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=300, help="size of the followed log (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant and tree (default 3)")
    parser.add_argument(
        "--variant",
        action="append",
        choices=VARIANTS,
        help="how the first agent stops: sigterm (clean), sigkill (crash); default both",
    )
    parser.add_argument(
        "--source",
        action="append",
        type=Path,
        help="a log whose lines are cycled instead of the corpus (repeatable)",
    )
    parser.add_argument("--trt-agent", default=default_command(), help="the agent command measured")
    parser.add_argument("--baseline-trt-agent", help="another agent command, measured in the same run")
    parser.add_argument("--label", default="this", help="name of --trt-agent in the output")
    parser.add_argument("--baseline-label", default="baseline", help="name of --baseline-trt-agent")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for each wait")
    parser.add_argument("--settle", type=float, default=0.0, help="sigkill: seconds waited before the kill")
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the temporary files")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.size_mb <= 0:
        parser.error("--repeat and --size-mb must be positive")
    variants: list[str] = args.variant or list(VARIANTS)
    trees = [Tree(args.label, args.trt_agent)]
    if args.baseline_trt_agent:
        trees.append(Tree(args.baseline_label, args.baseline_trt_agent))

    atexit.register(kill_children)
    signal.signal(signal.SIGTERM, _on_signal)
    base = Path(tempfile.mkdtemp(prefix="trt-agent-restart-", dir=args.tmp))
    try:
        log = base / "trt.log"
        copies, lines, per_copy = build_log(log, args.size_mb, args.source)
        warm(log)
        print(
            f"followed log: {log.stat().st_size / MB:.1f} MB, {lines:,} lines "
            f"({copies} copies of the {per_copy:,}-line cycle of "
            + (", ".join(p.name for p in args.source) if args.source else "the corpus")
            + ")"
        )
        for tree in trees:
            print(f"{tree.label}: {tree.command} run -c CONFIG")
        print(f"variants: {', '.join(variants)}; {args.repeat} run(s) each, trees taking turns\n", flush=True)
        marker = 0
        for rep in range(args.repeat):
            for variant in variants:
                order = trees if rep % 2 == 0 else trees[::-1]
                for tree in order:
                    marker += 1
                    run = one_run(
                        tree, variant, log, base, f"{os.getpid()}-{marker}", args.timeout, args.settle
                    )
                    tree.runs.setdefault(variant, []).append(run)
                    print_run(tree, variant, rep, args.repeat, run)
        print_summary(trees, variants, args.repeat)
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="trt-agent-restart-log-", dir=args.tmp)) / "trt.log"
            shutil.move(str(log), kept)
            print(f"log kept: {kept}")
    finally:
        kill_children()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
