"""Lines written in pieces: held until their newline, flushed after partial_line_timeout, a first
write of one byte not taken for JSON."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from harness import LINE, Agent, assert_exact, follow_one_file, new_agent, wait_for


def _lag(agent: Agent, log: Path) -> float:
    """Bytes of ``log`` the agent saw at its last look and has not read (handed on) yet."""
    return agent.metrics().get(f'trt_agent_tail_lag_bytes{{file="{log}"}}', 0)


def _read_and_written(agent: Agent, log: Path, size: int) -> bool:
    metrics = agent.metrics()
    read = metrics.get(f'trt_agent_read_bytes_total{{file="{log}"}}', 0)
    return read == size and metrics["trt_agent_events_queued"] == 0


def test_partial_line_is_held_until_its_newline(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = follow_one_file(agents, tmp_path, partial_line_timeout=3.0)
    line = LINE.format(tag="part", n=1)
    with open(log, "a") as fh:
        fh.write(line[:30])
        fh.flush()
        # read, and whatever the agent made of them handed to the event file
        wait_for(lambda: _read_and_written(agent, log, 30), 10, "the first 30 bytes read", agent)
        assert agent.probes() == Counter()
        fh.write(line[30:])
    got = agent.wait_probes(Counter({"part 00000001": 1}))
    assert got == Counter({"part 00000001": 1})
    assert [e["msg"] for e in agent.events()] == [line.rstrip("\n")]
    assert agent.stop() == 0


def test_partial_line_flushed_after_timeout(tmp_path: Path, agents: list[Agent]) -> None:
    agent, log = follow_one_file(agents, tmp_path, partial_line_timeout=0.5)
    line = LINE.format(tag="nonl", n=7).rstrip("\n")
    with open(log, "a") as fh:
        fh.write(line)  # a writer that died before its newline
    got = agent.wait_probes(Counter({"nonl 00000007": 1}), timeout=10)
    assert got == Counter({"nonl 00000007": 1})
    assert agent.metrics()["trt_agent_partial_lines_flushed_total"] == 1
    assert agent.stop() == 0


def test_a_first_write_of_one_bracket_is_not_taken_for_json(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    log.touch()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    line = LINE.format(tag="br", n=0)
    with open(log, "a") as fh:
        fh.write(line[:1])  # an unbuffered logger writes "[" first
        fh.flush()
        # the agent has looked at the file while it held the "[" alone
        wait_for(lambda: _lag(agent, log) == 1, 10, 'a look at the "[" alone', agent)
        fh.write(line[1:])
        for n in range(1, 50):
            fh.write(LINE.format(tag="br", n=n))
            if n % 10 == 0:  # the file grows several times
                fh.flush()
                time.sleep(0.1)  # the writer's pace: the agent looks between the growths
    expected = Counter({f"br {n:08d}": 1 for n in range(50)})
    assert_exact(expected, agent.wait_probes(expected))
    assert len(agent.events()) == 50
    assert agent.stop() == 0
