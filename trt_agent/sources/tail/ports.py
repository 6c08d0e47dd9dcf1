"""What the tailer needs from outside it: where its events go (:class:`Pipeline`), what wakes its
thread (:class:`Waker`) and what tells the time (:data:`Clock`).

The daemon passes its engine model and event stream, a ``threading.Event`` and ``time.monotonic``;
a test can pass a recording pipeline, an event it inspects and a clock it moves by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from trt_agent.sources.checkpoint import Ack
from trt_agent.vocab.events import Event

Clock = Callable[[], float]  # seconds, monotonic: when to flush, close, re-scan; the heartbeat


class Pipeline(Protocol):
    """Where the tailer hands what it read (the daemon's engine model and event stream)."""

    def ingest(self, events: list[Event], ack: Ack) -> None:
        """New events, with the token the event stream hands back to the tailer's
        :class:`~trt_agent.sources.checkpoint.CheckpointCommitter` once they are written: the
        checkpoints of the lines that made them, or a file to forget (``Forget``)."""

    def replay(self, events: list[Event], ack: Ack | None = None, *, count: bool = False) -> None:
        """Events of lines already delivered before a restart: for the engine model only
        (``ack``: the checkpoints the model now stands at; ``count``: in its event counts)."""

    def redeliver(self, events: list[Event], ack: Ack) -> None:
        """Events of lines the engine model already holds (restored from its snapshot) that
        were not written before the restart: for the event stream only."""

    def blocked(self) -> bool:
        """True while events cannot be written (disk full...): reading waits, nothing is lost."""

    def full(self) -> bool:
        """True while the event queue is full and would make the next batch wait for room
        (``events.when_full = "block"``): a shutdown stops reading there."""


class Waker(Protocol):
    """What the tailer thread waits on between turns (``threading.Event``'s methods): set by
    a watch notification, a reload, a stop, or a read that left bytes for the next turn."""

    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def clear(self) -> None: ...
