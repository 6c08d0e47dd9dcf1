"""What keeps the daemon's engine models bounded by names (``metrics.max_layer_names``) and under
``agent.memory_limit_bytes``: every per-name table stops at its cap, what was not kept is counted,
and a figure a capped table cannot give is n/a, never a wrong number."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from conftest import make_redactor, parse_file
from prometheus_client import CollectorRegistry, generate_latest

from trt_agent.config import MetricsConfig
from trt_agent.model import EngineModel
from trt_agent.model.engine import MAX_SMALL_KEYS, OTHER
from trt_agent.model.store import EngineStore
from trt_agent.pipeline import DROP_KINDS, Batch, Shedder, ShedderCollector
from trt_agent.rules.evaluate import evaluate_rule
from trt_agent.rules.load import parse_rules
from trt_agent.rules.monitor import RuleMonitor
from trt_agent.rules.spec import Rule
from trt_agent.sinks.prometheus import EngineCollector
from trt_agent.vocab.events import Event

CAP = 1000


def _event(type_: str, engine: str = "e", **fields: Any) -> Event:
    return {"type": type_, "engine": engine, "severity": "verbose", "source": {}, **fields}


def _names(n: int, engine: str = "e", start: int = 0) -> list[Event]:
    """``n`` new layers, each named everywhere a layer or tensor name can be."""
    out: list[Event] = []
    for i in range(start, start + n):
        name = f"/encoder/block_{i}/conv"
        out += [
            _event("source_layer", engine, name=name, op="Conv"),
            _event("layer", engine, name=name, layer_type="CaskConvolution", precision="Half"),
            _event("quantization", engine, layer=name, precision="Int8"),
            _event("calibration", engine, tensor=name, min=-float(i), max=float(i)),
            _event("fusion", engine, layers=[name + "/bn"], kind="ConvBN"),
            _event("plugin", engine, plugin=f"Plugin_{i}", version="1"),
            _event("layer_time", engine, layer=name, ms=0.01),
        ]
    return out


def test_a_model_fed_more_names_than_the_cap_stays_at_the_cap_and_counts_the_rest() -> None:
    store = EngineStore(max_names=CAP, max_tracked_layers=CAP)
    store.fold(_names(5 * CAP), count=True)
    model = store.models["e"]
    # calibration and layer times keep the widest / most-timed: all that was not kept is counted
    dropped = store.entries_dropped
    assert dropped["calibration"] == 5 * CAP - len(model.calibration)
    assert dropped["layer_time"] == 5 * CAP - len(model.layer_times)
    store.fold(_names(CAP), count=True)  # names it kept come again: kept, not counted
    for table in (model.layers, model.source_layers, model.quantization, model.removed, model.plugins):
        assert len(table) == CAP
    assert len(model.calibration) < 2 * CAP
    assert len(model.layer_times) <= 2 * CAP
    for kind in ("layer", "source_layer", "quantization", "removed", "plugin"):
        assert dropped[kind] == 4 * CAP, kind
    assert {"layer", "source_layer", "quantization", "removed", "plugin", "calibration"} <= model.truncated


def test_the_widest_calibration_ranges_survive_the_cap() -> None:
    store = EngineStore(max_names=CAP)
    store.fold(_names(5 * CAP), count=True)
    kept = store.models["e"].calibration
    widest = sorted(kept.items(), key=lambda kv: kv[1][1] - kv[1][0], reverse=True)[:20]
    assert [t for t, _ in widest] == [
        f"/encoder/block_{i}/conv" for i in range(5 * CAP - 1, 5 * CAP - 21, -1)
    ]


def test_figures_a_capped_table_cannot_give_are_na_never_wrong() -> None:
    store = EngineStore(max_names=CAP)
    store.fold(_names(2 * CAP), count=True)
    model = store.models["e"]
    for ratio in (model.fusion_coverage(), model.unfused_kernel_ratio(), model.int8_coverage()):
        assert ratio.value is None
        assert ratio.reason is not None and "metrics.max_layer_names" in ratio.reason
    assert model.opaque_layers() is None
    assert model.precision_counts() == {}
    summary = model.summary()
    assert summary["layers"]["source"] is None
    assert summary["layers"]["engine"] is None and summary["layers"]["compute"] is None
    assert summary["calibration"]["tensors"] is None
    assert model.int8_requested()


def test_plugin_layers_stay_counted_past_the_cap() -> None:
    store = EngineStore(max_names=CAP)
    events = [
        _event("layer", name=f"plugin_{i}", layer_type="PluginV2", precision="Float") for i in range(CAP + 10)
    ]
    store.fold(events + events[-5:], count=True)
    model = store.models["e"]
    assert len(model.layers) == CAP
    assert len(model.plugin_layers()) == model.plugin_layer_count() == CAP + 10


@pytest.mark.parametrize("name", ["41_", "45_", "62_", "47_", "42_"])
def test_under_the_cap_the_figures_are_those_of_an_uncapped_model(name: str) -> None:
    events, _ = parse_file(name)
    capped = EngineStore(max_names=CAP)
    capped.fold(events, count=True)
    free = EngineModel("test")
    for event in events:
        free.apply(event)
    assert capped.models["test"].summary() == free.summary()
    assert not capped.models["test"].truncated


def test_tables_of_few_keys_are_bounded_too() -> None:
    store = EngineStore(max_names=CAP)
    store.fold(
        [_event("fallback", reason=f"r{i}") for i in range(MAX_SMALL_KEYS + 10)]
        + [_event("memory", kind=f"k{i}", bytes=1) for i in range(MAX_SMALL_KEYS + 10)],
        count=True,
    )
    model = store.models["e"]
    assert sum(model.fallback_reasons.values()) == MAX_SMALL_KEYS + 10  # counts still add up
    assert model.fallback_reasons[OTHER] == 10 and len(model.fallback_reasons) == MAX_SMALL_KEYS + 1
    assert len(model.memory) == MAX_SMALL_KEYS and store.entries_dropped["fact"] == 10


def _pressured(engines: int = 3) -> tuple[EngineStore, Shedder]:
    store = EngineStore(max_names=CAP)
    for index in range(engines):
        store.fold(_names(100, engine=f"e{index}"), count=True)
        store.models[f"e{index}"].last_update = float(index)  # e0 the least recently updated
    return store, Shedder(store, keep=10)


def test_over_the_limit_new_names_are_counted_and_detail_is_shed_least_recent_first() -> None:
    store, shedder = _pressured()
    limit = 100 << 20
    assert shedder.check(50 << 20, limit) is None and not shedder.shedding
    assert shedder.check(limit + 1, limit) == "detail e0"
    assert shedder.shedding
    model = store.models["e0"]
    assert not model.layers and not model.source_layers and len(model.layer_times) == 10
    assert model.fusion_coverage().value is None
    assert "memory_limit_bytes" in (model.fusion_coverage().reason or "")
    # no new name is kept while over the limit, by any model, and each is counted
    before = store.entries_dropped["source_layer"]
    store.fold(_names(5, engine="e2", start=1000), count=True)
    assert len(store.models["e2"].source_layers) == 100
    assert store.entries_dropped["source_layer"] == before + 5
    # RSS that did not grow (memory the allocator keeps) takes nothing more
    assert shedder.check(limit + 2, limit) is None
    # RSS that grows: the next engine, then engines are dropped whole, the last one never
    step = limit + 1
    actions = []
    for _ in range(6):
        step += limit // 32
        actions.append(shedder.check(step, limit))
    assert actions == ["detail e1", "detail e2", "engine e0", "engine e1", None, None]
    assert list(store.models) == ["e2"] and store.engines_dropped == 2
    assert shedder.relief == {"detail": 3, "engine": 2}
    assert all(k[0] == "e2" for k in store.event_counts)
    # back under 90 %: names are kept again
    assert shedder.check(int(0.8 * limit), limit) is None and not shedder.shedding
    store.fold(_names(5, engine="e2", start=2000), count=True)
    assert len(store.models["e2"].source_layers) == 5


def test_once_the_models_gave_all_they_can_the_redactor_forgets_half_its_names() -> None:
    """The last relief step: the learned names, halved (never below the floor), least recently
    seen first; the ones left are still scrubbed from free text."""
    store = EngineStore(max_names=CAP)
    store.fold(_names(10, engine="only"), count=True)
    redactor = make_redactor(max_learned_names=0)
    names = [f"encoder_layer{i}_attention_MatMul" for i in range(5000)]
    redactor.learn(names)
    shedder = Shedder(store, keep=10, names=redactor)
    limit = 100 << 20
    step, actions = limit + 1, []
    for _ in range(5):
        step += limit // 32
        actions.append(shedder.check(step, limit))
    # the one model's detail first, then the names, halved at each step while RSS grows
    assert actions == ["detail only", "names 2500", "names 1250", "names 250", None]
    assert redactor.held_names == 1000 and redactor.evicted == 4000
    assert redactor.learned_names() == names[-1000:]  # the least recently seen went first
    assert shedder.relief == {"detail": 1, "names": 3}
    kept, forgotten = names[-1], names[0]
    text = redactor.text(f"tactic chosen for {kept} after {forgotten}")
    assert kept not in text and forgotten in text  # rebuilt from the names left: that is the cost
    assert list(store.models) == ["only"]
    # still over the limit: new names are learned, the least recently seen make room for them
    redactor.learn([f"decoder_layer{i}_MatMul" for i in range(300)])
    assert redactor.held_names == 1000 and redactor.learned_names()[-1] == "decoder_layer299_MatMul"
    # back under 90 %: max_learned_names alone bounds them again
    assert shedder.check(50 << 20, limit) is None and not shedder.shedding
    redactor.learn([f"head{i}_Gemm" for i in range(300)])
    assert redactor.held_names == 1300


def test_a_verdict_judged_before_a_relief_step_is_judged_again() -> None:
    """Shedding a model's detail changes its figures without an event: the rule monitor's
    cached verdict (a pass on INT8 coverage) must give way to the n/a the model now gives."""
    store = EngineStore(max_names=CAP)
    layers = [
        _event("layer", "e", name=f"conv{i}", layer_type="CaskConvolution", precision="Int8")
        for i in range(5)
    ]
    store.fold(layers, count=True)
    monitor = RuleMonitor(store)
    monitor.set_rules(parse_rules({"rule": [{"name": "int8", "check": "int8_coverage", "min": 0.5}]}), None)
    monitor.refresh()
    assert [r.status for r in monitor.results()] == ["pass"]
    shedder = Shedder(store, keep=1, changed=monitor.invalidate)
    assert shedder.check((100 << 20) + 1, 100 << 20) == "detail e"
    monitor.refresh()
    assert [r.status for r in monitor.results()] == ["skip"]


def test_the_shedder_sheds_verbose_file_events_and_exports_what_it_shed() -> None:
    _store, shedder = _pressured(1)
    shedder.check(200 << 20, 100 << 20)
    batch = shedder(Batch(_names(2, engine="e0", start=500), [], "file"))
    assert batch.events == [] and shedder.shed["verbose"] == 14
    families = {m.name: m for m in ShedderCollector(shedder).collect()}
    assert families["trt_agent_memory_shedding"].samples[0].value == 1
    relief = {s.labels["action"]: s.value for s in families["trt_agent_memory_relief"].samples}
    assert relief == {"detail": 1, "engine": 0, "names": 0}
    dropped = {s.labels["kind"]: s.value for s in families["trt_agent_model_entries_dropped"].samples}
    assert set(DROP_KINDS) <= set(dropped) and dropped["layer"] == 100


def test_without_a_limit_nothing_is_shed() -> None:
    store, shedder = _pressured(1)
    assert shedder.check(1 << 40, 0) is None and not shedder.shedding
    assert len(store.models["e0"].layers) == 100


def test_the_shedder_changes_the_models_through_the_store_never_what_a_view_holds() -> None:
    """A scrape in progress reads the models of its view: memory relief (closing names,
    shedding detail, dropping engines) copies a model a view holds before changing it."""
    store, shedder = _pressured()
    limit = 100 << 20
    before = store.view()
    held = {engine: _state(model) for engine, model in before.models.items()}
    counts = dict(before.event_counts)
    step = limit + 1
    actions = []
    for _ in range(4):
        actions.append(shedder.check(step, limit))
        step += limit // 32
    assert actions == ["detail e0", "detail e1", "detail e2", "engine e0"]
    assert set(before.models) == {"e0", "e1", "e2"} and dict(before.event_counts) == counts
    for engine, model in before.models.items():
        assert _state(model) == held[engine], engine  # unchanged, names_closed included
        assert not model.names_closed and model is not store.models.get(engine)
    after = store.view()
    assert set(after.models) == {"e1", "e2"} and after.revision > before.revision
    assert all(model.names_closed and not model.layers for model in after.models.values())
    # an engine first seen under pressure keeps no new name either
    store.fold(_names(3, engine="new"), count=True)
    assert store.models["new"].names_closed and not store.models["new"].source_layers
    shedder.check(int(0.8 * limit), limit)
    assert not any(model.names_closed for model in store.models.values())
    assert all(model.names_closed for model in after.models.values())  # that view still stands


def _state(model: EngineModel) -> bytes:
    """The model's own state (not ``dropped``: the counter every model of a store shares)."""
    return pickle.dumps({k: v for k, v in vars(model).items() if k != "dropped"})


def test_trt_engine_plugins_has_no_sample_once_the_plugin_layers_were_capped_too() -> None:
    store = EngineStore(max_names=4)
    store.fold(
        [_event("layer", "exact", name=f"p{i}", layer_type="PluginV2", precision="Float") for i in range(7)]
        + [
            _event("layer", "over", name=f"p{i}", layer_type="PluginV2", precision="Float") for i in range(20)
        ],
        count=True,
    )
    assert store.models["exact"].plugin_layer_count() == 7
    assert store.models["over"].plugin_layer_count() is None
    registry = CollectorRegistry()
    registry.register(EngineCollector(store, MetricsConfig()))
    plugins = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("trt_engine_plugins{")
    ]
    assert plugins == ['trt_engine_plugins{engine="exact"} 7.0']


def test_rules_on_a_capped_table_skip_instead_of_passing() -> None:
    """An unregistered plugin or an out-of-bounds calibration range past the cap is not known:
    the rule cannot pass (a failure it does see still fails)."""
    store = EngineStore(max_names=2)
    plugins = [_event("plugin", "e", plugin=p, version="1") for p in ("A", "B")]
    store.fold([*plugins, _event("plugin", "e", plugin="Bad", version="1", registered=False)], count=True)
    result = evaluate_rule(Rule("plugins", "plugins_registered"), store.models["e"])
    assert result.status == "skip" and "max_layer_names" in result.message
    store = EngineStore(max_names=2)
    ranges = [_event("calibration", "e", tensor=f"t{i}", min=-10.0 - i, max=10.0 + i) for i in range(3)]
    store.fold([*ranges, _event("calibration", "e", tensor="hot", min=1000.0, max=1000.5)], count=True)
    model = store.models["e"]
    assert "hot" not in model.calibration  # only the widest are kept
    result = evaluate_rule(Rule("cal", "calibration_range", params={"max_abs": 100.0}), model)
    assert result.status == "skip" and "calibration ranges" in result.message
    result = evaluate_rule(Rule("cal", "calibration_range", params={"max_width": 5.0}), model)
    assert result.status == "fail"  # the kept ranges are too wide: that is known
