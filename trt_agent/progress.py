"""Progress on stderr for long ``parse``/``report``/``check`` runs, only when stderr is a terminal."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType

from trt_agent.parse import ParseStats


class Progress:
    """Redraws one status line twice a second from ``stats`` while a run lasts.

    Quiet for its first ``delay`` seconds (a small input needs none, and a line that flashes by
    only garbles the terminal) and erased when the run ends, so what follows on the terminal
    starts on a clean line instead of after a stale ``\\r``."""

    def __init__(
        self, stats: ParseStats, *, enabled: bool | None = None, interval: float = 0.5, delay: float = 1.0
    ) -> None:
        self.stats = stats
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.interval = interval
        self.delay = delay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()
        self._drawn = 0  # the longest line drawn, so the erase covers it

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        mb = self.stats.bytes / 1e6
        return f"\r{mb:10.1f} MB  {self.stats.lines:>12,} lines  {self.stats.events:>10,} events  {mb / elapsed:7.1f} MB/s"

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            line = self._line()
            sys.stderr.write(line)
            sys.stderr.flush()
            self._drawn = max(self._drawn, len(line))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        if self._drawn:
            sys.stderr.write("\r" + " " * self._drawn + "\r")
            sys.stderr.flush()
