"""The checks a rule can name: one function per check, judging one engine model, and
:data:`CHECKS`, each check with the parameters it takes (how each is read) and the layer
selection keys it accepts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from trt_agent.model.engine import EngineLayer, EngineModel, Ratio, fallback_label
from trt_agent.model.precision import multiplies_its_input
from trt_agent.rules.baseline import Baseline, timed_layers
from trt_agent.rules.params import (
    boolean,
    finite_number,
    memory_kind,
    parse_size,
    string_list,
    version_table,
    whole_number,
)
from trt_agent.rules.results import FAIL, PASS, SKIP
from trt_agent.rules.spec import Rule, Selector
from trt_agent.text import few, format_bytes
from trt_agent.vocab.kernels import tensor_cores
from trt_agent.vocab.names import decompose, reformat_target

Outcome = tuple[str, str, Any, list[str]]  # status, message, observed, offenders
CheckFn = Callable[[Rule, EngineModel, Baseline | None], Outcome]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _ratio_rule(
    what: str,
    ratio_of: Callable[[EngineModel], Ratio],
    offenders_of: Callable[[EngineModel], list[str]],
) -> CheckFn:
    """A bound on a ratio of the model. A ratio the input cannot give (n/a) is skipped with its
    reason. When some layers were left out (``Ratio.excluded``: not judged), the rule is judged
    only when it holds, or fails, whatever those layers are: the ratio over all of them lies
    between ``n / (d + x)`` and ``(n + x) / (d + x)``; between, it is skipped, saying so."""

    def check(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
        ratio = ratio_of(model)
        value = ratio.value
        if value is None:
            return SKIP, f"{what} n/a: {ratio.reason or 'no layer list or profile in the input'}", None, []
        observed = ratio.as_dict()
        n, d, x = ratio.numerator, ratio.denominator, ratio.excluded
        counts = f"({n}/{d}; {x} not judged)" if x else f"({n}/{d})"
        low, high = n / (d + x), (n + x) / (d + x)
        figure = f"{what} {_pct(value)} {counts}"
        lowest, highest = rule.params.get("min"), rule.params.get("max")
        if lowest is not None and high < lowest:
            offenders = offenders_of(model)
            return (
                FAIL,
                f"{figure} is below the minimum {_pct(lowest)}"
                + (f" whatever the {x} not judged are (at most {_pct(high)} of all {d + x})" if x else "")
                + _naming(offenders, "not covered"),
                observed,
                offenders,
            )
        if highest is not None and low > highest:
            offenders = offenders_of(model)
            return (
                FAIL,
                f"{figure} is above the maximum {_pct(highest)}"
                + (f" whatever the {x} not judged are (at least {_pct(low)} of all {d + x})" if x else "")
                + _naming(offenders, "counted"),
                observed,
                offenders,
            )
        if (lowest is not None and low < lowest) or (highest is not None and high > highest):
            return (
                SKIP,
                f"{figure}: the {x} not judged could put it anywhere from {_pct(low)} to {_pct(high)}; "
                f"{ratio.reason}",
                observed,
                [],
            )
        bound = f"≥ {_pct(lowest)}" if lowest is not None else f"≤ {_pct(rule.params['max'])}"
        return PASS, f"{figure} {bound}", observed, []

    return check


def _naming(offenders: list[str], verb: str) -> str:
    if not offenders:
        return ""
    return f"; {verb}: {few(offenders, 5)}"


def _unfused_sources(model: EngineModel) -> list[str]:
    sources, fused, _ = model.coverage_counts()
    return sorted(sources - fused - model.removed)


def _unfused_layers(model: EngineModel) -> list[str]:
    return [layer.name for layer in model.compute_layers() if layer.fusion_known and not layer.is_fused]


def _non_int8_layers(model: EngineModel) -> list[str]:
    out = []
    for layer in model.compute_layers():
        precision = model.layer_precision(layer)
        if precision is not None and precision != "Int8":
            out.append(f"{layer.name} ({precision})")
    return out


_fusion_coverage = _ratio_rule("fusion coverage", EngineModel.fusion_coverage, _unfused_sources)
_unfused_kernel_ratio = _ratio_rule("unfused-kernel ratio", EngineModel.unfused_kernel_ratio, _unfused_layers)
_int8_ratio = _ratio_rule("INT8 coverage", EngineModel.int8_coverage, _non_int8_layers)


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
    unknown = model.unknown_because("plugin")
    if unknown:  # one past the cap may be the unregistered one: no pass
        return SKIP, unknown, None, []
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
    unknown = model.unknown_because("calibration")
    if unknown and not bad:  # only the widest ranges were kept: a dropped one may be out of bounds
        return SKIP, unknown, None, []
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


_PLAN_MISMATCH: Final = {
    "tensorrt": "engine plan built by TensorRT {plan}, read by TensorRT {runtime}",
    "serialization": "engine plan of serialization version {plan}, read by a runtime of version {runtime}",
    "compute_capability": "engine plan built for compute capability {plan}, run on compute capability {runtime}",
}


def _plan_mismatch(component: str, plan: str, runtime: str) -> str:
    text = _PLAN_MISMATCH.get(component, "engine plan's " + component + " {plan}, the runtime's {runtime}")
    return text.format(plan=plan, runtime=runtime)


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
    if rule.params.get("linked_must_match", True):
        bad += [_plan_mismatch(*mismatch) for mismatch in model.plan_mismatches()]
    if bad:
        return FAIL, f"{len(bad)} version mismatch(es)" + _naming(bad, "found"), len(bad), bad
    if unknown and len(unknown) == len(expect):
        return SKIP, "no version of " + ", ".join(unknown) + " in the input", None, []
    known = ", ".join(f"{c} {model.versions[c]}" for c in expect if c in model.versions)
    missing = f" ({', '.join(unknown)} not reported)" if unknown else ""
    return PASS, f"{known} as expected{missing}", 0, []


def _errors(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """The log's error lines, TensorRT's and its application's: a log of a build that failed
    ("failed to create TensorRT engine") holds no layers, memory or timings, so every other check
    would skip it."""
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
    selected = _selected(rule, model)
    if not selected:
        if rule.params.get("require_match", False):
            return FAIL, f"no engine layer matches {rule.select.describe()}", 0, []
        return SKIP, f"no engine layer matches {rule.select.describe()}", None, []
    # A kernel Myelin generated (__myl_*, …_myl0_1) says nothing of what it fused: not judged.
    layers = [layer for layer in selected if layer.fusion_known]
    if not layers:
        return (
            SKIP,
            f"the {len(selected)} layer(s) matching {rule.select.describe()} are Myelin-generated "
            "kernels: their names do not say what they fused",
            None,
            [],
        )
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
    timed = _matching(rule.select, *timed_layers(model))
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


# The precisions tensor cores exist for (a layer computing in one of them on CUDA cores leaves
# most of the GPU's math throughput unused; FP32 runs on CUDA cores unless TF32 is allowed), with
# the channel multiples their kernels load at once (TensorRT's performance guide: 8 for
# FP16/BF16, 16 for INT8 on dense kernels, 32 for INT8's vectorized formats).
_CHANNEL_MULTIPLE: Final = {"Half": 8, "BFloat16": 8, "Int8": 16, "FP8": 16}
_TENSOR_CORE_PRECISIONS: Final = tuple(_CHANNEL_MULTIPLE)


def _layers_left_out(model: EngineModel) -> Outcome | None:
    """A skip when the agent's caps left engine layers out: a lint over the layers cannot pass
    on part of them (the layer it would name may be one not kept)."""
    capped = model.unknown_because("layer")
    return (SKIP, capped, None, []) if capped is not None else None


def _lint(bad: list[str], verb: str, failed: str, passed: str, observed: Any) -> Outcome:
    """A lint's outcome: FAIL naming the ``bad`` layers, else PASS."""
    if bad:
        return FAIL, failed + _naming(bad, verb), observed, bad
    return PASS, passed, observed, []


def _tensor_cores(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """Convolutions and matrix multiplies computing in a tensor-core precision run tensor-core
    kernels, as their kernel names say (``vocab.kernels.tensor_cores``). A layer whose kernel is
    not named, or whose name does not say, is not judged and counted."""
    left_out = _layers_left_out(model)
    if left_out is not None:
        return left_out
    candidates = [
        layer
        for layer in _selected(rule, model)
        if multiplies_its_input(layer.layer_type) and model.layer_precision(layer) in _TENSOR_CORE_PRECISIONS
    ]
    if not candidates:
        return (
            SKIP,
            f"no convolution or matrix multiply in {', '.join(_TENSOR_CORE_PRECISIONS)} matches "
            f"{rule.select.describe()}",
            None,
            [],
        )
    verdicts = [(layer, tensor_cores(layer.tactic_name)) for layer in candidates]
    judged = [(layer, on) for layer, on in verdicts if on is not None]
    not_judged = len(verdicts) - len(judged)
    if not judged:
        return (
            SKIP,
            f"the kernel names of the {len(candidates)} convolution/matrix-multiply layer(s) do not say"
            " whether they use tensor cores (no TacticName: TensorRT >= 8.6 --exportLayerInfo or a"
            " detailed verbose build log names them)",
            None,
            [],
        )
    bad = [
        f"{layer.name} ({model.layer_precision(layer)} on CUDA cores: {layer.tactic_name})"
        for layer, on in judged
        if not on
    ]
    unsaid = f"; {not_judged} not judged (their kernel names do not say)" if not_judged else ""
    return _lint(
        bad,
        "on CUDA cores",
        f"{len(bad)} of {len(judged)} convolution/matrix-multiply layer(s) run on CUDA cores{unsaid}",
        f"all {len(judged)} convolution/matrix-multiply layer(s) run on tensor cores{unsaid}",
        {"judged": len(judged), "not_judged": not_judged, "cuda_core_layers": len(bad)},
    )


_FLOAT_OUTPUTS: Final = ("Float", "Half", "BFloat16")


def _int8_float_output(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """INT8 convolutions and matrix multiplies write INT8: one computing in Int8 whose output is
    a float type writes 2-4 times the bytes its consumer then reads (TREx's "Quantized
    Convolution has float outputs"); a Quantize after it, where the consumer can take INT8,
    keeps the output INT8."""
    left_out = _layers_left_out(model)
    if left_out is not None:
        return left_out
    layers = [
        layer
        for layer in _selected(rule, model)
        if multiplies_its_input(layer.layer_type) and model.layer_precision(layer) == "Int8"
    ]
    judged = [layer for layer in layers if layer.precision is not None]
    if not judged:
        return (
            SKIP,
            f"no INT8 convolution or matrix multiply with a known output type matches {rule.select.describe()}",
            None,
            [],
        )
    bad = [
        f"{layer.name} (Int8 math, {layer.precision} output)"
        for layer in judged
        if layer.precision in _FLOAT_OUTPUTS
    ]
    return _lint(
        bad,
        "float output",
        f"{len(bad)} of {len(judged)} INT8 convolution/matrix-multiply layer(s) write a float output",
        f"all {len(judged)} INT8 convolution/matrix-multiply layer(s) write INT8",
        {"judged": len(judged), "float_outputs": len(bad)},
    )


def _qdq_unfused(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """Quantize/Dequantize layers left in the engine: TensorRT folds a Q/DQ pair into the layers
    around it when it can; one left runs as a kernel of its own (a Reformat of ``Origin`` QDQ, a
    Quantize/Dequantize layer) and converts the whole tensor. One that quantizes the engine's
    float input is needed; the others say where quantized and float regions meet."""
    left_out = _layers_left_out(model)
    if left_out is not None:
        return left_out
    if not model.layers:
        return SKIP, "no layer list: which layers are Q/DQ is unknown", None, []
    if not any(layer.origin is not None for layer in model.layers.values()) and not any(
        (layer.layer_type or "").lower() in ("quantize", "dequantize") for layer in model.layers.values()
    ):
        return (
            SKIP,
            "the layer list says no layer's origin (TensorRT >= 8.6 --exportLayerInfo does)",
            None,
            [],
        )
    bad = [
        f"{layer.name} ({layer.layer_type or 'Q/DQ'})"
        for layer in model.layers.values()
        if rule.select.layer_matches(layer)
        and (layer.origin == "QDQ" or (layer.layer_type or "").lower() in ("quantize", "dequantize"))
    ]
    return _lint(
        bad,
        "unfused",
        f"{len(bad)} Quantize/Dequantize layer(s) run unfused",
        "every Quantize/Dequantize was folded into a neighbour",
        len(bad),
    )


def _channel_alignment(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """Convolutions in a tensor-core precision have input and output channels that are multiples
    of what their kernels load at once (8 for FP16/BF16, 16 for INT8/FP8, or ``multiple``): a
    misaligned one pads or falls back to slower kernels (TREx's "channels are not optimally
    aligned"). The network's first convolution, with 3 image channels, cannot be aligned."""
    left_out = _layers_left_out(model)
    if left_out is not None:
        return left_out
    judged = []
    for layer in _selected(rule, model):
        precision = model.layer_precision(layer)
        if "conv" not in (layer.layer_type or "").lower() or precision not in _CHANNEL_MULTIPLE:
            continue
        if layer.input_channels is None or layer.output_channels is None:
            continue
        judged.append((layer, rule.params.get("multiple") or _CHANNEL_MULTIPLE[precision]))
    if not judged:
        return (
            SKIP,
            f"no FP16/BF16/INT8/FP8 convolution with known channels matches {rule.select.describe()}"
            " (a detailed --exportLayerInfo gives them)",
            None,
            [],
        )
    bad = [
        f"{layer.name} ({model.layer_precision(layer)}: {layer.input_channels} -> {layer.output_channels}"
        f" channels, not multiples of {multiple})"
        for layer, multiple in judged
        if layer.input_channels % multiple or layer.output_channels % multiple  # type: ignore[operator]
    ]
    return _lint(
        bad,
        "misaligned",
        f"{len(bad)} of {len(judged)} convolution(s) have channels their kernels cannot load whole",
        f"all {len(judged)} convolution(s) have aligned channels",
        {"judged": len(judged), "misaligned": len(bad)},
    )


def _reformat_conversions(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """Reformat layers TensorRT inserted that convert between types, not only layouts (FP32 <->
    FP16 at a boundary of precisions, INT8 <-> float outside Q/DQ): each reads and writes a whole
    tensor. Named with the layer they feed, which the reformat's name says (TREx's "Reformat
    layer is converting operand data type"). Q/DQ layers are ``qdq_unfused``'s."""
    left_out = _layers_left_out(model)
    if left_out is not None:
        return left_out
    reformats = [
        layer
        for layer in model.layers.values()
        if rule.select.layer_matches(layer)
        and layer.origin != "QDQ"
        and (layer.origin == "REFORMAT" or (layer.layer_type or "").lower() in ("reformat", "myelinreformat"))
        and layer.input_precision is not None
        and layer.precision is not None
    ]
    if not reformats:
        return SKIP, "no reformat layer whose input and output types the input gives", None, []
    bad = []
    for layer in reformats:
        if layer.input_precision != layer.precision:
            target = reformat_target(layer.name)
            feeds = f", for {target}" if target is not None else ""
            bad.append(f"{layer.name} ({layer.input_precision} -> {layer.precision}{feeds})")
    return _lint(
        bad,
        "converting",
        f"{len(bad)} of {len(reformats)} reformat layer(s) convert between types",
        f"all {len(reformats)} reformat layer(s) keep their type (layouts only)",
        {"reformats": len(reformats), "converting": len(bad)},
    )


# Layer types that run a copy of a whole tensor: a slice TensorRT could not fold into the layer
# that reads it (a view), and a pad (TensorFlow's Pad before a convolution is a Slice of mode FILL).
_COPY_TYPES: Final = ("slice", "padding")


def _slice_copies(rule: Rule, model: EngineModel, _: Baseline | None) -> Outcome:
    """Slice and Padding layers left in the engine: each runs a kernel that reads and writes a
    whole tensor, where a slice TensorRT folds into its consumer costs nothing. Named with the
    bytes it writes, its type change where it has one, and its time where timed. (TREx's
    SliceLinter names only slices that convert, and compares the first four characters of the
    format strings, the layout word, so it misses an FP32 -> FP16 slice.)"""
    left_out = _layers_left_out(model)
    if left_out is not None:
        return left_out
    selected = _selected(rule, model)
    typed = [layer for layer in selected if layer.layer_type is not None]
    if not typed:  # a profile alone, or a layer list without types: nothing to judge by
        return SKIP, f"no layer type is known among the layers matching {rule.select.describe()}", None, []
    copies = [layer for layer in typed if (layer.layer_type or "").lower() in _COPY_TYPES]
    named = []
    for layer in copies:
        what = []
        if layer.activation_bytes is not None:
            what.append(f"writes {format_bytes(layer.activation_bytes)}")
        if layer.input_precision is not None and layer.precision not in (None, layer.input_precision):
            what.append(f"{layer.input_precision} -> {layer.precision}")
        timed = model.layer_times.get(layer.name)
        if timed is not None and timed.count:
            what.append(f"{timed.avg_ms:.4g} ms")
        named.append(f"{layer.name} ({', '.join(what)})" if what else layer.name)
    untyped = f" ({len(selected) - len(typed)} without a type)" if len(typed) < len(selected) else ""
    return _lint(
        named,
        "copying",
        f"{len(named)} Slice/Padding layer(s) copy a tensor",
        f"no Slice or Padding layer among {len(typed)} typed layer(s){untyped}",
        {"copies": len(named), "typed": len(typed)},
    )


@dataclass(frozen=True)
class CheckSpec:
    """A check a rule can name: its function, the parameters it takes (each with its reader),
    which of them are required, and the layer selection keys it accepts."""

    fn: CheckFn
    params: dict[str, Callable[[Any], Any]]
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()  # at least one of these is required
    selects: tuple[str, ...] = ()  # the selection keys it takes: layers, layer_types, precisions


_RATIO = {"min": finite_number("min", 0, 1), "max": finite_number("max", 0, 1)}
_NAMES: Final = ("layers",)  # checks that select by name only (fallbacks, tensors, timings)
_LAYERS: Final = ("layers", "layer_types", "precisions")  # checks on engine layers
CHECKS: Final[dict[str, CheckSpec]] = {
    "fusion_coverage": CheckSpec(_fusion_coverage, _RATIO, one_of=("min", "max")),
    "unfused_kernel_ratio": CheckSpec(_unfused_kernel_ratio, _RATIO, one_of=("min", "max")),
    "int8_coverage": CheckSpec(
        _int8_coverage, _RATIO | {"only_if_requested": boolean("only_if_requested")}, one_of=("min", "max")
    ),
    "peak_memory": CheckSpec(
        _peak_memory, {"max_bytes": parse_size, "kind": memory_kind}, required=("max_bytes",)
    ),
    "no_fallback": CheckSpec(_no_fallback, {"reasons": string_list("reasons")}, selects=_NAMES),
    "plugins_registered": CheckSpec(_plugins_registered, {"allowed": string_list("allowed")}),
    "calibration_range": CheckSpec(
        _calibration_range,
        {"max_width": finite_number("max_width", 0), "max_abs": finite_number("max_abs", 0)},
        one_of=("max_width", "max_abs"),
        selects=_NAMES,
    ),
    "versions": CheckSpec(
        _versions,
        {"expect": version_table, "linked_must_match": boolean("linked_must_match")},
        required=("expect",),
    ),
    "fused": CheckSpec(_fused, {"require_match": boolean("require_match")}, selects=_LAYERS),
    "precision": CheckSpec(
        _precision, {"allowed": string_list("allowed")}, required=("allowed",), selects=_LAYERS
    ),
    "layer_latency": CheckSpec(
        _layer_latency,
        {"max_ratio": finite_number("max_ratio", 0), "max_ms": finite_number("max_ms", 0)},
        one_of=("max_ratio", "max_ms"),
        selects=_NAMES,
    ),
    "errors": CheckSpec(_errors, {"max": whole_number("max")}),
    "tensor_cores": CheckSpec(_tensor_cores, {}, selects=_LAYERS),
    "int8_float_output": CheckSpec(_int8_float_output, {}, selects=_LAYERS),
    "qdq_unfused": CheckSpec(_qdq_unfused, {}, selects=_LAYERS),
    "reformat_conversions": CheckSpec(_reformat_conversions, {}, selects=_LAYERS),
    "slice_copies": CheckSpec(_slice_copies, {}, selects=_LAYERS),
    "channel_alignment": CheckSpec(
        _channel_alignment, {"multiple": whole_number("multiple")}, selects=_LAYERS
    ),
}
