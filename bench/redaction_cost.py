"""What redaction costs: ``trt-agent parse`` on the corpus benchmark input, with and without
``[redaction]``, in the same run.

Run from the repository root::

    .venv/bin/python bench/redaction_cost.py [--lines 2000000] [--repeat 5]

The input is the one ``parse_vs_mtail.py`` builds (every ``*.log`` of the corpus and
tests/data/extra, whole copies, >= ``--lines`` lines). Each configuration runs ``--repeat``
times, alternating, as ``trt-agent parse [-c CONFIG] FILE > /dev/null``; the table shows the median
CPU seconds (user + system of the process), lines per CPU second and the ratio (redacted / clear). Both redaction modes that
change output text are timed: ``pseudonym`` and ``structure``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_vs_mtail import (
    DEFAULT_CORPUS,
    DEFAULT_EXTRA,
    DEFAULT_OUT,
    build_input,
    corpus_files,
    one_cycle,
    warm_cache,
)

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str]) -> float:
    """CPU seconds (user + system) of one run: steadier than wall time on a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cycle = one_cycle(corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None))
    source = DEFAULT_OUT / "bench-input.log"
    copies, lines = build_input(cycle, source, min_lines=args.lines)
    warm_cache(source)
    agent = [sys.executable, "-m", "trt_agent", "parse"]
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key"
        key.write_bytes(b"benchmark-key-0123456789abcdef")
        configs: dict[str, list[str]] = {"clear": []}
        for mode in ("pseudonym", "structure"):
            config = Path(tmp) / f"{mode}.toml"
            config.write_text(f'[redaction]\nenabled = true\nkey_file = "{key}"\nmode = "{mode}"\n')
            configs[mode] = ["-c", str(config)]
        times: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(args.repeat):
            for name, extra in configs.items():
                times[name].append(timed([*agent, *extra, str(source)]))
    clear = statistics.median(times["clear"])
    print(
        f"input: {lines:,} lines ({copies} copies of the corpus cycle), {args.repeat} runs each, alternating"
    )
    print(
        f"{'trt-agent parse FILE > /dev/null':<34} {'CPU s':>9} {'lines/s':>11} {'vs clear':>9}  runs (CPU s)"
    )
    for name, values in times.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<34} {median:>9.2f} {lines / median:>11,.0f} {median / clear:>8.2f}x  {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
