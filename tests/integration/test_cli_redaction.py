"""Redaction in what the offline commands print and write (parse, report --html, check, diff,
redact-map), as processes: no name in clear, not even cut to fit a column."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    ATTENTION_RULES,
    DATA,
    LAYER_LINE_TENSORS,
    REDACTION_CONFIG,
    REDACTION_KEY,
    clear_names,
    data_file,
    make_redactor,
    rules_file,
    trt_agent,
    write_key,
)


def test_redaction_needs_a_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[redaction]\nenabled = true\n")
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "parse", "-c", str(config), "-"],
        input=b"",
        capture_output=True,
        text=False,
    )
    assert result.returncode == 2
    assert b"redaction.enabled needs redaction.key_file or redaction.key_env" in result.stderr
    (tmp_path / "short.key").write_bytes(b"tiny")
    (tmp_path / "short.key").chmod(0o600)
    config.write_text('[redaction]\nenabled = true\nkey_file = "short.key"\n')
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "run", "-c", str(config)], capture_output=True
    )
    assert result.returncode == 2
    assert b"the redaction key must be at least 16 bytes (got 4)" in result.stderr
    assert b"tiny" not in result.stderr


def test_redact_map_maps_pseudonyms_back(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(REDACTION_KEY)
    (tmp_path / "key").chmod(0o600)  # the agent refuses a key others can read
    config = tmp_path / "c.toml"
    config.write_text('[redaction]\nenabled = true\nkey_file = "key"\n')
    profile = str(next((DATA / "corpus").glob("01_*")))
    wanted = make_redactor().name("/features/features.0/Conv + /features/features.1/Relu")
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "redact-map", "-c", str(config), "-p", wanted, profile],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{wanted}\t/features/features.0/Conv + /features/features.1/Relu\n"
    result = subprocess.run(
        [sys.executable, "-m", "trt_agent", "redact-map", "-c", str(config), "-p", "L0000000000", profile],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "L0000000000: no name in these inputs" in result.stderr


def test_parse_command_names_no_layer_line_tensor(tmp_path: Path) -> None:
    write_key(tmp_path)
    (tmp_path / "red.toml").write_text(REDACTION_CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_agent",
            "parse",
            "-c",
            "red.toml",
            str(data_file("62_")),
            str(data_file("03_")),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    messages = "\n".join(json.loads(line)["msg"] or "" for line in result.stdout.splitlines())
    assert not clear_names(messages, LAYER_LINE_TENSORS["62_"] + LAYER_LINE_TENSORS["03_"])


def test_redact_map_maps_a_layer_line_tensor_back(tmp_path: Path) -> None:
    """The pseudonym of a tensor that only a layer line names (BERT's concat_ids, extra/62) is
    in every redacted output, so redact-map must know it too (it collected name fields only)."""
    write_key(tmp_path)
    (tmp_path / "red.toml").write_text(REDACTION_CONFIG)
    wanted = make_redactor().name("concat_ids")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_agent",
            "redact-map",
            "-c",
            "red.toml",
            "-p",
            wanted,
            str(data_file("62_")),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{wanted}\tconcat_ids\n"


CALIBRATION_RULE = '[[rule]]\nname = "activation_range"\ncheck = "calibration_range"\nmax_width = 100\n'


# The tensors of 07's cache wider than 100, the widest first (ONNX names them by number).
WIDEST = ["341", "304"]
CHECK = [sys.executable, "-m", "trt_agent", "check", "-c", "red.toml", "--rules", "rules.toml"]


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_check_names_numeric_tensors_by_pseudonym(tmp_path: Path, fmt: str) -> None:
    write_key(tmp_path)
    (tmp_path / "red.toml").write_text(REDACTION_CONFIG)
    (tmp_path / "rules.toml").write_text(CALIBRATION_RULE)
    result = subprocess.run(
        [*CHECK, "--format", fmt, str(data_file("07_"))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert f"{make_redactor().name('341')} [-333.197, 333.197]" in result.stdout
    assert not clear_names(result.stdout, WIDEST)


ATTENTION_B = DATA / "constructed" / "bert-attention-b-generic"


def test_check_redacts_names_in_its_messages(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[redaction]\nenabled = true\nkey_file = "{key}"\n[rules]\nfile = "{rules_file(tmp_path, ATTENTION_RULES)}"\n'
    )
    result = trt_agent("check", "-c", config, "--engine", "b", *sorted(ATTENTION_B.iterdir()))
    assert result.returncode == 1
    assert "attention" not in result.stdout.replace("attention_", "").replace("'*/attention/", "")
    assert re.search(r"run unfused; unfused: L[0-9a-f]{10}", result.stdout), result.stdout


EXTRA = DATA / "extra"
QAT_PROFILE = next(EXTRA.glob("68_*"))
ATTENTION_A = DATA / "constructed" / "bert-attention-a-fused"


def redaction_config(tmp_path: Path, extra: str = "") -> Path:
    key = tmp_path / "key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(f'[redaction]\nenabled = true\nkey_file = "{key}"\n{extra}')
    return config


def test_cut_layer_names_do_not_leak_in_the_html_heatmap(tmp_path: Path) -> None:
    config = redaction_config(tmp_path)
    page = tmp_path / "report.html"
    result = trt_agent("report", "-c", config, QAT_PROFILE, "--html", page)
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    labels = re.findall(r'text-anchor="end">([^<]*)<', html)
    assert len(labels) == 26
    # was: "copied_squeeze_after_(Unnamed Layer* 355) [Elem…", "L5dd4f05d3d + QuantizeLinear_1…"
    for clear in ("copied_squeeze", "QuantizeLinear", "MaxP", "Unnamed Layer"):
        assert clear not in html, clear


def test_cut_layer_names_do_not_leak_in_diff_text_or_html(tmp_path: Path) -> None:
    config = redaction_config(tmp_path, "scrub_paths = false\n")
    page = tmp_path / "diff.html"
    result = trt_agent("diff", "-c", config, ATTENTION_A, ATTENTION_B, "--html", page)
    assert result.returncode == 1, result.stderr
    # was: "L64a25c27eb + /encoder…" in the text and "{ForeignNode[/encoder/layer.0/attention/self/qu…"
    for clear in ("/encoder", "attention/", "layer.0"):
        assert clear not in result.stdout, clear
        assert clear not in page.read_text(), clear
    assert re.search(r"^  L[0-9a-f]{10} +0\.0181 +0\.0183 +1\.01x$", result.stdout, re.MULTILINE), (
        result.stdout
    )
