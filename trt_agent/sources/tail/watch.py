"""When to look: a watchdog observer (inotify on Linux) on the directory of each ``[[logs]]``
path, whose notifications only wake the tailer thread (what changed is always read from the files
themselves), and the fall back to polling where inotify is unavailable; then the tailer's re-scan
every ``poll_interval`` is the only look."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from trt_agent.config import LogSource
from trt_agent.sources.checkpoint import FileKey
from trt_agent.sources.tail.discovery import watch_root
from trt_agent.sources.tail.files import key_of

WATCHED_EVENTS: Final = (
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
)


class _Wakeup(FileSystemEventHandler):
    def __init__(self, wake: Callable[[bool], None]) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        # A file that grew only needs reading; anything else may change which files match.
        self._wake(not isinstance(event, FileModifiedEvent | FileClosedEvent))


class Watcher:
    """The directory watches of one tailer. ``mode`` is ``"inotify"`` until watching fails, then
    ``"poll"``. ``wake(rescan)`` is called on the observer's thread for every notification."""

    def __init__(
        self, mode: str, wake: Callable[[bool], None], log: Any, poll_interval: Callable[[], float]
    ) -> None:
        self.mode = mode
        self._wake = wake
        self._log = log
        self._poll_interval = poll_interval  # for the message of the fall back
        self._observer: BaseObserver | None = None
        self._watches: dict[str, tuple[FileKey, ObservedWatch]] = {}

    def start(self) -> None:
        if self.mode == "inotify":
            try:
                observer = Observer()
                observer.start()
                self._observer = observer
            except OSError as exc:
                self._fall_back_to_polling(exc)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()

    def join(self, timeout: float) -> None:
        if self._observer is not None:
            self._observer.join(timeout)

    def watch(self, source: LogSource) -> None:
        """Watch the directory of ``source.path`` (again, if it was replaced since)."""
        if self._observer is None:
            return
        directory = watch_root(source.path)
        key = key_of(directory)
        current = self._watches.get(directory)
        if current is not None and current[0] == key:
            return
        if current is not None:
            self._observer.unschedule(current[1])
            del self._watches[directory]
        if key is None:
            return  # not there yet: the periodic scan tries again
        try:
            watch = self._observer.schedule(
                _Wakeup(self._wake), directory, recursive=False, event_filter=list(WATCHED_EVENTS)
            )
        except OSError as exc:
            self._observer.stop()
            self._fall_back_to_polling(exc)
            return
        self._watches[directory] = (key, watch)

    def unwatch_unused(self, needed: set[str]) -> None:
        """Drop the directory watches of ``[[logs]]`` entries a reload removed."""
        if self._observer is None:
            return
        for directory in [d for d in self._watches if d not in needed]:
            self._observer.unschedule(self._watches.pop(directory)[1])

    def _fall_back_to_polling(self, exc: OSError) -> None:
        self.mode = "poll"
        self._observer = None
        self._log.warning(
            "inotify unavailable, polling instead",
            error=str(exc),
            poll_interval=self._poll_interval(),
        )
