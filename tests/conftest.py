"""Shared helpers: real TensorRT text lives in tests/data (corpus/ and extra/, see SOURCES.md there)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, wait_for

from trt_agent.model import EngineModel, build_models
from trt_agent.parse import ParseStats, parse_path
from trt_agent.vocab.events import Event

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"


def data_file(name: str) -> Path:
    """A file of tests/data/corpus or tests/data/extra by (a unique prefix of) its name."""
    for folder in ("corpus", "extra"):
        matches = sorted((DATA / folder).glob(name + "*"))
        if matches:
            return matches[0]
    raise FileNotFoundError(name)


def parse_file(name: str, engine: str = "test") -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    path = data_file(name)
    rel = os.path.relpath(path, DATA)
    cwd = os.getcwd()
    os.chdir(DATA)
    try:
        events = list(parse_path(rel, engine, stats))
    finally:
        os.chdir(cwd)
    return events, stats


def model_of(*names: str) -> EngineModel:
    events: list[Event] = []
    for name in names:
        events.extend(parse_file(name)[0])
    return build_models(events)["test"]


def of_type(events: list[Event], type_: str, **match: Any) -> list[Event]:
    return [e for e in events if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def update_golden() -> bool:
    return os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    """Agents a test starts (append them); killed at teardown if a test left one running."""
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.kill()


PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_ok(url: str) -> bool:
    """A GET of ``url`` succeeds; an error status (a 503 "not ready yet") or no server is "not
    yet", for wait_for."""
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start(target, rule_files=())``: a real Prometheus (the Debian package) scraping ``target``
    as job ``trt-agent`` and evaluating ``rule_files`` every second; returns its URL once ready."""
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed: scripts/test.sh installs the Debian package")
    procs: list[subprocess.Popen[bytes]] = []

    def start(target: str, rule_files: Sequence[Path] = ()) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: {json.dumps([str(p) for p in rule_files])}\n"
            f"scrape_configs:\n  - job_name: trt-agent\n    static_configs:\n      - targets: ['{target}']\n"
        )
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - the process writes it
        procs.append(
            subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
            )
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers_ok(f"{base}/-/ready"), 30, "Prometheus ready")
        return base

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(20)
