"""``trt-agent run``: the long-running sidecar.

Threads, each with one job:

- *tailer* (``sources.tail``): reads and parses the files and hands each batch to the
  pipeline (``pipeline``: shed, learn names, fold models, count, deliver, notify);
- *profiler* (``sources.profiler``, with ``[profiler]``): the TensorRT host, into the same pipeline;
- *event-writer* (``sinks.jsonl.EventStream``): writes JSONL, rotates it, saves checkpoints;
- *metrics* (``web.server``): the HTTP server; each component's collector reads its own state on
  scrape (``sinks.prometheus`` the engine store);
- *main*: signals (SIGTERM/SIGINT stop, SIGHUP reloads), systemd notifications, the rule monitor
  (rules are judged here, when the models changed, never inside a scrape), memory and TTL bounds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from types import FrameType

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from trt_agent import __version__
from trt_agent.config import Config, ConfigError, Override, load_config, split_listen
from trt_agent.config.overrides import unknown_variables
from trt_agent.logs import configure_logging, get_logger
from trt_agent.memory import release_free_memory
from trt_agent.model.store import EngineStore
from trt_agent.pipeline import (
    Pipeline,
    Shedder,
    ShedderCollector,
    announce_changes,
    deliver,
    fold_models,
    learn_names,
)
from trt_agent.redact import Redactor, load_redactor
from trt_agent.redact.metrics import RedactorCollector
from trt_agent.rules import Baseline, RuleSet, load_baseline, load_rules
from trt_agent.rules.monitor import RuleMonitor
from trt_agent.security import (
    event_dir_problem,
    foreign_state_file_problem,
    prepare_state_dir,
    startup_warnings,
)
from trt_agent.sinks.event_stream import EventStream, EventStreamCollector
from trt_agent.sinks.prometheus import EngineCollector
from trt_agent.snapshot import SNAPSHOT_FILE, Snapshot, SnapshotCollector, Snapshotter
from trt_agent.snapshot import load as load_snapshot
from trt_agent.sources.checkpoint import Checkpoint, CheckpointCommitter, CheckpointStore, FileKey
from trt_agent.sources.profiler import NvmlUtilization, ProfilerError, ProfilerHost
from trt_agent.sources.profiler.metrics import ProfilerCollector
from trt_agent.sources.tail import Tailer
from trt_agent.sources.tail.metrics import TailerCollector
from trt_agent.statedir import make_dirs, probe_writable
from trt_agent.systemd import notify, watchdog_interval
from trt_agent.web.config import WebConfig, WebConfigError, load_web_config
from trt_agent.web.server import MetricsServer, ServerCollector

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_CRASHED = 1
RULES_MIN_INTERVAL = 0.25  # seconds between two judgements of the rules while events flow
# Keys a SIGHUP cannot change in a running agent (they own sockets, files or threads).
_RESTART_KEYS = (
    ("state_dir", "agent.state_dir"),
    ("metrics", "[metrics]"),
    ("events", "[events]"),
    ("redaction", "[redaction]"),
    ("profiler", "[profiler]"),
)


class StartupError(RuntimeError):
    """Something the agent needs at start is unusable (phrased for the operator); ``key``: the
    config key (``metrics.listen``) whose value it is, so that the message names the flag or
    variable that set it rather than the file."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


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

    def __init__(
        self,
        config: Config,
        config_path: str,
        redactor: Redactor | None = None,
        overrides: Sequence[Override] = (),
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.overrides = overrides  # flags and TRT_AGENT_* variables: a reload applies them again
        self.redactor = redactor
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
        metrics = config.metrics
        self.store = EngineStore(
            latency_buckets=metrics.latency_buckets,
            max_tracked_layers=max(5000, 4 * metrics.max_layer_series),
            series_ttl=metrics.series_ttl,
            max_engines=metrics.max_engines,
            max_names=metrics.max_layer_names,
        )
        restored = self._restore_models()
        self.snapshots = Snapshotter(
            config.state_dir,
            self.store,
            names=redactor.learned_names if redactor is not None else list,
            restored=restored,
            known=lambda key: key in self.checkpoints.checkpoints,
            min_interval=config.tail.checkpoint_interval,
        )
        self.checkpoints = CheckpointCommitter(
            store, self._load_checkpoints(store), forgettable=self.snapshots.forgettable
        )
        self.stream = EventStream(
            config.events,
            on_written=self.checkpoints.acknowledge,
            checkpoint_interval=config.tail.checkpoint_interval,
            redactor=redactor,
        )
        self.rules = RuleMonitor(self.store)
        self.rules.set_rules(*load_rule_config(config))
        self.shedder = Shedder(
            self.store, keep=metrics.max_layer_series, names=redactor, changed=self.rules.invalidate
        )
        self.resident_bytes = resident_bytes  # what the memory check reads (a test's fake)
        self._models_changed = False
        self.pipeline = Pipeline(
            [
                self.shedder,
                learn_names(redactor),
                fold_models(self.store),
                self.snapshots,
                deliver(self.stream),
                announce_changes(self._on_models_changed),
            ],
            self.stream,
        )
        self.tailer = Tailer(
            config,
            self.pipeline,
            self.checkpoints,
            on_ready=self._poke,
            on_turn=self.snapshots.tick,
            folded=self.snapshots.position,
            count_replays=restored is not None,
        )
        self._ready_revision: int | None = None  # the store's revision when the tailer was ready
        self._next_judge = 0.0  # time.monotonic() before which the rules are not judged again
        self.profiler: ProfilerHost | None = None
        self._server: MetricsServer | None = None
        self.registry = CollectorRegistry()
        for collector in (
            EngineCollector(self.store, metrics, redactor, self.rules.results),
            EventStreamCollector(self.stream),
            ShedderCollector(self.shedder),
            TailerCollector(self.tailer),
            SnapshotCollector(self.snapshots),
            _AgentCollector(self),
            ProcessCollector(registry=None),
        ):
            self.registry.register(collector)
        if redactor is not None:
            self.registry.register(RedactorCollector(redactor))
        if config.profiler is not None:
            self.registry.register(ProfilerCollector(lambda: self.profiler))

    # -- start-up ----------------------------------------------------------------------------------

    def _prepare_state_dir(self, store: CheckpointStore) -> None:
        """Create the state dir (0700) and the event file's directory if missing; tighten a state
        dir of the agent's that others can write (one warning), refuse one of another user, an
        event directory of another user or that other users can write without the sticky bit,
        and state files that are links or another user's (SECURITY.md, "What the agent checks")."""
        state_dir = self.config.state_dir
        try:
            make_dirs(state_dir, 0o700)
        except OSError as exc:
            raise StartupError(
                f"agent.state_dir {state_dir!r} is not writable ({exc.strerror}); checkpoints are kept there"
            ) from None
        problem, change = prepare_state_dir(state_dir, "agent.state_dir")
        if change is not None:
            self.log.warning(change)
        for path, what in (
            (store.path, "checkpoint file"),
            (os.path.join(state_dir, SNAPSHOT_FILE), "model snapshot"),
        ):
            problem = problem or foreign_state_file_problem(path, what)
        events = self.config.events.path
        if problem is None and events != "-":
            events_dir = os.path.dirname(os.path.abspath(events))
            with contextlib.suppress(OSError):  # one that cannot be made: the event stream says why
                make_dirs(events_dir, 0o755)
            if os.path.isdir(events_dir):
                problem = event_dir_problem(events_dir, "the directory of events.path")
        if problem is not None:
            raise StartupError(problem)
        try:
            probe_writable(state_dir)
        except OSError as exc:
            raise StartupError(
                f"agent.state_dir {state_dir!r} is not writable ({exc.strerror}); checkpoints are kept there"
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

    def _restore_models(self) -> Snapshot | None:
        """The engine models (and learned names) of the last run, from its snapshot; without one
        that this agent can read, None: each followed file is replayed up to its checkpoint."""
        restored, why = load_snapshot(self.config.state_dir, self.store.latency_buckets)
        if restored is None:
            if why != "missing":  # (a first start has none: nothing to say)
                self.log.warning(
                    "model snapshot not used; the logs are replayed to rebuild the models", reason=why
                )
            return None
        self.store.restore(restored.models, restored.event_counts, time.monotonic())
        if self.redactor is not None:
            self.redactor.learn(restored.names)
        self.log.info("engine models restored from the snapshot", engines=len(restored.models))
        return restored

    def _serve_metrics(self) -> None:
        settings = self.config.metrics
        host, port = parse_listen(settings.listen)
        try:
            web = load_web_config(settings.web_config_file) if settings.web_config_file else WebConfig()
        except WebConfigError as exc:
            raise StartupError(f"metrics.web_config_file: {exc}", "metrics.web_config_file") from None
        try:
            self._server = MetricsServer((host, port), self.registry, web, self.ready)
        except OSError as exc:
            raise StartupError(
                f"metrics.listen {settings.listen}: {exc.strerror}", "metrics.listen"
            ) from None
        self.registry.register(ServerCollector(self._server))
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        bound = self._server.server_address
        self.log.info(
            "serving metrics",
            address=str(bound[0]) + f":{bound[1]}",
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
        next_ping = next_bounds = time.monotonic()
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
            self._sleep(min(ping or 1.0, 1.0, self._judge_due()))
            if time.monotonic() >= next_bounds:
                active = {f.source.engine for f in list(self.tailer.files.values())}
                if self.config.profiler is not None:
                    active.add(self.config.profiler.engine_id)
                self.rules.invalidate(self.store.expire(active, time.monotonic()))
                self._check_memory()
                next_bounds = time.monotonic() + 1.0
            self._judge_rules()
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
                settings, self.pipeline.observe, utilization=NvmlUtilization(settings.device)
            )
        except ProfilerError as exc:
            self.log.error("profiler not started; logs and metrics go on", error=str(exc))
            return
        self.profiler.start()

    def _check_memory(self) -> None:
        """Over agent.memory_limit_bytes: shed verbose events, keep no new name in the models,
        bound the event queue to 1/8 of the limit, and while RSS still grows forget the least
        recently updated models' per-name detail, then engines (``Shedder``); back under 90 %:
        stop."""
        limit = self.config.memory_limit_bytes
        if not limit:
            return
        rss = self.resident_bytes()
        shedding = self.shedder.shedding
        step = self.shedder.check(rss, limit)
        if self.shedder.shedding != shedding:
            self.stream.pressure_bytes = max(1 << 20, limit // 8) if self.shedder.shedding else None
            if self.shedder.shedding:
                self.log.warning(
                    "memory over agent.memory_limit_bytes: shedding verbose events and new layer names",
                    rss=rss,
                    limit=limit,
                )
            else:
                self.log.info(
                    "memory back under the limit: verbose events are read again", rss=rss, limit=limit
                )
        if step is not None:
            action, _, what = step.partition(" ")
            if action == "names":
                self.log.warning(
                    "memory over agent.memory_limit_bytes: learned names forgotten (free text may "
                    "show them in clear until a field names them again)",
                    count=int(what),
                    rss=rss,
                    limit=limit,
                )
            else:
                if action == "detail":  # its figures changed without an event (the shedder
                    self._on_models_changed()  # told the rule monitor): judge them again now
                self.log.warning(
                    "memory over agent.memory_limit_bytes: engine model "
                    + ("per-name detail forgotten" if action == "detail" else "dropped"),
                    engine=what,
                    rss=rss,
                    limit=limit,
                )
            release_free_memory()

    def _on_models_changed(self) -> None:
        """The pipeline folded a batch (tailer or profiler thread): wake the main loop to judge
        the rules. One byte per wait, however many batches arrive meanwhile; none before the
        start-up files are read (the tailer's on_ready wakes it then)."""
        if not self._models_changed:
            self._models_changed = True
            if self._ready_revision is not None:
                self._poke()

    def _judge_due(self) -> float:
        """Seconds until the rules are due to be judged again (inf: nothing to judge)."""
        if self._ready_revision is None or not (self._models_changed or self.rules.stale):
            return math.inf
        return max(0.0, self._next_judge - time.monotonic())

    def _judge_rules(self) -> None:
        """Judge the rules when the models changed, once the files present at start-up were read
        (not every half-read model on the way: a rule would be logged failing, then passing)."""
        if self._ready_revision is None:
            if not self.tailer.ready:
                return
            self._ready_revision = self.store.revision
        if self._judge_due() == 0.0:
            # at most every RULES_MIN_INTERVAL: a burst of batches is judged once, not per batch
            self._next_judge = time.monotonic() + RULES_MIN_INTERVAL
            self._models_changed = False
            self._refresh_rules()

    def _refresh_rules(self) -> None:
        try:
            self.rules.refresh()
        except Exception:  # a bug in a check: keep the last results, keep the agent running
            self.log.exception("rule evaluation failed; keeping the previous results; please report it")

    def ready(self) -> bool:
        """Every file present at start-up read once, and the rules judged on what it held
        (``/-/ready``, ``trt_agent_ready``)."""
        ready_at = self._ready_revision
        return ready_at is not None and self.rules.evaluated_revision >= ready_at

    def _healthy(self, now: float) -> bool:
        """The tailer works (every chunk read beats its heartbeat), or waits for an event writer
        that works (events.when_full = "block" while it catches up on a backlog)."""
        stall_limit = 3 * self.config.tail.poll_interval + 30.0
        # (dead threads end the main loop before a ping is due)
        if now - self.tailer.heartbeat < stall_limit:
            return True
        return self.stream.waiting and now - self.stream.last_progress < stall_limit

    def shutdown(self) -> int:
        notify("STOPPING=1")
        self.log.info("stopping: draining files and the event queue")
        deadline = time.monotonic() + self.config.tail.shutdown_timeout
        if self.profiler is not None:
            self.profiler.stop(timeout=max(0.0, deadline - time.monotonic()))
        drained = self.tailer.stop(timeout=max(0.0, deadline - time.monotonic()))
        written = self.stream.close(timeout=max(0.0, deadline - time.monotonic()))
        if drained:
            self.snapshots.save()  # the models as of the last checkpoints: the next start reads nothing again
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
        """Re-read the config file (the flags and variables of the start still over it); a bad one
        is reported and the running config kept."""
        notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new = load_config(self.config_path, self.overrides)
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
        configure_logging(new.log_level, new.log_format, self.redactor)
        self.rules.set_rules(*rules)
        self._refresh_rules()  # now: readiness and trt_rule_ok never see the rules unjudged
        self.config = new
        self.tailer.reload(new)
        self.reloads["success"] += 1
        self.last_reload_ok = True
        self.log.info("config reloaded", logs=[s.path for s in new.logs])
        notify("READY=1")


# The distributions TensorRT's Python package comes in besides ``tensorrt`` itself (names
# normalised as PEP 503 does): ``tensorrt-cu12``, ``tensorrt-cu12-bindings``, ``tensorrt-bindings``.
_TENSORRT_DISTS = re.compile(r"tensorrt-cu\d+(-bindings)?|tensorrt-bindings")


def tensorrt_version() -> str:
    """The version of the installed TensorRT Python package, read from its distribution's metadata
    (importing ``tensorrt`` would load the CUDA libraries): ``tensorrt``, else a ``tensorrt-cu12``
    or ``tensorrt-cu12-bindings`` style one; "" when none is installed."""
    try:
        return importlib.metadata.version("tensorrt") or ""
    except importlib.metadata.PackageNotFoundError:
        pass
    found = []
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", (dist.metadata["Name"] or "").lower())
        if _TENSORRT_DISTS.fullmatch(name):
            found.append((name, dist.version or ""))
    return min(found)[1] if found else ""


class _AgentCollector(Collector):
    """The agent's own state: versions, ready, configuration reloads."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        # Like node_exporter_build_info; Prometheus's own ``up`` says whether the agent runs.
        self.versions = {
            "version": __version__,
            "python": platform.python_version(),
            "tensorrt": tensorrt_version(),
        }

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        reloads = CounterMetricFamily(
            "trt_agent_config_reloads", "Configuration reloads (SIGHUP), by result.", labels=["result"]
        )
        for result in ("success", "failure"):
            reloads.add_metric([result], agent.reloads[result])
        yield from [
            reloads,
            GaugeMetricFamily("trt_agent_config_last_reload_successful", "1 if the last configuration reload succeeded.", value=1 if agent.last_reload_ok else 0),
            GaugeMetricFamily("trt_agent_ready", "1 once every file present at start-up has been read once.", value=1 if agent.ready() else 0),
        ]  # fmt: skip
        build = InfoMetricFamily(
            "trt_agent_build",
            "Versions of the agent, the Python running it and the installed TensorRT Python package (empty when none).",
        )
        build.add_metric([], self.versions)
        yield build


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


def run(config_path: str, overrides: Sequence[Override] = ()) -> int:
    """Entry point of ``trt-agent run -c CONFIG``; ``overrides``: the keys its flags and the
    ``TRT_AGENT_*`` variables set over the file (and over it again on each SIGHUP)."""
    try:
        config = load_config(config_path, overrides)
    except ConfigError as exc:
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        redactor = load_redactor(config)
    except ConfigError as exc:  # names the key, not the file: say which file set it
        print(f"trt-agent: {config_path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.log_level, config.log_format, redactor)
    for warning in unknown_variables(os.environ, config):
        get_logger("trt_agent.agent").warning(warning)
    try:
        agent = Agent(config, config_path, redactor, overrides)
        return agent.run()
    except StartupError as exc:
        setters = [o.source for o in overrides if f"{o.section}.{o.key}" == exc.key]
        print(f"trt-agent: {setters[-1] if setters else config_path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:  # the rules or baseline file, which it names
        print(f"trt-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
