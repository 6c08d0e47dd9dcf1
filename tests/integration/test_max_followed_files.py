"""More matching files than agent.max_followed_files: the newest are followed, the others counted
once and followed from their start (or, with read_from = "end", from where they stood at start)
when room frees up."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from harness import LINE, Agent, assert_exact, new_agent, wait_for


def test_more_files_than_max_followed_files(tmp_path: Path, agents: list[Agent]) -> None:
    """A glob matches 6 files, agent.max_followed_files is 3: the 3 newest are followed, the
    other 3 are counted once each (too_many_files) under one warning; when followed files go
    away, the others are followed from their start, so none of their lines is lost."""
    logs = tmp_path / "logs"
    logs.mkdir()
    written: Counter[str] = Counter()
    for i in range(6):
        path = logs / f"{i}.log"
        path.write_text("".join(LINE.format(tag=f"f{i}", n=n) for n in range(50)))
        written.update(f"f{i} {n:08d}" for n in range(50))
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # 5.log is the newest
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "e"}], max_followed_files=3)
    agent.start()
    newest = Counter({k: v for k, v in written.items() if k[:2] in ("f3", "f4", "f5")})
    assert_exact(newest, agent.wait_probes(newest))
    metrics = agent.metrics()
    assert metrics["trt_agent_open_files"] == 3
    assert metrics['trt_agent_tail_errors_total{reason="too_many_files"}'] == 3
    # More scans (every 0.25 s): still counted once each, and warned once. A fixed window: what
    # must not happen has no condition to wait for, and the agent does not count its scans.
    time.sleep(1)
    assert agent.metrics()['trt_agent_tail_errors_total{reason="too_many_files"}'] == 3
    warnings = [e for e in agent.agent_logs() if "max_followed_files" in e.get("msg", "")]
    assert [(w["not_followed"], w["example"]) for w in warnings] == [(3, str(logs / "0.log"))]
    for i in (3, 4, 5):
        os.unlink(logs / f"{i}.log")
    assert_exact(written, agent.wait_probes(written))
    agent.wait_log("every matching file is followed again")
    assert agent.stop() == 0


def test_read_from_end_holds_for_a_file_the_cap_kept_out_at_start(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """read_from = "end", 3 files at start, max_followed_files = 2: the oldest waits. Followed
    later, its history (what it held at start) is still skipped; lines written after start are
    read."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(3):
        path = logs / f"{i}.log"
        path.write_text("".join(LINE.format(tag=f"old{i}", n=n) for n in range(20)))
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # 0.log is the oldest
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(logs / "*.log"), "engine": "e", "read_from": "end"}],
        max_followed_files=2,
    )
    agent.start()
    wait_for(
        lambda: agent.metrics()['trt_agent_tail_errors_total{reason="too_many_files"}'] == 1, 10, "cap", agent
    )
    with (logs / "0.log").open("a") as out:  # written after start, while the file waits
        out.write("".join(LINE.format(tag="new0", n=n) for n in range(5)))
    os.unlink(logs / "2.log")
    expected = Counter(f"new0 {n:08d}" for n in range(5))
    got = agent.wait_probes(expected)
    assert_exact(expected, got)  # was: the 20 old lines of 0.log too
    assert agent.stop() == 0
