"""What redaction costs: ``trt-agent parse``'s pipeline on the corpus benchmark input, with and
without ``[redaction]``, in the same run.

Run from the repository root::

    .venv/bin/python bench/redaction_cost.py [--lines 200000] [--repeat 15] [--subprocess]

The input is built like ``parse_vs_mtail.py``'s: every ``*.log`` of the corpus and
tests/data/extra, whole copies, >= ``--lines`` lines. By default each configuration runs
in-process ``--repeat`` times, interleaved (clear, pseudonym, structure, clear, ...): the code of
``trt-agent parse FILE > /dev/null`` (``parse_path`` into a ``JsonlWriter`` on /dev/null, with a
fresh redactor each run, so learning names and building the automaton are paid every time),
timed in CPU seconds of this process. Short interleaved runs keep the drift of a shared machine
out of the ratio. ``--subprocess`` times whole ``trt-agent parse`` processes instead (CPU seconds
of the child). Prints medians and the ratio redacted / clear.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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

from trt_agent.config import RedactionConfig
from trt_agent.parse import ParseStats, parse_path
from trt_agent.redact import Redactor
from trt_agent.sinks.jsonl import JsonlWriter

KEY = b"benchmark-key-0123456789abcdef"
MODES = ("clear", "pseudonym", "structure")


def in_process(path: Path, mode: str) -> Callable[[], float]:
    def run() -> float:
        redactor = None if mode == "clear" else Redactor(RedactionConfig(enabled=True, mode=mode), KEY)
        start = time.process_time()
        with open("/dev/null", "wb") as sink:
            writer = JsonlWriter(sink, redactor=redactor)
            for event in parse_path(str(path), "bench", ParseStats()):
                writer.write(event)
            writer.flush()
        return time.process_time() - start

    return run


def as_subprocess(path: Path, mode: str, tmp: Path) -> Callable[[], float]:
    argv = [sys.executable, "-m", "trt_agent", "parse"]
    if mode != "clear":
        (tmp / "key").write_bytes(KEY)
        config = tmp / f"{mode}.toml"
        config.write_text(f'[redaction]\nenabled = true\nkey_file = "{tmp / "key"}"\nmode = "{mode}"\n')
        argv += ["-c", str(config)]
    argv.append(str(path))

    def run() -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--subprocess", action="store_true", help="time whole trt-agent parse processes")
    args = parser.parse_args()
    cycle = one_cycle(corpus_files(DEFAULT_CORPUS, DEFAULT_EXTRA if DEFAULT_EXTRA.exists() else None))
    source = DEFAULT_OUT / f"redaction-input-{args.lines}.log"
    copies, lines = build_input(cycle, source, min_lines=args.lines)
    warm_cache(source)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            mode: as_subprocess(source, mode, Path(tmp)) if args.subprocess else in_process(source, mode)
            for mode in MODES
        }
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                times[mode].append(runs[mode]())
    clear = statistics.median(times["clear"])
    how = (
        "trt-agent parse processes" if args.subprocess else "in-process parse_path -> JsonlWriter(/dev/null)"
    )
    print(
        f"input: {lines:,} lines ({copies} copies of the corpus cycle); {how}; {args.repeat} runs each, interleaved"
    )
    print(f"{'redaction':<12} {'median CPU s':>13} {'lines/s':>11} {'vs clear':>9}   min–max CPU s")
    for mode in MODES:
        median = statistics.median(times[mode])
        print(
            f"{mode:<12} {median:>13.3f} {lines / median:>11,.0f} {median / clear:>8.2f}x"
            f"   {min(times[mode]):.3f}–{max(times[mode]):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
