"""Judging rules: every rule on every engine model it applies to, each a :class:`Result`."""

from __future__ import annotations

from collections.abc import Mapping

from trt_agent.model.engine import EngineModel
from trt_agent.rules.baseline import Baseline
from trt_agent.rules.checks import CHECKS
from trt_agent.rules.results import MAX_OFFENDERS, Result
from trt_agent.rules.spec import Rule, RuleSet


def evaluate_rule(rule: Rule, model: EngineModel, baseline: Baseline | None = None) -> Result:
    """One rule on one engine model."""
    status, message, observed, offenders = CHECKS[rule.check].fn(rule, model, baseline)
    threshold = {k: v for k, v in rule.params.items() if k not in ("expect",)} or dict(rule.params)
    return Result(
        rule=rule.name,
        engine=model.engine,
        check=rule.check,
        severity=rule.severity,
        status=status,
        message=message,
        observed=observed,
        threshold=threshold,
        offenders=offenders[:MAX_OFFENDERS],
        offender_count=len(offenders),
    )


def evaluate(
    rules: RuleSet, models: Mapping[str, EngineModel], baseline: Baseline | None = None
) -> list[Result]:
    """Every rule on every engine it applies to, engines in input order, rules in file order."""
    return [
        evaluate_rule(rule, model, baseline)
        for model in models.values()
        for rule in rules.rules
        if rule.applies_to(model.engine)
    ]
