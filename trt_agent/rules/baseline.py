"""Recorded per-layer latencies a ``layer_latency`` rule compares against (``check --baseline``,
``[rules] baseline``), and each model's per-layer times as the rules read them."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from trt_agent.model.engine import EngineModel
from trt_agent.rules.spec import RulesError
from trt_agent.vocab.names import decompose

BASELINE_MAX_BYTES: Final = 256 << 20  # a --dumpProfile log of a long run; a profile JSON is far less


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
            times, sources = timed_layers(model)
            baseline.layer_ms |= times
            baseline.sources |= sources
        return baseline


def timed_layers(model: EngineModel) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Per-layer time (median where known, else mean) and each timed layer's source layers."""
    times = {
        name: t.median_ms if t.median_ms is not None else t.avg_ms for name, t in model.layer_times.items()
    }
    sources = {
        name: model.layers[name].sources if name in model.layers else decompose(name).sources
        for name in times
    }
    return times, sources


def load_baseline(paths: Iterable[str], max_line_bytes: int | None = None) -> Baseline | None:
    """The recorded per-layer latencies in ``paths`` (profile JSON, ``--dumpProfile`` logs...),
    or None when there are none. An unreadable file is a :class:`RulesError` naming it."""
    from trt_agent.config.load import read_regular_file
    from trt_agent.model import build_models
    from trt_agent.parse import ParseStats, parse_stream
    from trt_agent.parse.artifacts import ArtifactError
    from trt_agent.parse.log import DEFAULT_MAX_LINE_BYTES

    paths = list(paths)
    if not paths:
        return None
    models: list[EngineModel] = []
    for path in paths:
        # Read like the config it comes with: a regular file only, never blocking (a FIFO named
        # here would otherwise stall a SIGHUP's reload, and with it the signal path).
        data = read_regular_file(path, "baseline", RulesError, limit=BASELINE_MAX_BYTES)
        try:
            events = parse_stream(
                io.BytesIO(data),
                path,
                "baseline",
                ParseStats(),
                max_line_bytes=max_line_bytes or DEFAULT_MAX_LINE_BYTES,
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
