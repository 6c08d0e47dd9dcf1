"""The redactor's learned names: bounded by ``max_learned_names`` (least recently seen forgotten,
counted), and the automaton built in generations scrubs exactly what one automaton of every
learned name would (leftmost-longest across generations)."""

from __future__ import annotations

import random

from conftest import make_redactor
from hypothesis import given, settings
from hypothesis import strategies as st

from trt_agent.redact import Redactor
from trt_agent.redact.metrics import RedactorCollector
from trt_agent.vocab.events import Event


def event(type_: str, msg: str, **fields: object) -> Event:
    return {
        "type": type_,
        "severity": "info",
        "engine": "bench",
        "source": {"file": "a.log", "line": 1},
        "msg": msg,
        **fields,
    }


def reference(redactor: Redactor, names: list[str], text: str) -> str:
    """``text`` scrubbed of ``names`` the slow way: at each position the longest name starting
    there (then on after it), else the next position."""
    out, pos = [], 0
    while pos < len(text):
        here = max((n for n in names if text.startswith(n, pos)), key=len, default=None)
        if here is None:
            out.append(text[pos])
            pos += 1
        else:
            out.append(redactor.name(here))
            pos += len(here)
    return "".join(out)


def test_learned_names_never_exceed_their_bound() -> None:
    redactor = make_redactor(max_learned_names=100)
    for batch in range(50):
        names = [f"layer_{batch}_{i}/conv" for i in range(40)]
        redactor.learn(names)
        redactor.text(" ".join(names))  # builds the generations, and each name's pseudonym
        assert redactor.held_names <= 100
        assert len(redactor.learned_names()) <= 100
        # forgotten names leave the automata once they are most of what they hold
        assert redactor._generations.held <= 1.25 * len(redactor._learned) + 1024
        # what is cached per name leaves with it
        assert len(redactor._owners) <= 100 and len(redactor._outputs) <= 100
    assert redactor.held_names == 100
    assert redactor.evicted == 50 * 40 - 100
    collected = {m.name: m.samples[0].value for m in RedactorCollector(redactor).collect()}
    assert collected["trt_agent_redaction_learned_names"] == 100
    assert collected["trt_agent_redaction_names_evicted"] == 50 * 40 - 100


def test_no_limit_keeps_every_name() -> None:
    redactor = make_redactor(max_learned_names=0)
    redactor.learn(f"layer_{i}" for i in range(5000))
    assert redactor.held_names == 5000 and redactor.evicted == 0


def test_the_least_recently_seen_name_is_forgotten() -> None:
    redactor = make_redactor(max_learned_names=100)
    redactor.learn(f"layer_{i:03}" for i in range(100))
    redactor.learn(["layer_000"])  # seen again: now the most recent
    redactor.learn(["layer_new"])
    names = redactor.learned_names()
    assert "layer_001" not in names and "layer_000" in names and names[-1] == "layer_new"
    assert redactor.evicted == 1


def test_a_forgotten_name_is_scrubbed_again_once_learned_again() -> None:
    redactor = make_redactor(max_learned_names=100)
    redactor.learn(["secret_block_0"])
    pseudonym = redactor.name("secret_block_0")
    assert redactor.text("slowest: secret_block_0") == f"slowest: {pseudonym}"
    redactor.learn(f"other_layer_{i}" for i in range(5000))  # pushes it out
    assert "secret_block_0" not in redactor.learned_names()
    # once its generation is rebuilt, free text is no longer scrubbed of it (documented)
    redactor._generations.compact(redactor._learned)
    redactor._built = (redactor._generations.automata(), redactor._built[1])
    assert redactor.text("slowest: secret_block_0") == "slowest: secret_block_0"
    # a name field is always replaced, and teaches it again, with the same pseudonym
    (out,) = redactor.events([event("layer_time", "t secret_block_0", layer="secret_block_0", ms=1.0)])
    assert out["layer"] == pseudonym and out["msg"] == f"t {pseudonym}"
    assert redactor.text("slowest: secret_block_0") == f"slowest: {pseudonym}"


def test_names_learned_one_by_one_are_all_scrubbed() -> None:
    rng = random.Random(19)
    redactor = make_redactor(max_learned_names=0, scrub_paths=False)
    names: list[str] = []
    for i in range(600):
        name = f"/blk{rng.randrange(40)}/conv{i}" if i % 3 else f"conv{i}"
        names.append(name)
        redactor.learn([name])
        if i % 37 == 0:
            text = " | ".join(names)
            out = redactor.text(text)
            assert all(n not in out.split(" | ") for n in names)
            assert out == reference(redactor, names, text)
    assert len(redactor._built[0]) >= 1


ATOMS = st.sampled_from(["a", "b", "ab", "ba", "conv", "_1", "/", "x"])
NAME = st.lists(ATOMS, min_size=2, max_size=5).map("".join).filter(lambda n: len(n) >= 3)


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.lists(NAME, min_size=1, max_size=6), min_size=1, max_size=12),
    text=st.lists(NAME, max_size=8),
)
def test_generations_match_one_automaton(batches: list[list[str]], text: list[str]) -> None:
    """Overlapping names learned in batches (one generation each, merged as they come) scrub a
    text exactly as one automaton of all of them would: leftmost-longest across generations."""
    redactor = make_redactor(max_learned_names=0, scrub_paths=False)
    learned: list[str] = []
    for batch in batches:
        redactor.learn(batch)
        learned += batch
        line = "ab".join(text) + "conv_1/" + "x".join(learned[-3:])
        assert redactor.text(line) == reference(redactor, list(dict.fromkeys(learned)), line)


def test_a_repeated_message_is_scrubbed_of_a_name_learned_since() -> None:
    redactor = make_redactor()
    said = event("warning", "[W] slow: secret_conv_7 took 3 ms")
    (first,) = redactor.events([said])
    assert first["msg"] == said["msg"]  # nothing learned yet: a limit of streams (documented)
    (again,) = redactor.events([dict(said)])  # the kept copy
    assert again == first
    named = event("layer_time", "t", layer="secret_conv_7", ms=1.0)
    _, later = redactor.events([named, dict(said)])
    assert "secret_conv_7" not in later["msg"]
    (last,) = redactor.events([dict(said, source={"file": "b.log", "line": 9})])
    assert "secret_conv_7" not in last["msg"] and last["source"] == {"file": "b.log", "line": 9}
