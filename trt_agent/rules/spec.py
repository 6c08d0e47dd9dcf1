"""What a rules file says, as data: each ``[[rule]]`` (:class:`Rule`: its check, parameters,
severity, engines and layer :class:`Selector`), the rules of one file (:class:`RuleSet`), and
:class:`RulesError` for a rules file (or baseline) that cannot be used. Reading a file into these
is :mod:`trt_agent.rules.load`."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from trt_agent.config import ConfigError
from trt_agent.model.engine import EngineLayer

RULE_SEVERITIES: Final = ("error", "warning")  # error fails the gate; warning reports


class RulesError(ConfigError):
    """A rules file problem, naming the file, the rule and the key."""


def _globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = list(patterns)
    if not patterns:
        return None
    # A pattern also matches its own text literally: TensorRT names hold glob characters
    # (``(Unnamed Layer* 3) [Shuffle]``, ``{ForeignNode[a...b]}``) and are pasted as they are.
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})|(?:{re.escape(p)})" for p in patterns))


@dataclass(frozen=True)
class Selector:
    """Which layers a rule looks at: name glob patterns (an engine layer matches when its name or
    the name of a source layer it absorbed matches), layer types and precisions. Empty = all."""

    layers: tuple[str, ...] = ()
    layer_types: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    _names: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", _globs(self.layers))

    def name_matches(self, name: str | None) -> bool:
        if self._names is None:
            return True
        return name is not None and self._names.fullmatch(name) is not None

    def layer_matches(self, layer: EngineLayer) -> bool:
        if self.layer_types and (layer.layer_type or "") not in self.layer_types:
            return False
        if self.precisions and (layer.precision or "") not in self.precisions:
            return False
        return self.name_matches(layer.name) or any(self.name_matches(s) for s in layer.sources)

    def describe(self) -> str:
        parts = []
        if self.layers:
            parts.append("layers " + ", ".join(repr(p) for p in self.layers))
        if self.layer_types:
            parts.append("types " + ", ".join(self.layer_types))
        if self.precisions:
            parts.append("precisions " + ", ".join(self.precisions))
        return "; ".join(parts) or "all layers"


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]``: a named check with its parameters, severity and engine filter."""

    name: str
    check: str
    severity: str = "error"
    description: str = ""
    engines: tuple[str, ...] = ()
    select: Selector = field(default_factory=Selector)
    params: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, engine: str) -> bool:
        return not self.engines or any(fnmatch.fnmatchcase(engine, p) for p in self.engines)


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order."""

    rules: tuple[Rule, ...]
    path: str = ""
