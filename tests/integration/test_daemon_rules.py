"""The daemon's ``trt_engine_rule_ok``: rules evaluated on what it tails, reloaded on SIGHUP."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from conftest import DATA, GATE, rules_file
from harness import Agent, new_agent, wait_for

EXTRA = DATA / "extra"
OOM_NO_IMPLEMENTATION = next(EXTRA.glob("55_*"))


def rule_samples(agent: Agent) -> dict[str, float]:
    return {k: v for k, v in agent.metrics().items() if k.startswith("trt_engine_rule_ok")}


def test_daemon_exports_trt_engine_rule_ok_and_reloads_rules(tmp_path: Path, agents: list[Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "gpt.log").write_bytes(OOM_NO_IMPLEMENTATION.read_bytes())
    rules = rules_file(tmp_path, GATE)
    agent = new_agent(agents, tmp_path, [{"path": str(logs / "*.log"), "engine": "gpt"}])
    agent.write_config(f'[rules]\nfile = "{rules}"\n')
    agent.start()

    def samples() -> dict[str, float] | None:
        got = rule_samples(agent)
        return got if len(got) == 2 else None

    got: dict[str, Any] = wait_for(samples, 15, "trt_engine_rule_ok series", agent)
    assert got == {
        'trt_engine_rule_ok{engine="gpt",rule="no_fallback",severity="error"}': 0.0,
        'trt_engine_rule_ok{engine="gpt",rule="plugins_registered",severity="error"}': 1.0,
    }  # fusion_coverage and fp16_everywhere: no layer list in this log, skipped, no series
    failed = agent.wait_log("rule failed", rule="no_fallback")
    assert failed["engine"] == "gpt" and "no_implementation" in failed["detail"]

    # a broken rules file on SIGHUP keeps the running rules
    rules.write_text('[[rule]]\nname = "x"\ncheck = "nonsense"\n')
    agent.send(signal.SIGHUP)
    agent.wait_log("rules reload failed; keeping the running config and rules")
    assert len(rule_samples(agent)) == 2

    # a good one applies
    rules.write_text('[[rule]]\nname = "no_fallback_warning"\ncheck = "no_fallback"\nseverity = "warning"\n')
    agent.send(signal.SIGHUP)
    wait_for(
        lambda: (
            rule_samples(agent)
            == {'trt_engine_rule_ok{engine="gpt",rule="no_fallback_warning",severity="warning"}': 0.0}
        ),
        10,
        "reloaded rules",
        agent,
    )
    assert agent.stop() == 0
