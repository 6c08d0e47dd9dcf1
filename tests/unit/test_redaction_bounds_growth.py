"""What the redactor's memory does once ``max_learned_names`` is reached and new names keep
coming (each one evicting the least recently seen): it stays flat. Two things made it creep in
names_soak.py (a daemon at 50 k names, fed 100 k): each rebuild of the automata kept the ones it
replaced alive until the new ones were built (old and new at once: the peak, and the pymalloc
arenas it touched, one whole automaton higher), and the per-name tables, churned by the names,
were resized to twice the size of fresh ones and never shrank."""

from __future__ import annotations

import sys
import tracemalloc
from collections import OrderedDict

from conftest import make_redactor

from trt_agent.redact import Redactor


def layer_name(i: int) -> str:
    """The shape of bench/names_soak.py's names (shared prefixes, ~40 characters)."""
    return f"/encoder/layer.{i // 4096}/block_{i}/attn/conv_{i % 7}"


class Feeder:
    """New names in batches, each batch learned, named and scrubbed (which builds the automata)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.next = 0

    def feed(self, count: int, batch: int = 100) -> None:
        for _ in range(count // batch):
            names = [layer_name(i) for i in range(self.next, self.next + batch)]
            self.next += batch
            self.redactor.learn(names)
            for name in names:  # each name's pseudonym, as an event field asks for it
                self.redactor.name(name)
            assert self.redactor.text(f"slowest: {names[-1]}") == f"slowest: {self.redactor.name(names[-1])}"


def test_a_rebuild_never_holds_the_automata_it_replaces() -> None:
    # At the cap, the generations are merged or compacted every few thousand names, each time
    # into one automaton of about every name held. With the old ones alive meanwhile, the peak
    # was ~1.8x what the redactor holds; freed first, it stays within ~1.3x.
    cap = 2000
    redactor = make_redactor(max_learned_names=cap, scrub_paths=False)
    feeder = Feeder(redactor)
    feeder.feed(cap)
    tracemalloc.start()
    try:
        feeder.feed(2 * cap)  # past the first rebuilds after the cap
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        feeder.feed(8 * cap)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert redactor.held_names == cap and redactor.evicted == 10 * cap
    assert current < 1.2 * held  # flat: nothing grows with the names that went through
    assert peak < 1.5 * held, (peak, held)


def test_per_name_tables_stay_the_size_of_fresh_ones() -> None:
    # 3000 names: a fresh table has room for the insertions until the next copy (a quarter of
    # the names held, + 1024); churned without the copies, each was resized to twice that.
    cap = 3000
    redactor = make_redactor(max_learned_names=cap, scrub_paths=False)
    feeder = Feeder(redactor)
    feeder.feed(10 * cap)
    assert redactor.held_names == cap and redactor.evicted == 9 * cap
    assert len(redactor._outputs) <= cap + 100 and len(redactor._owners) <= cap + 100
    tables = {
        "seen": redactor._seen,
        "learned": redactor._learned,
        "pseudonyms": redactor._pseudonyms,
        "owners": redactor._owners,
    }
    for what, table in tables.items():
        fresh = OrderedDict(table) if isinstance(table, OrderedDict) else dict(table)
        assert sys.getsizeof(table) <= 1.25 * sys.getsizeof(fresh), what
    assert redactor._outputs is redactor._pseudonyms  # pseudonym mode: one table serves both
