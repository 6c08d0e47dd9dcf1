"""Which files the ``[[logs]]`` paths name: glob expansion, the symlink rule, the directory each
path is watched from, the ``max_followed_files`` cap, and what the operator is told about paths
that match no file. Nothing here opens or reads a file."""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat
from collections.abc import Sequence
from typing import Any

from trt_agent.config import LogSource
from trt_agent.sources.checkpoint import FileKey
from trt_agent.sources.tail.counters import Problems, TailCounters
from trt_agent.sources.tail.files import is_regular

Match = tuple[str, LogSource, os.stat_result]  # the path, the [[logs]] entry naming it, its stat
Found = dict[FileKey, Match]  # the files of one scan, by identity


def expand(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]


def watch_root(pattern: str) -> str:
    """The deepest directory of ``pattern`` without glob characters."""
    directory = os.path.dirname(pattern) or "."
    while glob.has_magic(directory):
        directory = os.path.dirname(directory) or "."
    return directory


def names(pattern: str, target: str) -> bool:
    """True when the ``[[logs]]`` path ``pattern`` (its directory resolved) matches the absolute,
    resolved path ``target``."""
    root = watch_root(pattern)
    resolved = os.path.join(os.path.realpath(root), os.path.relpath(pattern, root))
    return fnmatch.fnmatchcase(target, resolved)


def match(source: LogSource, sources: Sequence[LogSource], found: Found, problems: Problems) -> int:
    """Add the regular files ``source.path`` names now to ``found`` (a file already there keeps
    the entry that named it first); returns how many files it names (trt_agent_log_path_files)."""
    count = 0
    for path in expand(source.path):
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                # Followed only to a file a [[logs]] path names too: whoever can write
                # the log directory must not make the agent read (and ship) any file.
                target = os.path.realpath(path)
                if target != os.path.abspath(path) and not any(names(s.path, target) for s in sources):
                    problems.refuse_symlink(path, target)
                    continue
                st = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.fail(path, exc)
            continue
        if not is_regular(st):
            if not glob.has_magic(source.path):  # named on its own: say why it is not read
                problems.fail(path, OSError(errno.EISDIR, "not a regular file", path))
            continue
        count += 1
        found.setdefault((st.st_dev, st.st_ino), (path, source, st))
    return count


def newest_first(found: Found) -> list[tuple[FileKey, Match]]:
    """Newest first: when more files match than may be open, the ones being written win."""
    return sorted(found.items(), key=lambda item: -item[1][2].st_mtime)


class Cap:
    """``max_followed_files``: files beyond it are not opened until followed ones go away (a glob
    over a directory of thousands of files must not spend every descriptor)."""

    def __init__(self, counters: TailCounters, log: Any) -> None:
        self.counters = counters
        self._log = log
        self._left_out: set[str] = set()  # paths not followed at the last scan
        # Files present at start that the cap kept out: opened later, they are still "present at
        # start" for read_from = "end" (their history is not news).
        self._at_start: dict[FileKey, int] = {}  # -> its size then: the history to skip

    def leave_out(self, key: FileKey, size: int, *, at_start: bool) -> None:
        """The file ``key`` (``size`` bytes now) waits; ``at_start``: its [[logs]] path is new."""
        if at_start:
            self._at_start.setdefault(key, size)

    def history(self, key: FileKey) -> int | None:
        """The size the file ``key`` had at start if the cap kept it out then (and forget it)."""
        return self._at_start.pop(key, None)

    def note(self, paths: set[str], max_followed_files: int) -> None:
        """``paths``: those left out by this scan. Each is counted once; one warning while any is."""
        for _ in paths - self._left_out:
            self.counters.error("too_many_files")
        if paths and not self._left_out:
            self._log.warning(
                "more files match the [[logs]] paths than agent.max_followed_files; the rest are "
                "not followed until followed ones go away",
                max_followed_files=max_followed_files,
                not_followed=len(paths),
                example=min(paths),
            )
        elif self._left_out and not paths:
            self._log.info("every matching file is followed again")
        self._left_out = paths


class Unmatched:
    """``[[logs]]`` paths that match no file: one warning per path while it matches none (a typo,
    a missing mount), one info when it matches again; one warning when there is no ``[[logs]]``."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._paths: set[str] = set()  # warned about: they match no file
        self._warned_no_logs = False

    def note(self, matched: dict[str, int], *, profiler: bool) -> None:
        """``matched``: files per [[logs]] path at this scan; ``profiler``: a [profiler] is configured."""
        if not matched and not profiler:
            if not self._warned_no_logs:
                self._warned_no_logs = True
                self._log.warning("no [[logs]] in the config: no file is followed")
        else:
            self._warned_no_logs = False
        for path, count in matched.items():
            if count == 0 and path not in self._paths:
                self._paths.add(path)
                self._log.warning(
                    "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)",
                    path=path,
                )
            elif count and path in self._paths:
                self._paths.discard(path)
                self._log.info("[[logs]] path matches files now", path=path, files=count)
        self._paths &= set(matched)  # a reload removed the path
