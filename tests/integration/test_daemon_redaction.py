"""Redaction in a running agent: no name in its events, metrics or own logs, across restarts and
reloads."""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path
from typing import Any

from conftest import (
    DATA,
    NAMES_THAT_ARE_WORDS,
    PSEUDONYMS,
    REDACTION_CONFIG,
    REDACTION_KEY,
    clear_names,
    data_file,
    leaks,
    make_redactor,
    names_in,
    write_key,
)
from harness import Agent, new_agent, wait_for

from trt_agent.parse import ParseStats, parse_path

CORPUS = sorted(p for folder in ("corpus", "extra") for p in (DATA / folder).iterdir() if p.suffix != ".md")


def test_daemon_metrics_events_and_own_logs_leak_no_name(tmp_path: Path, agents: list[Agent]) -> None:
    """Every corpus file as its own engine. A file's names must not appear in any event or metric
    of its engine, nor anywhere in the agent's own logs. (Across engines a name can be a plain
    substring of another log's text written before that name was known, e.g. "prob" in
    TensorRT-LLM's "normalize_log_probs": that text is not the name leaking.)"""
    (tmp_path / "key").write_bytes(REDACTION_KEY)
    (tmp_path / "key").chmod(0o600)  # the agent refuses a key others can read
    engine_of = {p: p.name[:2] for p in CORPUS}
    assert len(set(engine_of.values())) == len(CORPUS)
    agent = Agent(
        tmp_path,
        [{"path": str(p), "engine": e} for p, e in engine_of.items()],
        log_level="debug",
        metrics={"max_engines": 2 * len(CORPUS)},  # every engine kept, whenever the bounds run
    )
    agents.append(agent)
    agent.config_path.write_text(
        agent.config_path.read_text() + '[redaction]\nenabled = true\nkey_file = "key"\n'
    )
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 60, "ready", agent)
    names = {e: names_in(list(parse_path(str(p), e, ParseStats()))) for p, e in engine_of.items()}
    wait_for(lambda: len(agent.events()) > 1000, 30, "events", agent)
    metrics_text = _scrape(agent)
    # labels are pseudonyms
    assert 'trt_engine_layer_latency_seconds_count{engine="41",layer="L' in metrics_text
    assert "\ntrt_agent_redaction_collisions_total 0.0\n" in metrics_text  # no two corpus names collide
    assert agent.stop() == 0
    by_engine: dict[str, list[str]] = {}
    for line in agent.events_path.read_text().splitlines():
        by_engine.setdefault(json.loads(line)["engine"], []).append(line)
    for line in metrics_text.splitlines():
        m = re.search(r'engine="([^"]+)"', line)
        if m:
            by_engine.setdefault(m.group(1), []).append(line)
    assert set(by_engine) >= {"01", "03", "41"}
    for engine, lines in by_engine.items():
        assert not leaks(names[engine] - NAMES_THAT_ARE_WORDS, "\n".join(lines)), engine
    bindings = [
        e for e in map(json.loads, agent.events_path.read_text().splitlines()) if e["type"] == "binding"
    ]
    assert bindings and all(PSEUDONYMS.fullmatch(e["name"]) for e in bindings), bindings
    everything = set().union(*names.values()) - NAMES_THAT_ARE_WORDS
    assert not leaks(everything, agent.stderr_path.read_text())


def _scrape(agent: Agent) -> str:
    import urllib.request

    with urllib.request.urlopen(agent.metrics_url, timeout=10) as response:
        return str(response.read().decode())


ODD = "[09/10/2023-23:30:00] [W] [TRT] x: odd ArgMax_1386 and MatMul_1327 near /features/features.0/Conv\n"


def _odd_messages(agent: Agent) -> list[str]:
    return [e["msg"] for e in agent.events() if " odd " in (e.get("msg") or "")]


def test_names_learned_before_a_restart_are_still_redacted_after_it(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """The same warning, written before and after a restart, comes out the same: the files
    replayed up to their checkpoints at start teach the redactor their names again (a name
    starting with "/" stays an ``L`` pseudonym, not a ``P`` path)."""
    write_key(tmp_path)
    seg, alex = tmp_path / "b.log", tmp_path / "a.log"
    shutil.copy(data_file("05_"), seg)
    shutil.copy(data_file("03_"), alex)
    agent = new_agent(
        agents, tmp_path, [{"path": str(seg), "engine": "seg"}, {"path": str(alex), "engine": "alex"}]
    )
    agent.write_config(REDACTION_CONFIG)
    for run in (1, 2):
        agent.start()
        with open(seg, "a") as fh:
            fh.write(ODD)
        wait_for(lambda run=run: len(_odd_messages(agent)) == run, 20, f"the odd line, run {run}", agent)
        assert agent.stop() == 0
    before, after = _odd_messages(agent)
    redactor = make_redactor()
    expected = "x: odd {} and {} near {}".format(
        *map(redactor.name, ("ArgMax_1386", "MatMul_1327", "/features/features.0/Conv"))
    )
    assert before.endswith(expected)
    assert after == before


CALIBRATION_RULE = '[[rule]]\nname = "activation_range"\ncheck = "calibration_range"\nmax_width = 100\n'


# The tensors of 07's cache wider than 100, the widest first (ONNX names them by number).
WIDEST = ["341", "304"]


def test_rule_failed_log_names_numeric_tensors_by_pseudonym(tmp_path: Path, agents: list[Agent]) -> None:
    """The daemon's "rule failed" log line, before and after a restart, matches the metric label."""
    write_key(tmp_path)
    cache = tmp_path / "calib.cache"
    shutil.copy(data_file("07_"), cache)
    (tmp_path / "rules.toml").write_text(CALIBRATION_RULE)
    agent = new_agent(agents, tmp_path, [{"path": str(cache), "engine": "seg"}])
    agent.write_config(REDACTION_CONFIG + '[rules]\nfile = "rules.toml"\n')
    label = make_redactor().name("341")
    for _ in range(2):
        agent.start()
        wait_for(
            lambda: (
                agent.metrics().get(
                    'trt_engine_rule_ok{engine="seg",rule="activation_range",severity="error"}'
                )
                == 0
            ),
            20,
            "the rule",
            agent,
        )
        detail = agent.wait_log("rule failed", rule="activation_range")["detail"]
        assert f"{label} [-333.197, 333.197]" in detail
        # the test's own directory (pytest-341/...) is a config path, clear by design
        assert not clear_names(agent.stderr_path.read_text().replace(str(tmp_path), "TMP"), WIDEST)
        assert f'tensor="{label}"' in "".join(agent.metrics())
        assert agent.stop() == 0


def _logged(agent: Agent, event: str) -> list[dict[str, Any]]:
    return [e for e in agent.agent_logs() if e.get("msg") == event]


def _reload(agent: Agent) -> list[str]:
    """SIGHUP, wait for the reload; the keys every reload so far said need a restart."""
    done = len(_logged(agent, "config reloaded"))
    agent.send(signal.SIGHUP)
    wait_for(lambda: len(_logged(agent, "config reloaded")) > done, 10, "config reloaded", agent)
    return [e["key"] for e in _logged(agent, "changed key needs a restart to apply")]


def test_reverting_a_restart_key_before_the_restart_warns_no_more(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """A reload compares the new config with the one running, not with the one last read."""
    agent = new_agent(agents, tmp_path, [{"path": str(tmp_path / "app.log"), "engine": "e"}])
    agent.start()
    running = agent.metrics_options["listen"]
    agent.metrics_options["listen"] = "127.0.0.1:1"
    agent.write_config()
    assert _reload(agent) == ["[metrics]"]
    assert _reload(agent) == ["[metrics]"] * 2  # still changed: still needs the restart
    agent.metrics_options["listen"] = running
    agent.write_config()
    assert _reload(agent) == ["[metrics]"] * 2  # back to what runs: nothing to restart for
    assert agent.metrics()['trt_agent_config_reloads_total{result="success"}'] == 3
    assert agent.stop() == 0
