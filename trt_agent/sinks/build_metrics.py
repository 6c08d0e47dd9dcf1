"""The metrics of one build, for CI: what ``report --format prometheus|openmetrics`` writes
(node_exporter's textfile collector reads it) and ``check --push`` sends to a Pushgateway.

They are the daemon's per-engine families (``EngineCollector``, the canonical ``trt_engine_*``
names only: a new output has no old names to keep), computed from a store folded the way the
daemon folds a file, so a figure of a build equals the daemon's figure of the same log. Two
families exist only here:

* ``trt_engine_report_timestamp_seconds``: when the report was made; orders builds in a table
  and tells a CI that stopped reporting (``time() - max(…) > 2 * 86400``);
* ``trt_engine_check_ok``: 1 when no rule of severity ``error`` failed on the engine (only
  with rules).

Every series carries the ``--label`` pairs (commit, branch, build id): each build is its own
series, so ``last_over_time(…[30d])`` lists the builds and ``max by (engine)`` draws one line
through them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector

from trt_agent.config import Config, ConfigError
from trt_agent.model.store import EngineStore
from trt_agent.redact import Redactor
from trt_agent.rules import Result, gate
from trt_agent.sinks.prometheus import BUILD_INFO_COMPONENTS, EngineCollector
from trt_agent.vocab.events import Event

FORMATS: Final = ("prometheus", "openmetrics")
PER_ENGINE_PREFIX: Final = "trt_engine_"
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels a scrape or a push sets itself (job from --job, instance from the target) and those of
# histograms and summaries: a --label of that name would be overwritten or break the family.
_SET_ELSEWHERE: Final = frozenset({"job", "instance", "le", "quantile"})
_FOLD_BATCH: Final = 1000


def parse_labels(pairs: Sequence[str], config: Config) -> dict[str, str]:
    """``--label KEY=VALUE`` pairs as a dict; ``ConfigError`` naming the pair at fault.

    A name follows Prometheus's label syntax, is not reserved to Prometheus (``__``), not set by
    the scrape or push (``job``, ``instance``) and not one the families use (``engine``,
    ``layer``…: ``family_label_names``). An empty value is refused: it would drop the label,
    and in CI it is mostly a variable that was not set (``commit=$CI_COMMIT_SHA``)."""
    if not pairs:
        return {}
    taken = _SET_ELSEWHERE | family_label_names(config)
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--label {pair!r}: expected KEY=VALUE")
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ConfigError(
                f"--label {pair!r}: {name!r} is no Prometheus label name "
                "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
            )
        if name in taken:
            raise ConfigError(
                f"--label {pair!r}: {name!r} is a label the metrics already use ({', '.join(sorted(taken))})"
            )
        if not value:
            raise ConfigError(f"--label {pair!r}: empty value (is the variable it came from set?)")
        if name in labels and labels[name] != value:
            raise ConfigError(f"--label {name} is given twice ({labels[name]!r} and {value!r})")
        labels[name] = value
    return labels


def family_label_names(config: Config) -> set[str]:
    """Every label name of the per-engine families (what ``--label`` may not reuse), read off
    the families themselves so a new family's labels are covered without a list to keep."""
    store = EngineStore(latency_buckets=config.metrics.latency_buckets)
    # an info family's labels are its value's keys, given per sample: the versions
    names = {"engine", *BUILD_INFO_COMPONENTS}
    for family in _engine_families(store, config, None, []):
        names.update(_declared_labels(family))
    return names


def _declared_labels(family: Metric) -> Iterable[str]:
    # the families are built empty above: their label names are known, not yet their samples
    return getattr(family, "_labelnames", ())


def fold_events(events: Iterable[Event], config: Config) -> EngineStore:
    """The engine store of the inputs, folded and counted as the daemon folds a file's lines."""
    store = EngineStore(latency_buckets=config.metrics.latency_buckets)
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= _FOLD_BATCH:
            store.fold(batch, count=True)
            batch = []
    if batch:
        store.fold(batch, count=True)
    return store


def _engine_families(
    store: EngineStore, config: Config, redactor: Redactor | None, results: Sequence[Result]
) -> list[Metric]:
    settings = dataclasses.replace(config.metrics, deprecated_names=False)
    collector = EngineCollector(store, settings, redactor, lambda: list(results))
    # the collector also yields the store's own bounds (trt_agent_*): the daemon's health, not
    # the build's
    return [family for family in collector.collect() if family.name.startswith(PER_ENGINE_PREFIX)]


def build_families(
    store: EngineStore,
    config: Config,
    redactor: Redactor | None,
    results: Sequence[Result] | None,
    labels: Mapping[str, str],
    now: float | None = None,
) -> list[Metric]:
    """The families of one build: the engines' figures and rule results (``results`` None:
    no rules were given), the report's time and each engine's verdict, every sample with
    ``labels``."""
    families = _engine_families(store, config, redactor, results or [])
    stamp = GaugeMetricFamily(
        "trt_engine_report_timestamp_seconds",
        "Unix time the report of this build was made (report --format prometheus, check --push).",
        labels=["engine"],
    )
    for engine in sorted(store.models):
        stamp.add_metric([engine], time.time() if now is None else now)
    families.append(stamp)
    if results is not None:
        verdict = GaugeMetricFamily(
            "trt_engine_check_ok",
            "1 when no rule of severity error failed on the engine, 0 when one did (the check's verdict).",
            labels=["engine"],
        )
        for engine in sorted({r.engine for r in results}):
            verdict.add_metric([engine], 1 if gate(r for r in results if r.engine == engine) else 0)
        families.append(verdict)
    return [_labelled(family, labels) for family in families]


def _labelled(family: Metric, labels: Mapping[str, str]) -> Metric:
    if not labels:
        return family
    out = Metric(family.name, family.documentation, family.type, family.unit)
    for sample in family.samples:
        out.add_sample(
            sample.name, {**sample.labels, **labels}, sample.value, sample.timestamp, sample.exemplar
        )
    return out


def of_engine(families: Sequence[Metric], engine: str) -> list[Metric]:
    """The samples of one engine (one Pushgateway group), families without any left out."""
    out = []
    for family in families:
        kept = Metric(family.name, family.documentation, family.type, family.unit)
        kept.samples = [s for s in family.samples if s.labels.get("engine") == engine]
        if kept.samples:
            out.append(kept)
    return out


class _Families(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def registry_of(families: Sequence[Metric]) -> CollectorRegistry:
    """A registry serving exactly ``families`` (what prometheus-client's push and exposition take)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return registry


def exposition(families: Sequence[Metric], fmt: str) -> bytes:
    """``families`` in the Prometheus text format 0.0.4 (``prometheus``: what node_exporter's
    textfile collector and the Pushgateway read) or OpenMetrics 1.0 (``openmetrics``)."""
    registry = registry_of(families)
    if fmt == "openmetrics":
        return generate_openmetrics(registry)  # type: ignore[no-untyped-call,no-any-return]
    return generate_latest(registry)
