"""What the tailer did and what went wrong: the counters behind its self-metrics
(:class:`TailCounters`, read by the metrics thread) and :class:`Problems`, which counts each
failure to follow a file and logs it once per path and reason."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any, Final

# Reasons of trt_agent_tail_errors_total, every one exported from the start (at 0) so that
# increase() and rate() see the first error.
TAIL_ERROR_REASONS: Final = (
    "permission_denied",
    "not_found",
    "not_a_regular_file",
    "symlink_loop",
    "symlink_outside_logs",
    "too_many_files",
    "io_error",
    "internal_error",
)
_REASON_OF_ERRNO: Final = {
    errno.EACCES: "permission_denied",
    errno.ENOENT: "not_found",
    errno.EISDIR: "not_a_regular_file",
    errno.ELOOP: "symlink_loop",
}


@dataclass
class TailCounters:
    """What the tailer did, for self-metrics (read by the metrics thread; ints only)."""

    rotations: int = 0
    truncations: int = 0
    recovered_bytes: int = 0
    partial_flushes: int = 0
    artifact_errors: int = 0
    parse_reads: int = 0
    parse_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TAIL_ERROR_REASONS, 0))

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1


class Problems:
    """Files that cannot be followed: every failure is counted; the warning is logged once per
    path while its reason stays the same (an unreadable file is retried every scan)."""

    def __init__(self, counters: TailCounters, log: Any) -> None:
        self.counters = counters
        self._log = log
        self._failing: dict[str, str] = {}  # path -> reason it cannot be read

    def fail(self, path: str, exc: OSError) -> None:
        reason = _REASON_OF_ERRNO.get(exc.errno or 0, "io_error")
        self.counters.error(reason)
        if self._failing.get(path) != reason:
            self._failing[path] = reason
            self._log.warning("cannot read file; will retry", file=path, reason=reason, error=exc.strerror)

    def opened(self, path: str) -> None:
        """``path`` was opened: say so if it had failed before."""
        if self._failing.pop(path, None) is not None:
            self._log.info("file readable again", file=path)

    def refuse_symlink(self, path: str, target: str) -> None:
        self.counters.error("symlink_outside_logs")
        if self._failing.get(path) != "symlink_outside_logs":
            self._failing[path] = "symlink_outside_logs"
            self._log.warning(
                "symlink to a file outside the configured [[logs]] paths; not followed",
                file=path,
                target=target,
                hint="add a [[logs]] path that matches the target to follow it",
            )

    def internal_error(self, path: str) -> None:
        """A bug, not input (call it from the ``except`` block: the traceback is logged)."""
        self.counters.error("internal_error")
        if self._failing.get(path) != "internal_error":
            self._failing[path] = "internal_error"
            self._log.exception("unexpected error following a file; please report it", file=path)
