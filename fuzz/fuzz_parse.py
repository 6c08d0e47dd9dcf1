"""Coverage-guided fuzzing of the readers with atheris (libFuzzer). Opt-in, not run in CI.

    .venv/bin/pip install atheris
    mkdir -p /tmp/fuzz-log
    .venv/bin/python fuzz/fuzz_parse.py log -max_total_time=300 -max_len=65536 \\
        -artifact_prefix=/tmp/fuzz-log/crash- /tmp/fuzz-log tests/data/corpus tests/data/extra

Targets (the first argument; the rest goes to libFuzzer):

* ``log``      ``parse_stream`` (sniffing: logs, caches, JSON, event streams), then the engine
               model, ``report`` and every rule check; a grammar rule failing on a line
               (``stats.parse_errors`` on a log) counts as a crash too
* ``artifact`` ``parse_artifact`` on the bytes as JSON, then model and report
* ``events``   ``parse_event_stream``, then model, report, rules and ``diff`` against itself
* ``config``   ``load_config`` on the bytes as a TOML file
* ``rules``    ``load_rules`` on the bytes as a TOML file

Only ``ArtifactError`` / ``ConfigError`` / ``RulesError`` naming the file may escape. A crash
found here becomes a file in ``tests/data/fuzz/`` (see the README there), replayed by
``tests/contract/test_fuzz.py``.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["trt_agent"]):
    from trt_agent.config import ConfigError, load_config
    from trt_agent.model import build_models
    from trt_agent.model.diff import diff_models
    from trt_agent.parse import ParseStats, parse_stream
    from trt_agent.parse.artifacts import ArtifactError, parse_artifact
    from trt_agent.parse.event_stream import is_event_stream, parse_event_stream
    from trt_agent.reports.diff import diff_json, diff_text
    from trt_agent.reports.rule_results import results_json
    from trt_agent.reports.summary import report_json, report_text
    from trt_agent.rules import CHECKS, Baseline, Rule, RulesError, RuleSet, evaluate, load_rules

RULES = RuleSet(
    tuple(
        Rule(
            f"r{index}",
            check,
            params={
                key: {
                    "max_bytes": 1 << 20,
                    "reasons": ("x",),
                    "allowed": ("Int8",),
                    "expect": {"tensorrt": "10"},
                }.get(key, 0.5)
                for key in spec.params
                if key not in ("kind", "only_if_requested", "linked_must_match", "require_match")
            },
        )
        for index, (check, spec) in enumerate(CHECKS.items())
    ),
    "fuzz.toml",
)


def _consume(events: list[dict[str, object]]) -> None:
    models = build_models(events)
    report_json(models, ParseStats().as_dict())
    report_text(models, ParseStats().as_dict())
    results_json(evaluate(RULES, models, Baseline.from_models(models.values())), "fuzz.toml")
    for model in models.values():
        d = diff_models(model, model)
        diff_json(d)
        diff_text(d)


def _log(data: bytes) -> None:
    stats = ParseStats()
    try:
        events = list(parse_stream(io.BytesIO(data), "fuzz.log", "fuzz", stats, max_line_bytes=4096))
    except ArtifactError as exc:
        assert str(exc).startswith("fuzz.log: "), exc
        return
    if not is_event_stream(data[:65536].removeprefix(b"\xef\xbb\xbf")):
        assert stats.parse_errors == 0, "a grammar rule failed on a line"
    _consume(events)


def _artifact(data: bytes) -> None:
    try:
        events = list(parse_artifact(data, "fuzz.json", "fuzz", ParseStats()))
    except ArtifactError as exc:
        assert str(exc).startswith("fuzz.json: "), exc
        return
    _consume(events)


def _events(data: bytes) -> None:
    _consume(list(parse_event_stream(io.BytesIO(data), "events.jsonl", ParseStats())))


def _file(load: Callable[[str], object], error: type[Exception]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        fd, path = tempfile.mkstemp(suffix=".toml")
        try:
            os.write(fd, data)
            os.close(fd)
            try:
                load(path)
            except error as exc:
                assert str(exc).startswith(f"{path}: "), exc
        finally:
            os.unlink(path)

    return run


TARGETS: dict[str, Callable[[bytes], None]] = {
    "log": _log,
    "artifact": _artifact,
    "events": _events,
    "config": _file(load_config, ConfigError),
    "rules": _file(load_rules, RulesError),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [corpus dirs]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
