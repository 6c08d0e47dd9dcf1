"""A review of the command line: gates that passed failed builds, options silently ignored or
accepting nonsense, warnings that named no file, output on a terminal or a closed pipe.

Each test drives the real CLI (a subprocess) on real files from ``tests/data`` and the shipped
examples, and failed before its fix.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import DATA

from trt_agent.parse import ParseStats
from trt_agent.progress import Progress

ROOT = Path(__file__).parent.parent
CORPUS = DATA / "corpus"
EXTRA = DATA / "extra"
RULES_EXAMPLE = ROOT / "rules.example.toml"
BINDING_ERROR = next(CORPUS.glob("27_*"))  # jetson-inference: "failed to create TensorRT engine"
OLD_STYLE_ERROR = next(CORPUS.glob("09_*"))  # TensorRT 7 "[TensorRT] ERROR: ..."
ALEXNET_PROFILE = next(CORPUS.glob("01_*"))
ALEXNET_BUILD = next(CORPUS.glob("03_*"))
FP16 = next(EXTRA.glob("65_*"))
ONE_BAD_BYTE = b"[11/01/2024-10:32:48] [W] [TRT] bad \xff\n"


def trt_agent(
    *args: str | Path, cwd: Path | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trt_agent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or ROOT,
        **kwargs,  # type: ignore[call-overload]
    )


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# -- 1. the gate fails a build TensorRT reported errors for ------------------------------------------


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (BINDING_ERROR, "INVALID_ARGUMENT: Cannot find binding of given name: data"),
        (OLD_STYLE_ERROR, "[TensorRT] ERROR: (Unnamed Layer* 0)"),
    ],
)
def test_the_shipped_rules_fail_a_log_with_tensorrt_errors(log: Path, message: str) -> None:
    """Was PASS, exit 0: a failed build has no layers or memory, so every other rule skipped."""
    result = trt_agent("check", "--rules", RULES_EXAMPLE, log)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("trt-agent check: FAIL  (1 failed, ")
    line = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("FAIL"))
    assert "errors" in line and "1 TensorRT error(s), more than the maximum 0" in line
    assert message in line and f"{log.relative_to(ROOT)}:" in line  # the message and where


def test_errors_max_allows_some_and_a_healthy_build_passes(tmp_path: Path) -> None:
    lenient = write(tmp_path / "r.toml", '[[rule]]\nname = "errors"\ncheck = "errors"\nmax = 1\n')
    result = trt_agent("check", "--rules", lenient, BINDING_ERROR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    errors  1 TensorRT error(s) ≤ 1" in result.stdout
    healthy = trt_agent("check", "--rules", RULES_EXAMPLE, "--format", "json", ALEXNET_BUILD)
    doc = orjson.loads(healthy.stdout)
    [errors] = [r for r in doc["results"] if r["rule"] == "errors"]
    assert (errors["status"], errors["observed"]) == ("pass", 0)
    bad = write(tmp_path / "bad.toml", '[[rule]]\nname = "e"\ncheck = "errors"\nmax = -1\n')
    result = trt_agent("check", "--rules", bad, BINDING_ERROR)
    assert result.returncode == 2 and "max must be a whole number, 0 or more, got -1" in result.stderr


def test_errors_counts_lines_not_events_and_keeps_short_messages() -> None:
    """The plan-version error line makes two version events: one error line, counted once. A
    kept message is cut, so 25 error lines of 1 MiB do not pin 20 MiB per engine."""
    from trt_agent.model import build_models
    from trt_agent.parse import ParseStats, parse_path

    model = build_models(parse_path(str(next((DATA / "extra").glob("78_*"))), "e", ParseStats()))["e"]
    assert model.error_lines == 2  # the plan-version line and "Engine deserialization failed"
    assert len(model.error_messages) == 2 and "expecting library version 8.5.1.7" in model.error_messages[0]
    huge = [
        {
            "type": "error",
            "ts": None,
            "severity": "error",
            "engine": "e",
            "source": {"file": "x.log", "line": i},
            "msg": "[E] [TRT] " + "x" * (1 << 20),
        }
        for i in range(25)
    ]
    big = build_models(huge)["e"]
    assert big.error_lines == 25 and len(big.error_messages) == 20
    assert max(len(m) for m in big.error_messages) < 400


# -- 2. a baseline without layer timings is an error -------------------------------------------------


def test_a_baseline_without_layer_timings_is_exit_2(tmp_path: Path) -> None:
    """Was: the latency rule skipped ("no baseline layer matches"), exit 0."""
    rules = write(tmp_path / "r.toml", '[[rule]]\nname = "lat"\ncheck = "layer_latency"\nmax_ratio = 1.2\n')
    result = trt_agent("check", "--rules", rules, "--baseline", ALEXNET_BUILD, ALEXNET_PROFILE)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == f"trt-agent: baseline {ALEXNET_BUILD} holds no layer timings\n"
    assert result.stdout == ""
    ok = trt_agent("check", "--rules", rules, "--baseline", ALEXNET_PROFILE, ALEXNET_PROFILE)
    assert ok.returncode == 0 and "1.00× baseline" in ok.stdout


# -- 3. report --rules / --baseline are read, and shown ----------------------------------------------


def test_report_rules_and_baseline_are_loaded_and_shown(tmp_path: Path) -> None:
    """Was: ignored without --html, even for a file that does not exist."""
    missing = trt_agent("report", "--rules", tmp_path / "nope.toml", ALEXNET_BUILD)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr and missing.stdout == ""
    missing = trt_agent("report", "--baseline", tmp_path / "gone.json", ALEXNET_BUILD)
    assert missing.returncode == 2 and "baseline" in missing.stderr and "gone.json" in missing.stderr

    text = trt_agent("report", "--rules", RULES_EXAMPLE, BINDING_ERROR)
    assert text.returncode == 0, text.stderr  # a report, not a gate
    assert "rules           FAIL  (1 failed, 0 warnings, 2 passed, 8 skipped)" in text.stdout
    assert "  FAIL  errors" in text.stdout and f"{BINDING_ERROR.name}:1" in text.stdout

    doc = orjson.loads(trt_agent("report", "--json", "--rules", RULES_EXAMPLE, BINDING_ERROR).stdout)
    rules = {r["rule"]: r for r in doc["engines"][0]["rules"]}
    assert rules["errors"]["status"] == "fail" and rules["no_fallback"]["status"] == "pass"
    assert "rules" not in orjson.loads(trt_agent("report", "--json", BINDING_ERROR).stdout)["engines"][0]


# -- 4./5. invalid UTF-8: counted once per line, warnings name the file -------------------------------


def test_an_invalid_utf8_line_counts_once_and_the_warning_names_the_file(tmp_path: Path) -> None:
    log = write(tmp_path / "one.log", ONE_BAD_BYTE)
    result = trt_agent("report", "--json", log)
    parse = orjson.loads(result.stdout)["parse"]
    assert (parse["lines"], parse["invalid_utf8_lines"]) == (1, 1)  # was 2
    [warning] = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert warning["event"] == "invalid UTF-8 replaced with U+FFFD"
    assert (warning["file"], warning["lines"]) == (str(log), 1)


def test_the_cut_lines_warning_names_each_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[agent]\nmax_line_bytes = 1024\n")
    # longer than a read (1 MiB): a line that ends within one read is not cut (see the report)
    long = write(tmp_path / "long.log", b"[W] [TRT] " + b"x" * (3 << 19) + b"\n")
    short = write(tmp_path / "short.log", ONE_BAD_BYTE)
    result = trt_agent("report", "-c", config, long, short)
    warnings = [orjson.loads(line) for line in result.stderr.splitlines()]
    assert [(w["event"], w["file"]) for w in warnings] == [
        ("lines longer than max_line_bytes were cut", str(long)),
        ("invalid UTF-8 replaced with U+FFFD", str(short)),
    ]


# -- 6. diff tolerances ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e999", "ten"])
def test_diff_rejects_a_negative_or_non_finite_tolerance(value: str) -> None:
    for option in ("--latency-tolerance", "--memory-tolerance"):
        result = trt_agent("diff", f"{option}={value}", FP16, FP16)
        assert result.returncode == 2, (option, value, result.stdout)
        assert f"argument {option}: expected a finite ratio, 0 or more" in result.stderr


def test_diff_help_shows_the_default_tolerances() -> None:
    text = " ".join(trt_agent("diff", "--help").stdout.split())
    assert "default 0.1 = 10 %" in text and "default 0.05 = 5 %" in text


# -- 7. rules file messages --------------------------------------------------------------------------


def test_an_empty_rules_file_says_so(tmp_path: Path) -> None:
    """Was: "no rule of r6.toml applies to the engines of the input"."""
    for text in ("", "# nothing yet\n", "rule = []\n"):
        rules = write(tmp_path / "r6.toml", text)
        result = trt_agent("check", "--rules", rules, ALEXNET_BUILD)
        assert result.returncode == 2
        assert result.stderr == f"trt-agent: {rules}: has no [[rule]]\n" and result.stdout == ""


def test_an_invalid_rule_name_is_called_invalid_not_missing(tmp_path: Path) -> None:
    rules = write(tmp_path / "r.toml", '[[rule]]\nname = "a b"\ncheck = "no_fallback"\n')
    result = trt_agent("check", "--rules", rules, ALEXNET_BUILD)
    assert result.returncode == 2
    assert "rule[0] ('a b'): name 'a b' is invalid" in result.stderr
    assert "required" not in result.stderr
    unnamed = write(tmp_path / "u.toml", '[[rule]]\ncheck = "no_fallback"\n')
    assert "rule[0]: name is required" in trt_agent("check", "--rules", unnamed, ALEXNET_BUILD).stderr


# -- 8. an OUT that cannot be written: no verdict ----------------------------------------------------


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


# -- 9. progress on a terminal ------------------------------------------------------------------------


def test_progress_stays_quiet_for_a_short_run(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(ParseStats(), enabled=True):
        time.sleep(0.2)
    assert err.getvalue() == ""  # was: a progress line ending in \r, then a newline


def test_progress_is_erased_when_the_run_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress = Progress(ParseStats(), enabled=True, interval=0.05, delay=0.05)
    with progress:
        time.sleep(0.3)
    text = err.getvalue()
    assert " MB/s" in text and "\n" not in text
    drawn = max(len(part) for part in text.split("\r"))
    assert text.endswith("\r" + " " * (drawn + 1) + "\r") or text.endswith("\r" + " " * drawn + "\r")


# -- 10. a reader that goes away ----------------------------------------------------------------------


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


# -- 11. small things --------------------------------------------------------------------------------


def test_profile_says_the_engine_file_is_missing_before_tensorrt(tmp_path: Path) -> None:
    result = trt_agent("profile", tmp_path / "nonexist.plan")
    assert result.returncode == 2
    assert result.stderr == f"trt-agent: {tmp_path / 'nonexist.plan'}: no such file\n"
    assert "not a file" in trt_agent("profile", tmp_path).stderr


def test_check_format_has_help() -> None:
    text = " ".join(trt_agent("check", "--help").stdout.split())
    assert "text for people (default), json for scripts, junit (XML) for CI test reports" in text


# -- 12./13. engine ids from [[logs]] ----------------------------------------------------------------


def test_the_example_config_gives_each_unrelated_build_its_own_engine() -> None:
    """Was: yolort (TensorRT 8.2) and lprnet (8.5.2) were one engine "examples", whose facts
    mixed and whose versions rule failed on a mismatch no single build had."""
    logs = sorted((ROOT / "examples" / "logs").glob("*.log"))
    result = trt_agent("check", "-c", "config.example.toml", "--format", "json", *logs)
    doc = orjson.loads(result.stdout)
    engines = {r["engine"] for r in doc["results"]}
    assert engines == {"alexnet-fp16", logs[2].stem, logs[3].stem}
    versions = {r["engine"]: r for r in doc["results"] if r["rule"] == "versions"}
    assert "cudnn loaded 8.2.0" in versions[logs[2].stem]["message"]
    assert "tensorrt 8.5.2 (expected 10)" in versions[logs[3].stem]["message"]
    assert all(r["status"] == "pass" for r in doc["results"] if r["rule"] == "errors")


def test_a_relative_input_gets_the_engine_of_an_absolute_logs_glob(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", f'[[logs]]\npath = "{CORPUS}/0[1-4]_*"\nengine = "alexnet"\n')
    relative = ALEXNET_BUILD.relative_to(ROOT)
    for spelling in (ALEXNET_BUILD, relative, Path(".") / relative):
        doc = orjson.loads(trt_agent("report", "--json", "-c", config, spelling).stdout)
        assert [e["engine"] for e in doc["engines"]] == ["alexnet"], spelling
    config = write(
        tmp_path / "r.toml", f'[[logs]]\npath = "{relative.parent}/0[1-4]_*"\nengine = "alexnet"\n'
    )
    doc = orjson.loads(trt_agent("report", "--json", "-c", config, ALEXNET_BUILD).stdout)
    assert [e["engine"] for e in doc["engines"]] == ["alexnet"]
