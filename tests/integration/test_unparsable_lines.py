"""Lines that break a grammar rule or hold numbers no 64-bit counter holds: counted, not fatal, and
the lines around them all arrive."""

from __future__ import annotations

from pathlib import Path

from harness import Agent, Writer, assert_exact, new_agent


def test_lines_that_break_a_rule_or_json_are_counted_not_fatal(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "[11/26/2026-10:00:00] [TRT] [I] Total Activation Memory: 99999999999999999999999\n"
        "[11/26/2026-10:00:00] [TRT] [I] Loaded engine size: 1e999 MiB\n"
    )
    writer = Writer(log, "after")
    for _ in range(5):
        writer.write_one()
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}])
    agent.start()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    # sizes no 64-bit counter holds are no facts: both lines give no event and are counted as
    # lines without one; the probes around them all arrive
    assert not [e for e in agent.events() if e["type"] == "memory"]
    assert agent.metrics()[f'trt_agent_unparsed_lines_total{{file="{log}"}}'] == 2
    for _ in range(5):  # both threads still work
        writer.write_one()
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0
