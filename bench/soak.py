"""Soak: ``trt-agent run`` and mtail tail the same growing, rotating file for millions of lines.

Run from the repository root (opt-in; about 3.5 minutes at the defaults)::

    .venv/bin/python bench/soak.py [--lines 10000000] [--rate 50000] [--rotate-every 1000000]

A writer appends real TensorRT log lines (every ``*.log`` of the corpus and tests/data/extra,
cycled) at ``--rate`` lines per second in 10 ms batches, and renames the file away every
``--rotate-every`` lines (logrotate's default; the previous rotated file is deleted, so the
disk holds at most two generations). Both tailers start before the first line:

* ``trt-agent run`` (inotify), events to a JSONL file rotated at 100 MB;
* ``mtail`` (continuous mode, ``bench/trt_facts.mtail``), which extracts the same facts.

Every second the script samples each process's RSS (``/proc/PID/status``) and CPU seconds
(``/proc/PID/stat``, user + system). When the writer is done it waits until each tailer has
counted every line (trt-agent: ``trt_agent_lines_total``; mtail: ``mtail_lines_total``), then
prints CPU seconds per million lines for both, their ratio, and RSS over the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_vs_mtail import DEFAULT_CORPUS, DEFAULT_EXTRA, MTAIL_PROGRAM, corpus_files, one_cycle

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def agent_config(work: Path, log: Path, engine: str, agent: str = "") -> str:
    """The config of a bench's ``trt-agent run``: ``log`` as ``engine``, state, events and
    JSON logs under ``work``, metrics on an ephemeral port; ``agent``: more ``[agent]`` keys
    (one per line), and more tables may follow."""
    return (
        f'[agent]\nstate_dir = "{work}/state"\nlog_format = "json"\n{agent}'
        f'[[logs]]\npath = "{log}"\nengine = "{engine}"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[events]\npath = "{work}/events.jsonl"\nmax_bytes = 100000000\nmax_files = 1\n'
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def agent_metrics_url(stderr: Path, timeout: float = 30) -> str:
    """The /metrics URL a starting agent logs (JSON logs on ``stderr``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        for line in stderr.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("msg") == "serving metrics":
                return f"http://{entry['address']}/metrics"
    raise SystemExit("agent did not start")


def lines_counted(url: str, prefix: str) -> float:
    return sum(v for k, v in scrape(url).items() if k.startswith(prefix))


class Writer(threading.Thread):
    def __init__(self, path: Path, lines: list[bytes], total: int, rate: int, rotate_every: int) -> None:
        super().__init__(daemon=True)
        self.path, self.lines, self.total, self.rate, self.rotate_every = (
            path,
            lines,
            total,
            rate,
            rotate_every,
        )
        self.written = 0
        self.rotations = 0

    def run(self) -> None:
        batch = max(1, self.rate // 100)
        fh = open(self.path, "ab")  # noqa: SIM115
        start = time.monotonic()
        since_rotation = 0
        n = len(self.lines)
        while self.written < self.total:
            count = min(batch, self.total - self.written)
            i = self.written % n
            chunk = self.lines[i : i + count]
            if len(chunk) < count:
                chunk += self.lines[: count - len(chunk)]
            fh.write(b"".join(chunk))
            fh.flush()
            self.written += count
            since_rotation += count
            if since_rotation >= self.rotate_every:
                fh.close()
                rotated = Path(f"{self.path}.1")
                rotated.unlink(missing_ok=True)
                os.rename(self.path, rotated)
                fh = open(self.path, "ab")  # noqa: SIM115
                self.rotations += 1
                since_rotation = 0
            delay = start + self.written / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        fh.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=50_000, help="lines per second")
    parser.add_argument("--rotate-every", type=int, default=1_000_000)
    parser.add_argument("--mtail", default=shutil.which("mtail") or "/usr/bin/mtail")
    args = parser.parse_args()

    cycle = one_cycle(corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None))
    lines = cycle.splitlines(keepends=True)
    work = Path(tempfile.mkdtemp(prefix="trt-agent-soak-"))
    log = work / "trt.log"
    log.write_bytes(b"")
    config = work / "agent.toml"
    config.write_text(agent_config(work, log, "soak"))
    agent_err = open(work / "agent.stderr", "wb")  # noqa: SIM115
    agent = subprocess.Popen(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)], stderr=agent_err, cwd=REPO
    )
    mtail_port = 39000 + os.getpid() % 1000
    mtail = subprocess.Popen(
        [
            args.mtail,
            "--progs",
            str(MTAIL_PROGRAM),
            "--logs",
            str(log),
            "--port",
            str(mtail_port),
            "--logtostderr",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        agent_url = agent_metrics_url(work / "agent.stderr")
        mtail_url = f"http://127.0.0.1:{mtail_port}/metrics"
        time.sleep(1.0)
        base = {"agent": cpu_seconds(agent.pid), "mtail": cpu_seconds(mtail.pid)}
        print(
            f"{args.lines:,} lines at {args.rate:,}/s, rotated every {args.rotate_every:,}; "
            f"{len(lines):,}-line cycle of real TensorRT logs; work dir {work}"
        )
        writer = Writer(log, lines, args.lines, args.rate, args.rotate_every)
        samples: list[tuple[int, int, int]] = []  # (lines written, agent RSS, mtail RSS)
        started = time.monotonic()
        writer.start()
        while writer.is_alive():
            time.sleep(1.0)
            samples.append((writer.written, rss_kib(agent.pid), rss_kib(mtail.pid)))
        elapsed = time.monotonic() - started
        done: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(done) < 2 and time.monotonic() < deadline:
            if "agent" not in done and lines_counted(agent_url, "trt_agent_lines_total") >= args.lines:
                done["agent"] = cpu_seconds(agent.pid) - base["agent"]
            if "mtail" not in done and lines_counted(mtail_url, "mtail_lines_total") >= args.lines:
                done["mtail"] = cpu_seconds(mtail.pid) - base["mtail"]
            time.sleep(0.2)
        agent_lines = lines_counted(agent_url, "trt_agent_lines_total")
        mtail_lines = lines_counted(mtail_url, "mtail_lines_total")
        metrics = scrape(agent_url)
    finally:
        agent.terminate()
        mtail.terminate()
        agent.wait(30)
        mtail.wait(30)

    print(
        f"writer: {writer.written:,} lines in {elapsed:.1f} s ({writer.written / elapsed:,.0f}/s), {writer.rotations} rotations"
    )
    print(f"lines counted: trt-agent {agent_lines:,.0f}, mtail {mtail_lines:,.0f}")
    print(
        f"trt-agent events written {metrics.get('trt_agent_events_written_total', 0):,.0f}, "
        f"dropped {metrics.get('trt_agent_events_dropped_total', 0):,.0f}, "
        f"rotations seen {metrics.get('trt_agent_file_rotations_total', 0):,.0f}"
    )
    print(f"\n{'tool':<10} {'CPU s':>8} {'CPU s / M lines':>16}")
    for tool in ("agent", "mtail"):
        cpu = done.get(tool)
        label = "trt-agent" if tool == "agent" else "mtail"
        if cpu is None:
            print(f"{label:<10} did not count every line within 120 s of the writer finishing")
        else:
            print(f"{label:<10} {cpu:>8.1f} {cpu / (args.lines / 1e6):>16.2f}")
    if len(done) == 2:
        print(f"trt-agent / mtail CPU per line: {done['agent'] / done['mtail']:.2f}x")
    print(f"\n{'RSS MiB at':<14} {'lines':>12} {'trt-agent':>10} {'mtail':>8}")
    for fraction in (0.1, 0.25, 0.5, 0.75, 1.0):
        written, a, m = samples[max(0, math.ceil(fraction * len(samples)) - 1)]
        print(f"{fraction:>13.0%} {written:>12,} {a / 1024:>10.1f} {m / 1024:>8.1f}")
    second_half = [s[1] for s in samples[len(samples) // 2 :]]
    print(
        f"trt-agent RSS, second half of the run: median {statistics.median(second_half) / 1024:.1f} MiB, "
        f"min {min(second_half) / 1024:.1f}, max {max(second_half) / 1024:.1f}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
