"""Small text helpers every human-facing output shares (reports, rule results, diffs, pages)."""

from __future__ import annotations

from collections.abc import Sequence


def cut(text: str, width: int) -> str:
    """``text``, cut to ``width`` characters with an ellipsis when longer."""
    return text if len(text) <= width else text[: width - 1] + "…"


def few(names: Sequence[str], shown: int = 3) -> str:
    """The first ``shown`` names, then "and N more"."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def format_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``; bytes below 1 KiB as a whole number, GiB at most."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # not reached: the loop returns at GiB


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 warning``, ``2 warnings``: a count with its noun, singular for exactly one."""
    return f"{count} {word if count == 1 else many or word + 's'}"
