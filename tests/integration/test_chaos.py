"""An operator's chaos test: every hazard at once, for a minute.

A writer appends to four files matched by one glob at more than 20,000 lines/s in all (bursts of
a few lines per write call, some lines in two parts); each file is rotated every 2-6 s, by rename
or copytruncate; the agent is SIGKILLed at random moments (during start-up too) and started
again, and twice while it is down one file is rotated twice, so that a whole generation is
written, rotated and renamed again without the agent ever seeing it. The glob does not match the
rotated names (``app-1.log.1``): the agent finds the generations itself.

At the end every line written must have arrived (none lost), and each kill may have delivered
again only what was read after the last checkpoint. ``CHAOS_SEED`` picks the run (printed; the
same seed gives the same schedule of kills and rotations, not the same interleaving with the
agent's threads).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

from harness import Agent, EventTail, RotatingWriters, new_agent, report

SEED = int(os.environ.get("CHAOS_SEED", "20261206"))
FILES = 4
RATE = 24_000  # lines/s, all files together: the writer's target
MIN_RATE = 20_000  # what it must achieve, measured over the writing period
KILLS = 12
CHECKPOINT_INTERVAL = 0.2  # s (the harness's default, stated here: the bound depends on it)
SLACK = 1_000  # lines: a batch in flight when the checkpoint was taken


def test_chaos(tmp_path: Path, agents: list[Agent]) -> None:
    print(f"\nCHAOS_SEED={SEED}")
    rng = random.Random(SEED)
    logs = tmp_path / "logs"
    logs.mkdir()
    paths = [logs / f"app-{i}.log" for i in range(1, FILES + 1)]
    for path in paths:
        path.touch()
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(logs / "app-*.log")}],  # no engine key: each file is its own engine
        checkpoint_interval=CHECKPOINT_INTERVAL,
        events={"max_files": 100},  # EventTail needs every rotated event file kept
    )
    tail = EventTail(agent)
    polling = threading.Event()

    def poll() -> None:  # samples for the windows before each kill
        while not polling.wait(0.05):
            tail.poll()

    poller = threading.Thread(target=poll, daemon=True)
    # Down periods in which one file is rotated twice: at least two, a rename pair and a
    # copytruncate pair, then one of either.
    doubles = dict(
        zip(
            sorted(rng.sample(range(KILLS), 3)),
            [("rename",) * 2, ("copytruncate",) * 2, (rng.choice(("rename", "copytruncate")),) * 2],
            strict=True,
        )
    )
    # The writer's own generator: the schedule of kills and double rotations depends on the
    # seed alone, not on how the writer's thread interleaves with this one.
    writers = RotatingWriters(paths, rate=RATE, rng=random.Random(SEED + 1))
    agent.start()
    writers.start()
    poller.start()
    # Per kill: the lines it may deliver again (delivered in the last 2 checkpoint intervals
    # before it) and the extra deliveries seen up to it.
    windows: list[int] = []
    extra_at_kill: list[int] = []
    total_at_kill: list[int] = []
    double_rotations: list[str] = []
    in_start_up = 0  # kills before the agent logged "started"
    ages: list[float | None] = []  # seconds since the checkpoint store was last saved, at each kill
    try:
        for kill in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.5))  # a random moment of this life, its start-up included
            assert agent.proc is not None
            assert agent.proc.poll() is None, f"the agent exited on its own ({agent.proc.returncode})"
            killed_at = time.monotonic()
            agent.kill()
            killed_wall = time.time()
            store = agent.state_dir / "checkpoints.json"
            ages.append(round(killed_wall - store.stat().st_mtime, 2) if store.exists() else None)
            in_start_up += not any(e.get("msg") == "started" for e in agent.agent_logs())
            os.replace(agent.stderr_path, tmp_path / f"agent.stderr.{kill}")  # each life's log, kept
            tail.poll()  # everything it wrote: it is dead
            # A checkpoint lags the event file by at most checkpoint_interval plus its own fsyncs
            # (events file, then the store): lines written in the last two intervals before the
            # kill are the most it may deliver again. While the agent keeps pace with the writer
            # that is 2 x 0.2 s x the writing rate; while it catches up after a restart it reads
            # faster than the writer writes, and the window holds what it read.
            windows.append(tail.total - tail.total_before(killed_at - 2 * CHECKPOINT_INTERVAL))
            extra_at_kill.append(tail.extra)
            total_at_kill.append(tail.total)
            if kill in doubles:
                index = rng.randrange(FILES)
                writers.rotate_twice(index, doubles[kill])
                double_rotations.append(f"{paths[index].name}:{doubles[kill][0]}x2")
            time.sleep(rng.uniform(0.0, 0.6))  # down a while, the writer going on
            agent.start(wait=False)
        time.sleep(rng.uniform(1.0, 3.0))
    finally:
        writers.stop()
    written = writers.written()
    rate = writers.lines_per_second
    agent.wait_log("started", timeout=60)
    got = tail.wait(written, timeout=60)
    assert agent.stop() == 0
    polling.set()
    poller.join(5)
    tail.poll()
    got = tail.counts  # the poller has stopped
    # Extra deliveries of each life after a kill, and what it may deliver again: the window
    # before the kill, plus what the kill before allowed and its life did not deliver again, when
    # that life was too short to have got there (everything it delivered falls in the window
    # before its own kill: killed during its start-up, or just after).
    extras = [*extra_at_kill, tail.extra]
    totals = [*total_at_kill, tail.total]
    per_kill = [extras[k + 1] - extras[k] for k in range(KILLS)]
    bounds: list[int] = []
    carry = 0
    for kill in range(KILLS):
        bounds.append(windows[kill] + SLACK + carry)
        short = kill + 1 < KILLS and totals[kill + 1] - totals[kill] <= windows[kill + 1]
        carry = max(0, bounds[-1] - per_kill[kill]) if short else 0
    lost, _ = report(
        "chaos",
        written,
        got,
        seed=SEED,
        files=FILES,
        lines_per_s=round(rate),
        kills=KILLS,
        kills_in_start_up=in_start_up,
        rotations=dict(writers.rotations),
        double_rotations_while_down=double_rotations,
        duplicates_before_first_kill=extras[0],
        duplicates_per_kill=per_kill,
        windows_before_kills=windows,
        checkpoint_age_at_kills=ages,
        bounds_per_kill=bounds,
        nominal_bound=round(2 * CHECKPOINT_INTERVAL * rate + SLACK),
    )
    assert rate >= MIN_RATE, f"the writer achieved {rate:.0f} lines/s, not {MIN_RATE}"
    assert lost == 0, f"{lost} lines lost"
    assert extras[0] == 0, f"{extras[0]} lines delivered twice before any kill"
    over = [(k, d, b) for k, (d, b) in enumerate(zip(per_kill, bounds, strict=True)) if d > b]
    assert not over, f"kills that delivered more again than was read after the last checkpoint: {over}"
