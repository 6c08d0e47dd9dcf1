"""A 10x burst of log lines: CPU share, memory and lag of ``trt-agent run``, with mtail alongside.

Run from the repository root (opt-in; about a minute at the defaults)::

    .venv/bin/python bench/burst.py [--base 5000] [--factor 10] [--seconds 10]

A writer appends real TensorRT log lines (the corpus and tests/data/extra, cycled) at ``--base``
lines per second for ``--seconds``, then ``--factor`` times that for ``--seconds``, then the base
rate again for twice as long. ``trt-agent run`` (inotify, events to a file) and mtail (the same
facts, ``bench/trt_facts.mtail``) tail the same file. Every second the script samples each
process's CPU seconds and RSS, and the agent's ``trt_agent_tail_lag_bytes``. Per phase it prints
CPU share (CPU seconds / wall seconds: 1.0 = one core), peak RSS and the agent's peak lag, then
how long after the burst the agent's lag was back to 0.

Throughput (issue 19, point 5): each second the script also reads the lines each tool counted
(``trt_agent_lines_total``, mtail's ``mtail_lines_total``) and prints, per tool, how many lines
it was behind the writer at the end of the burst and at most after it, and when it caught up
(behind by less than one second of the base rate). A tool *keeps up* with the burst rate when,
at the burst's end, it is less than one second of that rate behind. With ``--factor`` high
(``--base 10000 --factor 60``: 600,000 lines/s) this finds the rate each tool sustains, in the
same run. ``--alone`` runs the agent without mtail beside it (on 2 cores mtail, a Go program,
takes both when it falls behind, and the agent's share with it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_vs_mtail import DEFAULT_CORPUS, DEFAULT_EXTRA, MTAIL_PROGRAM, corpus_files, one_cycle
from soak import REPO, agent_config, agent_metrics_url, cpu_seconds, lines_counted, rss_kib, scrape


class PhasedWriter(threading.Thread):
    """Appends ``lines`` (cycled) following ``phases`` of (seconds, lines per second)."""

    def __init__(self, path: Path, lines: list[bytes], phases: list[tuple[float, int]]) -> None:
        super().__init__(daemon=True)
        self.path, self.lines, self.phases = path, lines, phases
        self.written = 0
        self.phase = 0

    def run(self) -> None:
        n = len(self.lines)
        with open(self.path, "ab") as fh:
            for index, (seconds, rate) in enumerate(self.phases):
                self.phase = index
                start, done = time.monotonic(), 0
                batch = max(1, rate // 100)
                while time.monotonic() - start < seconds:
                    i = self.written % n
                    chunk = self.lines[i : i + batch]
                    if len(chunk) < batch:
                        chunk += self.lines[: batch - len(chunk)]
                    fh.write(b"".join(chunk))
                    fh.flush()
                    self.written += batch
                    done += batch
                    delay = start + done / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=5_000, help="lines per second outside the burst")
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mtail", default=shutil.which("mtail") or "/usr/bin/mtail")
    parser.add_argument(
        "--alone",
        action="store_true",
        help="no mtail beside the agent (its columns read 0): the agent's own ceiling",
    )
    args = parser.parse_args()
    phases = [
        (args.seconds, args.base),
        (args.seconds, args.base * args.factor),
        (2 * args.seconds, args.base),
    ]
    names = ["base", f"burst {args.factor}x", "after"]

    lines = one_cycle(
        corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None)
    ).splitlines(keepends=True)
    work = Path(tempfile.mkdtemp(prefix="trt-agent-burst-"))
    log = work / "trt.log"
    log.write_bytes(b"")
    config = work / "agent.toml"
    config.write_text(agent_config(work, log, "burst"))
    with open(work / "agent.stderr", "wb") as err:
        agent = subprocess.Popen(
            [sys.executable, "-m", "trt_agent", "run", "-c", str(config)], stderr=err, cwd=REPO
        )
    port = 39500 + agent.pid % 400
    mtail = subprocess.Popen(
        ["sleep", "1000000"]
        if args.alone
        else [
            args.mtail,
            "--progs",
            str(MTAIL_PROGRAM),
            "--logs",
            str(log),
            "--port",
            str(port),
            "--logtostderr",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        url = agent_metrics_url(work / "agent.stderr")
        lag_key = f'trt_agent_tail_lag_bytes{{file="{log}"}}'
        time.sleep(1.0)
        writer = PhasedWriter(log, lines, phases)
        per_phase: list[dict[str, float]] = [
            {"agent_cpu": 0.0, "mtail_cpu": 0.0, "wall": 0.0, "agent_rss": 0, "mtail_rss": 0, "lag": 0.0}
            for _ in phases
        ]
        mtail_url = f"http://127.0.0.1:{port}/metrics"
        behind: dict[str, list[tuple[int, float, float]]] = {"agent": [], "mtail": []}  # phase, t, lines
        last = (time.monotonic(), cpu_seconds(agent.pid), cpu_seconds(mtail.pid))
        burst_end = None
        caught_up = None
        writer.start()
        while writer.is_alive():
            time.sleep(1.0)
            now, a, m = time.monotonic(), cpu_seconds(agent.pid), cpu_seconds(mtail.pid)
            phase = per_phase[writer.phase]
            phase["wall"] += now - last[0]
            phase["agent_cpu"] += a - last[1]
            phase["mtail_cpu"] += m - last[2]
            phase["agent_rss"] = max(phase["agent_rss"], rss_kib(agent.pid))
            phase["mtail_rss"] = max(phase["mtail_rss"], rss_kib(mtail.pid))
            written = writer.written
            agent_metrics = scrape(url)
            lag = agent_metrics.get(lag_key, 0.0)
            agent_lines = sum(v for k, v in agent_metrics.items() if k.startswith("trt_agent_lines_total"))
            try:
                mtail_lines = lines_counted(mtail_url, "mtail_lines_total")
            except OSError:
                mtail_lines = float("nan")
            behind["agent"].append((writer.phase, now, written - agent_lines))
            behind["mtail"].append((writer.phase, now, written - mtail_lines))
            phase["lag"] = max(phase["lag"], lag)
            if writer.phase == 2 and burst_end is None:
                burst_end = now
            if burst_end is not None and caught_up is None and lag == 0:
                caught_up = now - burst_end
            last = (now, a, m)
        deadline = time.monotonic() + 60
        while lines_counted(url, "trt_agent_lines_total") < writer.written and time.monotonic() < deadline:
            time.sleep(0.2)
        counted = lines_counted(url, "trt_agent_lines_total")
        metrics = scrape(url)
    finally:
        agent.terminate()
        mtail.terminate()
        agent.wait(30)
        mtail.wait(30)

    print(
        f"{writer.written:,} real TensorRT lines: {args.base:,}/s, {args.base * args.factor:,}/s, {args.base:,}/s"
    )
    print(
        f"{'phase':<12}{'agent CPU':>11}{'mtail CPU':>11}{'ratio':>8}{'agent RSS':>11}{'mtail RSS':>11}{'agent lag':>11}"
    )
    for name, p in zip(names, per_phase, strict=True):
        share_a = p["agent_cpu"] / p["wall"] if p["wall"] else 0.0
        share_m = p["mtail_cpu"] / p["wall"] if p["wall"] else 0.0
        ratio = f"{share_a / share_m:.2f}x" if share_m else "n/a"
        print(
            f"{name:<12}{share_a:>10.2f}c{share_m:>10.2f}c{ratio:>8}{p['agent_rss'] / 1024:>9.1f}Mi"
            f"{p['mtail_rss'] / 1024:>9.1f}Mi{p['lag'] / 1024:>9.0f}Ki"
        )
    print(
        f"agent lag back to 0 {caught_up:.1f} s after the burst"
        if caught_up is not None
        else "agent lag not back to 0"
    )
    print(
        f"lines counted {counted:,.0f} of {writer.written:,}; events dropped "
        f"{metrics.get('trt_agent_events_dropped_total', 0):,.0f}"
    )
    burst_rate = args.base * args.factor
    print(f"lines behind the writer (sampled each second), burst at {burst_rate:,} lines/s:")
    for tool, rows in behind.items():
        if tool == "mtail" and args.alone:
            continue
        in_burst = [b for phase_index, _t, b in rows if phase_index == 1]
        at_end = in_burst[-1] if in_burst else float("nan")
        after = [(t, b) for phase_index, t, b in rows if phase_index == 2]
        caught = next((t - after[0][0] for t, b in after if b < args.base), None) if after else None
        keeps = "keeps up" if at_end < burst_rate else "falls behind"
        print(
            f"  {tool:<6} at the burst's end {at_end:>12,.0f} ({at_end / burst_rate:5.2f} s of input, {keeps}); "
            f"max after {max((b for _t, b in after), default=float('nan')):>12,.0f}; "
            + (f"caught up {caught:.1f} s after the burst" if caught is not None else "not caught up")
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
