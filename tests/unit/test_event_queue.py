"""The event queue between the pipeline and the event writer: its byte estimate, and a batch the
writer fails on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import wait_for

from trt_agent.config import RedactionConfig


def test_a_batch_the_writer_fails_on_leaves_no_phantom_events_in_the_queue(tmp_path: Path) -> None:
    """A bug while writing one batch (here: a redactor that raises) is counted and the batch
    dropped; the queue's counters go back to 0, so later batches are not refused as 'full'."""
    from trt_agent.config import EventsConfig
    from trt_agent.redact import Redactor
    from trt_agent.sinks.event_stream import EventStream

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
