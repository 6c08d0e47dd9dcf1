"""Model soak: ``trt-agent run`` (redaction off) fed a log naming N distinct layers, this tree
against an older one, side by side in the same run.

Run from the repository root (opt-in)::

    git archive HEAD~1 trt_agent | tar -x -C /tmp/old      # the tree to compare against
    .venv/bin/python bench/model_soak.py --old /tmp/old [--names 100000] [--limit-mib 0]
    .venv/bin/python bench/model_soak.py --old /tmp/old --names 1000000 --limit-mib 100

The script writes one log before the agents start: ``--names`` distinct names, half as ONNX
``Parsing node: NAME [Conv]`` lines (source layers), half as engine ``Layer(CaskConvolution):
NAME, Tactic: …`` lines, with a real TensorRT line (corpus and tests/data/extra, cycled) after
every name line. Each agent (``--old`` with ``PYTHONPATH`` set to it, and this tree) reads it
from the start with its own state dir and event file and ``agent.memory_limit_bytes`` =
``--limit-mib`` (0: none). Every ``--interval`` seconds the script samples each process's RSS
(``/proc/PID/status``) and CPU seconds (``/proc/PID/stat``); once every line is counted
(``trt_agent_lines_total``) it times ``GET /metrics`` (median of 5) and prints peak and final RSS,
CPU seconds, and the new tree's dropped-entry and relief counters.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from names_soak import layer_name
from parse_vs_mtail import DEFAULT_CORPUS, DEFAULT_EXTRA, corpus_files, one_cycle
from soak import REPO, agent_config, agent_metrics_url, cpu_seconds, lines_counted, rss_kib, scrape


def write_log(path: Path, names: int) -> int:
    filler = one_cycle(corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA)).splitlines(keepends=True)
    lines = 0
    with path.open("wb") as out:
        chunk: list[bytes] = []
        for i in range(names):
            name = layer_name(i)
            if i % 2:
                chunk.append(f"[12/06/2026-10:00:00] [V] [TRT] Parsing node: {name} [Conv]\n".encode())
            else:
                chunk.append(
                    f"[12/06/2026-10:00:00] [V] [TRT] Layer(CaskConvolution): {name}, Tactic: "
                    f"0x849891f3d1d80c55, in (Half[1,64,56,56]) -> out (Half[1,64,56,56])\n".encode()
                )
            chunk.append(filler[i % len(filler)])
            lines += 2
            if len(chunk) >= 20_000:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
    return lines


def start_agent(work: Path, log: Path, limit: int, pythonpath: str | None) -> subprocess.Popen[bytes]:
    work.mkdir()
    config = work / "agent.toml"
    config.write_text(agent_config(work, log, "soak", f"memory_limit_bytes = {limit}\n"))
    # from ``work``: ``python -m`` puts the working directory first on sys.path
    env = dict(os.environ, PYTHONPATH=pythonpath or str(REPO))
    stderr = open(work / "agent.stderr", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)], stderr=stderr, cwd=work, env=env
    )


def scrape_seconds(url: str) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--names", type=int, default=100_000, help="distinct layer names written")
    parser.add_argument("--limit-mib", type=int, default=0, help="agent.memory_limit_bytes in MiB (0: none)")
    parser.add_argument(
        "--old", help="an older trt_agent tree's parent folder (PYTHONPATH); none: this tree only"
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=1200.0, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="model-soak-"))
    log = work / "names.log"
    total = write_log(log, args.names)
    print(
        f"{args.names:,} names, {total:,} lines, {log.stat().st_size / 2**20:.0f} MiB; limit {args.limit_mib} MiB"
    )
    trees = {"new": None} | ({"old": args.old} if args.old else {})
    procs = {
        which: start_agent(work / which, log, args.limit_mib << 20, path) for which, path in trees.items()
    }
    urls = {which: agent_metrics_url(work / which / "agent.stderr") for which in procs}
    peak = dict.fromkeys(procs, 0)
    done: dict[str, float] = {}
    started = time.monotonic()
    try:
        while len(done) < len(procs) and time.monotonic() - started < args.timeout:
            time.sleep(args.interval)
            row = []
            for which, proc in procs.items():
                rss = rss_kib(proc.pid)
                peak[which] = max(peak[which], rss)
                row.append(f"{which} {rss / 1024:6.0f} MiB {cpu_seconds(proc.pid):6.1f} s")
                if which not in done and lines_counted(urls[which], "trt_agent_lines_total") >= total:
                    done[which] = time.monotonic() - started
            print(f"{time.monotonic() - started:6.0f} s  " + "   ".join(row), flush=True)
        print(f"\n{'tree':<5} {'read in':>8} {'peak RSS':>9} {'final RSS':>10} {'CPU s':>7} {'/metrics':>9}")
        for which, proc in procs.items():
            seconds = scrape_seconds(urls[which])
            print(
                f"{which:<5} {done.get(which, float('nan')):>7.0f}s {peak[which] / 1024:>8.0f}M "
                f"{rss_kib(proc.pid) / 1024:>9.0f}M {cpu_seconds(proc.pid):>7.1f} {seconds * 1000:>7.0f}ms"
            )
        metrics = scrape(urls["new"])
        for key, value in sorted(metrics.items()):
            if key.startswith(("trt_agent_model_entries_dropped_total", "trt_agent_memory_relief_total", "trt_agent_shed_events_total")) and value:  # fmt: skip
                print(f"new: {key} {value:,.0f}")
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
