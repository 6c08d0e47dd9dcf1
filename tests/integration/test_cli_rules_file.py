"""A rules file ``check`` cannot use: exit 2 naming the file, the rule and the key, never a
traceback nor a rule that can never fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA, rules_file, trt_agent, write

from trt_agent.rules import RulesError, load_rules

CORPUS = DATA / "corpus"
ALEXNET_BUILD = next(CORPUS.glob("03_*"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_covrage"\nmin = 0.9\n',
            "rule[0] ('x'): check must be one of fusion_coverage",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\nminimum = 0.9\n',
            "rule[0] ('x'): unknown key 'minimum' for check 'fusion_coverage'",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\n',
            "rule[0] ('x'): check 'fusion_coverage' needs one of: min, max",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\nmin = 90\n',
            "rule[0] ('x'): min must be between 0 and 1, got 90",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "no_fallback"\nseverity = "critical"\n',
            "severity must be error or warning",
        ),
        (
            '[[rule]]\nname = "x y"\ncheck = "no_fallback"\n',
            "rule[0] ('x y'): name 'x y' is invalid: it must start with a letter or _ and hold only letters",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "no_fallback"\n[[rule]]\nname = "x"\ncheck = "no_fallback"\n',
            "rule[1] ('x'): the name 'x' is used twice",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "peak_memory"\nmax_bytes = "lots"\n',
            "max_bytes must be bytes or a size like",
        ),
        (
            '[[rule]]\nname = "x"\ncheck = "fusion_coverage"\nmin = 0.9\nlayers = ["a*"]\n',
            "layers does not apply to check 'fusion_coverage'",
        ),
        ("[rule]\nname = 1\n", "rule must be an array of tables"),
        ("rule = [", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_exits_2_naming_the_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    rules = rules_file(tmp_path, text)
    result = trt_agent("check", "--rules", rules, ALEXNET_BUILD)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"trt-agent: {rules}: ")
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


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


EXTRA = DATA / "extra"
OOM_NO_IMPLEMENTATION = next(EXTRA.glob("55_*"))
QAT_PROFILE = next(EXTRA.glob("68_*"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # lower bound without an upper one: the message itself raised TypeError
        ("max_ms = -1", "max_ms must be at least 0, got -1"),
        ("max_ratio = -0.5", "max_ratio must be at least 0, got -0.5"),
        # NaN passed every comparison: the rule could never fail
        ("max_ms = nan", "max_ms must be a finite number, got nan"),
        ("max_ratio = inf", "max_ratio must be a finite number, got inf"),
    ],
)
def test_a_bad_bound_is_a_rules_error_not_a_crash_nor_an_always_passing_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    rules = rules_file(tmp_path, f'[[rule]]\nname = "lat"\ncheck = "layer_latency"\n{text}\n')
    result = trt_agent("check", "--rules", rules, QAT_PROFILE)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"rule[0] ('lat'): {message}" in result.stderr


def test_a_rules_path_that_is_a_directory_or_not_utf8_exits_2(tmp_path: Path) -> None:
    directory = tmp_path / "rules.d"
    directory.mkdir()
    result = trt_agent("check", "--rules", directory, OOM_NO_IMPLEMENTATION)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{directory}: rules file not readable: it is a directory, not a regular file" in result.stderr

    latin1 = tmp_path / "rules.toml"
    latin1.write_bytes(
        '[[rule]]\nname = "no_fallback"\ncheck = "no_fallback"\n# Überprüfung\n'.encode("latin-1")
    )
    result = trt_agent("check", "--rules", latin1, OOM_NO_IMPLEMENTATION)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{latin1}: not valid TOML: not UTF-8 text" in result.stderr
    with pytest.raises(RulesError):
        load_rules(str(directory))
