"""The systemd watchdog while ``trt-agent run`` reads a large copytruncated log back from its copy.

Run from the repository root (opt-in; a few minutes at the defaults)::

    .venv/bin/python bench/recovery_watchdog.py [--size-mb 500] [--when stopped --when running]
    .venv/bin/python bench/recovery_watchdog.py --size-mb 50 --when stopped                  # smoke test

The agent runs as systemd/trt-agent.service would start it: ``run -c CONFIG`` with
systemd/config.toml (its paths moved to a temporary directory, the event file not rotated),
``NOTIFY_SOCKET`` on a socket this script owns and ``WATCHDOG_USEC`` from the unit's own
``WatchdogSec=`` (a ping due every ``WatchdogSec/2``). It follows ``app.log``; then ``app.log``
grows by ``--size-mb`` of real TensorRT text (the corpus cycle of ``restart.py``, or ``--source``
logs), ending with a marker warning, and logrotate's copytruncate copies it to ``app.log.1`` and
empties it; one more warning is written to the emptied ``app.log``. The agent has to read the
rest of the old content back from ``app.log.1``:

* ``stopped``: the growth and the copytruncate happen while the agent is down (it was stopped with
  SIGTERM after reading the first lines); the recovery happens at its next start. The time from
  that start is measured; an agent without a recovery (the first start) gives the start-up time,
  from which pings are expected.
* ``running``: the agent runs throughout (READY=1 sent, the watchdog armed); the 500 MB are
  written at disk speed, faster than it reads, so most of them are still unread when the file is
  copytruncated. Times are measured from the truncation.

The recovery ends when the marker line of the copy has its event in the event file (``stopped``:
or ``trt_agent_recovered_bytes_total`` has counted the whole copy, should that event be dropped). Printed per mode: the recovery's duration, when READY=1 came,
the WATCHDOG=1 pings and the largest gap between them (counted from the start-up or from the
last ping before the truncation, up to the end of the recovery), the largest gap after READY=1
(what systemd's watchdog judges: more than ``WatchdogSec`` gets the service killed), and the
EXTEND_TIMEOUT_USEC messages (which hold off ``TimeoutStartSec=`` before READY=1), and when the
line written after the truncation had its event (before the copy's lines: line order not kept;
none within 30 s of the end of the recovery: not delivered).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from restart import MB, Agent, FileWatch, build_log, default_command, kill_children, scrape

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "trt-agent.service"
SYSTEMD_CONFIG = REPO / "systemd" / "config.toml"
FIRST = "[12/06/2026-10:00:00] [TRT] [W] recovery-bench first-run marker\n"
COPY_END = "[12/06/2026-10:00:00] [TRT] [W] recovery-bench copy-end marker\n"
AFTER = "[12/06/2026-10:00:00] [TRT] [W] recovery-bench after-truncate marker\n"
AFTER_WAIT = 30.0  # seconds the line written after the truncation may take once the copy is read


def watchdog_sec(unit: Path = UNIT) -> float:
    """``WatchdogSec=`` of the unit, in seconds (the last one given)."""
    values = re.findall(r"^\s*WatchdogSec\s*=\s*(\S+)", unit.read_text(), re.MULTILINE)
    if not values:
        raise SystemExit(f"{unit}: no WatchdogSec=")
    units = {"ms": 0.001, "": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit_name in re.findall(r"(\d+(?:\.\d+)?)([a-z]*)", values[-1]):
        total += float(number) * units[unit_name]
    return total


def unit_config(work: Path, log: Path) -> Path:
    """systemd/config.toml with its paths under ``work``, a free port, an event file not rotated."""
    text = (
        SYSTEMD_CONFIG.read_text()
        .replace('"/var/lib/trt-agent"', json.dumps(str(work / "state")))
        .replace('"/var/log/trt/*.log"', json.dumps(str(log.parent / "*.log")))
        .replace('"/var/log/trt-agent/events.jsonl"', json.dumps(str(work / "events.jsonl")))
        .replace('"127.0.0.1:9717"', '"127.0.0.1:0"')
        .replace("max_bytes = 104857600", "max_bytes = 0")
    )
    for needed in (str(work / "state"), str(log.parent), "127.0.0.1:0", "max_bytes = 0"):
        if needed not in text:
            raise SystemExit(f"{SYSTEMD_CONFIG} changed: could not set {needed}")
    config = work / "config.toml"
    config.write_text(text)
    return config


class Notifications:
    """Every datagram on a notify socket, with the ``time.monotonic()`` it arrived at."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.received: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(address)
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode("utf-8", "replace")))

    def times(self, line: str, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return [t for t, m in list(self.received) if since <= t <= until and line in m.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def start(command: str, config: Path, work: Path, heard: Notifications, watchdog: float) -> Agent:
    env = os.environ | {"NOTIFY_SOCKET": heard.address, "WATCHDOG_USEC": str(int(watchdog * 1e6))}
    env.pop("WATCHDOG_PID", None)  # unset, the agent pings (set, it must be the agent's own pid)
    return Agent(command, config, work / "agent.stderr", work, env=env)


def wait(what: str, condition: Callable[[], bool], agent: Agent, timeout: float, step: float = 0.05) -> float:
    """Poll ``condition`` until true; returns ``time.monotonic()`` then."""
    deadline = time.monotonic() + timeout
    while not condition():
        agent.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)
    return time.monotonic()


def marker(line: str) -> bytes:
    """What a warning line's event carries of it (its message)."""
    return line.split("] ")[-1].strip().encode()


@dataclass
class Result:
    mode: str
    recovered: int
    recovery_s: float
    ready_at: float | None
    pings: list[float]
    gap: float
    gap_at: float
    armed_gap: float
    extends: list[float]
    dropped: float
    after_s: float | None  # when the line written to app.log after the truncation had its event


def grow_and_copytruncate(log: Path, size_mb: float, sources: list[Path] | None) -> int:
    """Append ``size_mb`` of log text and the copy-end marker, copy to ``.1``, empty, write one
    line. Returns the copy's size."""
    bulk = log.parent.parent / "bulk.log"
    build_log(bulk, size_mb, sources)
    with open(log, "ab") as out, open(bulk, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 24)
        out.write(COPY_END.encode())
    bulk.unlink()
    copy = log.with_name(log.name + ".1")
    shutil.copyfile(log, copy)
    with open(log, "r+b") as fh:
        fh.truncate(0)
    with open(log, "ab") as fh:
        fh.write(AFTER.encode())
    return copy.stat().st_size


def largest_gap(marks: list[float], origin: float) -> tuple[float, float]:
    if len(marks) < 2:
        return 0.0, 0.0
    gap, at = max((b - a, a - origin) for a, b in itertools.pairwise(marks))
    return gap, at


def one_mode(mode: str, args: argparse.Namespace, base: Path, watchdog: float) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=base))
    logs = work / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_bytes(FIRST.encode())
    config = unit_config(work, log)
    (work / "agent.stderr").touch()
    events = work / "events.jsonl"
    heard = Notifications(str(work / "notify.sock"))
    agents: list[Agent] = []
    try:
        first_seen = FileWatch(events, marker(FIRST))
        agent = start(args.trt_agent, config, work, heard, watchdog)
        agents.append(agent)
        up = wait("READY=1", lambda: bool(heard.times("READY=1", agent.started)), agent, 60)
        start_up = up - agent.started  # an agent with nothing to recover
        wait("the first line's event", first_seen.found, agent, 60)
        copy_end, after = FileWatch(events, marker(COPY_END)), FileWatch(events, marker(AFTER))
        if mode == "stopped":
            agent.stop(signal.SIGTERM, timeout=60)
            copy_size = grow_and_copytruncate(log, args.size_mb, args.source)
            agent = start(args.trt_agent, config, work, heard, watchdog)
            agents.append(agent)
            origin = agent.started
            marks = [origin + start_up]  # from when an agent could be up
        else:
            copy_size = grow_and_copytruncate(log, args.size_mb, args.source)
            origin = time.monotonic()  # the truncation
            marks = heard.times("WATCHDOG=1", 0, origin)[-1:] or [origin]  # the last ping before it
        to_recover = copy_size - len(FIRST)  # stopped: the first run's checkpoint is after its line
        seen: dict[str, float] = {}

        def look() -> bool:
            now = time.monotonic()
            if "after" not in seen and after.found():
                seen["after"] = now
            if "copy" not in seen and copy_end.found():
                seen["copy"] = now
            elif "copy" not in seen and mode == "stopped" and now >= seen.get("scraped", 0) + 0.5:
                # should the copy's last event be dropped from a full queue
                seen["scraped"] = now
                counted = scrape(agent.look_for_address()).get("trt_agent_recovered_bytes_total", 0)
                if counted >= to_recover:
                    seen["copy"] = now
            return "copy" in seen

        wait("the end of the recovery", look, agent, args.timeout, 0.1)
        done = seen["copy"]
        with contextlib.suppress(RuntimeError):  # reported as not delivered
            wait("the line after the truncation", lambda: look() and "after" in seen, agent, AFTER_WAIT, 0.1)
        metrics = scrape(agent.look_for_address())
    finally:
        for a in agents:
            a.stop(signal.SIGTERM, timeout=60)
        heard.close()
        shutil.rmtree(work, ignore_errors=True)
    pings = heard.times("WATCHDOG=1", origin, done)
    gap, gap_at = largest_gap([*marks, *pings, done], origin)
    if mode == "running":
        ready_at: float | None = None
        armed_gap = gap  # READY=1 was sent long before
        recovered = int(metrics.get("trt_agent_recovered_bytes_total", 0))
    else:
        readies = heard.times("READY=1", origin)
        ready_at = readies[0] if readies else None
        armed = [ready_at, *(t for t in pings if t >= ready_at)] if ready_at is not None else []
        armed_gap = (
            largest_gap([*armed, done], origin)[0] if ready_at is not None and ready_at < done else 0.0
        )
        recovered = to_recover
    return Result(
        mode,
        recovered,
        done - origin,
        None if ready_at is None else ready_at - origin,
        [t - origin for t in pings],
        gap,
        gap_at,
        armed_gap,
        [t - origin for t in heard.times("EXTEND_TIMEOUT_USEC=10000000", origin, done)],
        metrics.get("trt_agent_events_dropped_total", 0.0),
        seen["after"] - origin if "after" in seen else None,
    )


def report(r: Result, watchdog: float) -> None:
    origin = "the restart" if r.mode == "stopped" else "the truncation"
    print(
        f"{r.mode}: recovered {r.recovered / MB:.1f} MB from the copy in {r.recovery_s:.1f} s after {origin}"
    )
    if r.mode == "stopped":
        ready = "never" if r.ready_at is None else f"{r.ready_at:.2f} s"
        print(
            f"  READY=1 at {ready}; EXTEND_TIMEOUT_USEC at {', '.join(f'{t:.1f}' for t in r.extends) or '-'} s"
        )
    pings = ", ".join(f"{t:.1f}" for t in r.pings[:12]) + (" ..." if len(r.pings) > 12 else "")
    print(f"  WATCHDOG=1 during the recovery: {len(r.pings)} ({pings or '-'} s)")
    verdict = "over" if r.gap >= watchdog else "under"
    print(
        f"  largest gap between pings: {r.gap:.2f} s (from {r.gap_at:.2f} s), {verdict} WatchdogSec={watchdog:g} s"
    )
    armed = "over: systemd would kill the agent" if r.armed_gap >= watchdog else "under"
    print(f"  largest gap once READY=1 was sent (the armed watchdog): {r.armed_gap:.2f} s, {armed}")
    if r.after_s is None:
        print(
            f"  the line written after the truncation: no event within {AFTER_WAIT:g} s of the recovery's end"
        )
    else:
        order = "kept" if r.after_s >= r.recovery_s else "not kept: it came first"
        print(f"  the line written after the truncation: its event at {r.after_s:.2f} s (line order {order})")
    if r.dropped:
        print(f"  events dropped (queue full): {r.dropped:,.0f}; the end of the recovery may be seen late")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=500, help="what app.log grows by (default 500)")
    parser.add_argument(
        "--when", action="append", choices=("stopped", "running"), help="default: both, stopped first"
    )
    parser.add_argument("--source", action="append", type=Path, help="a log to cycle instead of the corpus")
    parser.add_argument("--trt-agent", default=default_command(), help="the agent command (see restart.py)")
    parser.add_argument("--watchdog-sec", type=float, help="instead of the unit's WatchdogSec=")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for the recovery")
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the temporary files")
    args = parser.parse_args(argv)
    watchdog = args.watchdog_sec or watchdog_sec()
    modes: list[str] = args.when or ["stopped", "running"]
    atexit.register(kill_children)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    base = Path(tempfile.mkdtemp(prefix="trt-agent-recovery-", dir=args.tmp))
    what = ", ".join(p.name for p in args.source) if args.source else "the corpus cycle"
    print(
        f"{args.trt_agent} run -c systemd/config.toml (paths moved); WatchdogSec={watchdog:g} s "
        f"({'--watchdog-sec' if args.watchdog_sec else UNIT.name}), a ping due every {watchdog / 2:g} s"
    )
    print(f"app.log grows by {args.size_mb:g} MB of {what}, then copytruncate\n", flush=True)
    try:
        for mode in modes:
            report(one_mode(mode, args, base, watchdog), watchdog)
    finally:
        kill_children()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
