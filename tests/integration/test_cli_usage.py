"""What a new user meets first: ``--help`` with examples and exit codes for every command, a
command without input that says so instead of waiting on the terminal, and the ``TRT_AGENT_*``
variables over ``-c CONFIG`` of the offline commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import ROOT, trt_agent

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_PUSH_FAILED
from trt_agent.daemon import EXIT_CONFIG, EXIT_CRASHED

EXAMPLE_LOG = ROOT / "examples" / "logs" / "03_trtexec-verbose-build-alexnet-trt10.4-excerpts.log"
# command -> the exit codes its --help must explain
CODES = {
    "trt-agent": (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PUSH_FAILED),
    "parse": (EXIT_OK, EXIT_BAD_INPUT),
    "report": (EXIT_OK, EXIT_BAD_INPUT),
    "check": (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PUSH_FAILED),
    "diff": (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT),
    "redact-map": (EXIT_OK, EXIT_BAD_INPUT),
    "profile": (EXIT_OK, EXIT_BAD_INPUT),
    "run": (EXIT_OK, EXIT_CRASHED, EXIT_CONFIG),
}


@pytest.mark.parametrize("command", CODES)
def test_help_shows_examples_and_exit_codes(command: str) -> None:
    result = trt_agent(*([] if command == "trt-agent" else [command]), "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    examples = text[text.index("\nexamples:\n") :]
    shown = re.findall(r"^  (\S.*)$", examples.split("\n\n")[0], re.M)
    assert shown and all(
        line.startswith(("trt-agent ", "trtexec ", "TRT_AGENT_", "kill ", "    ")) for line in shown
    )
    if command != "trt-agent":
        assert any(line.startswith(f"trt-agent {command} ") for line in shown)
    status = text[text.index("\nexit status:\n") :]
    codes = [int(code) for code in re.findall(r"^  (\d+) ", status, re.M)]
    assert set(CODES[command]) <= set(codes), (command, codes)


def test_report_and_check_help_show_the_ci_examples() -> None:
    report = trt_agent("report", "--help").stdout
    assert "--format prometheus --label commit=$GIT_COMMIT" in report
    assert "--output /var/lib/node_exporter/textfile/resnet50.prom build.log" in report
    check = trt_agent("check", "--help").stdout
    assert "--push http://pushgateway:9091 --job trt-ci --label commit=$CI_COMMIT_SHA build.log" in check
    assert re.search(rf"^  {EXIT_PUSH_FAILED} +the gate passed but the push", check, re.M)


@pytest.mark.parametrize("command", ["parse", "report", "check", "redact-map"])
def test_no_input_file_prints_usage_and_exits_2_instead_of_waiting_on_stdin(command: str) -> None:
    # stdin stays open and silent, as a terminal nobody types into: the command must not wait on it
    proc = subprocess.Popen(
        [sys.executable, "-m", "trt_agent", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_BAD_INPUT and out == ""
    assert err.startswith(f"usage: trt-agent {command} ")
    assert err.rstrip().splitlines()[-1] == (
        f"trt-agent {command}: no input file: name the files to read, or - to read stdin"
    )


def test_an_explicit_dash_still_reads_stdin() -> None:
    result = trt_agent("report", "--json", "-", input=EXAMPLE_LOG.read_text())
    assert result.returncode == EXIT_OK, result.stderr
    assert orjson.loads(result.stdout)["engines"]


def test_redact_map_without_files_reads_the_configs_logs(tmp_path: Path) -> None:
    (tmp_path / "redaction.key").write_bytes(b"k" * 32)
    (tmp_path / "redaction.key").chmod(0o600)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[redaction]\nenabled = true\nkey_file = "redaction.key"\n[[logs]]\npath = "{EXAMPLE_LOG}"\n'
    )
    result = trt_agent("redact-map", "-c", config)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.count("\t") > 5


def test_the_offline_commands_read_the_variables_over_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[agent]\nlog_format = "json"\n')
    (tmp_path / "redaction.key").write_bytes(b"k" * 32)
    (tmp_path / "redaction.key").chmod(0o600)
    env = {
        "TRT_AGENT_REDACTION_ENABLED": "true",
        "TRT_AGENT_REDACTION_KEY_FILE": "redaction.key",  # relative: from the working directory
        "PATH": "/usr/bin:/bin",
    }
    clear = trt_agent("parse", "-c", config, EXAMPLE_LOG, cwd=tmp_path)
    redacted = trt_agent("parse", "-c", config, EXAMPLE_LOG, cwd=tmp_path, env=env)
    assert redacted.returncode == EXIT_OK, redacted.stderr
    layers = [e["layers"] for e in map(orjson.loads, clear.stdout.splitlines()) if e["type"] == "fusion"]
    pseudonyms = [
        e["layers"] for e in map(orjson.loads, redacted.stdout.splitlines()) if e["type"] == "fusion"
    ]
    assert layers and len(layers) == len(pseudonyms) and layers != pseudonyms
    bad = trt_agent("report", "-c", config, EXAMPLE_LOG, env={**env, "TRT_AGENT_METRICS_LISTEN": "nowhere"})
    assert bad.returncode == EXIT_BAD_INPUT
    assert bad.stderr.startswith("trt-agent: $TRT_AGENT_METRICS_LISTEN: metrics.listen must be host:port")
