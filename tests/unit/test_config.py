"""Config loading: what ``load_config`` accepts and the ConfigError (naming the file and the key)
it raises for what it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import agent_toml

from trt_agent.config import ConfigError, load_config


@pytest.mark.parametrize("listen", [":9717", "[::1]:9717", "0.0.0.0:0", "localhost:9717"])
def test_listen_addresses_the_daemon_takes_still_load(tmp_path: Path, listen: str) -> None:
    from trt_agent.daemon import parse_listen

    config = agent_toml(tmp_path, "")
    config.write_text(config.read_text().replace('"127.0.0.1:0"', f'"{listen}"'))
    parse_listen(load_config(str(config)).metrics.listen)


def test_config_errors_are_config_errors(tmp_path: Path) -> None:
    """What load_config raises for the new checks is a ConfigError naming the file (contract/test_fuzz.py)."""
    cases: list[tuple[str, Any]] = [
        ("[agent]\ncheckpoint_interval = inf\n", "agent.checkpoint_interval"),
        ("[profiler]\nengine = 'e.plan'\nbusy_backoff = 1e10\n", "profiler.busy_backoff"),
    ]
    for text, key in cases:
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=f"^{path}: {key} must be a finite number of seconds"):
            load_config(str(path))


def test_a_limit_below_32_mib_is_a_config_error(tmp_path: Path) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text("[agent]\nmemory_limit_bytes = 1000\n")
    with pytest.raises(
        ConfigError, match=r"agent\.memory_limit_bytes must be 0 \(no limit\) or at least 33554432"
    ):
        load_config(str(path))


def test_a_queue_bytes_below_1_mib_is_a_config_error(tmp_path: Path) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text("[events]\nqueue_bytes = 4096\n")
    with pytest.raises(
        ConfigError, match=r"events\.queue_bytes must be at least 1048576 \(1 MiB\), got 4096"
    ):
        load_config(str(path))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('engine_id = "x"', "profiler.engine (the serialized engine file) is required in [profiler]"),
        (
            'engine = "e.plan"\nshapes = { input = [1, -3] }',
            "profiler.shapes.input must be a list of positive integers",
        ),
        ('engine = "e.plan"\nmax_duty_cycle = 1.5', "profiler.max_duty_cycle must be in (0, 1], got 1.5"),
        ('engine = "e.plan"\ninput_range = [1, -1]', "profiler.input_range must be [low, high]"),
        (
            'engine = "e.plan"\nlog_severity = "loud"',
            "profiler.log_severity must be one of internal_error, error",
        ),
        ('engine = "e.plan"\nduty = 0.1', "unknown key profiler.duty"),
    ],
)
def test_profiler_config_errors_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text(f"[profiler]\n{table}\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_profiler_config_defaults_and_relative_paths(tmp_path: Path) -> None:
    from trt_agent.config import load_config

    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nengine = "bert"\n[profiler]\nengine = "models/bert.plan"\ninputs = "in.npz"\n')
    config = load_config(str(path)).profiler
    assert config is not None
    assert config.engine_file == str(tmp_path / "models" / "bert.plan") and config.inputs == str(
        tmp_path / "in.npz"
    )
    assert (config.engine_id, config.max_duty_cycle, config.events_every) == ("bert", 0.05, 100)


@pytest.mark.parametrize("key", ["busy_backoff", "reload_check_interval"])
def test_infinite_waits_are_refused(tmp_path: Path, key: str) -> None:
    from trt_agent.config import ConfigError, load_config

    path = tmp_path / "agent.toml"
    path.write_text(f'[profiler]\nengine = "e.plan"\n{key} = inf\n')
    with pytest.raises(ConfigError, match=f"profiler.{key} must be a finite number of seconds"):
        load_config(str(path))
