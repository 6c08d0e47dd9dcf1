"""Parse throughput: trt-agent against mtail on the same replicated TensorRT corpus.

Run from the repository root::

    .venv/bin/python bench/parse_vs_mtail.py [--lines 2000000] [--repeat 3] [--gb]

What it does (see bench/README.md for the numbers of a full run):

1. Builds an input of at least ``--lines`` lines by concatenating every ``*.log`` of the shared
   corpus (and ``tests/data/extra/*.log``) and repeating that concatenation (whole copies) until
   the target is reached. The file goes to ``bench/out/`` (git-ignored).
2. Times, ``--repeat`` times each, interleaved, on a warm page cache:

   * ``trt-agent parse FILE > /dev/null`` as a subprocess (start-up, parsing and JSON output);
   * trt-agent in-process: a fresh interpreter that times only
     ``for event in parse_path(FILE, "bench", stats)`` (parsing, no JSON);
   * the floor: a fresh interpreter that times only ``for line in open(FILE, "rb")``;
   * ``mtail --one_shot`` running ``bench/trt_facts.mtail``, which extracts the same facts;
   * ``mtail --one_shot`` running a program that only counts lines (mtail's own floor).

   Each run's wall time and peak RSS (``/usr/bin/time -v``, else ``os.wait4``) is recorded;
   the table shows medians.
3. Prints mtail's counters next to the counts of the same facts in trt-agent's events, so one
   sees both tools extracted comparable facts from the same file.
4. With ``--gb``, builds a >= 1 GiB input and times ``trt-agent parse`` on it too, printing its
   peak RSS next to the RSS of the default-size run (constant memory check).

Only the standard library and trt-agent itself are used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus"
DEFAULT_EXTRA = REPO / "tests" / "data" / "extra"
DEFAULT_OUT = BENCH / "out"
MTAIL_PROGRAM = BENCH / "trt_facts.mtail"
GIB = 1 << 30
MB = 1e6

# mtail's floor: a program that matches every line and does nothing else.
MTAIL_LINES_PROGRAM = "counter bench_lines_total\n\n/$/ {\n  bench_lines_total++\n}\n"


# --- worker side (runs in a fresh interpreter, prints one JSON object) -----------------------------


def _worker_floor(paths: Sequence[str]) -> dict[str, Any]:
    start = time.perf_counter()
    lines = 0
    for path in paths:
        with open(path, "rb") as stream:
            for _line in stream:
                lines += 1
    return {"seconds": time.perf_counter() - start, "lines": lines}


def _worker_parse(paths: Sequence[str]) -> dict[str, Any]:
    from trt_agent.parse import ParseStats, parse_path

    stats = ParseStats()
    events = 0
    start = time.perf_counter()
    for path in paths:
        for _event in parse_path(path, "bench", stats):
            events += 1
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "lines": stats.lines, "events": events, "stats": stats.as_dict()}


_MS_METRICS = frozenset({"latency_ms", "gpu_compute_ms", "enqueue_ms", "h2d_ms", "d2h_ms"})
_TOTAL_MEMORY_KINDS = frozenset({"activation", "host_persistent", "device_persistent", "scratch", "weights"})


def _worker_facts(paths: Sequence[str]) -> dict[str, Any]:
    """Counts of the facts the comparison table shows, from trt-agent's events (untimed)."""
    from trt_agent.parse import ParseStats, parse_path

    stats = ParseStats()
    facts: Counter[str] = Counter()
    types: Counter[str] = Counter()
    perf_lines: Counter[tuple[str, int]] = Counter()
    peak_lines: set[tuple[str, int]] = set()
    severity_lines: dict[str, set[tuple[str, int]]] = {"warning": set(), "error": set()}
    for path in paths:
        for event in parse_path(path, "bench", stats):
            kind = event["type"]
            types[kind] += 1
            where = (path, int(event["source"]["line"]))
            severity = event["severity"]
            if severity == "warning":
                severity_lines["warning"].add(where)
            elif severity in ("error", "internal_error"):
                severity_lines["error"].add(where)
            msg = event.get("msg") or ""
            if kind == "fusion":
                facts["fusions" if event["result"] is not None else "removals"] += 1
            elif kind in ("layer_count", "source_layer", "layer", "layer_time"):
                facts[kind] += 1
            elif kind == "memory":
                mem = event["kind"]
                if "phase" in event:
                    facts["mem_usage_change"] += 1
                elif mem in _TOTAL_MEMORY_KINDS and "Total " in msg and " Memory: " in msg:
                    facts["total_memory"] += 1
                elif mem.startswith("peak_"):
                    peak_lines.add(where)
                elif mem == "engine_size":
                    facts["engine_size"] += 1
            elif kind == "version":
                if "linked" in event:
                    facts["linked_against"] += 1
                elif event["component"] == "tensorrt" and ("TensorRT version" in msg or "[TensorRT v" in msg):
                    facts["tensorrt_version"] += 1
            elif kind == "perf_summary":
                if event["metric"] in _MS_METRICS:
                    perf_lines[where] += 1
                elif event["metric"] == "throughput_qps":
                    facts["throughput"] += 1
            elif kind == "build_complete":
                if event["stage"] == "engine_generation":
                    facts["build_complete"] += 1
            elif kind == "plugin":
                if event["registered"]:
                    facts["plugin_created"] += 1
            elif kind == "fallback":
                reason = event["reason"]
                if reason == "no_implementation":
                    facts["fallback_no_implementation"] += 1
                elif reason in ("myelin_error", "insufficient_memory", "tactic_exception"):
                    facts["fallback_skipped_tactic"] += 1
                elif reason == "missing_int8_scale":
                    facts["fallback_missing_int8_scale"] += 1
                elif reason in ("dla_unsupported", "fallback"):
                    facts["fallback_falling_back"] += 1
    # A trtexec summary line carries 7 statistics (min ... p99): count such lines.
    facts["perf_summary_lines"] = sum(1 for n in perf_lines.values() if n >= 7)
    facts["peak_memory"] = len(peak_lines)
    facts["warning_lines"] = len(severity_lines["warning"])
    facts["error_lines"] = len(severity_lines["error"])
    return {"facts": dict(facts), "types": dict(types), "stats": stats.as_dict()}


_WORKERS: dict[str, Callable[[Sequence[str]], dict[str, Any]]] = {
    "floor": _worker_floor,
    "parse": _worker_parse,
    "facts": _worker_facts,
}


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    max_rss_kb: int
    cpu_s: float  # user + system time of the whole process (all its threads)
    rc: int
    stdout: bytes
    stderr: bytes


_TIME_BIN = None if os.environ.get("BENCH_NO_TIME_BIN") else shutil.which("time", path="/usr/bin:/bin")
_RSS_LINE = re.compile(rb"Maximum resident set size \(kbytes\): (\d+)")
_CPU_LINE = re.compile(rb"(?:User|System) time \(seconds\): ([0-9.]+)")


def run_measured(argv: Sequence[str], *, capture: bool, workdir: Path) -> Run:
    """Run ``argv``; its wall time, peak RSS, exit status and (if ``capture``) stdout."""
    stdout_target: int = subprocess.PIPE if capture else subprocess.DEVNULL
    if _TIME_BIN is not None:
        with tempfile.NamedTemporaryFile(dir=workdir, prefix="time-", suffix=".txt", delete=False) as tmp:
            time_file = Path(tmp.name)
        try:
            start = time.perf_counter()
            proc = subprocess.run(
                [_TIME_BIN, "-v", "-o", str(time_file), *argv],
                stdout=stdout_target,
                stderr=subprocess.PIPE,
                check=False,
            )
            seconds = time.perf_counter() - start
            report = time_file.read_bytes()
        finally:
            time_file.unlink(missing_ok=True)
        m = _RSS_LINE.search(report)
        rss = int(m.group(1)) if m else -1
        cpu = sum(float(v) for v in _CPU_LINE.findall(report))
        return Run(seconds, rss, cpu, proc.returncode, proc.stdout or b"", proc.stderr)
    # No /usr/bin/time: the kernel's accounting of that one child (os.wait4), which unlike
    # getrusage(RUSAGE_CHILDREN) is not a running maximum over every earlier child.
    with tempfile.TemporaryFile(dir=workdir) as out_f, tempfile.TemporaryFile(dir=workdir) as err_f:
        start = time.perf_counter()
        popen = subprocess.Popen(argv, stdout=out_f if capture else subprocess.DEVNULL, stderr=err_f)
        _, status, usage = os.wait4(popen.pid, 0)
        seconds = time.perf_counter() - start
        popen.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Run(seconds, usage.ru_maxrss, cpu, popen.returncode, out_f.read(), err_f.read())


@dataclass
class Tool:
    """One row of the result table."""

    name: str
    argv: list[str]
    capture: bool = False
    inner_timing: bool = False  # the command prints its own loop time (workers)
    runs: list[Run] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    last_json: dict[str, Any] = field(default_factory=dict)

    def measure(self, workdir: Path) -> Run:
        run = run_measured(self.argv, capture=self.capture, workdir=workdir)
        if run.rc != 0:
            tail = run.stderr.decode("utf-8", "replace")[-2000:]
            raise SystemExit(f"{self.name}: exit status {run.rc}\n{tail}")
        if self.inner_timing:
            self.last_json = json.loads(run.stdout)
            self.seconds.append(float(self.last_json["seconds"]))
        else:
            self.seconds.append(run.seconds)
        self.runs.append(run)
        return run

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def max_rss_kb(self) -> int:
        return max(r.max_rss_kb for r in self.runs)


def worker_argv(mode: str, paths: Sequence[str]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", mode, *paths]


# --- building the input ---------------------------------------------------------------------------


def corpus_files(corpus: Path, extra: Path | None) -> list[Path]:
    files = sorted(corpus.glob("*.log"))
    if extra is not None and extra.is_dir():
        files += sorted(extra.glob("*.log"))
    if not files:
        raise SystemExit(f"no *.log files in {corpus}")
    return files


def one_cycle(files: Iterable[Path]) -> bytes:
    parts = []
    for path in files:
        data = path.read_bytes()
        parts.append(data if data.endswith(b"\n") else data + b"\n")
    return b"".join(parts)


def build_input(cycle: bytes, path: Path, *, min_lines: int = 0, min_bytes: int = 0) -> tuple[int, int]:
    """Write whole copies of ``cycle`` to ``path`` until both minimums hold. Returns (copies, lines)."""
    per_copy = cycle.count(b"\n")
    copies = max(1, math.ceil(min_lines / per_copy), math.ceil(min_bytes / len(cycle)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(cycle)
    return copies, copies * per_copy


def warm_cache(path: Path) -> None:
    with open(path, "rb") as stream:
        while stream.read(1 << 24):
            pass


# --- mtail ------------------------------------------------------------------------------------------


def mtail_argv(mtail: str, program: Path, log: Path) -> list[str]:
    # --port 0: one_shot still opens its HTTP listener; a random port avoids clashes.
    # --logtostderr: keep glog's files out of /tmp (and compile errors visible).
    return [
        mtail,
        "--one_shot",
        "--one_shot_format=prometheus",
        "--logtostderr",
        "--port",
        "0",
        "--progs",
        str(program),
        "--logs",
        str(log),
    ]


def check_mtail_program(mtail: str, program: Path) -> None:
    proc = subprocess.run(
        [mtail, "--compile_only", "--logtostderr", "--port", "0", "--progs", str(program)],
        capture_output=True,
        check=False,
        text=True,
    )
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(("E", "F")) or "error" in ln.lower()]
    if proc.returncode != 0 or errors or "Loaded program" not in proc.stderr:
        raise SystemExit(f"mtail could not load {program}:\n{proc.stderr[-3000:]}")


_PROM_LINE = re.compile(r"^(\w+)(?:\{([^}]*)\})? (\S+)$")
_PROM_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    metrics: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _PROM_LINE.match(line)
        if m is None:
            continue
        labels = dict(_PROM_LABEL.findall(m.group(2) or ""))
        labels.pop("prog", None)
        metrics.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return metrics


def msum(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **where: str) -> int:
    """Sum of a metric's series, optionally restricted to label values; ``!value`` excludes."""
    total = 0.0
    for labels, value in metrics.get(name, []):
        ok = True
        for key, want in where.items():
            have = labels.get(key)
            ok = ok and (have != want[1:] if want.startswith("!") else have == want)
        if ok:
            total += value
    return round(total)


# (label, mtail metric, mtail label filter, trt-agent fact key)
COMPARISONS: list[tuple[str, str, dict[str, str], str]] = [
    ("fusions  (XFusion: Fusing a with b)", "trt_fusions_total", {}, "fusions"),
    ("removals (Removing / Eliminating)", "trt_removals_total", {}, "removals"),
    ("layer counts per stage", "trt_layer_count_lines_total", {}, "layer_count"),
    ("ONNX source layers (no Constant)", "trt_source_layers_total", {"op": "!Constant"}, "source_layer"),
    ("engine layer lines", "trt_engine_layers_total", {}, "layer"),
    ("[MemUsageChange] lines", "trt_mem_usage_changes_total", {}, "mem_usage_change"),
    ("Total ... Memory lines", "trt_memory_totals_lines_total", {}, "total_memory"),
    ("peak memory lines", "trt_peak_memory_lines_total", {}, "peak_memory"),
    ("engine size lines", "trt_engine_size_lines_total", {}, "engine_size"),
    (
        "TensorRT version/tag lines",
        "trt_version_lines_total",
        {"source": "!linked_against"},
        "tensorrt_version",
    ),
    ("linked-against mismatches", "trt_version_lines_total", {"source": "linked_against"}, "linked_against"),
    ("perf summary lines (7 stats)", "trt_perf_summary_lines_total", {}, "perf_summary_lines"),
    ("throughput lines", "trt_throughput_lines_total", {}, "throughput"),
    ("profile table rows", "trt_profile_rows_total", {}, "layer_time"),
    ("engine generation completed", "trt_builds_total", {}, "build_complete"),
    ("plugins created", "trt_plugins_created_total", {}, "plugin_created"),
    (
        "fallback: no implementation",
        "trt_fallbacks_total",
        {"reason": "no_implementation"},
        "fallback_no_implementation",
    ),
    (
        "fallback: skipped tactic",
        "trt_fallbacks_total",
        {"reason": "skipped_tactic"},
        "fallback_skipped_tactic",
    ),
    (
        "fallback: missing INT8 scale",
        "trt_fallbacks_total",
        {"reason": "missing_int8_scale"},
        "fallback_missing_int8_scale",
    ),
    ("fallback: falling back", "trt_fallbacks_total", {"reason": "falling_back"}, "fallback_falling_back"),
    ("warning lines", "trt_log_messages_total", {"severity": "warning"}, "warning_lines"),
    ("error lines", "trt_log_messages_total", {"severity": "error"}, "error_lines"),
]


# --- report ---------------------------------------------------------------------------------------


def print_round_ratios(agent: Tool, mtail: Tool) -> None:
    """mtail's time over trt-agent's, round by round (the two ran back to back in each round): the
    median and range of the CPU ratio (user+system of the whole process) and of the wall ratio."""
    cpu = [m.cpu_s / a.cpu_s for a, m in zip(agent.runs, mtail.runs, strict=True)]
    wall = [m / a for a, m in zip(agent.seconds, mtail.seconds, strict=True)]
    for what, ratios in (("CPU", cpu), ("wall", wall)):
        each = ", ".join(f"{r:.2f}" for r in ratios)
        print(
            f"{agent.name.split(' (')[0]} vs mtail by {what}: median {statistics.median(ratios):.2f}x "
            f"(per round {min(ratios):.2f}-{max(ratios):.2f}x: {each})"
        )


def fmt_rss(kb: int) -> str:
    return "n/a" if kb < 0 else f"{kb / 1024:.0f} MiB"


def print_table(rows: Sequence[Tool], lines: int, baseline: Tool | None) -> None:
    base_lps = lines / baseline.median_s if baseline is not None else None
    header = (
        f"{'tool':<44} {'lines':>11} {'seconds':>9} {'lines/s':>11} {'vs mtail':>9} {'peak RSS':>9} "
        f"{'CPU s':>7}"
    )
    print(header)
    print("-" * len(header))
    for tool in rows:
        lps = lines / tool.median_s
        ratio = f"{lps / base_lps:.2f}x" if base_lps else "n/a"
        print(
            f"{tool.name:<44} {lines:>11,} {tool.median_s:>9.2f} {lps:>11,.0f} {ratio:>9} "
            f"{fmt_rss(tool.max_rss_kb):>9} {tool.median_cpu_s:>7.2f}"
        )
    print(
        "seconds = median wall time of --repeat runs; the in-process and floor rows time only their "
        "loop (no interpreter start-up); vs mtail = lines/s over mtail (trt_facts.mtail) lines/s; "
        "peak RSS = max over the runs; CPU s = median user+system time of the whole process "
        "(all threads, start-up included)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=2_000_000, help="minimum input lines (default 2000000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool (default 3)")
    parser.add_argument("--gb", action="store_true", help="also time trt-agent parse on a >= 1 GiB input")
    parser.add_argument("--gb-bytes", type=int, default=GIB, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="directory of *.log files")
    parser.add_argument("--extra", type=Path, default=DEFAULT_EXTRA, help="more *.log files, if present")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="input directory (default bench/out)")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs")
    parser.add_argument("--no-mtail-floor", action="store_true", help="skip the count-lines-only mtail row")
    parser.add_argument("--trt-agent", default=str(REPO / ".venv" / "bin" / "trt-agent"))
    parser.add_argument("--mtail", default=shutil.which("mtail") or "/usr/bin/mtail")
    parser.add_argument("--worker", choices=sorted(_WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        json.dump(_WORKERS[args.worker](args.paths), sys.stdout)
        return 0
    if args.repeat < 1 or args.lines < 1:
        parser.error("--lines and --repeat must be positive")
    for exe in (args.trt_agent, args.mtail):
        if not Path(exe).exists():
            parser.error(f"not found: {exe}")

    started = time.perf_counter()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    files = corpus_files(args.corpus, args.extra)
    cycle = one_cycle(files)
    cycle_lines = cycle.count(b"\n")
    input_path = out_dir / "bench-input.log"
    copies, lines = build_input(cycle, input_path, min_lines=args.lines)
    size = input_path.stat().st_size
    print(f"corpus: {len(files)} files, {cycle_lines:,} lines, {len(cycle) / MB:.2f} MB per copy")
    print(f"input:  {input_path} = {copies} copies, {lines:,} lines, {size / MB:.1f} MB")
    print(f"trt-agent: {args.trt_agent}\nmtail:     {args.mtail} ({mtail_version(args.mtail)})")
    print(f"rss via:   {'/usr/bin/time -v' if _TIME_BIN else 'os.wait4 rusage'}; repeat = {args.repeat}\n")

    check_mtail_program(args.mtail, MTAIL_PROGRAM)
    lines_program = out_dir / "count_lines.mtail"
    lines_program.write_text(MTAIL_LINES_PROGRAM)
    check_mtail_program(args.mtail, lines_program)

    path = str(input_path)
    agent = Tool("trt-agent parse FILE > /dev/null (subprocess)", [args.trt_agent, "parse", path])
    inproc = Tool("trt-agent parse_path() in-process (no JSON)", worker_argv("parse", [path]), True, True)
    floor = Tool("python floor: for line in open(FILE, 'rb')", worker_argv("floor", [path]), True, True)
    mtail = Tool("mtail --one_shot trt_facts.mtail", mtail_argv(args.mtail, MTAIL_PROGRAM, input_path), True)
    mtail_floor = Tool(
        "mtail --one_shot count-lines-only program", mtail_argv(args.mtail, lines_program, input_path)
    )
    tools = [agent, inproc, floor, mtail] + ([] if args.no_mtail_floor else [mtail_floor])

    warm_cache(input_path)
    for rep in range(args.repeat):
        for tool in tools:
            run = tool.measure(out_dir)
            print(
                f"  run {rep + 1}/{args.repeat}  {tool.name:<44} {tool.seconds[-1]:7.2f} s  "
                f"{fmt_rss(run.max_rss_kb):>8}  cpu {run.cpu_s:6.2f} s"
            )
    print()

    # Sanity: every tool saw every line.
    if inproc.last_json.get("lines") != lines or floor.last_json.get("lines") != lines:
        print(
            f"WARNING: line counts differ: input {lines}, trt-agent {inproc.last_json.get('lines')}, "
            f"floor {floor.last_json.get('lines')}"
        )

    # --- facts: mtail counters next to trt-agent's events ----------------------------------------
    metrics = parse_prometheus(mtail.runs[-1].stdout.decode("utf-8", "replace"))
    facts_run = run_measured(worker_argv("facts", [path]), capture=True, workdir=out_dir)
    if facts_run.rc != 0:
        tail = facts_run.stderr.decode("utf-8", "replace")[-2000:]
        raise SystemExit(f"trt-agent facts pass failed:\n{tail}")
    agent_facts = json.loads(facts_run.stdout)
    per_file_run = run_measured(worker_argv("facts", [str(f) for f in files]), capture=True, workdir=out_dir)
    per_file = json.loads(per_file_run.stdout) if per_file_run.rc == 0 else {"facts": {}, "types": {}}
    print(
        f"Facts extracted from the same {lines:,}-line file "
        f"(trt-agent: {inproc.last_json['events']:,} events)"
    )
    one_by_one = f"trt-agent, files one by one x{copies}"
    header = f"{'fact':<38} {'mtail':>10} {'trt-agent':>10} {one_by_one:>34}"
    print(header)
    print("-" * len(header))
    zero_mtail = []
    for label, metric, where, key in COMPARISONS:
        got = msum(metrics, metric, **where)
        if got == 0:
            zero_mtail.append(label)
        ours = int(agent_facts["facts"].get(key, 0))
        separate = int(per_file["facts"].get(key, 0)) * copies
        flag = "" if got == ours else "  *"
        print(f"{label:<38} {got:>10,} {ours:>10,} {separate:>34,}{flag}")
    print("* = the counts differ (see bench/README.md, 'Fact comparison', for why).")
    print("trt-agent event types:", json.dumps(dict(sorted(agent_facts["types"].items()))))
    if zero_mtail:
        print(f"WARNING: mtail counted nothing for: {', '.join(zero_mtail)}")
    print()

    # --- the >= 1 GiB run -------------------------------------------------------------------------
    gb_tool: Tool | None = None
    gb_lines = 0
    if args.gb:
        gb_path = out_dir / "bench-input-1g.log"
        gb_copies, gb_lines = build_input(cycle, gb_path, min_bytes=args.gb_bytes)
        gb_size = gb_path.stat().st_size
        print(f"1 GiB input: {gb_path} = {gb_copies} copies, {gb_lines:,} lines, {gb_size / MB:.1f} MB")
        gb_tool = Tool("trt-agent parse 1 GiB > /dev/null", [args.trt_agent, "parse", str(gb_path)])
        warm_cache(gb_path)
        for rep in range(args.repeat):
            run = gb_tool.measure(out_dir)
            print(
                f"  run {rep + 1}/{args.repeat}  {gb_tool.name:<44} {gb_tool.seconds[-1]:7.2f} s  "
                f"{fmt_rss(run.max_rss_kb):>8}  cpu {run.cpu_s:6.2f} s"
            )
        if not args.keep:
            gb_path.unlink()
        print()

    # --- result ------------------------------------------------------------------------------------
    print(f"Result ({lines:,} lines, {size / MB:.1f} MB, median of {args.repeat})")
    print_table(tools, lines, mtail)
    print()
    print_round_ratios(agent, mtail)
    if gb_tool is not None:
        gb_lps = gb_lines / gb_tool.median_s
        print(
            f"\n>= 1 GiB: {gb_lines:,} lines in {gb_tool.median_s:.2f} s = {gb_lps:,.0f} lines/s; "
            f"peak RSS {fmt_rss(gb_tool.max_rss_kb)} at {gb_lines:,} lines vs {fmt_rss(agent.max_rss_kb)} "
            f"at {lines:,} lines (trt-agent parse subprocess)"
        )
    if not args.keep:
        input_path.unlink()
        lines_program.unlink()
    print(f"\ntotal benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


def mtail_version(mtail: str) -> str:
    proc = subprocess.run([mtail, "--version"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0] if first else "unknown version"


if __name__ == "__main__":
    sys.exit(main())
