"""Progress on stderr for long ``parse``/``report`` runs, only when stderr is a terminal."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType

from trt_agent.parse import ParseStats


class Progress:
    """Redraws one status line twice a second from ``stats`` while a run lasts."""

    def __init__(self, stats: ParseStats, *, enabled: bool | None = None, interval: float = 0.5) -> None:
        self.stats = stats
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        mb = self.stats.bytes / 1e6
        return f"\r{mb:10.1f} MB  {self.stats.lines:>12,} lines  {self.stats.events:>10,} events  {mb / elapsed:7.1f} MB/s"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            sys.stderr.write(self._line())
            sys.stderr.flush()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            sys.stderr.write(self._line() + "\n")
