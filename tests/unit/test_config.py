"""Config loading: what ``load_config`` accepts and the ConfigError (naming the file and the key)
it raises for what it does not."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, agent_toml

from trt_agent.config import ConfigError, load_config
from trt_agent.config.schema import SECTIONS, Key, Range, keys


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
        ConfigError, match=r"events\.queue_bytes must be at least 1048576 bytes \(1 MiB\), got 4096"
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
        ('engine = "e.plan"\nmax_duty_cycle = 1.5', "profiler.max_duty_cycle must be at most 1, got 1.5"),
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


# -- ranges: every timer and count has one (schema.Range), refused outside it ----------------------

NUMERIC_KEYS = [(section, k) for section in SECTIONS for k in keys(section) if k.allowed is not None]
# What a key needs beside it to load at all: [profiler] needs its engine; 0 rotated files only
# without rotation.
NEEDS = {"profiler": 'engine = "e.plan"\n'}


def _one_key(tmp_path: Path, section: str, name: str, value: Any) -> Path:
    path = tmp_path / "agent.toml"
    needs = NEEDS.get(section, "")
    if (section, name, value) == ("events", "max_files", 0):
        needs += "max_bytes = 0\n"
    path.write_text(f"[{section}]\n{needs}{name} = {value!r}\n".replace("'", '"'))
    return path


def _outside(allowed: Range, integer: bool) -> list[float]:
    """A value just below the range (not its 0) and one just above it."""
    if integer:
        below = allowed.low - 1
        if (below == 0 and allowed.zero is not None) or below < 0 < allowed.low:
            below = -1
        return [int(below), int(allowed.high) + 1]
    return [allowed.low / 2 if allowed.low > 0 else -1.0, allowed.high * 2]


def test_every_timer_and_count_key_has_a_range() -> None:
    """Every number a config file gives (bar profiler.input_range, data not a limit) is bounded."""
    numeric = {
        f"{section}.{k.name}"
        for section in SECTIONS
        for k in keys(section)
        if k.annotation in ("int", "float") or k.annotation.startswith("tuple[float, ...")
    }
    assert numeric == {f"{section}.{k.name}" for section, k in NUMERIC_KEYS}
    for section, k in NUMERIC_KEYS:
        assert k.allowed is not None
        assert k.default in k.allowed or all(v in k.allowed for v in k.default), (section, k.name)


@pytest.mark.parametrize(("section", "k"), NUMERIC_KEYS, ids=lambda v: v if isinstance(v, str) else v.name)
def test_out_of_range_values_are_refused_naming_the_key_and_the_range(
    tmp_path: Path, section: str, k: Key
) -> None:
    allowed = k.allowed
    assert allowed is not None
    integer = k.annotation == "int"
    for value in _outside(allowed, integer):
        written = [value] if allowed.items is not None else value
        path = _one_key(tmp_path, section, k.name, written)
        with pytest.raises(ConfigError) as error:
            load_config(str(path))
        message = str(error.value)
        where = f"{section}.{k.name}" + ("[0]" if allowed.items is not None else "")
        assert message.startswith(f"{path}: {where} must be "), message
        assert message.endswith(f", got {value!r} (allowed: {allowed.text})"), message
    # both ends are in
    for value in (allowed.low, allowed.high):
        value = int(value) if integer else float(value)
        load_config(str(_one_key(tmp_path, section, k.name, [value] if allowed.items else value)))


def test_the_reported_melting_values_are_refused(tmp_path: Path) -> None:
    """issue 21 item 7: a spinning core (poll_interval = 1e-9), a rotation loop without end
    (events.max_files = 1e9)."""
    for text, message in (
        ("[agent]\npoll_interval = 1e-9\n", "agent.poll_interval must be at least 0.01 seconds, got 1e-09"),
        ("[events]\nmax_files = 1000000000\n", "events.max_files must be at most 1000, got 1000000000"),
        ("[metrics]\nlatency_buckets = [" + ", ".join(str(n) for n in range(1, 100)) + "]\n",
         "metrics.latency_buckets must hold at most 64 values, got 99"),
    ):  # fmt: skip
        path = tmp_path / "agent.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=f"^{re.escape(f'{path}: {message}')}"):
            load_config(str(path))


def test_the_reference_shows_each_range() -> None:
    reference = (ROOT / "docs" / "reference" / "config.md").read_text()
    for section, k in NUMERIC_KEYS:
        assert k.allowed is not None
        row = next(line for line in reference.splitlines() if f"`{section}.{k.name}`" in line)
        assert f"allowed: {k.allowed.text}" in row, row


# -- files that are not regular files: refused at once, never read -------------------------------


def _raised_within(seconds: float, fifo: Path, read: Callable[[], object]) -> BaseException | None:
    """What ``read`` raised, in a thread that must be done within ``seconds``; a reader blocked
    on ``fifo`` is let go (a writer opens and closes it) before the test fails."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            read()
        except BaseException as exc:
            raised[0] = exc

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # the reader sees end of file
        thread.join(5)
        pytest.fail(f"reading the FIFO {fifo} blocked for more than {seconds} s")
    assert time.monotonic() - started < seconds
    return raised[0]


def test_a_fifo_config_is_refused_without_blocking(tmp_path: Path) -> None:
    """issue 21 item 4: open() of a FIFO blocks until a writer comes; the agent must not."""
    fifo = tmp_path / "agent.toml"
    os.mkfifo(fifo)
    error = _raised_within(1.0, fifo, lambda: load_config(str(fifo)))
    assert isinstance(error, ConfigError)
    assert str(error) == (
        f"{fifo}: config file not readable: it is a FIFO, not a regular file (refused: reading it "
        "could block the agent)"
    )


def test_a_fifo_rules_file_is_refused_without_blocking(tmp_path: Path) -> None:
    """The rules file (re-read on SIGHUP) goes through the same reader."""
    from trt_agent.rules import load_rules
    from trt_agent.rules.spec import RulesError

    fifo = tmp_path / "rules.toml"
    os.mkfifo(fifo)
    error = _raised_within(1.0, fifo, lambda: load_rules(str(fifo)))
    assert isinstance(error, RulesError)
    assert str(error).startswith(f"{fifo}: rules file not readable: it is a FIFO"), error


def test_a_device_or_a_huge_file_is_refused(tmp_path: Path) -> None:
    from trt_agent.config.load import MAX_FILE_BYTES

    with pytest.raises(ConfigError, match=r"^/dev/zero: config file not readable: it is a character device"):
        load_config("/dev/zero")
    big = tmp_path / "big.toml"
    with big.open("wb") as out:
        out.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(ConfigError, match=f"config file not readable: larger than {MAX_FILE_BYTES} bytes"):
        load_config(str(big))
