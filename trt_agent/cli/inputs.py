"""What several commands share: exit codes, reading the input files, progress on the terminal,
teaching the redactor, and writing an output file whole."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

from trt_agent.config import Config
from trt_agent.logs import get_logger
from trt_agent.parse import ParseStats, parse_path
from trt_agent.parse.artifacts import ArtifactError
from trt_agent.progress import Progress
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.vocab.events import Event

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class Inputs:
    """Events of every input file, in order; unreadable files are reported and remembered."""

    def __init__(
        self,
        files: Sequence[str],
        engine: str | None,
        config: Config,
        stats: ParseStats,
        before_read: Callable[[], None] | None = None,
        redactor: Redactor = NULL_REDACTOR,
    ) -> None:
        self.files = files
        self.redactor = redactor
        self.before_read = before_read
        self.engine = engine
        self.config = config
        self.stats = stats
        self.failed = False
        self.log = get_logger("trt_agent.cli")

    def __iter__(self) -> Iterator[Event]:
        for path in self.files:
            engine = self.engine or self.config.engine_for(path)
            before = self.stats.bytes
            cut, invalid = self.stats.truncated_lines, self.stats.invalid_utf8_lines
            try:
                yield from parse_path(
                    path,
                    engine,
                    self.stats,
                    max_line_bytes=self.config.max_line_bytes,
                    before_read=self.before_read,
                    patterns=self.config.patterns,
                )
            except (FileNotFoundError, PermissionError, IsADirectoryError, ArtifactError) as exc:
                self.failed = True
                reason = exc if isinstance(exc, ArtifactError) else f"{path}: {exc.strerror}"
                print(f"trt-agent: {self.redactor.text(str(reason))}", file=sys.stderr)
                continue
            if self.stats.bytes == before:
                self.log.warning("empty input", file=path)
            # per file, named: with several inputs, "3 lines were cut" alone says not where
            if self.stats.truncated_lines > cut:
                self.log.warning(
                    "lines longer than max_line_bytes were cut",
                    file=path,
                    count=self.stats.truncated_lines - cut,
                    max_line_bytes=self.config.max_line_bytes,
                )
            if self.stats.invalid_utf8_lines > invalid:
                self.log.warning(
                    "invalid UTF-8 replaced with U+FFFD",
                    file=path,
                    lines=self.stats.invalid_utf8_lines - invalid,
                )


def progress(stats: ParseStats, streams_to_stdout: bool) -> Progress:
    """Progress on a terminal's stderr, unless the output streams to that terminal too (the
    line would be torn by every event printed)."""
    return Progress(stats, enabled=sys.stderr.isatty() and not (streams_to_stdout and sys.stdout.isatty()))


def learning(events: Iterable[Event], redactor: Redactor) -> Iterator[Event]:
    """Pass ``events`` through, teaching the redactor their names (for free-text outputs)."""
    for event in events:
        redactor.learn_events((event,))
        yield event


def write_file(path: str, data: bytes, redactor: Redactor = NULL_REDACTOR) -> bool:
    """Write an output file whole (a reader never sees half a report). False, with one line on
    stderr, when it cannot be written (a missing directory, permission denied, a full disk)."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        text = f"{path}: cannot write the output: {exc.strerror or exc}"
        print(f"trt-agent: {redactor.text(text)}", file=sys.stderr)
        return False
    return True
