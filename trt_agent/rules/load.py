"""Reading a rules file: TOML ``[[rule]]`` tables, validated against :data:`CHECKS`, into a
:class:`RuleSet`; every error names the file, the rule and the key."""

from __future__ import annotations

import re
from typing import Any, Final

from trt_agent.config import read_toml
from trt_agent.rules.checks import CHECKS
from trt_agent.rules.params import string_list
from trt_agent.rules.spec import RULE_SEVERITIES, Rule, RulesError, RuleSet, Selector

_COMMON: Final = (
    "name",
    "check",
    "severity",
    "description",
    "engines",
    "layers",
    "layer_types",
    "precisions",
)


def load_rules(path: str) -> RuleSet:
    """Read and validate a rules file; errors name the file, the rule and the key."""
    return parse_rules(read_toml(path, "rules file", RulesError), path)


def parse_rules(raw: dict[str, Any], path: str = "<rules>") -> RuleSet:
    """Validate the TOML document of a rules file (see :func:`load_rules`)."""
    unknown = set(raw) - {"rule"}
    if unknown:
        raise RulesError(
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))} (rules are [[rule]] tables)"
        )
    entries = raw.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RulesError(f"{path}: rule must be an array of tables ([[rule]])")
    if not entries:  # a gate with no rule judges nothing: a misconfiguration, not a pass
        raise RulesError(f"{path}: has no [[rule]]")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        rules.append(_parse_rule(path, index, entry, seen))
    return RuleSet(tuple(rules), path)


def _parse_rule(path: str, index: int, entry: dict[str, Any], seen: set[str]) -> Rule:
    name = entry.get("name")
    where = f"{path}: rule[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
    if not isinstance(name, str):
        raise RulesError(f"{where}: name is required (a string: it becomes a metric label)")
    if not re.fullmatch(r"[A-Za-z_][\w.:-]*", name):
        raise RulesError(
            f"{where}: name {name!r} is invalid: it must start with a letter or _ and hold only "
            "letters, digits, _ . : - (it becomes a metric label)"
        )
    if name in seen:
        raise RulesError(f"{where}: the name {name!r} is used twice")
    seen.add(name)
    check = entry.get("check")
    if not isinstance(check, str) or check not in CHECKS:
        raise RulesError(f"{where}: check must be one of {', '.join(CHECKS)}, got {check!r}")
    spec = CHECKS[check]
    severity = entry.get("severity", "error")
    if severity not in RULE_SEVERITIES:
        raise RulesError(f"{where}: severity must be error or warning, got {severity!r}")
    params: dict[str, Any] = {}
    selection: dict[str, tuple[str, ...]] = {}
    try:
        for key, value in entry.items():
            if key in ("layers", "layer_types", "precisions", "engines"):
                if key != "engines" and key not in spec.selects:
                    raise ValueError(f"{key} does not apply to check {check!r}")
                selection[key] = string_list(key)(value)
            elif key in spec.params:
                params[key] = spec.params[key](value)
            elif key not in _COMMON:
                known = sorted(
                    (set(spec.params) | set(_COMMON))
                    - ({"layers", "layer_types", "precisions"} - set(spec.selects))
                )
                raise ValueError(f"unknown key {key!r} for check {check!r} (known: {', '.join(known)})")
        for key in spec.required:
            if key not in params:
                raise ValueError(f"{key} is required for check {check!r}")
        if spec.one_of and not any(k in params for k in spec.one_of):
            raise ValueError(f"check {check!r} needs one of: {', '.join(spec.one_of)}")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise ValueError("description must be a string")
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None
    return Rule(
        name=name,
        check=check,
        severity=severity,
        description=description,
        engines=selection.pop("engines", ()),
        select=Selector(**selection),
        params=params,
    )
