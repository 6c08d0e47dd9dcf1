"""``trt-agent report`` as a process: rules and baselines it is given, and warnings that name
the file they are about."""

from __future__ import annotations

from pathlib import Path

import orjson
import tomllib
from conftest import DATA, ROOT, trt_agent, write

CORPUS = DATA / "corpus"
RULES_EXAMPLE = ROOT / "rules.example.toml"
BINDING_ERROR = next(CORPUS.glob("27_*"))  # jetson-inference: "failed to create TensorRT engine"
ALEXNET_BUILD = next(CORPUS.glob("03_*"))
ONE_BAD_BYTE = b"[11/01/2024-10:32:48] [W] [TRT] bad \xff\n"


def test_report_rules_and_baseline_are_loaded_and_shown(tmp_path: Path) -> None:
    """Was: ignored without --html, even for a file that does not exist."""
    missing = trt_agent("report", "--rules", tmp_path / "nope.toml", ALEXNET_BUILD)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr and missing.stdout == ""
    missing = trt_agent("report", "--baseline", tmp_path / "gone.json", ALEXNET_BUILD)
    assert missing.returncode == 2 and "baseline" in missing.stderr and "gone.json" in missing.stderr

    text = trt_agent("report", "--rules", RULES_EXAMPLE, BINDING_ERROR)
    assert text.returncode == 0, text.stderr  # a report, not a gate
    rules_in_file = len(tomllib.loads(RULES_EXAMPLE.read_text())["rule"])  # all but 3 have nothing to judge
    assert (
        f"rules           FAIL  (1 failed, 0 warnings, 2 passed, {rules_in_file - 3} skipped)" in text.stdout
    )
    assert "  FAIL  errors" in text.stdout and f"{BINDING_ERROR.name}:1" in text.stdout

    doc = orjson.loads(trt_agent("report", "--json", "--rules", RULES_EXAMPLE, BINDING_ERROR).stdout)
    rules = {r["rule"]: r for r in doc["engines"][0]["rules"]}
    assert rules["errors"]["status"] == "fail" and rules["no_fallback"]["status"] == "pass"
    assert "rules" not in orjson.loads(trt_agent("report", "--json", BINDING_ERROR).stdout)["engines"][0]


def test_an_invalid_utf8_line_counts_once_and_the_warning_names_the_file(tmp_path: Path) -> None:
    log = write(tmp_path / "one.log", ONE_BAD_BYTE)
    result = trt_agent("report", "--json", log)
    parse = orjson.loads(result.stdout)["parse"]
    assert (parse["lines"], parse["invalid_utf8_lines"]) == (1, 1)  # was 2
    [warning] = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert warning["msg"] == "invalid UTF-8 replaced with U+FFFD"
    assert (warning["file"], warning["lines"]) == (str(log), 1)


def test_the_cut_lines_warning_names_each_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[agent]\nmax_line_bytes = 1024\n")
    # longer than a read (1 MiB): a line that ends within one read is not cut (see the report)
    long = write(tmp_path / "long.log", b"[W] [TRT] " + b"x" * (3 << 19) + b"\n")
    short = write(tmp_path / "short.log", ONE_BAD_BYTE)
    result = trt_agent("report", "-c", config, long, short)
    warnings = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert [(w["msg"], w["file"]) for w in warnings] == [
        ("lines longer than max_line_bytes were cut", str(long)),
        ("invalid UTF-8 replaced with U+FFFD", str(short)),
    ]
