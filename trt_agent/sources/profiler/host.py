"""The long-running host (the daemon's ``[profiler]``): :class:`ProfilerHost` runs the host thread
(load, profile within the duty-cycle budget, back off after failures and from a busy GPU, reload
the engine when its file changes) and the aggregator thread (the ring and the logger's messages
into the sink as events), and counts what it did in :class:`ProfilerStats`."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from trt_agent.config import ProfilerConfig as ProfilerSettings
from trt_agent.logs import get_logger
from trt_agent.parse import ParseStats
from trt_agent.parse.log import LogReader
from trt_agent.sources.profiler.callbacks import (
    PROFILER_SOURCE,
    LayerTimeRing,
    logger_events,
    make_logger,
    split_iterations,
)
from trt_agent.sources.profiler.cuda import CudaBackend, GpuUtilization, PycudaBackend
from trt_agent.sources.profiler.errors import ProfilerError
from trt_agent.sources.profiler.inference import Inference, infer_once
from trt_agent.sources.profiler.runtime import (
    EngineLoader,
    LoadedEngine,
    file_identity,
    import_tensorrt,
    inspector_events,
)
from trt_agent.vocab.events import Event, make_event
from trt_agent.vocab.severities import TRT_LOGGER_LEVEL


@dataclass
class ProfilerStats:
    """Counters the daemon exports as ``trt_agent_profiler_*``."""

    up: bool = False
    reports: int = 0
    inferences: int = 0
    failed_inferences: int = 0
    engine_loads: collections.Counter[str] = field(default_factory=collections.Counter)
    backoffs: collections.Counter[str] = field(default_factory=collections.Counter)
    busy_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    logger_messages: int = 0
    last_error: str = ""

    @property
    def duty_cycle(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.busy_seconds / elapsed if elapsed > 0 else 0.0


Sink = Callable[[list[Event], list[Event], bool], None]  # (fold into models, also write, count as log events)

# Consecutive failed inferences back off from FAILURE_BACKOFF seconds, doubling up to
# FAILURE_BACKOFF_MAX: each failure is a TensorRT error message, and so an event.
FAILURE_BACKOFF: Final = 0.1
FAILURE_BACKOFF_MAX: Final = 30.0


class ProfilerHost:
    """Hosts one engine and profiles it continuously within the duty-cycle budget (the package's
    docstring says which thread may do what)."""

    def __init__(
        self,
        settings: ProfilerSettings,
        sink: Sink,
        *,
        trt: Any = None,
        cuda_factory: Callable[[int], CudaBackend] = PycudaBackend,
        utilization: GpuUtilization | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.trt = trt if trt is not None else import_tensorrt()
        self.cuda_factory = cuda_factory
        self.utilization = utilization
        self.clock = clock
        self.ring = LayerTimeRing(settings.ring_capacity)
        self.messages: collections.deque[tuple[int, str]] = collections.deque(maxlen=10_000)
        self.stats = ProfilerStats()
        self.log = get_logger("trt_agent.profiler")
        self._stop = threading.Event()
        self._host_done = (
            threading.Event()
        )  # the aggregator's last round comes after the host's last inference
        self._threads: list[threading.Thread] = []
        self._sink_lock = threading.Lock()
        self._sink_closed = False  # after stop(): a thread still in TensorRT hands nothing on
        self._tail: list[tuple[str, float]] = []
        self._iteration = 0
        self._reader = LogReader("<tensorrt>", settings.engine_id, ParseStats())
        self.loaded: LoadedEngine | None = None
        min_severity = TRT_LOGGER_LEVEL.get(settings.log_severity, 2)
        self.logger = make_logger(self.trt, self.messages, min_severity)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("profiler", self._run), ("profiler-aggregator", self._aggregate_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads within ``timeout`` in all. A host thread still inside a long TensorRT
        call (a deserialization, an inference) is left to finish on its own: the aggregator
        hands on what was reported, and nothing reaches the sink once this returns."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        for thread in self._threads:
            if thread.name == "profiler":
                thread.join(max(0.0, deadline - time.monotonic()))
        self._host_done.set()  # the aggregator's final round, whether the host made it or not
        for thread in self._threads:
            if thread.name != "profiler":
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._sink_lock:
            self._sink_closed = True

    def _emit(self, events: list[Event], written: list[Event], count: bool) -> None:
        with self._sink_lock:
            if not self._sink_closed:
                self.sink(events, written, count)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)

    # -- host thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        cuda: CudaBackend | None = None
        try:
            cuda = self.cuda_factory(self.settings.device)
            self._host(cuda)
        except ProfilerError as exc:
            self.stats.last_error = str(exc)
            self.log.error("profiler stopped", error=str(exc))
        except Exception as exc:  # TensorRT or the CUDA backend raised: say so, up goes to 0
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self.log.exception("profiler stopped by an unexpected error", error=self.stats.last_error)
        finally:
            self.stats.up = False
            # TensorRT's engine and context free device memory: before the CUDA context goes
            self.loaded = None
            if cuda is not None:
                with contextlib.suppress(Exception):
                    cuda.close()
            self._host_done.set()

    def _host(self, cuda: CudaBackend) -> None:
        """Load, then profile until stopped. The runtime and loader are locals, so they are gone
        (with the engine) before ``_run`` closes the CUDA context."""
        loader = EngineLoader(self.trt, self.trt.Runtime(self.logger), cuda, self.settings, self.ring)
        while not self._stop.is_set() and self.loaded is None:
            self._load(loader)
            if self.loaded is None:
                self._stop.wait(self.settings.reload_check_interval)
        self._profile(loader)

    def _load(self, loader: EngineLoader) -> bool:
        try:
            loaded = loader.load()
        except ProfilerError as exc:
            self.stats.engine_loads["failure"] += 1
            if str(exc) != self.stats.last_error:  # once per distinct problem, not every retry
                self.log.error("engine not loaded; the running engine, if any, is kept", error=str(exc))
            self.stats.last_error = str(exc)
            return False
        self.stats.engine_loads["success"] += 1
        with contextlib.suppress(Exception):  # inspector output is a bonus: timings work without it
            events = inspector_events(self.trt, loaded, self.settings)
            self._emit(events, events, False)
        previous, self.loaded = self.loaded, loaded  # one reference swap between two inferences
        if previous is not None:
            loader.release(previous)  # the host thread runs no inference on it any more
        self.stats.up = True
        self.log.info(
            "engine loaded",
            engine=self.settings.engine_id,
            inputs={k: list(v) for k, v in loaded.inputs.items()},
        )
        return True

    def _profile(self, loader: EngineLoader) -> None:
        s = self.settings
        next_check = self.clock() + s.reload_check_interval
        min_period = 1.0 / s.max_inferences_per_second if s.max_inferences_per_second > 0 else 0.0
        failures = 0  # consecutive failed inferences
        resume_at = 0.0  # backing off after failures until then (engine file checks go on)
        while not self._stop.is_set():
            now = self.clock()
            if now >= next_check:
                next_check = now + s.reload_check_interval
                if self._maybe_reload(loader):
                    failures, resume_at = 0, 0.0  # a new engine: try it at once
            if now < resume_at:
                self._stop.wait(max(0.0, min(resume_at, next_check) - now))
                continue
            loaded = self.loaded
            assert loaded is not None
            if self.ring.room() < loaded.engine.num_layers * 2 + 16:
                self._stop.wait(s.aggregate_interval)  # the aggregator is behind: wait, lose nothing
                continue
            if self._gpu_busy():
                continue
            started = self.clock()
            ok = infer_once(loaded, loader.cuda) is Inference.DONE
            self.ring.end_inference()
            busy = self.clock() - started
            self.stats.busy_seconds += busy
            if ok:
                self.stats.inferences += 1
                failures = 0
            else:
                self.stats.failed_inferences += 1
                failures += 1
                self.stats.backoffs["failure"] += 1
                if failures == 1:
                    self.log.warning("inference failed; backing off (TensorRT logged why)")
                resume_at = self.clock() + min(
                    FAILURE_BACKOFF_MAX, FAILURE_BACKOFF * 2 ** min(failures - 1, 16)
                )
            # The budget: GPU time / wall time <= max_duty_cycle, and at most N inferences a second.
            pause = max(
                busy * (1.0 / s.max_duty_cycle - 1.0) if s.max_duty_cycle > 0 else 0.0, min_period - busy
            )
            self._stop.wait(max(0.0, pause))

    def _gpu_busy(self) -> bool:
        if self.utilization is None:
            return False
        percent = self.utilization.percent()
        if percent is not None and percent >= self.settings.gpu_busy_percent:
            self.stats.backoffs["gpu_busy"] += 1
            self._stop.wait(self.settings.busy_backoff)
            return True
        return False

    def _maybe_reload(self, loader: EngineLoader) -> bool:
        """Load the engine file again when it changed; True when a new engine was swapped in."""
        loaded = self.loaded
        try:
            identity = file_identity(self.settings.engine_file)
        except OSError:
            return False  # being replaced: look again next time
        if loaded is not None and identity != loaded.identity:
            self.log.info("engine file changed; reloading", file=self.settings.engine_file)
            if self._load(loader):
                return True
            # keep running the old engine, and do not retry the same broken file every time
            loaded.identity = identity
        return False

    # -- aggregator thread ------------------------------------------------------------------------

    def _aggregate_loop(self) -> None:
        while not self._host_done.wait(self.settings.aggregate_interval):
            self.aggregate()
        self.aggregate(final=True)

    def aggregate(self, *, final: bool = False) -> None:
        """Move what the callbacks and the logger queued into the sink (aggregator thread).
        ``final``: the host has stopped, so the last iteration is complete too."""
        reports = self.ring.drain()
        if reports or (final and self._tail):
            self.stats.reports += sum(1 for r in reports if r is not None)
            iterations, self._tail = split_iterations([*self._tail, *reports])
            if final and self._tail:
                iterations.append(self._tail)
                self._tail = []
            folded: list[Event] = []
            written: list[Event] = []
            engine = self.settings.engine_id
            every = self.settings.events_every
            for iteration in iterations:
                self._iteration += 1
                events = [
                    make_event(
                        "layer_time", None, "info", engine, PROFILER_SOURCE, None, {"layer": name, "ms": ms}
                    )
                    for name, ms in iteration
                ]
                folded += events
                if every and (self._iteration - 1) % every == 0:  # the 1st, (every+1)th, ...
                    written += events
            if folded:
                self._emit(folded, written, False)
        drained = []
        while self.messages:
            drained.append(self.messages.popleft())
        self.stats.logger_messages += len(drained)
        messages = logger_events(drained, self._reader)
        if messages:
            self._emit(messages, messages, True)
