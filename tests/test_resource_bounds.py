"""Resource bounds: over ``agent.memory_limit_bytes`` the agent sheds verbose events (counted)
instead of growing; warnings and errors still arrive. A real agent process, a real verbose log."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA
from harness import Agent, new_agent, wait_for

VERBOSE_BUILD = next((DATA / "extra").glob("45_*"))  # a real Polygraphy --verbose FP16 build log


def run_on(
    tmp_path: Path, agents: list[Agent], limit: int
) -> tuple[dict[str, float], list[dict[str, object]]]:
    tmp_path.mkdir()
    log = tmp_path / "build.log"
    log.write_bytes(VERBOSE_BUILD.read_bytes())
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "fp16"}], memory_limit_bytes=limit)
    agent.start()
    metrics = wait_for(lambda: (m := agent.metrics()).get("trt_agent_ready") == 1 and m, 15, "ready", agent)
    # the limit is checked once a second: append the file again once shedding had its chance
    if limit:
        wait_for(lambda: agent.metrics().get("trt_agent_memory_shedding") == 1, 10, "shedding", agent)
    with log.open("ab") as out:
        out.write(VERBOSE_BUILD.read_bytes())
    metrics = wait_for(
        lambda: (m := agent.metrics()).get('trt_agent_tail_lag_bytes{file="' + str(log) + '"}') == 0 and m,
        15,
        "second copy read",
        agent,
    )
    assert agent.stop() == 0
    return metrics, agent.events()


def test_over_the_memory_limit_verbose_events_are_shed_and_counted(
    tmp_path: Path, agents: list[Agent]
) -> None:
    free, free_events = run_on(tmp_path / "free", agents, 0)
    limited, limited_events = run_on(tmp_path / "limited", agents, 32 << 20)  # below any agent's RSS
    assert (
        free["trt_agent_memory_shedding"] == 0
        and free['trt_agent_shed_events_total{severity="verbose"}'] == 0
    )
    assert limited["trt_agent_memory_shedding"] == 1
    verbose_free = sum(e["severity"] == "verbose" for e in free_events)
    verbose_limited = sum(e["severity"] == "verbose" for e in limited_events)
    shed = limited['trt_agent_shed_events_total{severity="verbose"}']
    # the second copy's verbose events were shed, every one of them counted; nothing else was lost
    assert shed > 0 and verbose_limited + shed == verbose_free
    assert [e["msg"] for e in limited_events if e["severity"] != "verbose"] == [
        e["msg"] for e in free_events if e["severity"] != "verbose"
    ]


def test_a_limit_below_32_mib_is_a_config_error(tmp_path: Path) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text("[agent]\nmemory_limit_bytes = 1000\n")
    with pytest.raises(
        ConfigError, match=r"agent\.memory_limit_bytes must be 0 \(no limit\) or at least 33554432"
    ):
        load_config(str(path))
