"""Exit statuses of the offline commands where the output cannot go where it was told: an OUT that
cannot be written is exit 2 with no verdict printed (1 would read as "a rule failed"), a reader
that went away ends the command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT, rules_file, trt_agent, write

CORPUS = DATA / "corpus"
RULES_EXAMPLE = ROOT / "rules.example.toml"
ALEXNET_BUILD = next(CORPUS.glob("03_*"))


def test_check_fails_on_an_unwritable_output_before_printing_a_verdict(tmp_path: Path) -> None:
    out = tmp_path / "nonexistent" / "x.xml"
    for fmt in ("text", "junit"):
        result = trt_agent("check", "--rules", RULES_EXAMPLE, "--format", fmt, "-o", out, ALEXNET_BUILD)
        assert result.returncode == 2
        assert result.stdout == ""  # was: the whole verdict, then the error
        assert result.stderr == f"trt-agent: {out}: cannot write the output: No such file or directory\n"
    written = trt_agent("check", "--rules", RULES_EXAMPLE, "-o", tmp_path / "x.txt", ALEXNET_BUILD)
    assert written.returncode == 1 and written.stdout == ""  # text to OUT only, as before
    assert (tmp_path / "x.txt").read_text().startswith("trt-agent check: FAIL")


@pytest.mark.parametrize("command", ["parse", "redact-map", "report", "check"])
def test_a_closed_stdout_ends_quietly(tmp_path: Path, command: str) -> None:
    """``trt-agent redact-map … | head`` ended with a BrokenPipeError traceback (exit 1)."""
    key = write(tmp_path / "key", "0123456789abcdef0123456789abcdef")
    os.chmod(key, 0o600)
    config = write(tmp_path / "c.toml", f'[redaction]\nenabled = true\nkey_file = "{key}"\n')
    read, write_end = os.pipe()
    os.close(read)  # the reader is gone before the first write: every write is EPIPE
    extra = ["--rules", str(RULES_EXAMPLE)] if command == "check" else []
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "trt_agent",
                command,
                "-c",
                str(config),
                *extra,
                *map(str, CORPUS.glob("*.log")),
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


ALEXNET_PROFILE = next(CORPUS.glob("01_*"))
ATTENTION_A = DATA / "constructed" / "bert-attention-a-fused"


def test_an_unwritable_output_exits_2_not_1(tmp_path: Path) -> None:
    """``-o reports/check.xml`` with no ``reports/`` (a CI job that forgot mkdir) gave a
    traceback and exit 1, which reads as "a rule failed" (and ``diff``: "regressed")."""
    rules = rules_file(tmp_path, '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n')
    missing = tmp_path / "reports" / "check.xml"
    result = trt_agent("check", "--rules", rules, "--format", "junit", "-o", missing, ALEXNET_PROFILE)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"trt-agent: {missing}: cannot write the output: No such file or directory" in result.stderr
    assert result.stdout == ""  # no verdict: OUT is written first, and it could not be

    result = trt_agent("diff", ATTENTION_A, ATTENTION_A, "--html", tmp_path / "nowhere" / "d.html")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    result = trt_agent("report", ALEXNET_PROFILE, "--html", tmp_path)  # a directory
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.tmp"))
