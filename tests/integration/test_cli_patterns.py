"""``[[patterns]]`` as a user meets them: ``trt-agent parse``, ``report``, ``check`` and ``run``
with a config whose patterns turn an application's own logger line (Ultralytics' export summary,
tests/data/dialects/151_*) into events, and a bad pattern refused with exit 2 naming its key."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from conftest import agent_toml, data_file, trt_agent
from harness import Agent, wait_for

EXPORT = "TensorRT: export success ✅ 123.0s, saved as 'yolov8x-worldv2.engine' (431.8 MB)"
PATTERNS = r"""
[[patterns]]
regex = 'TensorRT: export success .* \((?P<value>[\d.]+) (?P<unit>[KMG]i?B)\)$'
type = "memory"
fields = { kind = "engine_file" }

[[patterns]]
regex = 'TensorRT: export success \S* (?P<seconds>[\d.]+)s,'
type = "build_complete"
severity = "warning"
engine = "yolov8x-worldv2"
"""
ENGINE_FILE_RULE = """
[[rule]]
name = "engine_file_size"
check = "peak_memory"
kind = "engine_file"
max_bytes = "{limit}"
"""


def _config(tmp_path: Path, text: str = PATTERNS) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    return path


def _events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_parse_gives_the_patterns_events_for_the_applications_line(tmp_path: Path) -> None:
    log = data_file("151_")
    run = trt_agent("parse", "--config", _config(tmp_path), log)
    assert run.returncode == 0, run.stderr
    ours = [e for e in _events(run.stdout) if EXPORT in str(e["msg"])]
    assert [(e["type"], e["severity"], e["engine"]) for e in ours] == [
        ("memory", "info", log.stem),  # no severity on the line, none in the pattern: info
        ("build_complete", "warning", "yolov8x-worldv2"),
    ]
    assert ours[0]["kind"] == "engine_file" and ours[0]["bytes"] == round(431.8 * (1 << 20))
    assert ours[1]["seconds"] == 123.0
    assert {e["source"]["line"] for e in ours} == {10}  # type: ignore[index]
    # The TensorRT lines of the same file still give their events.
    assert any(e["type"] == "memory" and e.get("kind") == "activation" for e in _events(run.stdout))
    # Without the config the line gives nothing.
    plain = trt_agent("parse", log)
    assert plain.returncode == 0 and EXPORT not in plain.stdout


def test_check_and_report_judge_the_patterns_events(tmp_path: Path) -> None:
    log = data_file("151_")
    config = _config(tmp_path)
    rules = tmp_path / "rules.toml"
    rules.write_text(ENGINE_FILE_RULE.format(limit="400 MiB"))
    run = trt_agent("check", "-c", config, "--rules", rules, log)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL  engine_file_size  engine_file memory 431.8 MiB (452775117 bytes)" in run.stdout
    rules.write_text(ENGINE_FILE_RULE.format(limit="1 GiB"))
    assert trt_agent("check", "-c", config, "--rules", rules, log).returncode == 0
    without = trt_agent("check", "--rules", rules, log)  # no pattern, no such memory: skipped
    assert without.returncode == 0 and "no engine_file memory reported" in without.stdout

    report = trt_agent("report", "-c", config, "--json", log)
    assert report.returncode == 0, report.stderr
    engines = {e["engine"]: e for e in json.loads(report.stdout)["engines"]}
    assert engines[log.stem]["memory"]["engine_file"] == 452775117
    assert set(engines) == {log.stem, "yolov8x-worldv2"}


def test_a_bad_pattern_is_exit_2_naming_the_key(tmp_path: Path) -> None:
    log = data_file("151_")
    bad = PATTERNS + "\n[[patterns]]\nregex = '(?P<layer>conv(?=1))'\ntype = \"fusion\"\n"
    config = _config(tmp_path, bad)
    for command in ("parse", "report", "check"):
        run = trt_agent(command, "-c", config, log)
        assert run.returncode == 2, (command, run.stderr)
        assert f"{config}: patterns[2].regex: invalid perl operator: (?=" in run.stderr
        assert "Traceback" not in run.stderr
    config.write_text(PATTERNS.replace('type = "memory"', 'type = "memroy"'))
    run = trt_agent("parse", "-c", config, log)
    assert run.returncode == 2 and "patterns[0].type: unknown event type 'memroy'" in run.stderr
    config.write_text(PATTERNS.replace('severity = "warning"', 'severity = "warn"'))
    run = trt_agent("report", "-c", config, log)
    assert run.returncode == 2 and "patterns[1].severity must be one of" in run.stderr
    config.write_text(PATTERNS.replace("(?P<seconds>", "(?P<secs>"))
    run = trt_agent("check", "-c", config, log)
    assert run.returncode == 2
    assert "patterns[1].regex: group 'secs' is no key of event type build_complete" in run.stderr

    # the daemon refuses it at start
    daemon = agent_toml(tmp_path, bad)
    run = trt_agent("run", "-c", daemon, cwd=tmp_path)
    assert run.returncode == 2 and "patterns[2].regex: invalid perl operator" in run.stderr


def test_the_daemon_applies_patterns_and_a_reload_changes_them(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "export.log"
    log.write_text(data_file("151_").read_text())
    agent = Agent(tmp_path, [{"path": str(log), "engine": "export"}])
    agents.append(agent)
    agent.write_config(PATTERNS)
    agent.start()

    def ours() -> list[dict[str, object]]:
        return [e for e in agent.events() if "export success" in str(e.get("msg"))]

    wait_for(lambda: len(ours()) == 2, 20, "the patterns' two events", agent)
    assert [(e["type"], e["engine"]) for e in ours()] == [
        ("memory", "export"),
        ("build_complete", "yolov8x-worldv2"),
    ]
    metrics = agent.metrics()
    assert metrics['trt_engine_memory_bytes{engine="export",kind="engine_file"}'] == 452775117

    # SIGHUP: the followed file's reader takes the new patterns from its next line
    agent.write_config(PATTERNS.replace('kind = "engine_file"', 'kind = "engine_plan"'))
    agent.send(signal.SIGHUP)
    agent.wait_log("config reloaded")
    with log.open("a") as fh:
        fh.write(EXPORT.replace("431.8 MB", "12 MB") + "\n")
    wait_for(lambda: len(ours()) == 4, 20, "the events of the line written after the reload", agent)
    assert ours()[2]["kind"] == "engine_plan" and ours()[2]["bytes"] == 12 << 20
