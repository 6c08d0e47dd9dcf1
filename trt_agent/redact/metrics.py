"""The redactor's own health: ``trt_agent_redaction_collisions_total`` (daemon only; the offline
commands do without prometheus-client)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from trt_agent.redact import Redactor


class RedactorCollector(Collector):
    """The redactor's own health: ``trt_agent_redaction_collisions_total``."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "trt_agent_redaction_collisions",
            "Names whose 10-hex-digit pseudonym was already another name's (given 16 digits instead).",
            value=self.redactor.collisions,
        )
