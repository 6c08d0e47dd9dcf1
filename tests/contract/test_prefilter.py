"""The log reader's prefilter against a reference reader that sends every line through the grammar.

The prefilter is built from the rules' starting words (``grammar.MESSAGE_STARTS``) and the
severity words of ``prefix.py``; on every log of tests/data both readers must give exactly the same
events. A rule whose messages start with words it does not declare loses lines here.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import DATA

from trt_agent.parse import grammar
from trt_agent.parse.dispatch import sniff
from trt_agent.parse.log import EVERY_LINE, PREFILTER, ParseStats, build_prefilter, parse_log
from trt_agent.parse.prefix import SEVERITY_STARTS

LOGS = sorted(
    path
    for path in DATA.rglob("*")
    if path.is_file() and path.suffix not in (".md", ".py") and sniff(path.read_bytes()[:65536]) == "log"
)


def _events(path: Path, prefilter: object) -> list[bytes]:
    with open(path, "rb") as stream:
        return [orjson.dumps(e) for e in parse_log(stream, path.name, "t", ParseStats(), prefilter=prefilter)]


def test_there_are_logs_to_compare() -> None:
    assert len(LOGS) >= 60


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(DATA)))
def test_the_prefilter_loses_no_event_of_the_grammar(path: Path) -> None:
    fast = _events(path, PREFILTER)
    reference = _events(path, EVERY_LINE)
    missing = [e for e in reference if e not in fast]
    assert fast == reference, f"{len(missing)} event(s) the prefilter skipped, first: {missing[:1]}"


def test_a_rule_without_its_starting_words_loses_its_lines() -> None:
    fusion = next(rule for rule in grammar.RULES if rule.name == "fusion")
    starts = tuple(s for s in grammar.MESSAGE_STARTS if s not in fusion.starts)
    crippled = build_prefilter(starts + SEVERITY_STARTS)
    path = next(p for p in LOGS if p.name.startswith("03_"))
    reference = _events(path, EVERY_LINE)
    lost = [e for e in reference if e not in _events(path, crippled)]
    assert lost and all(b'"type":"fusion"' in e for e in lost)


def test_every_rule_declares_where_its_messages_start() -> None:
    with pytest.raises(ValueError, match="declares no starting words"):
        grammar.MessageRule("x", "x", grammar.RULES[0].regex, grammar.RULES[0].handle, starts=())
