"""A followed file deleted and created again: a real ``trt-agent run`` process, real files, a
writer appending; the lines ingested must be the lines written (nothing lost, nothing twice)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness import Agent, Writer, assert_exact, follow_one_file


def test_delete_and_recreate(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = follow_one_file(agents, tmp_path)
    with Writer(log, "dr") as writer:
        for _ in range(3):
            writer.wait_count(writer.count + 300)
            os.unlink(log)
            time.sleep(0.1)  # still writing to the deleted file
            writer.reopen()
        writer.wait_count(writer.count + 300)
    got = agent.wait_probes(writer.written)
    assert_exact(writer.written, got)
    assert agent.stop() == 0
