"""Resource bounds: over ``agent.memory_limit_bytes`` the agent sheds verbose events (counted)
instead of growing; warnings and errors still arrive. The event queue is bounded in bytes as well
as in events. Real agent processes, real log text."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
    # every line of both copies counted (the lag alone is "as of the tailer's last look": it can
    # read 0 before the tailer has seen the append)
    lines = 2 * VERBOSE_BUILD.read_bytes().count(b"\n")
    metrics = wait_for(
        lambda: (m := agent.metrics()).get('trt_agent_lines_total{file="' + str(log) + '"}') == lines and m,
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


def _stuck_queue(tmp_path: Path, agents: list[Agent], queue_bytes: int) -> tuple[dict[str, float], int]:
    """A log of 160 warnings of 128 KiB each (a real message with a huge tensor name) read by an
    agent whose event stream is a pipe nobody reads: the writer blocks, the queue fills. Returns
    the metrics once every line is read, and the agent's RSS growth (bytes) meanwhile."""
    tmp_path.mkdir()
    log = tmp_path / "int8.log"
    log.touch()
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(log), "engine": "int8"}],
        events={"path": "-", "queue_bytes": queue_bytes},
    )
    agent.start(stdout=subprocess.PIPE, read_stdout=False)
    before = _rss(agent)
    # the message of tests/data/extra/44 (Polygraphy, TRT 10.16), with a name of 128 KiB
    line = "[W] Missing scale and zero-point for tensor {}, expect fall back to non-int8 implementation for any layer consuming or producing given tensor\n"
    with log.open("a") as out:
        for i in range(160):
            out.write(line.format(f"t{i:03d}_" + "x" * (128 << 10)))
    # every event is written, queued or dropped (counted) once its line is read
    metrics = wait_for(
        lambda: m if _accounted(m := agent.metrics()) == 160 else None, 20, "160 events", agent
    )
    growth = _rss(agent) - before
    agent.kill()
    return metrics, growth


def _accounted(metrics: dict[str, float]) -> float:
    return sum(
        metrics[name]
        for name in (
            "trt_agent_events_written_total",
            "trt_agent_events_queued",
            "trt_agent_events_dropped_total",
        )
    )


def _rss(agent: Agent) -> int:
    assert agent.proc is not None
    status = Path(f"/proc/{agent.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024


def test_the_event_queue_is_bounded_in_bytes_as_well_as_in_events(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """40 MiB of events (each holds its 128 KiB line and the 128 KiB name), far fewer than
    ``events.queue_events``, behind a stuck writer: with
    ``queue_bytes`` = 2 MiB the queue stops at 2 MiB plus one read's batch, the rest is dropped
    and counted. The default (64 MiB) holds them all: the control, so this test fails if the byte
    bound does nothing. (RSS growth is printed, not judged: reading 20 MiB of lines costs buffers
    the allocator keeps either way.)"""
    bounded, bounded_growth = _stuck_queue(tmp_path / "bounded", agents, 2 << 20)
    roomy, roomy_growth = _stuck_queue(tmp_path / "roomy", agents, 64 << 20)
    print(
        f"\n[resource-bounds] queue_bytes 2 MiB: {bounded['trt_agent_events_queued_bytes'] / 2**20:.1f} MiB queued, "
        f"{bounded['trt_agent_events_dropped_total']:.0f} dropped, RSS +{bounded_growth / 2**20:.1f} MiB; "
        f"64 MiB: {roomy['trt_agent_events_queued_bytes'] / 2**20:.1f} MiB queued, "
        f"{roomy['trt_agent_events_dropped_total']:.0f} dropped, RSS +{roomy_growth / 2**20:.1f} MiB"
    )
    # one read (1 MiB of lines at most) can go over the bound once
    assert bounded["trt_agent_events_queued_bytes"] <= (2 << 20) + (1 << 20) + (16 << 10)
    assert bounded["trt_agent_events_dropped_total"] > 100
    assert roomy["trt_agent_events_dropped_total"] == 0
    assert roomy["trt_agent_events_queued_bytes"] > 18 << 20
