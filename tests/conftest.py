"""Shared helpers: real TensorRT text lives in tests/data (corpus/ and extra/, see SOURCES.md there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent

from trt_agent.events import Event
from trt_agent.model import EngineModel, build_models
from trt_agent.parse import ParseStats, parse_path

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
