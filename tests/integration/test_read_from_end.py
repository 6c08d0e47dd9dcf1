"""read_from = "end": history skipped, line numbers kept."""

from __future__ import annotations

from pathlib import Path

from harness import Agent, Writer, new_agent


def test_read_from_end_skips_history_but_keeps_line_numbers(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    writer = Writer(log, "old")
    for _ in range(50):
        writer.write_one()
    with open(log, "a") as fh:
        fh.write("[11/26/2026-10:00:00] [TRT] [W] half a li")  # an unfinished line: read once finished
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e", "read_from": "end"}])
    agent.start()
    with open(log, "a") as fh:
        fh.write("ne\n")
    new = Writer(log, "new")
    for _ in range(10):
        new.write_one()
    got = agent.wait_probes(new.written)
    new.stop()
    writer.stop()
    assert got == new.written
    events = agent.events()
    assert [e["source"]["line"] for e in events] == list(range(51, 62))
    assert events[0]["msg"].endswith("half a line")
    assert agent.stop() == 0
