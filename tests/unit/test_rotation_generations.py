"""``Rotation.follow_generations`` at start-up, on real files: which rotated files are read from
their beginning as generations written while the agent was down.

The chaos test (CI, 2026-12-06) found the race: the live ``app.log`` was resumed at its
checkpoint, then logrotate copytruncated it before the start-up came to the checkpoint of the
older generation (``app.log.1``, now ``app.log.2``). Its generations then took the fresh copy
(``app.log.1``, the live file's own content) for a generation and read it from its beginning:
24,042 lines delivered twice. That copy is the live file's: its restart reads it from where the
live file had got to."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from trt_agent.logs import get_logger
from trt_agent.sources.checkpoint import Checkpoint, fingerprint, read_head
from trt_agent.sources.tail.counters import TailCounters
from trt_agent.sources.tail.rotation import Rotation


class _Followed:
    """What ``Follow`` returns, as far as follow_generations uses it."""

    def __init__(self, path: str, st: os.stat_result) -> None:
        self.path = path
        self.key = (st.st_dev, st.st_ino)
        self.after: Any = None


class _Live:
    """The live file, resumed at its checkpoint (``TailedFile.checkpoint``/``offset``)."""

    def __init__(self, c: Checkpoint) -> None:
        self._c = c
        self.offset = c.offset
        self.after: Any = None

    def checkpoint(self) -> Checkpoint:
        return self._c


def _checkpoint(path: Path) -> Checkpoint:
    fd = os.open(path, os.O_RDONLY)
    try:
        head = read_head(fd)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    size = st.st_size
    return Checkpoint(str(path), st.st_dev, st.st_ino, size, 1, 0, 1, len(head), fingerprint(head))


def _rotation(followed: list[str]) -> Rotation:
    def follow(
        path: str, source: Any, fd: int, st: os.stat_result, c: Any, *, name: str, resume: bool
    ) -> Any:
        os.close(fd)
        followed.append(os.path.basename(path))
        return _Followed(path, st)

    return Rotation(
        pipeline=None, counters=TailCounters(), log=get_logger("test"), follow=follow, followed=lambda: ()
    )  # type: ignore[arg-type]


def _lines(tag: str, count: int) -> str:
    return "".join(f"[12/06/2026-10:00:00] [W] [TRT] probe {tag} {n:08d}\n" for n in range(count))


def test_a_copy_of_the_live_file_made_during_the_start_up_is_not_a_generation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    older = tmp_path / "app.log.1"
    older.write_text(_lines("old", 100))
    since = os.stat(older).st_mtime_ns
    log.write_text(_lines("live", 200))
    live = _Live(_checkpoint(log))  # resumed at its end
    # logrotate, copytruncate, now: .1 -> .2, a copy of app.log -> .1, app.log emptied
    os.replace(older, tmp_path / "app.log.2")
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    followed: list[str] = []
    chain = _rotation(followed).follow_generations(str(log), None, since, set(), None, live)  # type: ignore[arg-type]
    assert "app.log.1" not in followed  # the live file's restart reads it, from where it had got to
    assert followed == ["app.log.2"] and [f.path for f in chain] == [str(tmp_path / "app.log.2")]
    assert live.after == chain[-1].key


def test_a_generation_rotated_while_down_is_still_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(_lines("gen", 50))
    since = os.stat(log).st_mtime_ns
    os.replace(log, tmp_path / "app.log.1")  # renamed while down: other content than the live file's
    log.write_text(_lines("live", 20))
    live = _Live(_checkpoint(log))
    followed: list[str] = []
    _rotation(followed).follow_generations(str(log), None, since, set(), None, live)  # type: ignore[arg-type]
    assert followed == ["app.log.1"]
