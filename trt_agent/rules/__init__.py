"""Rules: "the optimisations really happened" as pass/fail results.

A rules file (TOML, ``rules.example.toml`` documents each check) holds ``[[rule]]`` tables. The
same file feeds ``trt-agent check`` (the CI gate) and the daemon's ``trt_engine_rule_ok`` gauge, and both
evaluate it with :func:`evaluate` on the engine model, so a rule cannot pass in CI and fail in
production for a reason other than the data.

Rules match clear layer and tensor names (the models keep them); redaction applies to the
messages when they leave the process.

The modules, each one job, in import order (each imports only those above it):

- ``spec``: what a rules file says, as data (:class:`Rule`, :class:`Selector`, :class:`RuleSet`,
  :class:`RulesError`, :data:`RULE_SEVERITIES`);
- ``results``: what judging gives (:class:`Result`, pass/fail/skip, :func:`gate`, :func:`strict`);
- ``baseline``: recorded layer latencies to compare against (:class:`Baseline`, :func:`load_baseline`);
- ``params``: readers of rule parameters (:func:`parse_size`...);
- ``checks``: the check functions and :data:`CHECKS`, the parameters each takes;
- ``load``: reading and validating a rules file (:func:`load_rules`, :func:`parse_rules`);
- ``evaluate``: every rule on every engine (:func:`evaluate`, :func:`evaluate_rule`).
"""

from __future__ import annotations

from trt_agent.rules.baseline import Baseline, load_baseline
from trt_agent.rules.checks import CHECKS, CheckFn, CheckSpec, Outcome
from trt_agent.rules.evaluate import evaluate, evaluate_rule
from trt_agent.rules.load import load_rules, parse_rules
from trt_agent.rules.params import parse_size
from trt_agent.rules.results import FAIL, MAX_OFFENDERS, PASS, SKIP, Result, gate, strict
from trt_agent.rules.spec import RULE_SEVERITIES, Rule, RulesError, RuleSet, Selector

__all__ = [
    "CHECKS",
    "FAIL",
    "MAX_OFFENDERS",
    "PASS",
    "RULE_SEVERITIES",
    "SKIP",
    "Baseline",
    "CheckFn",
    "CheckSpec",
    "Outcome",
    "Result",
    "Rule",
    "RuleSet",
    "RulesError",
    "Selector",
    "evaluate",
    "evaluate_rule",
    "gate",
    "load_baseline",
    "load_rules",
    "parse_rules",
    "parse_size",
    "strict",
]
