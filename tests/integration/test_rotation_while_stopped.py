"""Rename rotations while the agent is down: a real ``trt-agent run`` process, real files, an
application's handle writing on across the renames, as a logger does until it reopens.

What was written after the agent's last checkpoint must arrive wherever it now is: in the file the
checkpoint names (renamed: found beside its old path), and in every generation written since,
which no checkpoint names and no ``[[logs]]`` path matches any more. Compressed generations and
generations from before the agent followed the file are not its lines: they must not arrive.
"""

from __future__ import annotations

import gzip
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from harness import (
    Agent,
    assert_exact,
    new_agent,
    probe_lines,
    rename_rotate,
    report,
    wait_for,
)


class App:
    """An application's logger: appends probe lines of ``tag`` through its own handle on ``path``
    (which stays on the file when the file is renamed) until ``reopen``. ``written``: every line
    it wrote, whatever the tag."""

    def __init__(self, path: Path, tag: str) -> None:
        self.path = path
        self.tag = tag
        self.count = 0
        self.written: Counter[str] = Counter()
        self._fh = open(path, "a")  # noqa: SIM115 - closed in close()

    def write(self, lines: int) -> None:
        text, written = probe_lines(self.tag, lines, self.count)
        self._fh.write(text)
        self._fh.flush()
        self.written += written
        self.count += lines

    def reopen(self, tag: str) -> None:
        """Open ``path`` again (the logger's SIGHUP), writing lines of ``tag`` from there on."""
        self._fh.close()
        self._fh = open(self.path, "a")  # noqa: SIM115
        self.tag, self.count = tag, 0

    def close(self) -> None:
        self._fh.close()


def test_read_but_not_checkpointed_then_renamed_while_down(tmp_path: Path, agents: list[Agent]) -> None:
    """The agent reads app.log, but no checkpoint is saved before it is killed (a checkpoint
    interval of an hour: nothing read is acknowledged). While it is down the file is renamed to
    app.log.1, the application writes on to it, then reopens a new app.log. The glob matches
    app.log only, so app.log.1 can be found only from what the agent knew of the file when it
    opened it: every line of both files must arrive (lines read before the kill may come twice).

    Today the lines appended to app.log.1 after the kill are lost: no checkpoint ever named that
    file, so the restarted agent does not know it exists."""
    log = tmp_path / "app.log"
    app = App(log, "a")
    app.write(100)  # 5 KB: there when the agent starts, more than the 1 KiB of a fingerprint
    agent = new_agent(agents, tmp_path, [{"path": str(tmp_path / "app*.log")}], checkpoint_interval=3600)
    agent.start()
    agent.wait_log("following", file=str(log))
    app.write(200)
    agent.wait_probes(app.written)  # read; not checkpointed
    agent.kill()
    rename_rotate(log)
    app.write(300)  # after the kill, into app.log.1: the lines at stake
    app.reopen("b")
    app.write(200)
    app.close()
    written = app.written
    agent.start()
    got = agent.wait_probes(written)
    lost, _ = report("read, not checkpointed, renamed while down", written, got)
    assert lost == 0, f"{lost} lines lost (the 300 appended to app.log.1 after the kill are at stake)"
    assert not (set(got) - set(written)), "lines that were never written"
    assert agent.stop() == 0


# (scheme, the generations from before the agent, the names of the two rotations, how it stops)
SCHEMES = {
    # logrotate's default: LOG.1, LOG.2 ... shifted at each rotation; older ones compressed
    "numbered": (["app.log.1", "app.log.2.gz"], None, signal.SIGTERM),
    # logrotate's dateext: each rotation names its own generation; nothing is shifted
    "dated": (
        ["app.log-20261204", "app.log-20261203.gz"],
        ["app.log-20261205", "app.log-20261206"],
        signal.SIGKILL,
    ),
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_two_rotations_while_down_read_the_middle_generation(
    tmp_path: Path, agents: list[Agent], scheme: str
) -> None:
    """The agent follows app.log and has checkpointed all of it; it stops (SIGTERM, or SIGKILL
    once the checkpoint covers every line). While it is down logrotate runs twice: app.log (A)
    becomes a rotated generation, a new app.log (B) is written, B is rotated too, and a new app.log
    (C) is written; the application writes on to each renamed file before it reopens. At the next
    start every line written since the checkpoint arrives exactly once: the rest of A (found beside
    its old path), all of B (the middle generation: no checkpoint names it and app.log does not
    match it) and all of C. Generations older than A, compressed or not, were never the agent's to
    read and must not arrive.

    Today B is never read: its 250 lines are lost."""
    older, dated, stop = SCHEMES[scheme]
    log = tmp_path / "app.log"
    old_text, old_lines = probe_lines("old", 100)
    (tmp_path / older[0]).write_text(old_text)
    gz_text, gz_lines = probe_lines("gz", 100)
    (tmp_path / older[1]).write_bytes(gzip.compress(gz_text.encode()))
    day_ago = time.time() - 86400
    for name in older:
        os.utime(tmp_path / name, (day_ago, day_ago))

    def rotate(generation: int) -> None:
        if dated is None:
            rename_rotate(log)
        else:
            os.rename(log, tmp_path / dated[generation])

    app = App(log, "a")
    app.write(300)
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    agent.wait_probes(app.written)
    wait_for(lambda: agent.checkpoint_offset(log) == log.stat().st_size, 10, "a checkpoint at the end", agent)
    if stop == signal.SIGKILL:
        agent.kill()
    else:
        assert agent.stop() == 0
    app.write(100)  # the rest of A
    rotate(0)
    app.write(50)  # still A, now rotated: the logger has not reopened yet
    app.reopen("b")
    app.write(200)
    rotate(1)
    app.write(50)  # still B, rotated in its turn
    app.reopen("c")
    app.write(200)
    app.close()
    written = app.written
    agent.start()
    got = agent.wait_probes(written)
    lost, _ = report(
        f"two rotations while down ({scheme})",
        written,
        got,
        middle_generation_lost=sum(1 for k in written if k.startswith("b ") and not got[k]),
    )
    assert not [k for k in got if k.split()[0] in ("old", "gz")], (
        "lines of generations older than the checkpoint"
    )
    assert (written - got) == Counter(), f"{lost} lines lost"
    assert_exact(written, got)
    assert sum(old_lines.values()) + sum(gz_lines.values()) == 200
    assert agent.stop() == 0
