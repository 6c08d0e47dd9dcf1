"""``trt-agent profile ENGINE``: run a serialized engine on the GPU with the profiler and print
per-layer median/p90/p99 (needs the ``[gpu]`` extra; TensorRT is imported only when it runs)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, learning
from trt_agent.config import Config, ConfigError
from trt_agent.redact import Redactor


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prof = sub.add_parser(
        "profile",
        help="run ENGINE on the GPU with the profiler; per-layer median/p90/p99 (needs the [gpu] extra)",
    )
    prof.add_argument("engine_file", metavar="ENGINE", help="serialized TensorRT engine (.plan / .engine)")
    prof.add_argument("-c", "--config", help="TOML config ([redaction]; [profiler] shapes and inputs)")
    prof.add_argument("--iterations", type=int, default=100, help="profiled inferences (default 100)")
    prof.add_argument("--warmup", type=int, default=10, help="inferences before profiling (default 10)")
    prof.add_argument(
        "--shapes",
        help="input shapes for dynamic inputs: name:1x3x224x224[,name2:...] (default: profile 0's opt)",
    )
    prof.add_argument("--inputs", help=".npz with one array per input (default: random within [-1, 1])")
    prof.add_argument(
        "--engine", dest="engine_id", metavar="ID", help="engine id in the output (default: the file name)"
    )
    # --engine-id: this command's spelling before --engine (every command's), kept for scripts
    prof.add_argument("--engine-id", dest="engine_id", help=argparse.SUPPRESS)
    prof.add_argument("--json", action="store_true", help="machine-readable JSON instead of the table")


def _shapes(text: str | None) -> dict[str, tuple[int, ...]]:
    """``input:1x3x224x224,mask:1x128`` -> {name: shape} (trtexec's --shapes spelling)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in filter(None, (text or "").split(",")):
        name, sep, dims = item.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise ConfigError(f"--shapes {item!r}: expected name:1x3x224x224")
        shapes[name] = shape
    return shapes


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """0 done; 2 no TensorRT/GPU, an engine it cannot load, bad options."""
    from trt_agent.config import ProfilerConfig
    from trt_agent.model import EngineModel, build_models
    from trt_agent.reports.profile_table import profile_json, profile_rows, profile_text
    from trt_agent.sources.profiler import ProfilerError, run_profile

    if not os.path.isfile(args.engine_file):  # before TensorRT is looked for: the first thing to fix
        reason = "no such file" if not os.path.exists(args.engine_file) else "not a file"
        text = f"{args.engine_file}: {reason}"
        print(f"trt-agent: {redactor.text(text)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine_id = args.engine_id or os.path.splitext(os.path.basename(args.engine_file))[0]
    # [profiler]'s inputs, shapes and device apply; its defaults where the config has none
    base = config.profiler or ProfilerConfig(engine_file=args.engine_file, engine_id=engine_id)
    try:
        shapes = base.shapes | _shapes(args.shapes)
        if args.iterations < 1 or args.warmup < 0:
            raise ConfigError("--iterations must be at least 1 and --warmup 0 or more")
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = dataclasses.replace(
        base,
        engine_file=args.engine_file,
        engine_id=engine_id,
        shapes=shapes,
        inputs=args.inputs or base.inputs,
    )
    try:
        times, events, iterations = run_profile(settings, args.iterations, warmup=args.warmup)
    except ProfilerError as exc:
        print(f"trt-agent: {redactor.text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    models = build_models(learning(events, redactor))
    model = models.get(engine_id) or EngineModel(engine_id)
    redactor.learn(times)
    for event in events:
        if event["type"] in ("warning", "error"):
            text = event.get("msg") or ""
            print(
                f"trt-agent: TensorRT {event['severity']}: {redactor.text(text)}",
                file=sys.stderr,
            )
    rows = profile_rows(times, model)
    if args.json:
        sys.stdout.buffer.write(profile_json(engine_id, iterations, rows, redactor))
    else:
        sys.stdout.write(profile_text(engine_id, iterations, rows, redactor))
    return EXIT_OK
