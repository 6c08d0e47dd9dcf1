"""``[[logs]]`` paths that match nothing yet: warned once, exported as 0 files, followed from their
start when they appear."""

from __future__ import annotations

from pathlib import Path

from conftest import answers_ok
from harness import LINE, Agent, Writer, assert_exact, new_agent, wait_for


def test_file_that_does_not_exist_yet(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "later" / "app.log"
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e", "read_from": "end"}])
    agent.start()
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)", path=str(log)
    )
    log.parent.mkdir()
    with Writer(log, "late") as writer:
        writer.wait_count(500)
    # A file that appears after start-up is read from its beginning, even with read_from = "end".
    assert_exact(writer.written, agent.wait_probes(writer.written))
    assert agent.stop() == 0


def test_a_logs_path_matching_nothing_is_warned_and_exported(tmp_path: Path, agents: list[Agent]) -> None:
    missing, typo = tmp_path / "missing.log", str(tmp_path / "typo*.log")
    agent = new_agent(
        agents, tmp_path, [{"path": str(missing), "engine": "m"}, {"path": typo, "engine": "t"}]
    )
    agent.start()
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)",
        path=str(missing),
    )
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)", path=typo
    )
    metrics = agent.metrics()
    assert metrics[f'trt_agent_log_path_files{{file="{missing}"}}'] == 0
    assert metrics[f'trt_agent_log_path_files{{file="{typo}"}}'] == 0
    base = agent.metrics_url.rsplit("/", 1)[0]
    # readiness as before: every file present was read (the first scan may still be finishing)
    wait_for(lambda: answers_ok(f"{base}/-/ready"), 10, "ready", agent)

    missing.write_text(LINE.format(tag="m", n=0))
    agent.wait_log("[[logs]] path matches files now", path=str(missing), files=1)
    wait_for(
        lambda: agent.metrics()[f'trt_agent_log_path_files{{file="{missing}"}}'] == 1, 10, "gauge 1", agent
    )
    for n in (1, 2):
        (tmp_path / f"typo{n}.log").write_text(LINE.format(tag="t", n=n))
    wait_for(lambda: agent.metrics()[f'trt_agent_log_path_files{{file="{typo}"}}'] == 2, 10, "gauge 2", agent)
    missing.unlink()
    wait_for(
        lambda: agent.metrics()[f'trt_agent_log_path_files{{file="{missing}"}}'] == 0, 10, "gauge 0", agent
    )
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)",
        path=str(missing),
    )
    assert agent.stop() == 0
    # Once per episode, not once per re-scan (poll_interval 0.25 s: dozens of scans ran).
    warned = [e for e in agent.agent_logs() if e.get("msg", "").startswith("no file matches")]
    assert sorted(e["path"] for e in warned) == sorted([str(missing), str(missing), typo])
