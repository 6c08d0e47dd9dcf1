"""Keys set outside the config file: ``TRT_AGENT_*`` variables and the flags of ``trt-agent run``
(flag > environment > file > default)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trt_agent.config import ConfigError, load_config
from trt_agent.config.load import FILE_RELATIVE_KEYS
from trt_agent.config.overrides import VARIABLES, from_environment, from_flags, unknown_variables, variable
from trt_agent.config.schema import ARRAY_SECTIONS, SECTIONS, keys


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "conf" / "agent.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def test_every_key_of_a_table_has_one_variable_and_no_two_keys_share_it() -> None:
    table_keys = [k for s in SECTIONS if s not in ARRAY_SECTIONS for k in keys(s)]
    assert len(VARIABLES) == len(table_keys)
    assert variable("agent", "log_level") == "TRT_AGENT_LOG_LEVEL"
    assert variable("metrics", "listen") == "TRT_AGENT_METRICS_LISTEN"
    assert not any(v.startswith(("TRT_AGENT_LOGS_", "TRT_AGENT_PATTERNS_")) for v in VARIABLES)


def test_the_path_keys_are_those_the_reference_calls_relative_to_the_config_file() -> None:
    relative = {
        (k.section, k.name)
        for s in SECTIONS
        if s not in ARRAY_SECTIONS
        for k in keys(s)
        if "relative: from the config file" in k.doc
    }
    assert relative == FILE_RELATIVE_KEYS


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    path = _file(tmp_path, '[agent]\nlog_level = "error"\n[metrics]\nlisten = "127.0.0.1:1"\n')
    assert load_config(path).metrics.listen == "127.0.0.1:1"
    env = from_environment({"TRT_AGENT_METRICS_LISTEN": ":2", "TRT_AGENT_LOG_LEVEL": "warning"})
    config = load_config(path, env)
    assert (config.metrics.listen, config.log_level) == (":2", "warning")
    flags = from_flags({"--web.listen-address": ":3", "--log.level": None, "--web.config.file": None})
    config = load_config(path, [*env, *flags])
    assert (config.metrics.listen, config.log_level) == (":3", "warning")
    assert load_config(None, env).state_dir == "/var/lib/trt-agent"  # no file: the defaults under them


def test_values_are_typed_by_the_schema(tmp_path: Path) -> None:
    env = from_environment(
        {
            "TRT_AGENT_METRICS_MAX_ENGINES": "7",
            "TRT_AGENT_METRICS_LATENCY_BUCKETS": "[0.001, 0.01]",
            "TRT_AGENT_REDACTION_SCRUB_PATHS": "false",
            "TRT_AGENT_POLL_INTERVAL": "2",
            "TRT_AGENT_ENGINE": "true",  # a string key takes the text as it is
            "TRT_AGENT_EVENTS_FSYNC": "",  # empty: unset
        }
    )
    config = load_config(None, env)
    assert config.metrics.max_engines == 7
    assert config.metrics.latency_buckets == (0.001, 0.01)
    assert config.redaction.scrub_paths is False
    assert config.tail.poll_interval == 2
    assert config.engine == "true"
    assert config.events.fsync == "interval"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRT_AGENT_METRICS_MAX_ENGINES", "0", "metrics.max_engines must be at least 1, got 0"),
        ("TRT_AGENT_METRICS_MAX_ENGINES", '"7"', "metrics.max_engines must be int, got str '7'"),
        ("TRT_AGENT_METRICS_MAX_ENGINES", "lots", "metrics.max_engines must be a TOML value, an integer"),
        ("TRT_AGENT_METRICS_MAX_ENGINES", "1\nmax_layer_series = 5", "must be a TOML value"),
        ("TRT_AGENT_METRICS_LISTEN", "nowhere", "metrics.listen must be host:port"),
        ("TRT_AGENT_LOG_LEVEL", "loud", "agent.log_level must be one of debug, info, warning, error"),
        ("TRT_AGENT_REDACTION_ENABLED", "true", "redaction.enabled needs redaction.key_file"),
    ],
)
def test_a_bad_value_gets_the_files_message_naming_the_variable(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    path = _file(tmp_path, "[metrics]\nmax_engines = 9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, from_environment({name: value}))
    assert str(caught.value).startswith(f"${name}: ") and message in str(caught.value)


def test_a_flag_is_named_in_its_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--web\.listen-address: metrics\.listen must be host:port"):
        load_config(None, from_flags({"--web.listen-address": "nowhere"}))


def test_the_files_own_mistakes_still_name_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path, '[metrics]\nlisten = "nowhere"\n')
    with pytest.raises(ConfigError, match=r"agent\.toml: metrics\.listen must be"):
        load_config(path, from_environment({"TRT_AGENT_LOG_LEVEL": "debug"}))


def test_a_relative_path_from_a_flag_or_variable_is_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, '[metrics]\nweb_config_file = "web.yml"\n[rules]\nfile = "rules.toml"\n')
    config = load_config(path)
    assert config.metrics.web_config_file == str(tmp_path / "conf" / "web.yml")  # from the file: its folder
    monkeypatch.chdir(tmp_path)
    flags = from_flags({"--web.config.file": "mine/web.yml"})
    env = from_environment({"TRT_AGENT_RULES_FILE": "r.toml", "TRT_AGENT_RULES_BASELINE": '["base.json"]'})
    config = load_config(path, [*env, *flags])
    assert config.metrics.web_config_file == str(tmp_path / "mine" / "web.yml")
    assert config.rules.file == str(tmp_path / "r.toml")
    assert config.rules.baseline == (str(tmp_path / "base.json"),)


def test_only_a_likely_typo_is_warned_about() -> None:
    config = load_config(None)
    environ = {
        "TRT_AGENT_METRICS_LISTN": "x",  # a table, no key of it
        "TRT_AGENT_LOGS_PATH": "x",  # an array of tables
        "TRT_AGENT_AGENT_LOG_LEVEL": "x",  # [agent]'s keys have no section in their name
        "TRT_AGENT_METRICS_LISTEN": ":1",  # a key
        "TRT_AGENT_RECOVERY_MB": "100",  # someone else's (tests/deploy/test_systemd.py)
        "TRT_AGENT_TEST_UNSET_KEY": "",
        "HOME": "/root",
    }
    warnings = list(unknown_variables(environ, config))
    assert [w.split(" ")[0] for w in warnings] == [
        "$TRT_AGENT_AGENT_LOG_LEVEL",
        "$TRT_AGENT_LOGS_PATH",
        "$TRT_AGENT_METRICS_LISTN",
    ]
    assert "TRT_AGENT_METRICS_LISTEN" in warnings[2]  # what it may have meant
    assert "x" not in " ".join(w.split(" ", 1)[1] for w in warnings).split()  # never the value


def test_the_redaction_keys_own_variable_is_no_typo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRT_AGENT_REDACTION_KEY", "k" * 32)
    path = _file(tmp_path, '[redaction]\nenabled = true\nkey_env = "TRT_AGENT_REDACTION_KEY"\n')
    assert list(unknown_variables(os.environ, load_config(path))) == []
    without = [w.split(" ")[0] for w in unknown_variables(os.environ, load_config(None))]
    assert without == ["$TRT_AGENT_REDACTION_KEY"]  # set, but nothing reads it
