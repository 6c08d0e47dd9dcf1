"""``trt-agent parse`` as a process: empty, cut and missing inputs, bad configs, a pipe, numbers no
64-bit counter holds: a clear message and the right exit status, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
from conftest import data_file

FUSION = b"[11/01/2024-10:32:48] [V] [TRT] ConvReluFusion: Fusing conv1 with relu1\n"
CLI = [sys.executable, "-m", "trt_agent"]


def test_empty_file_gives_a_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    run = subprocess.run([*CLI, "parse", str(empty)], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout == ""
    assert "empty input" in run.stderr and "Traceback" not in run.stderr


def test_truncated_json_artifact_is_one_clear_line(tmp_path: Path) -> None:
    whole = data_file("02_").read_bytes()
    cut = tmp_path / "layers.json"
    cut.write_bytes(whole[: len(whole) // 2])
    run = subprocess.run([*CLI, "parse", str(cut)], capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert "not valid JSON" in run.stderr and str(cut) in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_missing_file_exit_2_and_other_files_still_parsed(tmp_path: Path) -> None:
    run = subprocess.run(
        [*CLI, "parse", str(tmp_path / "nope.log"), str(data_file("04_"))], capture_output=True, check=False
    )
    assert run.returncode == 2
    assert b"nope.log: No such file or directory" in run.stderr
    assert len(run.stdout.splitlines()) == 38


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[agent]\nlog_level = "loud"\n')
    run = subprocess.run(
        [*CLI, "parse", "-c", str(config), str(data_file("04_"))], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert f"{config}: agent.log_level must be one of" in run.stderr
    config.write_text("[[logs]]\npaht = 'x'\n")
    run = subprocess.run([*CLI, "report", "-c", str(config)], capture_output=True, text=True, check=False)
    assert run.returncode == 2 and "unknown key logs[0].paht" in run.stderr


def test_parse_reads_a_pipe_and_streams() -> None:
    """Events of a line written into a pipe come out before the pipe is closed."""
    proc = subprocess.Popen(
        [*CLI, "parse", "-", "--engine", "pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(FUSION)
    proc.stdin.flush()
    first = orjson.loads(proc.stdout.readline())
    assert (
        first["type"] == "fusion"
        and first["engine"] == "pipe"
        and first["source"] == {"file": "-", "line": 1}
    )
    proc.stdin.write(FUSION)
    proc.stdin.close()
    rest = proc.stdout.read().splitlines()
    assert proc.wait(timeout=10) == 0
    assert len(rest) == 1 and orjson.loads(rest[0])["source"]["line"] == 2


def test_parse_cli_survives_big_integers(tmp_path: Path) -> None:
    """A size beyond 64 bits (no real one is) gives no event, so report/check/diff JSON, which
    orjson writes, never meet a number it cannot encode (tests/contract/test_fuzz.py found the crash)."""
    text = b"[11/26/2026-10:00:00] [TRT] [I] Total Activation Memory: 99999999999999999999999\n"
    for command in ("parse", "report"):
        result = subprocess.run(
            [sys.executable, "-m", "trt_agent", command, "-", *(["--json"] if command == "report" else [])],
            input=text,
            capture_output=True,
            check=True,
        )
        assert b"99999999999999999999999" not in result.stdout and not result.stderr
    report = json.loads(result.stdout)
    assert report["parse"]["lines"] == 1 and report["parse"]["unparsed"] == 1
