"""Rules: "the optimisations really happened" as pass/fail results.

A rules file (TOML, ``rules.example.toml`` documents each check) holds ``[[rule]]`` tables. The
same file feeds ``trt-agent check`` (the CI gate) and the daemon's ``trt_rule_ok`` gauge, and both
evaluate it with :func:`evaluate` on the engine model, so a rule cannot pass in CI and fail in
production for a reason other than the data.

Rules match clear layer and tensor names (the models keep them); redaction applies to the
messages when they leave the process.
"""

from __future__ import annotations

import fnmatch
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from trt_agent.config import ConfigError, read_toml
from trt_agent.model.engine import EngineLayer, EngineModel, fallback_label
from trt_agent.text import few, format_bytes
from trt_agent.vocab.names import decompose

RULE_SEVERITIES: Final = ("error", "warning")  # error fails the gate; warning reports
PASS: Final = "pass"
FAIL: Final = "fail"
SKIP: Final = "skip"
MAX_OFFENDERS: Final = 20  # listed in a result; the count is always exact


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


@dataclass
class Result:
    """The outcome of one rule on one engine."""

    rule: str
    engine: str
    check: str
    severity: str
    status: str  # pass | fail | skip
    message: str
    observed: Any = None
    threshold: Any = None
    offenders: list[str] = field(default_factory=list)
    offender_count: int = 0

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "engine": self.engine,
            "check": self.check,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "observed": self.observed,
            "threshold": self.threshold,
            "offenders": self.offenders,
            "offender_count": self.offender_count,
        }


@dataclass
class Baseline:
    """Recorded per-layer latencies (ms) a ``layer_latency`` rule compares against."""

    layer_ms: dict[str, float] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # layer -> its source layers
    files: list[str] = field(default_factory=list)

    @classmethod
    def from_models(cls, models: Iterable[EngineModel]) -> Baseline:
        baseline = cls()
        for model in models:
            baseline.files.extend(model.files)
            times, sources = _timed(model)
            baseline.layer_ms |= times
            baseline.sources |= sources
        return baseline


# -- the checks ----------------------------------------------------------------------------------

Outcome = tuple[str, str, Any, list[str]]  # status, message, observed, offenders
CheckFn = Callable[[Rule, EngineModel, Baseline | None], Outcome]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _ratio_rule(
    what: str,
    ratio_of: Callable[[EngineModel], tuple[int, int]],
    offenders_of: Callable[[EngineModel], list[str]],
) -> CheckFn:
    def check(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
        numerator, denominator = ratio_of(model)
        if not denominator:
            return SKIP, f"no {what} data (no layer list or profile in the input)", None, []
        value = numerator / denominator
        observed = {"ratio": round(value, 6), "numerator": numerator, "denominator": denominator}
        if "min" in rule.params and value < rule.params["min"]:
            offenders = offenders_of(model)
            return (
                FAIL,
                f"{what} {_pct(value)} ({numerator}/{denominator}) is below the minimum "
                f"{_pct(rule.params['min'])}" + _naming(offenders, "not covered"),
                observed,
                offenders,
            )
        if "max" in rule.params and value > rule.params["max"]:
            offenders = offenders_of(model)
            return (
                FAIL,
                f"{what} {_pct(value)} ({numerator}/{denominator}) is above the maximum "
                f"{_pct(rule.params['max'])}" + _naming(offenders, "counted"),
                observed,
                offenders,
            )
        bound = f"≥ {_pct(rule.params['min'])}" if "min" in rule.params else f"≤ {_pct(rule.params['max'])}"
        return PASS, f"{what} {_pct(value)} ({numerator}/{denominator}) {bound}", observed, []

    return check


def _naming(offenders: list[str], verb: str) -> str:
    if not offenders:
        return ""
    return f"; {verb}: {few(offenders, 5)}"


def _fusion_counts(model: EngineModel) -> tuple[int, int]:
    ratio = model.fusion_coverage()
    return ratio.numerator, ratio.denominator


def _unfused_sources(model: EngineModel) -> list[str]:
    sources, fused, _ = model.coverage_counts()
    return sorted(sources - fused - model.removed)


def _unfused_counts(model: EngineModel) -> tuple[int, int]:
    ratio = model.unfused_kernel_ratio()
    return ratio.numerator, ratio.denominator


def _unfused_layers(model: EngineModel) -> list[str]:
    return [layer.name for layer in model.compute_layers() if not layer.is_fused]


def _int8_counts(model: EngineModel) -> tuple[int, int]:
    ratio = model.int8_coverage()
    return ratio.numerator, ratio.denominator


def _non_int8_layers(model: EngineModel) -> list[str]:
    return [
        f"{layer.name} ({layer.precision or 'unknown'})"
        for layer in model.compute_layers()
        if layer.precision != "Int8"
    ]


_fusion_coverage = _ratio_rule("fusion coverage", _fusion_counts, _unfused_sources)
_unfused_kernel_ratio = _ratio_rule("unfused-kernel ratio", _unfused_counts, _unfused_layers)
_int8_ratio = _ratio_rule("INT8 coverage", _int8_counts, _non_int8_layers)


def _int8_coverage(rule: Rule, model: EngineModel, baseline: Baseline | None) -> Outcome:
    if rule.params.get("only_if_requested", True) and not model.int8_requested():
        return SKIP, "the build did not ask for INT8", None, []
    return _int8_ratio(rule, model, baseline)


def _peak_memory(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    kind = rule.params.get("kind")
    size = model.memory.get(kind) if kind else model.peak_memory_bytes()
    what = f"{kind} memory" if kind else "peak memory"
    if size is None:
        return SKIP, f"no {what} reported in the input", None, []
    limit = rule.params["max_bytes"]
    if size > limit:
        return (
            FAIL,
            f"{what} {format_bytes(size)} ({size} bytes) is above the maximum {format_bytes(limit)}",
            size,
            [],
        )
    return PASS, f"{what} {format_bytes(size)} ≤ {format_bytes(limit)}", size, []


def _no_fallback(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    reasons = rule.params.get("reasons")
    hits = []
    for item in model.fallbacks:
        if reasons and item["reason"] not in reasons:
            continue
        layer = item.get("layer")
        if rule.select.layers and not (
            rule.select.name_matches(layer)
            or (layer is not None and any(rule.select.name_matches(s) for s in decompose(layer).sources))
        ):
            continue
        where = item.get("source", {})
        at = f" at {where['file']}:{where['line']}" if where.get("file") else ""
        hits.append(f"{fallback_label(item)}{at}")
    scope = f" on {rule.select.describe()}" if rule.select.layers else ""
    if hits:
        return FAIL, f"{len(hits)} fallback(s){scope}" + _naming(hits, "fell back"), len(hits), hits
    return PASS, f"no fallback{scope}", 0, []


def _plugins_registered(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    allowed = rule.params.get("allowed")
    bad = [name for name, info in sorted(model.plugins.items()) if not info.get("registered", True)]
    if allowed is not None:
        bad += [name for name in sorted(model.plugins) if name not in allowed and name not in bad]
    if bad:
        what = "unregistered or not allowed plugin(s)" if allowed is not None else "unregistered plugin(s)"
        return FAIL, f"{len(bad)} {what}" + _naming(bad, "plugin"), len(bad), bad
    return PASS, f"{len(model.plugins)} plugin(s), all registered", len(model.plugins), []


def _calibration_range(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    if not model.calibration:
        return SKIP, "no calibration ranges in the input", None, []
    max_width = rule.params.get("max_width")
    max_abs = rule.params.get("max_abs")
    bad: list[tuple[float, str]] = []
    checked = 0
    for tensor, (lo, hi) in model.calibration.items():
        if not rule.select.name_matches(tensor):
            continue
        checked += 1
        width = hi - lo
        if (max_width is not None and width > max_width) or (max_abs is not None and max(-lo, hi) > max_abs):
            bad.append((width, f"{tensor} [{lo:g}, {hi:g}]"))
    if not checked:
        return SKIP, f"no calibrated tensor matches {rule.select.describe()}", None, []
    bound = " and ".join(
        b
        for b in (
            f"width ≤ {max_width:g}" if max_width is not None else "",
            f"|x| ≤ {max_abs:g}" if max_abs is not None else "",
        )
        if b
    )
    if bad:
        offenders = [text for _, text in sorted(bad, reverse=True)]
        return (
            FAIL,
            f"{len(bad)} of {checked} tensor range(s) exceed {bound}" + _naming(offenders, "range"),
            len(bad),
            offenders,
        )
    return PASS, f"{checked} tensor range(s) within {bound}", 0, []


def _version_matches(found: str, expected: str) -> bool:
    """``10.4.0.26`` matches ``10.4`` (dotted prefix); anything else must be equal."""
    return found == expected or found.startswith(expected + ".")


def _versions(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    expect: dict[str, str] = rule.params["expect"]
    bad, unknown = [], []
    for component, expected in expect.items():
        found = model.versions.get(component)
        if found is None:
            unknown.append(component)
        elif not _version_matches(found, expected):
            bad.append(f"{component} {found} (expected {expected})")
    for component, linked in model.linked_versions.items():
        loaded = model.versions.get(component)
        if rule.params.get("linked_must_match", True) and loaded and not _version_matches(loaded, linked):
            bad.append(f"{component} loaded {loaded} but TensorRT was linked against {linked}")
    plan, runtime = model.versions.get("tensorrt_plan"), model.versions.get("tensorrt")
    if rule.params.get("linked_must_match", True) and plan and runtime and plan != runtime:
        bad.append(f"engine plan built by TensorRT {plan}, read by TensorRT {runtime}")
    if bad:
        return FAIL, f"{len(bad)} version mismatch(es)" + _naming(bad, "found"), len(bad), bad
    if unknown and len(unknown) == len(expect):
        return SKIP, "no version of " + ", ".join(unknown) + " in the input", None, []
    known = ", ".join(f"{c} {model.versions[c]}" for c in expect if c in model.versions)
    missing = f" ({', '.join(unknown)} not reported)" if unknown else ""
    return PASS, f"{known} as expected{missing}", 0, []


def _errors(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """TensorRT's own error messages: a log of a build that failed ("failed to create TensorRT
    engine") holds no layers, memory or timings, so every other check would skip it."""
    count = model.error_lines
    limit = rule.params.get("max", 0)
    messages = model.error_messages
    if count > limit:
        # the count is exact; the messages are the first MAX_OFFENDERS the model kept
        return (
            FAIL,
            f"{count} TensorRT error(s), more than the maximum {limit:g}" + _naming(messages, "first"),
            count,
            messages,
        )
    return PASS, f"{count} TensorRT error(s) ≤ {limit:g}", count, []


def _selected(rule: Rule, model: EngineModel) -> list[EngineLayer]:
    return [layer for layer in model.compute_layers() if rule.select.layer_matches(layer)]


def _fused(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    layers = _selected(rule, model)
    if not layers:
        if rule.params.get("require_match", False):
            return FAIL, f"no engine layer matches {rule.select.describe()}", 0, []
        return SKIP, f"no engine layer matches {rule.select.describe()}", None, []
    bad = [
        f"{layer.name} ({layer.layer_type or 'unknown type'}, {layer.precision or '?'})"
        for layer in layers
        if not layer.is_fused
    ]
    if bad:
        return (
            FAIL,
            f"{len(bad)} of {len(layers)} layer(s) matching {rule.select.describe()} run unfused"
            + _naming(bad, "unfused"),
            len(bad),
            bad,
        )
    return PASS, f"all {len(layers)} layer(s) matching {rule.select.describe()} are fused", 0, []


def _precision(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    allowed = rule.params["allowed"]
    selected = _selected(rule, model)
    if not selected:
        return SKIP, f"no engine layer matches {rule.select.describe()}", None, []
    # A layer whose precision the input does not give (a profile names layers, not their
    # types) is not judged: unknown is not a fallback to FP32.
    layers = [layer for layer in selected if layer.precision is not None]
    if not layers:
        return (
            SKIP,
            f"no precision known for the {len(selected)} layer(s) matching {rule.select.describe()} "
            "(a profile has none: add the build log or --exportLayerInfo)",
            None,
            [],
        )
    bad = [f"{layer.name} ({layer.precision})" for layer in layers if layer.precision not in allowed]
    if bad:
        return (
            FAIL,
            f"{len(bad)} of {len(layers)} layer(s) matching {rule.select.describe()} are not "
            + "/".join(allowed)
            + _naming(bad, "precision"),
            len(bad),
            bad,
        )
    return (
        PASS,
        f"all {len(layers)} layer(s) matching {rule.select.describe()} are " + "/".join(allowed),
        0,
        [],
    )


def _timed(model: EngineModel) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Per-layer time (median where known, else mean) and each timed layer's source layers."""
    times = {
        name: t.median_ms if t.median_ms is not None else t.avg_ms for name, t in model.layer_times.items()
    }
    sources = {
        name: model.layers[name].sources if name in model.layers else decompose(name).sources
        for name in times
    }
    return times, sources


def _matching(
    select: Selector, times: dict[str, float], sources: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    return {
        name: ms
        for name, ms in times.items()
        if select.name_matches(name) or any(select.name_matches(s) for s in sources.get(name, ()))
    }


def _layer_latency(rule: Rule, model: EngineModel, baseline: Baseline | None) -> Outcome:
    """Each selected layer, and the selected layers together (a fusion split into several layers
    has no same-named layer to compare), against ``max_ms`` and ``max_ratio`` × the baseline."""
    max_ratio = rule.params.get("max_ratio")
    max_ms = rule.params.get("max_ms")
    timed = _matching(rule.select, *_timed(model))
    if not timed:
        return SKIP, f"no layer timing matches {rule.select.describe()}", None, []
    bad: list[tuple[float, str]] = []
    if max_ms is not None:
        bad += [
            (ms / max_ms if max_ms else math.inf, f"{name} {ms:.4g} ms > {max_ms:g} ms")
            for name, ms in timed.items()
            if ms > max_ms
        ]
    observed: dict[str, Any] = {"layers": len(timed), "total_ms": round(sum(timed.values()), 6)}
    if max_ratio is not None:
        if baseline is None:
            if max_ms is None:
                return SKIP, "no baseline given (check --baseline FILE, or [rules] baseline)", None, []
        else:
            base = _matching(rule.select, baseline.layer_ms, baseline.sources)
            if not sum(base.values()):  # none matches, or they took 0 ms: no ratio to take
                if max_ms is None:
                    what = "no baseline layer matches" if not base else "0 ms in the baseline for"
                    return SKIP, f"{what} {rule.select.describe()}", None, []
            else:
                total, base_total = sum(timed.values()), sum(base.values())
                observed |= {"baseline_total_ms": round(base_total, 6), "ratio": round(total / base_total, 6)}
                if total > max_ratio * base_total:
                    bad.append(
                        (
                            total / base_total,
                            f"{len(timed)} layer(s) together {total:.4g} ms = {total / base_total:.2f}× baseline "
                            f"{base_total:.4g} ms ({len(base)} layer(s)), max {max_ratio:g}×",
                        )
                    )
                for name, ms in timed.items():
                    was = base.get(name)
                    if was and ms > max_ratio * was:
                        bad.append(
                            (
                                ms / was,
                                f"{name} {ms:.4g} ms = {ms / was:.2f}× baseline {was:.4g} ms (max {max_ratio:g}×)",
                            )
                        )
    if bad:
        offenders = [text for _, text in sorted(bad, reverse=True)]
        return (
            FAIL,
            f"{len(offenders)} latency bound(s) exceeded" + _naming(offenders, "slow"),
            observed,
            offenders,
        )
    parts = []
    if "ratio" in observed:
        parts.append(f"{len(timed)} layer(s) {observed['ratio']:.2f}× baseline ≤ {max_ratio:g}×")
    if max_ms is not None:
        parts.append(f"{len(timed)} layer(s) each ≤ {max_ms:g} ms")
    return PASS, "; ".join(parts), observed, []


# -- the rules file -------------------------------------------------------------------------------


def _number(key: str, lo: float | None = None, hi: float | None = None) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not abs(value) <= sys.float_info.max
        ):
            raise ValueError(f"{key} must be a finite number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bound = (
                f"between {lo:g} and {hi:g}"
                if lo is not None and hi is not None
                else f"at least {lo:g}"
                if lo is not None
                else f"at most {hi:g}"
            )
            raise ValueError(f"{key} must be {bound}, got {value!r}")
        return float(value)

    return conv


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$")
_SIZE_UNITS: Final = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40} | {
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}


def parse_size(value: Any) -> int:
    """``8589934592``, ``"8 GiB"`` or ``"512MiB"`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    size = float(m.group(1)) * _SIZE_UNITS[m.group(2) or "B"] if m is not None else math.inf
    if not math.isfinite(size):
        raise ValueError(f'max_bytes must be bytes or a size like "8 GiB", got {value!r}')
    return round(size)


def _strings(key: str) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of strings, got {value!r}")
        return tuple(value)

    return conv


def _flag(key: str) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value

    return conv


def _count(key: str) -> Callable[[Any], Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} must be a whole number, 0 or more, got {value!r}")
        return value

    return conv


def _version_table(value: Any) -> Any:
    if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f'expect must be a table of component = "version", got {value!r}')
    return dict(value)


def _memory_kind(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f'kind must be a memory kind such as "activation", got {value!r}')
    return value


@dataclass(frozen=True)
class CheckSpec:
    fn: CheckFn
    params: dict[str, Callable[[Any], Any]]
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()  # at least one of these is required
    selects: tuple[str, ...] = ()  # the selection keys it takes: layers, layer_types, precisions


_RATIO = {"min": _number("min", 0, 1), "max": _number("max", 0, 1)}
_NAMES: Final = ("layers",)  # checks that select by name only (fallbacks, tensors, timings)
_LAYERS: Final = ("layers", "layer_types", "precisions")  # checks on engine layers
CHECKS: Final[dict[str, CheckSpec]] = {
    "fusion_coverage": CheckSpec(_fusion_coverage, _RATIO, one_of=("min", "max")),
    "unfused_kernel_ratio": CheckSpec(_unfused_kernel_ratio, _RATIO, one_of=("min", "max")),
    "int8_coverage": CheckSpec(
        _int8_coverage, _RATIO | {"only_if_requested": _flag("only_if_requested")}, one_of=("min", "max")
    ),
    "peak_memory": CheckSpec(
        _peak_memory, {"max_bytes": parse_size, "kind": _memory_kind}, required=("max_bytes",)
    ),
    "no_fallback": CheckSpec(_no_fallback, {"reasons": _strings("reasons")}, selects=_NAMES),
    "plugins_registered": CheckSpec(_plugins_registered, {"allowed": _strings("allowed")}),
    "calibration_range": CheckSpec(
        _calibration_range,
        {"max_width": _number("max_width", 0), "max_abs": _number("max_abs", 0)},
        one_of=("max_width", "max_abs"),
        selects=_NAMES,
    ),
    "versions": CheckSpec(
        _versions,
        {"expect": _version_table, "linked_must_match": _flag("linked_must_match")},
        required=("expect",),
    ),
    "fused": CheckSpec(_fused, {"require_match": _flag("require_match")}, selects=_LAYERS),
    "precision": CheckSpec(
        _precision, {"allowed": _strings("allowed")}, required=("allowed",), selects=_LAYERS
    ),
    "layer_latency": CheckSpec(
        _layer_latency,
        {"max_ratio": _number("max_ratio", 0), "max_ms": _number("max_ms", 0)},
        one_of=("max_ratio", "max_ms"),
        selects=_NAMES,
    ),
    "errors": CheckSpec(_errors, {"max": _count("max")}),
}
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


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order."""

    rules: tuple[Rule, ...]
    path: str = ""


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
                selection[key] = _strings(key)(value)
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


# -- evaluation -----------------------------------------------------------------------------------


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


def load_baseline(paths: Iterable[str], max_line_bytes: int | None = None) -> Baseline | None:
    """The recorded per-layer latencies in ``paths`` (profile JSON, ``--dumpProfile`` logs...),
    or None when there are none. An unreadable file is a :class:`RulesError` naming it."""
    from trt_agent.model import build_models
    from trt_agent.parse import ParseStats, parse_path
    from trt_agent.parse.artifacts import ArtifactError
    from trt_agent.parse.log import DEFAULT_MAX_LINE_BYTES

    paths = list(paths)
    if not paths:
        return None
    models: list[EngineModel] = []
    for path in paths:
        try:
            events = parse_path(
                path, "baseline", ParseStats(), max_line_bytes=max_line_bytes or DEFAULT_MAX_LINE_BYTES
            )
            found = list(build_models(events).values())
        except (OSError, ArtifactError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise RulesError(f"baseline {path}: {reason}") from None
        # a wrong file (the build log instead of its profile) would make every latency rule skip
        if not any(model.layer_times for model in found):
            raise RulesError(f"baseline {path} holds no layer timings")
        models += found
    return Baseline.from_models(models)


def strict(results: Iterable[Result]) -> list[Result]:
    """``check --strict``: a rule of severity ``error`` that could not be judged (no data in the
    input) fails, for pipelines whose inputs must carry every fact the rules read; a log that
    lost its memory lines must not pass a memory gate by saying nothing."""
    return [
        replace(r, status=FAIL, message=f"not judged (--strict): {r.message}")
        if r.status == SKIP and r.severity == "error"
        else r
        for r in results
    ]


def gate(results: Iterable[Result]) -> bool:
    """True when no rule of severity ``error`` failed (warnings are reported, not gating)."""
    return not any(r.failed and r.severity == "error" for r in results)
