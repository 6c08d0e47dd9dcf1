"""Where a compiled RE2 regex first matches in a buffer: the one question the log reader's
prefilter and the user patterns' combined search ask, for every candidate line."""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

try:
    import re2  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - google-re2 is a dependency; the readers fall back on re
    re2 = None

__all__ = ["HYPERSCAN", "NATIVE", "Find", "finder", "re2"]

Find = Callable[[bytes, int, int], int]

# Whether the compiled scanner (google-re2, installed from wheels) is there. Without it the log
# reader's prefilter asks Python's ``re`` line by line: the same lines, more slowly.
NATIVE: bool = re2 is not None
# Whether Hyperscan (installed from wheels) is there: the log reader's prefilter then scans large
# regions with it (a multi-pattern SIMD scan, ~3x RE2's DFA on the bench input), else with RE2.
# Imported where first used (~4 ms a start-up that a small log need not pay).
HYPERSCAN: bool = find_spec("hyperscan") is not None


def finder(regex: Any) -> Find:
    """``find(data, pos, end)``: the offset where ``regex`` (compiled by google-re2) first matches
    in ``data[:end]`` at or after ``pos``, or -1 (``end`` bounds the search without a copy). google-re2's ``search`` builds a generator and a match
    object per call; the compiled RE2 object answers the start alone, which is all a reader
    asks. Falls back to ``search`` if that private object ever goes away."""
    raw_match = getattr(getattr(regex, "_regexp", None), "Match", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw_match is not None and anchor is not None:

        def find(data: bytes, pos: int, end: int) -> int:
            start: int = raw_match(anchor, data, pos, end)[0][0]
            return start

        return find

    def search(data: bytes, pos: int, end: int) -> int:
        m = regex.search(data, pos, end)
        return -1 if m is None else int(m.start())

    return search
