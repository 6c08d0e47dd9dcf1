"""Freshness: how long after a line is appended does ``trt-agent run`` have it in its engine model?

Run from the repository root::

    .venv/bin/python bench/freshness.py [--probes 1000] [--interval 0.01] [--load 20000]

A real ``trt-agent run`` process tails a real file. A writer appends one probe line (a TensorRT
warning) every ``--interval`` seconds, noting the time, while a second writer keeps appending
real verbose TensorRT lines at ``--load`` lines per second, so the tailer is busy as on a
building machine. The agent writes events to stdout; a reader thread notes when each probe's
event arrives. The tailer applies an event to the engine model *before* it queues it for the
event stream, so arrival on stdout is an upper bound on model latency.

Both watch modes are measured in the same run: ``inotify`` (default) and ``poll`` (with
``poll_interval`` 0.1 s). Prints p50/p90/p99/max per mode.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOAD_SOURCE = REPO / "tests" / "data" / "extra" / "45_polygraphy-trt10.16.2-verbose-fp16-build-full.log"
PROBE = "[11/26/2026-10:00:00] [TRT] [W] freshness probe {n:08d}\n"
_PROBE = re.compile(rb"freshness probe (\d{8})")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(mode: str, probes: int, interval: float, load: int, workdir: Path) -> list[float]:
    log = workdir / f"{mode}.log"
    log.write_bytes(b"")
    config = workdir / f"{mode}.toml"
    poll = 'watch = "poll"\npoll_interval = 0.1\n' if mode == "poll" else ""
    config.write_text(
        f'[agent]\nstate_dir = "{workdir / mode}-state"\nlog_format = "json"\n{poll}'
        f'[[logs]]\npath = "{log}"\nengine = "bench"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n[events]\npath = "-"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    arrived: dict[int, float] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = _PROBE.search(line)
            if m:
                arrived[int(m.group(1))] = time.perf_counter()

    threading.Thread(target=read, daemon=True).start()
    time.sleep(1.5)  # start-up
    stop = threading.Event()
    load_lines = [ln for ln in LOAD_SOURCE.read_bytes().splitlines(keepends=True) if b"[W]" not in ln]

    def background() -> None:
        with open(log, "ab") as fh:
            i = 0
            batch = max(1, load // 100)
            while not stop.is_set():
                fh.write(b"".join(load_lines[(i + k) % len(load_lines)] for k in range(batch)))
                fh.flush()
                i += batch
                time.sleep(0.01)

    if load:
        threading.Thread(target=background, daemon=True).start()
    written: dict[int, float] = {}
    with open(log, "a") as fh:
        for n in range(probes):
            fh.write(PROBE.format(n=n))
            fh.flush()
            written[n] = time.perf_counter()
            time.sleep(interval)
    deadline = time.monotonic() + 10
    while len(arrived) < probes and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    proc.terminate()
    proc.wait(20)
    missing = probes - len(arrived)
    if missing:
        print(f"  {mode}: {missing} probes never arrived", file=sys.stderr)
    return [arrived[n] - written[n] for n in written if n in arrived]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between probe lines")
    parser.add_argument("--load", type=int, default=20000, help="background verbose lines per second")
    args = parser.parse_args()
    print(f"{args.probes} probes every {args.interval * 1000:.0f} ms, background load {args.load} lines/s")
    print(f"{'mode':<10} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    with tempfile.TemporaryDirectory(prefix="trt-agent-fresh-") as tmp:
        for mode in ("inotify", "poll"):
            latencies = [1000 * v for v in measure(mode, args.probes, args.interval, args.load, Path(tmp))]
            print(
                f"{mode:<10} {len(latencies):>6} {statistics.median(latencies):>8.2f} "
                f"{percentile(latencies, 0.90):>8.2f} {percentile(latencies, 0.99):>8.2f} {max(latencies):>8.2f}"
            )
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    raise SystemExit(main())
