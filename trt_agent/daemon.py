"""``trt-agent run``: the long-running sidecar.

Threads, each with one job:

- *tailer* (``sources.tail``): reads and parses the files, folds events into the engine
  models and offers them to the event stream;
- *event-writer* (``sinks.jsonl.EventStream``): writes JSONL, rotates it, saves checkpoints;
- *metrics*: prometheus-client's HTTP server, computing metrics from the models on scrape;
- *main*: signals (SIGTERM/SIGINT stop, SIGHUP reloads) and systemd notifications.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import select
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from trt_agent.config import Config, ConfigError, MetricsConfig, load_config, split_listen
from trt_agent.logs import configure_logging, get_logger
from trt_agent.model import EngineModel, fold
from trt_agent.redact import Redactor, load_redactor
from trt_agent.rules import Baseline, Result, RuleSet, evaluate, load_baseline, load_rules
from trt_agent.security import startup_warnings
from trt_agent.sinks.jsonl import EventStream
from trt_agent.sinks.prometheus import AgentCollector, EngineCollector
from trt_agent.sources.checkpoint import Checkpoint, CheckpointStore, FileKey
from trt_agent.sources.profiler import NvmlUtilization, ProfilerError, ProfilerHost
from trt_agent.sources.tail import Tailer
from trt_agent.systemd import notify, watchdog_interval
from trt_agent.vocab.events import Event
from trt_agent.web.config import WebConfig, WebConfigError, load_web_config
from trt_agent.web.server import MetricsServer

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_CRASHED = 1
# Keys a SIGHUP cannot change in a running agent (they own sockets, files or threads).
_RESTART_KEYS = (
    ("state_dir", "agent.state_dir"),
    ("metrics", "[metrics]"),
    ("events", "[events]"),
    ("redaction", "[redaction]"),
    ("profiler", "[profiler]"),
)


class StartupError(RuntimeError):
    """Something the agent needs at start is unusable (phrased for the operator)."""


class AgentState:
    """Engine models and event counts: written by the tailer, read by scrapes (under ``lock``)."""

    def __init__(
        self, stream: EventStream, settings: MetricsConfig, redactor: Redactor | None = None
    ) -> None:
        self.redactor = redactor
        self.lock = threading.Lock()
        self.models: dict[str, EngineModel] = {}
        self.event_counts: Counter[tuple[str, str, str]] = Counter()
        self.stream = stream
        self.settings = settings
        self.engines_dropped = 0
        self.layers_dropped = 0
        # Over agent.memory_limit_bytes the agent sheds verbose events (the bulk of a verbose build
        # log) instead of growing: warnings, errors and info facts still go through.
        self.shedding = False
        self.shed: Counter[str] = Counter()
        self.rules: RuleSet | None = None
        self.baseline: Baseline | None = None
        # engine -> (model.last_update the results were computed at, results); under ``lock``
        self._rule_results: dict[str, tuple[float, list[Result]]] = {}
        self.log = get_logger("trt_agent.rules")

    def set_rules(self, rules: RuleSet | None, baseline: Baseline | None) -> None:
        with self.lock:
            self.rules, self.baseline = rules, baseline
            self._rule_results.clear()

    def rule_results(self) -> list[Result]:
        """Every rule on every engine; re-evaluated only for engines that changed since. Call
        with ``lock`` held. A rule that starts or stops failing is logged."""
        if self.rules is None:
            return []
        out: list[Result] = []
        for engine, model in self.models.items():
            cached = self._rule_results.get(engine)
            if cached is None or cached[0] != model.last_update:
                results = evaluate(self.rules, {engine: model}, self.baseline)
                self._log_changes(cached[1] if cached else [], results)
                cached = self._rule_results[engine] = (model.last_update, results)
            out += cached[1]
        for engine in set(self._rule_results) - set(self.models):
            del self._rule_results[engine]
        return out

    def _log_changes(self, before: list[Result], after: list[Result]) -> None:
        was = {r.rule: r.status for r in before}
        for r in after:
            if r.status != was.get(r.rule, "pass") and r.status != "skip":
                log = self.log.warning if r.status == "fail" else self.log.info
                log(
                    "rule " + ("failed" if r.status == "fail" else "passes again"),
                    engine=r.engine,
                    rule=r.rule,
                    severity=r.severity,
                    detail=r.message,
                )

    def _new_model(self, engine: str) -> EngineModel:
        return EngineModel(
            engine,
            latency_buckets=self.settings.latency_buckets,
            max_tracked_layers=max(5000, 4 * self.settings.max_layer_series),
        )

    def _apply(self, events: list[Event], *, count: bool) -> None:
        if self.redactor is not None:
            # Whatever the models hold, the redactor knows: a rule message or a log line naming a
            # layer is scrubbed even before the event writer (or, for events replayed after a
            # restart or sampled out by the profiler, never) sees the event.
            self.redactor.learn_events(events)
        with self.lock:
            fold(self.models, events, self._new_model)
            if count:
                self.event_counts.update((e["engine"], e["type"], e["severity"]) for e in events)

    def ingest(self, events: list[Event], mark: dict[FileKey, Checkpoint]) -> None:
        if self.shedding and events:
            kept = [e for e in events if e["severity"] != "verbose"]
            if len(kept) != len(events):
                self.shed["verbose"] += len(events) - len(kept)
                events = kept
        if events:
            self._apply(events, count=True)
        self.stream.offer(events, mark)

    def observe(self, events: list[Event], written: list[Event], count: bool) -> None:
        """The profiler host's sink: fold ``events`` into the models, write ``written`` (a sample of
        them, or all) to the event stream; ``count`` them in trt_log_events_total (logger lines)."""
        if events:
            self._apply(events, count=count)
        if written:
            self.stream.offer(written, {})

    def replay(self, events: list[Event]) -> None:
        # Rebuilds the models after a restart; not counted again, so an alert on
        # increase(trt_log_events_total{severity="error"}) does not fire for old lines.
        self._apply(events, count=False)

    def forget(self, key: FileKey) -> None:
        self.stream.forget(key)

    def blocked(self) -> bool:
        """Event writes fail (disk full, read-only): the tailer stops reading until they work."""
        return self.stream.failing

    def expire(self, active_engines: set[str], now: float) -> None:
        """Bound what the models hold: drop layer series and engines gone for ``series_ttl``,
        then the least recently updated engines beyond ``max_engines``."""
        ttl, cap = self.settings.series_ttl, self.settings.max_engines
        with self.lock:
            if ttl > 0:
                for engine, model in self.models.items():
                    dropped = model.drop_stale_layers(ttl, now)
                    if dropped:  # not an event, so last_update stays: the rule results must go
                        self.layers_dropped += dropped
                        self._rule_results.pop(engine, None)
                gone = [
                    engine
                    for engine, model in self.models.items()
                    if engine not in active_engines and now - model.last_update > ttl
                ]
            else:
                gone = []
            by_age = sorted(self.models, key=lambda engine: self.models[engine].last_update)
            gone += [e for e in by_age if e not in gone][: max(0, len(self.models) - len(gone) - cap)]
            for engine in gone:
                del self.models[engine]
                for key in [k for k in self.event_counts if k[0] == engine]:
                    del self.event_counts[key]
            self.engines_dropped += len(gone)


def load_rule_config(config: Config) -> tuple[RuleSet | None, Baseline | None]:
    """The rules and baseline of ``[rules]`` (None, None without a rules file)."""
    if not config.rules.file:
        return None, None
    return load_rules(config.rules.file), load_baseline(config.rules.baseline, config.max_line_bytes)


def resident_bytes() -> int:
    """This process's resident set size (Linux ``/proc/self/statm``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces) -> (host, port)."""
    parsed = split_listen(listen)
    if parsed is None:  # load_config refuses it first; a Config made in code may still hold one
        raise StartupError(f"metrics.listen must be host:port, got {listen!r}")
    return parsed


class Agent:
    """The daemon; ``run`` blocks until SIGTERM/SIGINT and returns the exit code."""

    def __init__(self, config: Config, config_path: str, redactor: Redactor | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.log = get_logger("trt_agent.agent")
        self.reloads: Counter[str] = Counter()
        self.last_reload_ok = True
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self._hup = False
        store = CheckpointStore(config.state_dir)
        self._prepare_state_dir(store)
        checkpoints = self._load_checkpoints(store)
        self.stream = EventStream(
            config.events,
            store,
            checkpoints,
            checkpoint_interval=config.tail.checkpoint_interval,
            redactor=redactor,
        )
        self.state = AgentState(self.stream, config.metrics, redactor)
        self.state.set_rules(*load_rule_config(config))
        self.tailer = Tailer(config, self.state, checkpoints)
        self.registry = CollectorRegistry()
        self.registry.register(EngineCollector(self.state))
        self.registry.register(AgentCollector(self))
        self.registry.register(ProcessCollector(registry=None))
        self._server: Any = None
        self.profiler: ProfilerHost | None = None
        self.profiler_error = ""

    # -- start-up ----------------------------------------------------------------------------------

    def _prepare_state_dir(self, store: CheckpointStore) -> None:
        try:
            os.makedirs(self.config.state_dir, exist_ok=True)
            probe = os.path.join(self.config.state_dir, ".write-test")
            with open(probe, "wb"):
                pass
            os.unlink(probe)
        except OSError as exc:
            raise StartupError(
                f"agent.state_dir {self.config.state_dir!r} is not writable ({exc.strerror}); "
                "checkpoints are kept there"
            ) from None

    def _load_checkpoints(self, store: CheckpointStore) -> dict[FileKey, Checkpoint]:
        try:
            return store.load()
        except ValueError as exc:
            # Never die on our own state: keep the bad file for a person to look at, start over.
            aside = f"{store.path}.corrupt-{int(time.time())}"
            shutil.move(store.path, aside)
            self.log.error("checkpoint store unreadable; starting without it", error=str(exc), kept_as=aside)
            return {}

    def _serve_metrics(self) -> None:
        settings = self.config.metrics
        host, port = parse_listen(settings.listen)
        try:
            web = load_web_config(settings.web_config_file) if settings.web_config_file else WebConfig()
        except WebConfigError as exc:
            raise StartupError(f"metrics.web_config_file: {exc}") from None
        try:
            self._server = MetricsServer((host, port), self.registry, web, lambda: self.tailer.ready)
        except OSError as exc:
            raise StartupError(f"metrics.listen {settings.listen}: {exc.strerror}") from None
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        bound = self._server.server_address
        self.log.info(
            "serving metrics",
            address=f"{bound[0]}:{bound[1]}",
            path="/metrics",
            tls=web.ssl_context is not None,
            basic_auth=bool(web.users),
        )

    # -- main loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        self._install_signal_handlers()
        self._serve_metrics()
        try:
            self.stream.start()
        except OSError as exc:
            raise StartupError(f"events.path {self.config.events.path!r}: {exc.strerror}") from None
        open_files = raise_open_files_limit()
        if open_files < self.config.tail.max_followed_files + 64:
            self.log.warning(
                "the open-files limit is below agent.max_followed_files plus room for sockets; "
                "files beyond it fail to open (counted as io_error)",
                limit=open_files,
                max_followed_files=self.config.tail.max_followed_files,
            )
        self.tailer.start()
        self._start_profiler()
        # Opening the files replays each one up to its checkpoint, which can take a while for a
        # long history: keep systemd's start timeout from running out meanwhile.
        waited = 0.0
        while not self.tailer.wait_started(timeout=0.5) and not self._stopping:
            waited += 0.5
            if waited % 5 == 0:
                notify("EXTEND_TIMEOUT_USEC=10000000", "STATUS=reading files up to their checkpoints")
        notify("READY=1", "STATUS=following logs")
        self.log.info(
            "started",
            logs=[s.path for s in self.config.logs],
            events=self.config.events.path,
            watch=self.tailer.mode,
            state_dir=self.config.state_dir,
        )
        for warning in startup_warnings(self.config_path, self.config):
            self.log.warning(warning)
        ping = watchdog_interval()
        next_ping = time.monotonic()
        while not self._stopping:
            now = time.monotonic()
            if not (self.tailer.alive() and self.stream.alive()):
                # Only a bug gets here (input errors are counted, not raised): exit non-zero so
                # the supervisor restarts the agent, which resumes from its checkpoints.
                self.log.error("a worker thread died; exiting for a restart")
                self.shutdown()
                return EXIT_CRASHED
            if ping is not None and now >= next_ping:
                if self._healthy(now):
                    notify("WATCHDOG=1")
                else:
                    self.log.error("tailer stalled; withholding the systemd watchdog ping")
                next_ping = now + ping
            self._sleep(min(ping or 1.0, 1.0))
            active = {f.source.engine for f in list(self.tailer.files.values())}
            if self.config.profiler is not None:
                active.add(self.config.profiler.engine_id)
            self.state.expire(active, time.monotonic())
            self._check_memory()
            if self._hup and not self._stopping:
                self._hup = False
                self.reload()
        return self.shutdown()

    def _start_profiler(self) -> None:
        """Host the ``[profiler]`` engine. Without TensorRT (or a GPU) the agent still tails logs
        and serves metrics: the problem is logged and ``trt_agent_profiler_up`` stays 0."""
        settings = self.config.profiler
        if settings is None:
            return
        try:
            self.profiler = ProfilerHost(
                settings, self.state.observe, utilization=NvmlUtilization(settings.device)
            )
        except ProfilerError as exc:
            self.profiler_error = str(exc)
            self.log.error("profiler not started; logs and metrics go on", error=str(exc))
            return
        self.profiler.start()

    def _check_memory(self) -> None:
        """Shed verbose events while RSS is over agent.memory_limit_bytes (back under 90 %: stop)."""
        limit = self.config.memory_limit_bytes
        if not limit:
            return
        rss = resident_bytes()
        state = self.state
        if not state.shedding and rss > limit:
            state.shedding = True
            self.log.warning(
                "memory over agent.memory_limit_bytes: shedding verbose events", rss=rss, limit=limit
            )
        elif state.shedding and rss < 0.9 * limit:
            state.shedding = False
            self.log.info("memory back under the limit: verbose events are read again", rss=rss, limit=limit)

    def _healthy(self, now: float) -> bool:
        stall_limit = 3 * self.config.tail.poll_interval + 30.0
        # (dead threads end the main loop before a ping is due)
        return now - self.tailer.heartbeat < stall_limit

    def shutdown(self) -> int:
        notify("STOPPING=1")
        self.log.info("stopping: draining files and the event queue")
        deadline = time.monotonic() + self.config.tail.shutdown_timeout
        if self.profiler is not None:
            self.profiler.stop(timeout=max(0.0, deadline - time.monotonic()))
        drained = self.tailer.stop(timeout=max(0.0, deadline - time.monotonic()))
        written = self.stream.close(timeout=max(0.0, deadline - time.monotonic()))
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if not (drained and written):
            self.log.error(
                "shutdown_timeout passed before everything was written",
                files_drained=drained,
                events_written=written,
                queued=self.stream.queued,
            )
        self.log.info("stopped", events_written=self.stream.written, events_dropped=self.stream.dropped)
        return EXIT_OK

    # -- signals -----------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    # Handlers only set a flag and write a byte to a pipe the main loop waits on: taking a lock
    # (threading.Event.set) in a handler can deadlock if the signal lands while it is held.
    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        if self._stopping:
            os._exit(1)  # a second signal: the operator does not want to wait for the drain
        self._stopping = True
        self._poke()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self._hup = True
        self._poke()

    def _poke(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until a signal arrives."""
        ready, _, _ = select.select([self._wake_r], [], [], seconds)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)

    def reload(self) -> None:
        """Re-read the config file; a bad one is reported and the running config kept."""
        notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self.reloads["failure"] += 1
            self.last_reload_ok = False
            self.log.error("config reload failed; keeping the running config", error=str(exc))
            notify("READY=1")
            return
        for attribute, key in _RESTART_KEYS:
            if getattr(new, attribute) != getattr(self.config, attribute):
                self.log.warning("changed key needs a restart to apply", key=key)
        # The running values of those keys stay until a restart: the next reload compares with
        # what runs, not with what the last reload read (so reverting a change warns no more).
        new = dataclasses.replace(
            new, **{attribute: getattr(self.config, attribute) for attribute, _ in _RESTART_KEYS}
        )
        try:
            rules = load_rule_config(new)
        except ConfigError as exc:
            self.reloads["failure"] += 1
            self.last_reload_ok = False
            self.log.error("rules reload failed; keeping the running config and rules", error=str(exc))
            notify("READY=1")
            return
        configure_logging(new.log_level, new.log_format, self.state.redactor)
        self.state.set_rules(*rules)
        self.config = new
        self.tailer.reload(new)
        self.reloads["success"] += 1
        self.last_reload_ok = True
        self.log.info("config reloaded", logs=[s.path for s in new.logs])
        notify("READY=1")


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one, as Go programs (node_exporter, mtail)
    do at start; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass  # some sandboxes refuse; the warning at start says what is left
    return soft


def run(config_path: str) -> int:
    """Entry point of ``trt-agent run -c CONFIG``."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        redactor = load_redactor(config)
    except ConfigError as exc:  # names the key, not the file: say which file set it
        print(f"trt-agent: {config_path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.log_level, config.log_format, redactor)
    try:
        agent = Agent(config, config_path, redactor)
        return agent.run()
    except StartupError as exc:
        print(f"trt-agent: {config_path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:  # the rules or baseline file, which it names
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
