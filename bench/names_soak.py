"""Names soak: ``trt-agent run`` fed a log naming N distinct layers, with redaction on and off,
side by side in the same run.

Run from the repository root (opt-in; about 3.5 minutes at the defaults)::

    .venv/bin/python bench/names_soak.py [--names 100000] [--seconds 180] [--rate 20000]
    .venv/bin/python bench/names_soak.py --names 1000000 --seconds 300    # the 1 M case

One writer appends to one file at ``--rate`` lines per second (10 ms batches) for ``--seconds``:
real TensorRT log lines (every ``*.log`` of the corpus and tests/data/extra, cycled), and spread
evenly among them ``--names`` verbose ``Parsing node: NAME [Conv]`` lines, each naming a layer
never named before (``/encoder/layer.17/block_1234/attn/conv_3``-like: shared prefixes, ~40
characters). Two real daemons tail that file from the start, each with its own state dir and
event file: one with ``[redaction] enabled = true`` (default mode, its ``max_learned_names``
unless ``--max-learned-names``), one without (the baseline). Every ``--interval`` seconds the
script samples each process's RSS (``/proc/PID/status``) and the CPU it used in the interval
(``/proc/PID/stat``, user + system, as % of one core), and prints one row. When the writer is
done it waits until both have counted every line, then prints peak RSS, CPU per interval over
the first and last third of the run (flat means the ratio stays near 1), and the redactor's
learned and evicted names from ``/metrics``.

Targets (issue 19): with redaction on, RSS < 150 MiB at 100 k names and CPU flat over the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_vs_mtail import DEFAULT_CORPUS, DEFAULT_EXTRA, corpus_files, one_cycle
from soak import REPO, agent_config, agent_metrics_url, cpu_seconds, lines_counted, rss_kib, scrape

KEY = b"names-soak-key-0123456789abcdef"


def layer_name(i: int) -> str:
    """A distinct layer name with the shape of real ONNX names (shared prefixes)."""
    return f"/encoder/layer.{i // 4096}/block_{i}/attn/conv_{i % 7}"


class Writer(threading.Thread):
    """Appends ``rate`` lines a second for ``seconds``; ``names`` of them name a new layer."""

    def __init__(self, path: Path, filler: list[bytes], names: int, seconds: float, rate: int) -> None:
        super().__init__(daemon=True)
        self.path, self.filler, self.names, self.rate = path, filler, names, rate
        self.total = int(seconds * rate)
        self.written = 0
        self.named = 0

    def line(self, index: int) -> bytes:
        # name line k stands at index k * total / names: spread evenly over the run
        if self.named < self.names and index * self.names >= self.named * self.total:
            name = layer_name(self.named)
            self.named += 1
            return f"[12/06/2026-10:00:00] [V] [TRT] Parsing node: {name} [Conv]\n".encode()
        return self.filler[index % len(self.filler)]

    def run(self) -> None:
        batch = max(1, self.rate // 100)
        start = time.monotonic()
        with open(self.path, "ab") as fh:
            while self.written < self.total:
                count = min(batch, self.total - self.written)
                fh.write(b"".join(self.line(self.written + k) for k in range(count)))
                fh.flush()
                self.written += count
                delay = start + self.written / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


def start_agent(
    work: Path, log: Path, redaction: bool, cap: int | None, limit_mib: int = 0
) -> subprocess.Popen[bytes]:
    work.mkdir()
    config = work / "agent.toml"
    text = agent_config(work, log, "soak", f"memory_limit_bytes = {limit_mib << 20}\n")
    if redaction:
        key = work / "key"
        key.write_bytes(KEY)
        key.chmod(0o600)
        text += f'[redaction]\nenabled = true\nkey_file = "{key}"\n'
        if cap is not None:
            text += f"max_learned_names = {cap}\n"
    config.write_text(text)
    stderr = open(work / "agent.stderr", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)], stderr=stderr, cwd=REPO
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=100_000, help="distinct layer names written")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the writer writes")
    parser.add_argument("--rate", type=int, default=20_000, help="lines per second (names included)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--max-learned-names", type=int, default=None, help="[redaction] cap (default: the agent's)"
    )
    parser.add_argument(
        "--limit-mib", type=int, default=0, help="agent.memory_limit_bytes of both agents, MiB (0: none)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    filler = one_cycle(corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None))
    lines = filler.splitlines(keepends=True)
    work = Path(tempfile.mkdtemp(prefix="trt-agent-names-soak-"))
    log = work / "trt.log"
    log.write_bytes(b"")
    agents = {
        "on": start_agent(work / "on", log, True, args.max_learned_names, args.limit_mib),
        "off": start_agent(work / "off", log, False, None, args.limit_mib),
    }
    try:
        urls = {which: agent_metrics_url(work / which / "agent.stderr") for which in agents}
        time.sleep(1.0)
        print(
            f"{args.names:,} distinct layer names in {args.rate * args.seconds:,.0f} lines at {args.rate:,}/s "
            f"over {args.seconds:.0f} s; redaction on vs off (baseline), same file; work dir {work}"
        )
        print(
            f"{'t s':>6} {'lines':>11} {'names':>9}   {'RSS MiB on':>10} {'off':>7}   {'CPU % on':>8} {'off':>6}"
        )
        writer = Writer(log, lines, args.names, args.seconds, args.rate)
        last_cpu = {w: cpu_seconds(p.pid) for w, p in agents.items()}
        base_cpu = dict(last_cpu)
        rows: list[tuple[float, dict[str, float], dict[str, float]]] = []  # (t, RSS MiB, CPU %)
        started = last = time.monotonic()
        writer.start()
        while writer.is_alive():
            writer.join(args.interval)
            now = time.monotonic()
            rss = {w: rss_kib(p.pid) / 1024 for w, p in agents.items()}
            cpu_now = {w: cpu_seconds(p.pid) for w, p in agents.items()}
            cpu = {w: 100 * (cpu_now[w] - last_cpu[w]) / (now - last) for w in agents}
            last_cpu, last = cpu_now, now
            rows.append((now - started, rss, cpu))
            print(
                f"{now - started:>6.0f} {writer.written:>11,} {writer.named:>9,}   "
                f"{rss['on']:>10.1f} {rss['off']:>7.1f}   {cpu['on']:>8.1f} {cpu['off']:>6.1f}"
            )
        done: dict[str, float] = {}
        deadline = time.monotonic() + 300
        while len(done) < len(agents) and time.monotonic() < deadline:
            for which, url in urls.items():
                if which not in done and lines_counted(url, "trt_agent_lines_total") >= writer.written:
                    done[which] = time.monotonic() - started
            time.sleep(0.2)
        final_rss = {w: rss_kib(p.pid) / 1024 for w, p in agents.items()}
        total_cpu = {w: cpu_seconds(p.pid) - base_cpu[w] for w, p in agents.items()}
        metrics = scrape(urls["on"])
    finally:
        for process in agents.values():
            process.terminate()
        for process in agents.values():
            process.wait(30)

    print(f"\nwriter: {writer.written:,} lines, {writer.named:,} names")
    third = max(1, len(rows) // 3)
    print(
        f"{'':<14} {'peak RSS MiB':>12} {'final':>7} {'CPU s':>7}   "
        f"{'CPU % first third':>17} {'last third':>10} {'last/first':>10}   caught up"
    )
    for which in agents:
        first = statistics.median(r[2][which] for r in rows[:third])
        final = statistics.median(r[2][which] for r in rows[-third:])
        label = "redaction on" if which == "on" else "off (baseline)"
        caught = f"{done[which]:.0f} s" if which in done else "NO (within 300 s)"
        print(
            f"{label:<14} {max(r[1][which] for r in rows):>12.1f} {final_rss[which]:>7.1f} {total_cpu[which]:>7.1f}   "
            f"{first:>17.1f} {final:>10.1f} {final / first if first else float('nan'):>10.2f}   {caught}"
        )
    learned = metrics.get("trt_agent_redaction_learned_names")
    evicted = metrics.get("trt_agent_redaction_names_evicted_total")
    if learned is not None:
        print(f"redactor: {learned:,.0f} names held, {evicted or 0:,.0f} evicted")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
