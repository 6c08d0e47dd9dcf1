"""``[[logs]]`` globs: files that appear are followed, each file's engine named after it when the
glob names none."""

from __future__ import annotations

from pathlib import Path

from harness import Agent, Writer, assert_exact, new_agent, wait_for


def test_glob_picks_up_new_files(tmp_path: Path, agents: list[Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "e"}])
    agent.start()
    with Writer(logs / "a.log", "a") as first:
        first.wait_count(300)
        with Writer(logs / "b.log", "b") as second:
            second.wait_count(300)
            with Writer(logs / "c.log", "c") as third:
                third.wait_count(300)
    written = first.written + second.written + third.written
    assert_exact(written, agent.wait_probes(written))
    assert agent.metrics()["trt_agent_open_files"] == 3
    assert agent.stop() == 0


def test_a_glob_without_engine_names_each_files_engine_after_the_file(
    tmp_path: Path, agents: list[Agent]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("resnet50-int8.log", "bert-fp16.log"):
        (logs / name).write_text("[11/26/2026-10:00:00] [TRT] [W] probe x 00000001\n")
    agent = Agent(tmp_path, [{"path": str(logs / "*.log")}])
    agents.append(agent)
    agent.start()
    wait_for(lambda: len(agent.events()) == 2, 10, "two events", agent)
    assert sorted(e["engine"] for e in agent.events()) == ["bert-fp16", "resnet50-int8"]
    assert agent.stop() == 0
