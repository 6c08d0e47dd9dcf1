"""Where a compiled RE2 regex first matches in a buffer: the one question the log reader's
prefilter and the user patterns' combined search ask, for every candidate line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]

Find = Callable[[bytes, int], int]


def finder(regex: Any) -> Find:
    """``find(data, pos)``: the offset where ``regex`` (compiled by google-re2) first matches in
    ``data`` at or after ``pos``, or -1. google-re2's ``search`` builds a generator and a match
    object per call; the compiled RE2 object answers the start alone, which is all a reader
    asks. Falls back to ``search`` if that private object ever goes away."""
    raw_match = getattr(getattr(regex, "_regexp", None), "Match", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw_match is not None and anchor is not None:

        def find(data: bytes, pos: int) -> int:
            start: int = raw_match(anchor, data, pos, len(data))[0][0]
            return start

        return find

    def search(data: bytes, pos: int) -> int:
        m = regex.search(data, pos)
        return -1 if m is None else int(m.start())

    return search
