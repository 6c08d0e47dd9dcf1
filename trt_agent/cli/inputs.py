"""What several commands share: exit codes, reading the input files, progress on the terminal,
teaching the redactor, and writing an output file whole."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence

from trt_agent.config import Config
from trt_agent.logs import get_logger
from trt_agent.parse import ParseStats, parse_path
from trt_agent.parse.artifacts import ArtifactError
from trt_agent.parse.dispatch import engine_id_for
from trt_agent.progress import Progress
from trt_agent.redact import NULL_REDACTOR, Redactor
from trt_agent.vocab.events import Event

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PUSH_FAILED = 3  # check --push: the gate passed, the push failed (a failed gate stays 1)

# What a file of one build is, at the end of its name: TREx's process_engine.py writes
# resnet.onnx.engine.{graph,profile,timing,build.metadata,profile.metadata}.json and
# .{build,profile}.log; trtexec cookbooks name --exportProfile/--exportLayerInfo/--exportTimes
# files model-exportProfile.json, model-exportLayerInfo.json, model-exportTimes.json.
_ROLE = re.compile(
    r"[._-](?:build|profile|graph|layers?|layer[-_]?info|timing|times|engine[-_]?info"
    r"|export(?:profile|layerinfo|times)|(?:build|profile)[._-]metadata)$",
    re.IGNORECASE,
)


def build_stem(engine_id: str) -> str:
    """``engine_id`` (a file name's stem) without the word that says which file of a build it is:
    ``resnet.build`` -> ``resnet``, ``model-exportProfile`` -> ``model``."""
    stem = _ROLE.sub("", engine_id)
    return stem or engine_id


def engine_ids(
    files: Sequence[str], engine: str | None, config: Config
) -> tuple[dict[str, str], list[tuple[str, list[str]]]]:
    """The engine id of each input file, and the groups of files joined into one engine.

    ``--engine`` names one engine for every file, a ``[[logs]]`` glob one for the files it
    matches; the other files are named by their stem (``engine_id_for``), and two or more of
    them whose stems agree once the word saying which file of a build each is has gone
    (``resnet.log``, ``resnet.graph.json``, ``resnet.build.log``, ``resnet-exportProfile.json``)
    are one build: one engine, named by that shared stem."""
    if engine:
        return {path: engine for path in files}, []
    ids: dict[str, str] = {}
    # Files of one build lie side by side: only files of one directory join (the same stem in two
    # directories is two builds, fp16/resnet.graph.json and fp32/resnet-exportLayerInfo.json).
    groups: dict[tuple[str, str], list[str]] = {}
    for path in files:
        configured = config.engine_for(path)
        if configured is not None:
            ids[path] = configured
        elif path in ("-", "<stdin>"):
            ids[path] = engine_id_for(path)
        else:
            key = (os.path.dirname(os.path.abspath(path)), build_stem(engine_id_for(path)))
            files_of = groups.setdefault(key, [])
            if path not in files_of:
                files_of.append(path)
    joined = []
    for (_, stem), paths in groups.items():
        if len(paths) > 1:
            joined.append((stem, paths))
            ids.update((path, stem) for path in paths)
        else:
            ids[paths[0]] = engine_id_for(paths[0])
    return ids, joined


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
        self.engines, self.joined = engine_ids(files, engine, config)
        self.redactor = redactor
        self.before_read = before_read
        self.engine = engine
        self.config = config
        self.stats = stats
        self.failed = False
        self.log = get_logger("trt_agent.cli")

    def __iter__(self) -> Iterator[Event]:
        for stem, paths in self.joined:
            names = ", ".join(os.path.basename(path) for path in paths)
            note = (
                f"joined {len(paths)} files of engine {stem}: {names} (their names share the stem;"
                " --engine NAME names the engine of every input)"
            )
            print(f"trt-agent: {self.redactor.text(note)}", file=sys.stderr)
        for path in self.files:
            engine = self.engines.get(path)
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
    """Write an output file whole: a reader (a CI step, node_exporter's textfile collector)
    never sees half of it. Written beside ``path`` under a fresh hidden name that no glob of
    its kind matches (``.NAME.XXXX.tmp``: the textfile collector reads only ``*.prom``), synced,
    then renamed over ``path``, with the mode a new file gets from the umask (the collector runs
    as another user). A symbolic link is followed (its target is replaced, the link stays); what
    is no regular file (``/dev/stdout``, a FIFO) is written to as it is: a rename would replace
    the device. False, with one line on stderr, when it cannot be written (a missing directory,
    permission denied, a full disk)."""
    target = os.path.realpath(path)
    tmp = None
    try:
        if os.path.exists(target) and not os.path.isfile(target) and not os.path.isdir(target):
            with open(target, "wb") as out:
                out.write(data)
            return True
        directory, name = os.path.split(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        text = f"{path}: cannot write the output: {exc.strerror or exc}"
        print(f"trt-agent: {redactor.text(text)}", file=sys.stderr)
        return False
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
