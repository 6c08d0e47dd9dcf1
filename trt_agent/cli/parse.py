"""``trt-agent parse``: one JSON event per line on stdout."""

from __future__ import annotations

import argparse
import sys

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, Inputs, progress
from trt_agent.config import Config
from trt_agent.parse import ParseStats
from trt_agent.redact import Redactor
from trt_agent.sinks.jsonl import JsonlWriter


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    sub.add_parser("parse", parents=[common], help="print one JSON event per line")


def run(args: argparse.Namespace, config: Config, redactor: Redactor) -> int:
    """One JSON event per line, streamed (flushed before each read that may block)."""
    stats = ParseStats()
    writer = JsonlWriter(sys.stdout.buffer, redactor=redactor)
    inputs = Inputs(args.files, args.engine, config, stats, writer.flush, redactor)
    try:
        with progress(stats, streams_to_stdout=True):
            for event in inputs:
                writer.write(event)
            writer.flush()
    except KeyboardInterrupt:
        return 130
    return EXIT_BAD_INPUT if inputs.failed else EXIT_OK
