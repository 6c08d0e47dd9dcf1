"""Resource bounds: over ``agent.memory_limit_bytes`` the agent sheds verbose events (counted)
instead of growing; warnings and errors still arrive. The event queue is bounded in bytes as well
as in events. Real agent processes, real log text."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA
from harness import Agent, new_agent, wait_for

from trt_agent.config import RedactionConfig

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


def test_a_limit_below_32_mib_is_a_config_error(tmp_path: Path) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text("[agent]\nmemory_limit_bytes = 1000\n")
    with pytest.raises(
        ConfigError, match=r"agent\.memory_limit_bytes must be 0 \(no limit\) or at least 33554432"
    ):
        load_config(str(path))


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


def test_a_queue_bytes_below_1_mib_is_a_config_error(tmp_path: Path) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text("[events]\nqueue_bytes = 4096\n")
    with pytest.raises(
        ConfigError, match=r"events\.queue_bytes must be at least 1048576 \(1 MiB\), got 4096"
    ):
        load_config(str(path))


def test_a_batch_the_writer_fails_on_leaves_no_phantom_events_in_the_queue(tmp_path: Path) -> None:
    """A bug while writing one batch (here: a redactor that raises) is counted and the batch
    dropped; the queue's counters go back to 0, so later batches are not refused as 'full'."""
    from trt_agent.config import EventsConfig
    from trt_agent.redact import Redactor
    from trt_agent.sinks.jsonl import EventStream

    class Failing(Redactor):
        def events(self, events: Any) -> Any:
            if any(e["msg"] == "boom" for e in events):
                raise IndexError("a bug")
            return events

    def batch(msg: str) -> list[dict[str, Any]]:
        event = {"type": "warning", "ts": None, "severity": "warning", "engine": "e"}
        return [event | {"source": {"file": "x", "line": i}, "msg": msg} for i in range(5)]

    path = tmp_path / "events.jsonl"
    stream = EventStream(
        EventsConfig(path=str(path), queue_events=100),
        redactor=Failing(RedactionConfig(), b"k" * 16),
    )
    stream.start()
    for msg in ("ok", "ok", "boom", "ok"):
        stream.offer(batch(msg), {})
        wait_for(lambda: stream.queued == 0, 5, "the writer")
    assert stream.close(5)
    assert (stream.queued, stream.queued_bytes) == (0, 0)
    assert (stream.written, stream.dropped, stream.write_errors) == (15, 5, 1)
    assert len(path.read_text().splitlines()) == 15


def test_the_footprint_counts_every_string_at_its_real_size() -> None:
    """The byte bound's estimate: name fields and source lists too, not only msg, and a name in
    emoji at four bytes a character (was: len(msg) + 1 KiB, 5-15x under the truth)."""
    import sys
    import tracemalloc

    from trt_agent.sinks.jsonl import footprint

    def layer(i: int) -> dict[str, Any]:
        name = f"{i}" + "\U0001f600" * 1000 + " + " + "b" * 1000
        return {
            "type": "layer",
            "ts": None,
            "severity": "verbose",
            "engine": "e",
            "source": {"file": "x.log", "line": i},
            "msg": f"Layer(CaskConvolution): {name}, Tactic: 0x1",
            "name": name,
            "layer_type": "CaskConvolution",
            "precision": "Half",
            "tactic": "0x1",
            "sources": name.split(" + "),
        }

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    events = [layer(i) for i in range(200)]
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    estimate = footprint(events)
    print(f"\n[resource-bounds] footprint {estimate / 2**20:.2f} MiB, tracemalloc {held / 2**20:.2f} MiB")
    assert 0.8 * held <= estimate <= 1.5 * held
    assert estimate > 200 * 3 * sys.getsizeof("\U0001f600" * 1000)
