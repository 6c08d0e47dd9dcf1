"""What keeps the daemon's engine models bounded: layer TTL, engine TTL, the engine cap."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import DATA, parse_file

from trt_agent.config import MetricsConfig
from trt_agent.model import EngineModel
from trt_agent.model.store import EngineStore
from trt_agent.parse import ParseStats
from trt_agent.vocab.events import Event


def _state(**settings: Any) -> EngineStore:
    metrics = MetricsConfig(**settings)
    return EngineStore(series_ttl=metrics.series_ttl, max_engines=metrics.max_engines)


def _time(engine: str, layer: str, ms: float = 1.0) -> Event:
    return {
        "type": "layer_time",
        "engine": engine,
        "severity": "info",
        "source": {},
        "layer": layer,
        "ms": ms,
    }


def test_layer_not_observed_while_others_are_expires() -> None:
    model = EngineModel("e")
    model.apply(_time("e", "old"))
    model.layer_times["old"].last_seen -= 100  # observed 100 s ago
    model.apply(_time("e", "new"))
    assert model.drop_stale_layers(ttl=50, now=time.monotonic()) == 1
    assert list(model.layer_times) == ["new"]


def test_static_timings_do_not_expire() -> None:
    """A profile table read once: nothing is observed any more, so nothing is stale."""
    events, _ = parse_file("41_")
    model = EngineModel("test")
    for event in events:
        model.apply(event)
    layers = len(model.layer_times)
    assert layers > 5
    assert model.drop_stale_layers(ttl=1, now=time.monotonic() + 1000) == 0
    assert len(model.layer_times) == layers


def test_engine_without_files_expires_after_ttl_and_cap_drops_oldest() -> None:
    state = _state(series_ttl=10, max_engines=2)
    for engine in ("a", "b", "c"):
        state.fold([_time(engine, "l")], count=True)
    now = time.monotonic()
    state.models["a"].last_update = now - 3  # the least recently updated
    state.expire(active_engines={"a", "b", "c"}, now=now)
    assert sorted(state.models) == ["b", "c"]
    assert all(k[0] != "a" for k in state.event_counts)
    state.models["b"].last_update = now - 20
    state.expire(active_engines={"c"}, now=now)  # b: no file, not updated for 20 s > ttl
    assert sorted(state.models) == ["c"]
    state.models["c"].last_update = now - 20
    state.expire(active_engines={"c"}, now=now)  # c still has a followed file: kept
    assert sorted(state.models) == ["c"]
    assert state.engines_dropped == 2


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"latency_buckets": [0.1, 0.01]}, "metrics.latency_buckets must be increasing positive numbers"),
        ({"latency_buckets": []}, "metrics.latency_buckets must be increasing positive numbers"),
        ({"max_layer_series": 0}, "metrics.max_layer_series must be at least 1"),
        ({"series_ttl": -1}, "metrics.series_ttl must be 0 (never) or more seconds"),
        ({"listen_addr": "x"}, "unknown key metrics.listen_addr"),
    ],
)
def test_metrics_config_errors_name_the_key(tmp_path: Any, table: dict[str, Any], message: str) -> None:
    from trt_agent.config import ConfigError, load_config

    lines = ["[metrics]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in table.items()]
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(str(path))


def test_layer_histograms_are_cumulative_and_fold_a_layer_named_other() -> None:
    from trt_agent.sinks.prometheus import OTHER_LAYER, layer_histograms

    model = EngineModel("e")
    for i, ms in enumerate([0.005, 0.02, 0.3, 7.0, 900.0] * 3):
        model.apply(_time("e", f"l{i % 4}", ms))
    model.apply(_time("e", OTHER_LAYER, 1.0))
    rows = layer_histograms(model, limit=2)
    names = [name for name, _, _ in rows]
    assert len(names) == len(set(names)) == 3 and names[-1] == OTHER_LAYER
    total = 0.0
    for _name, buckets, _seconds in rows:
        counts = [c for _, c in buckets]
        assert counts == sorted(counts) and buckets[-1][0] == "+Inf"
        total += counts[-1]
    assert total == 16  # every observation, once


def test_errors_counts_lines_not_events_and_keeps_short_messages() -> None:
    """The plan-version error line makes two version events: one error line, counted once. A
    kept message is cut, so 25 error lines of 1 MiB do not pin 20 MiB per engine."""
    from trt_agent.model import build_models
    from trt_agent.parse import parse_path

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
