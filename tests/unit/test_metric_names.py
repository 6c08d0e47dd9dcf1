"""Metric names (issue 18): every per-engine family is ``trt_engine_*``; those 0.2.0 renamed are
served under their old names too, with the same samples, until 0.3.0 (``metrics.deprecated_names``);
the agent says its versions in ``trt_agent_build_info`` and no constant ``trt_agent_up``."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import ROOT
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from trt_agent import __version__
from trt_agent.config import MetricsConfig, load_config
from trt_agent.model.store import EngineStore
from trt_agent.parse import ParseStats
from trt_agent.parse.dispatch import parse_path
from trt_agent.rules import FAIL, Result
from trt_agent.sinks.prometheus import DEPRECATED_NAMES, EngineCollector

# Beside the AlexNet examples: a calibration cache and a fallback, so every renamed family has samples.
EXTRA = {
    "calibration.cache": "TRT-8601-EntropyCalibration2\ninput: 3c010a14\nconv1: 3d8a1b2c\n",
    "fallback.log": (
        "[11/01/2024-10:32:48] [W] [TRT] Missing scale and zero-point for tensor conv1_out, expect fall "
        "back to non-int8 implementation for any layer consuming or producing given tensor\n"
    ),
}
RULE = Result("no_fallback", "alexnet", "no_fallback", "error", FAIL, "1 fallback")


def _store(tmp_path: Path) -> EngineStore:
    paths = sorted((ROOT / "examples" / "logs").glob("0[1-4]_*alexnet*"))
    for name, text in EXTRA.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    store = EngineStore()
    for path in paths:
        store.fold(list(parse_path(str(path), "alexnet", ParseStats())), count=True)
    return store


def _scrape(*collectors: Collector) -> tuple[dict[str, list[tuple[str, dict[str, str], float]]], str]:
    """(samples by family name as scraped, the text exposition)."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    families: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in registry.collect():
        name = family.name + {"counter": "_total", "info": "_info"}.get(family.type, "")
        families[name] = [(s.name, s.labels, s.value) for s in family.samples]
    return families, generate_latest(registry).decode()


def _unprefixed(
    samples: list[tuple[str, dict[str, str], float]], family: str
) -> list[tuple[str, dict[str, str], float]]:
    """The samples with their family's name taken off (``_bucket``, ``_sum``... stay)."""
    base = family.removesuffix("_total").removesuffix("_info")
    assert all(name.startswith(base) for name, _, _ in samples)
    return [(name[len(base) :], labels, value) for name, labels, value in samples]


def test_renamed_families_are_served_under_both_names_with_the_same_samples(tmp_path: Path) -> None:
    collector = EngineCollector(_store(tmp_path), MetricsConfig(), None, lambda: [RULE])
    families, text = _scrape(collector)
    canonical = families.keys() - set(DEPRECATED_NAMES.values())
    assert all(name.startswith(("trt_engine_", "trt_agent_")) for name in canonical)
    for new, old in DEPRECATED_NAMES.items():
        assert families[new], f"{new} has no samples here: the test cannot compare its alias"
        assert _unprefixed(families[old], old) == _unprefixed(families[new], new), old
        assert f"# HELP {old} Deprecated alias of {new}; removed in 0.3.0. " in text
    # The exposition's types are the canonical family's (a histogram's alias is a histogram).
    assert "# TYPE trt_layer_latency_seconds histogram" in text
    assert "# TYPE trt_fallback_events_total counter" in text
    assert 'trt_rule_ok{engine="alexnet",rule="no_fallback",severity="error"} 0.0' in text


def test_deprecated_names_false_serves_only_the_canonical_names(tmp_path: Path) -> None:
    store = _store(tmp_path)
    settings = dataclasses.replace(MetricsConfig(), deprecated_names=False)
    families, text = _scrape(EngineCollector(store, settings, None, lambda: [RULE]))
    assert set(DEPRECATED_NAMES) <= families.keys()
    assert not families.keys() & set(DEPRECATED_NAMES.values())
    assert "Deprecated" not in text
    with_aliases, _ = _scrape(EngineCollector(store, MetricsConfig(), None, lambda: [RULE]))
    assert {k: v for k, v in with_aliases.items() if k in families} == families


def test_deprecated_names_is_a_metrics_key_true_by_default(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[metrics]\n")
    assert load_config(str(path)).metrics.deprecated_names is True
    path.write_text("[metrics]\ndeprecated_names = false\n")
    assert load_config(str(path)).metrics.deprecated_names is False


def _agent_collector() -> Collector:
    from trt_agent.daemon import _AgentCollector

    agent: Any = SimpleNamespace(
        reloads={"success": 0, "failure": 0}, last_reload_ok=True, ready=lambda: True
    )
    return _AgentCollector(agent)


def test_the_agent_says_its_versions_in_build_info_and_has_no_up_gauge() -> None:
    from trt_agent.daemon import tensorrt_version

    families, text = _scrape(_agent_collector())
    assert families["trt_agent_build_info"] == [
        (
            "trt_agent_build_info",
            {"version": __version__, "python": platform.python_version(), "tensorrt": tensorrt_version()},
            1.0,
        )
    ]
    assert "trt_agent_up" not in text


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        ({"tensorrt": "10.3.0", "tensorrt-cu12": "10.3.0", "tensorrt_cu12_bindings": "10.3.0"}, "10.3.0"),
        ({"tensorrt_cu13_bindings": "11.4.0.106", "tensorrt-stubs": "1.0"}, "11.4.0.106"),
        ({"tensorrt-cu12": "10.1.0", "tensorrt-cu12-libs": "10.1.0"}, "10.1.0"),
        ({"tensorrt-bindings": "8.6.1"}, "8.6.1"),
        ({"tensorrt-stubs": "1.0", "tensorrt-llm": "0.9.0"}, ""),
        ({}, ""),
    ],
)
def test_tensorrt_version_comes_from_the_installed_distribution(
    monkeypatch: pytest.MonkeyPatch, installed: dict[str, str], expected: str
) -> None:
    from trt_agent.daemon import tensorrt_version

    def version(name: str) -> str:
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    dists = [SimpleNamespace(metadata={"Name": name}, version=v) for name, v in installed.items()]
    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: dists)
    assert tensorrt_version() == expected
