"""What TensorRT calls back into, and turning what it said into events: the ``IProfiler``
(:func:`make_profiler`) appending to a :class:`LayerTimeRing` on the inference thread, the
``ILogger`` (:func:`make_logger`) queueing messages, and, on the aggregator thread, the ring cut
into inferences (:func:`split_iterations`) and the messages parsed as log lines
(:func:`logger_events`)."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterable
from typing import Any, Final

from trt_agent.parse.log import LogReader
from trt_agent.vocab.events import Event
from trt_agent.vocab.severities import LETTER_OF, TRT_LOGGER_SEVERITY

PROFILER_SOURCE: Final = {"kind": "profiler"}
LOGGER_SOURCE: Final = {"kind": "tensorrt_logger"}


class LayerTimeRing:
    """A bounded ring of ``(layer_name, ms)`` reports, written by TensorRT's callback and read by
    the aggregator. ``deque.append`` and ``popleft`` are atomic under the GIL, so neither side
    locks. When the aggregator falls behind by a whole ring, the oldest reports are overwritten;
    the host checks :meth:`room` between inferences and waits instead, so none are lost."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.capacity = capacity
        self._ring: collections.deque[tuple[str, float] | None] = collections.deque(maxlen=capacity)
        self.append = self._ring.append  # the callback's one call

    def end_inference(self) -> None:
        """Mark the end of one inference's reports (the host thread, after report_to_profiler)."""
        self._ring.append(None)

    def __len__(self) -> int:
        return len(self._ring)

    def room(self) -> int:
        return self.capacity - len(self._ring)

    def drain(self) -> list[tuple[str, float] | None]:
        """Everything reported so far, oldest first (``None``: an inference ended)."""
        out: list[tuple[str, float] | None] = []
        popleft = self._ring.popleft
        with contextlib.suppress(IndexError):
            for _ in range(len(self._ring)):
                out.append(popleft())
        return out


def make_profiler(trt: Any, ring: LayerTimeRing) -> Any:
    """A ``trt.IProfiler`` whose ``report_layer_time`` appends to ``ring`` and nothing else.

    The class is made here because the base class comes from the ``trt`` module in use. The base
    ``__init__`` must run explicitly (pybind11 trampoline; NVIDIA's docstring says so)."""

    class LayerTimeProfiler(trt.IProfiler):  # type: ignore[misc]
        __slots__ = ("_append",)

        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self._append = ring.append

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self._append((layer_name, ms))

    return LayerTimeProfiler()


def make_logger(trt: Any, sink: collections.deque[tuple[int, str]], min_severity: int) -> Any:
    """A ``trt.ILogger`` that queues messages at ``min_severity`` or more severe for the
    aggregator (TensorRT's base ``ILogger`` filters nothing itself)."""

    class AgentLogger(trt.ILogger):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            level = int(severity)
            if level <= min_severity:
                sink.append((level, msg))

    return AgentLogger()


def logger_events(messages: Iterable[tuple[int, str]], reader: LogReader) -> list[Event]:
    """TensorRT's logger messages as events: each is parsed as the ``[TRT] [W] …`` line a
    logging application would have written, so it gets the same event types as a log file."""
    events: list[Event] = []
    for level, msg in messages:
        letter = LETTER_OF[TRT_LOGGER_SEVERITY.get(level, "info")]
        for event in reader.feed(f"[TRT] [{letter}] {msg}\n".encode("utf-8", "replace")):
            event["source"] = LOGGER_SOURCE
            events.append(event)
    return events


def split_iterations(
    reports: list[tuple[str, float] | None],
) -> tuple[list[list[tuple[str, float]]], list[tuple[str, float]]]:
    """Cut reports into whole inferences at the ``None`` the host appends after each one.

    Returns (complete inferences, the reports after the last mark: an inference still being
    reported)."""
    iterations: list[list[tuple[str, float]]] = []
    current: list[tuple[str, float]] = []
    for report in reports:
        if report is None:
            if current:
                iterations.append(current)
            current = []
        else:
            current.append(report)
    return iterations, current
