"""The redactor's own health: ``trt_agent_redaction_collisions_total``, the names it holds and
those it forgot to stay within ``max_learned_names`` (daemon only; the offline commands do
without prometheus-client)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trt_agent.redact import Redactor


class RedactorCollector(Collector):
    """The redactor's own health: collisions, learned names held, names evicted."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "trt_agent_redaction_collisions",
            "Names whose 10-hex-digit pseudonym was already another name's (given 16 digits instead).",
            value=self.redactor.collisions,
        )
        yield GaugeMetricFamily(
            "trt_agent_redaction_learned_names",
            "Names the redactor holds to scrub free text of (at most redaction.max_learned_names).",
            value=self.redactor.held_names,
        )
        yield CounterMetricFamily(
            "trt_agent_redaction_names_evicted",
            "Least recently seen names forgotten to stay within redaction.max_learned_names: free text "
            "is no longer scrubbed of them until a name field teaches them again (docs/redaction.md).",
            value=self.redactor.evicted,
        )
