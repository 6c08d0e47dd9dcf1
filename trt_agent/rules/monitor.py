"""The daemon's rules: judged off the scrape path, whenever the models change.

The daemon's main loop calls :meth:`RuleMonitor.refresh` after the pipeline says the models
changed; a scrape only copies the last results (``trt_engine_rule_ok``), so it never waits on rule
evaluation. The models are judged from a view of the store (``EngineStore.view``, taken in O(1)):
the tailer never waits on the judging either.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from trt_agent.logs import get_logger
from trt_agent.model.engine import EngineModel
from trt_agent.model.store import EngineStore
from trt_agent.rules import Baseline, Result, RuleSet, evaluate


class RuleMonitor:
    """Every rule on every engine, re-judged only for engines that changed; a rule that starts or
    stops failing is logged."""

    def __init__(self, store: EngineStore) -> None:
        self.store = store
        self.rules: RuleSet | None = None
        self.baseline: Baseline | None = None
        self._lock = threading.Lock()
        # engine -> (model.last_update the results were computed at, results); main loop only
        self._cache: dict[str, tuple[float, list[Result]]] = {}
        self._results: list[Result] = []
        self.evaluated_revision = -1  # the store revision the results are of
        self._stale = True  # the rules changed since the results were judged
        self.log = get_logger("trt_agent.rules")

    def set_rules(self, rules: RuleSet | None, baseline: Baseline | None) -> None:
        with self._lock:
            self.rules, self.baseline = rules, baseline
            self._cache.clear()
            self._stale = True

    def results(self) -> list[Result]:
        """The results of the last refresh (what a scrape shows)."""
        with self._lock:
            return list(self._results)

    def invalidate(self, engines: Iterable[str]) -> None:
        """``engines`` changed without an event (layers dropped by ``series_ttl``): what was
        judged of them is out of date."""
        engines = list(engines)
        if engines:
            with self._lock:
                for engine in engines:
                    self._cache.pop(engine, None)
                self._stale = True

    def refresh(self) -> None:
        """Judge the engines whose models changed since the last refresh."""
        store = self.store
        if store.revision == self.evaluated_revision and not self._stale:
            return
        if self.rules is None:  # no view: it would make the tailer copy the models it folds into
            revision, out = store.revision, []
        else:
            view = store.view()
            revision, out = view.revision, self._judge(view.models)
        with self._lock:
            self._results = out
            self.evaluated_revision = revision
            self._stale = False

    @property
    def stale(self) -> bool:
        """New rules (start, reload) not judged yet."""
        return self._stale

    def _judge(self, models: Mapping[str, EngineModel]) -> list[Result]:
        assert self.rules is not None
        out: list[Result] = []
        for engine, model in models.items():
            cached = self._cache.get(engine)
            if cached is None or cached[0] != model.last_update:
                results = evaluate(self.rules, {engine: model}, self.baseline)
                self._log_changes(cached[1] if cached else [], results)
                cached = self._cache[engine] = (model.last_update, results)
            out += cached[1]
        for engine in set(self._cache) - set(models):
            del self._cache[engine]
        return out

    def _log_changes(self, before: list[Result], after: list[Result]) -> None:
        # a rule that could not be judged yet (skip) and now passes did not "pass again"
        was = {r.rule: "pass" if r.status == "skip" else r.status for r in before}
        for r in after:
            if r.status != was.get(r.rule, "pass") and r.status != "skip":
                log = self.log.warning if r.status == "fail" else self.log.info
                log(
                    "rule " + ("failed" if r.status == "fail" else "passes again"),
                    engine=r.engine,
                    rule=r.rule,
                    severity=r.severity,
                    detail=r.message,
                )
