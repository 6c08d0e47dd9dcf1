"""What judging a rule on an engine gives: a :class:`Result` (pass, fail or skip, with its
message, what was observed and the offenders), and the verdict over results (:func:`gate`,
:func:`strict`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

PASS: Final = "pass"
FAIL: Final = "fail"
SKIP: Final = "skip"
MAX_OFFENDERS: Final = 20  # listed in a result; the count is always exact


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
