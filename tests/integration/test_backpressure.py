"""Backpressure (events.when_full): after a restart, or at the first start on an old log, the tailer
reads a backlog as fast as it can parse it, and a writer on a slow disk (here: a writer that
rotates its file often) falls behind. With a file sink the tailer waits for the writer
(``block``, the default for a file): the log is the buffer, every line arrives once. With
``drop`` the batches that do not fit the queue are dropped, each event counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness import LINE, Agent, assert_exact, lost_and_duplicated, new_agent, wait_for

BACKLOG = 150_000  # about 7.8 MB of probe lines: read in batches of ~20 000 lines (1 MiB each)
# A queue of 64 events, so each 1 MiB read (a batch far bigger than the queue) goes in only when
# the writer has written everything before it; and a writer slower than the tailer, for real: it
# rotates its file every 150 kB, and each rotation renames every file kept (~250 by the end).
SLOW_WRITER = {"queue_events": 64, "max_bytes": 150_000, "max_files": 300}


def _backlog_agent(tmp_path: Path, agents: list[Agent], **events: object) -> tuple[Agent, Counter[str]]:
    """An agent, not started, on a log that already holds BACKLOG probe lines, its event queue
    64 events long (each 1 MiB read is a batch far bigger than the queue)."""
    log = tmp_path / "app.log"
    written: Counter[str] = Counter()
    with open(log, "w") as fh:
        for n in range(BACKLOG):
            fh.write(LINE.format(tag="bp", n=n))
            written[f"bp {n:08d}"] += 1
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}], events=SLOW_WRITER | events)
    return agent, written


def _all_read(agent: Agent) -> dict[str, float]:
    """Wait until every line of the backlog left the queue, written or dropped; the scrape."""

    def done() -> dict[str, float] | None:
        m = agent.metrics()
        settled = m["trt_agent_events_written_total"] + m["trt_agent_events_dropped_total"] >= BACKLOG
        return m if settled and m["trt_agent_events_queued"] == 0 else None

    metrics: dict[str, float] = wait_for(done, 60, "the backlog written or dropped", agent)
    return metrics


def test_a_backlog_bigger_than_the_queue_arrives_whole_into_a_file(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """The default for a file (when_full = auto: block): the tailer waits for room, nothing is
    dropped, and every line of the backlog arrives exactly once. (Before: the batches that did
    not fit were dropped and their lines checkpointed: most of the backlog lost for good.)"""
    agent, written = _backlog_agent(tmp_path, agents)
    agent.start()
    metrics = _all_read(agent)
    assert_exact(written, agent.probes())
    print(f"\n[backpressure] block: tailer waited {metrics['trt_agent_events_blocked_seconds_total']:.2f} s")
    assert metrics["trt_agent_events_dropped_total"] == 0
    assert metrics["trt_agent_events_written_total"] == BACKLOG
    assert metrics["trt_agent_events_blocked_seconds_total"] > 0
    assert agent.stop() == 0


def test_with_when_full_drop_the_backlog_is_dropped_and_counted(tmp_path: Path, agents: list[Agent]) -> None:
    """when_full = drop (today's stdout behaviour, asked for a file): the batches that do not fit
    are dropped, and the drop counter is exactly the lines missing from the event file; the
    tailer never waited."""
    agent, written = _backlog_agent(tmp_path, agents, when_full="drop")
    agent.start()
    metrics = _all_read(agent)
    lost, duplicated = lost_and_duplicated(written, agent.probes())
    print(f"\n[backpressure] drop: {len(lost)} of {BACKLOG} lines lost")
    assert duplicated == []
    assert len(lost) > 0
    assert metrics["trt_agent_events_dropped_total"] == len(lost)
    assert metrics["trt_agent_events_written_total"] == BACKLOG - len(lost)
    assert metrics["trt_agent_events_blocked_seconds_total"] == 0
    assert agent.stop() == 0
