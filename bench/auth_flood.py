"""Basic auth under a flood of wrong passwords: what it costs the agent, and what timing tells.

Run from the repository root (about a minute at the defaults)::

    .venv/bin/python bench/auth_flood.py [--seconds 10] [--connections 60] [--cost 10]
    .venv/bin/python bench/auth_flood.py --trt-agent "env PYTHONPATH=/tmp/old .venv/bin/python -m trt_agent"

1. Ingestion and scrapes: ``trt-agent run`` with ``basic_auth_users`` (one user, a bcrypt hash
   of ``--cost``) follows a log that a writer appends TensorRT warning lines to as fast as
   ``--write-rate`` (each line one event; more than the agent reads, so the agent is the
   bottleneck). A legitimate scraper (right password, a new connection every 0.5 s) scrapes
   throughout. Phase ``quiet``: ``--seconds`` of that; phase ``flood``: the same with
   ``--connections`` connections (another process, one address) sending wrong passwords as fast
   as they are answered. Per phase: lines (= events) ingested per second, from
   ``trt_agent_lines_total``; the scraper's p50/p99; in the flood, the flooders' answers.
2. Timing of user names: for cost 5 and 12, an agent with one user of that cost; 8 wrong
   passwords for the known user and 8 for unknown users (alternating, each kind from an address
   of its own, 127.0.0.3 and .4), median seconds per request.

``--trt-agent``: the agent command measured (``run -c CONFIG`` is appended); another tree can be
had with ``git archive REV trt_agent | tar -x -C /tmp/old``.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bcrypt

LINE = b"[12/06/2026-10:00:00] [TRT] [W] Missing scale and zero-point for tensor /encoder/layer_%d/MatMul, expect fall back to non-int8 implementation\n"
GOOD = ("prometheus", "s3cret")

# The flooders: their own process (a client elsewhere), ``connections`` threads on kept-alive
# connections from 127.0.0.2; prints a JSON count of the answers when its stdin closes.
_FLOOD = r"""
import base64, collections, http.client, json, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
stop = threading.Event()
counts = collections.Counter()
def flood(k):
    conn, i = None, 0
    while not stop.is_set():
        i += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.2", 0))
            auth = "Basic " + base64.b64encode(f"prometheus:guess-{k}-{i}".encode()).decode()
            conn.request("GET", "/metrics", headers={"Authorization": auth})
            response = conn.getresponse()
            response.read()
            counts[response.status] += 1
        except Exception:
            counts["error"] += 1
            conn = None
threads = [threading.Thread(target=flood, args=(k,), daemon=True) for k in range(n)]
for t in threads:
    t.start()
print("ready", flush=True)
sys.stdin.read()
stop.set()
print(json.dumps(dict(counts)), flush=True)
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(port: int, authorization: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", "/metrics", headers={"Authorization": authorization})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def lines_total(port: int) -> float:
    status, body = get(port, basic(*GOOD))
    assert status == 200, status
    return sum(
        float(line.rpartition(" ")[2])
        for line in body.decode().splitlines()
        if line.startswith("trt_agent_lines_total{")
    )


class Agent:
    def __init__(self, command: str, folder: Path, cost: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        hashed = bcrypt.hashpw(GOOD[1].encode(), bcrypt.gensalt(rounds=cost)).decode()
        (folder / "web.yml").write_text(f"basic_auth_users:\n  {GOOD[0]}: {hashed}\n")
        self.log = folder / "build.log"
        self.log.write_bytes(b"")
        config = folder / "agent.toml"
        config.write_text(
            f'[agent]\nstate_dir = "{folder / "state"}"\nlog_format = "json"\n'
            f'[[logs]]\npath = "{self.log}"\nengine = "bench"\n'
            f'[metrics]\nlisten = "127.0.0.1:0"\nweb_config_file = "{folder / "web.yml"}"\n'
            f'[events]\npath = "{folder / "events.jsonl"}"\n'
        )
        self.stderr = open(folder / "agent.err", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*shlex.split(command), "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            cwd=folder,
        )
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.1)
            for line in Path(self.stderr.name).read_text().splitlines():
                entry = json.loads(line) if line.startswith("{") else {}
                if entry.get("msg") == "serving metrics":
                    return int(entry["address"].rsplit(":", 1)[1])
        raise SystemExit(f"agent did not start: {Path(self.stderr.name).read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.stderr.close()


class Writer(threading.Thread):
    def __init__(self, path: Path, rate: int) -> None:
        super().__init__(daemon=True)
        self.path, self.rate = path, rate
        self.stop = threading.Event()

    def run(self) -> None:
        batch = max(1, self.rate // 100)
        start, written = time.monotonic(), 0
        with open(self.path, "ab") as fh:
            while not self.stop.is_set():
                fh.write(b"".join(LINE % (written + i) for i in range(batch)))
                fh.flush()
                written += batch
                delay = start + written / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


class Scraper(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures = 0

    def run(self) -> None:
        while not self.stop.wait(0.5):
            begin = time.monotonic()
            try:
                ok = get(self.port, basic(*GOOD))[0] == 200
            except OSError:
                ok = False
            if ok:
                self.latencies.append(time.monotonic() - begin)
            else:
                self.failures += 1


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def phase(agent: Agent, seconds: float, connections: int) -> str:
    flood = None
    if connections:
        flood = subprocess.Popen(
            [sys.executable, "-c", _FLOOD, str(agent.port), str(connections)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert flood.stdout is not None and flood.stdout.readline() == "ready\n"
    scraper = Scraper(agent.port)
    scraper.start()
    before, begin = lines_total(agent.port), time.monotonic()
    time.sleep(seconds)
    after, elapsed = lines_total(agent.port), time.monotonic() - begin
    scraper.stop.set()
    scraper.join(60)
    answers = ""
    if flood is not None:
        out, _ = flood.communicate("", timeout=120)
        answers = f"  flooders' answers {out.strip()}"
    lat = scraper.latencies
    return (
        f"{(after - before) / elapsed:>9,.0f} events/s  scraper {len(lat)} ok, {scraper.failures} failed, "
        f"p50 {quantile(lat, 0.5) * 1000:.1f} ms, p99 {quantile(lat, 0.99) * 1000:.1f} ms{answers}"
    )


def user_timing(command: str, folder: Path, cost: int) -> str:
    agent = Agent(command, folder, cost)
    try:
        assert get(agent.port, basic(*GOOD))[0] == 200
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        for i in range(8):
            for kind, source in (("known", "127.0.0.3"), ("unknown", "127.0.0.4")):
                user = GOOD[0] if kind == "known" else f"nobody{i}"
                begin = time.monotonic()
                status, _ = get(agent.port, basic(user, f"wrong{i}"), source)
                times[kind].append(time.monotonic() - begin)
                assert status == 401, status
    finally:
        agent.stop()
    known, unknown = (statistics.median(times[k]) * 1000 for k in ("known", "unknown"))
    return f"cost {cost:>2}: known user {known:7.1f} ms, unknown user {unknown:7.1f} ms (medians of 8)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trt-agent", default=f"{sys.executable} -m trt_agent", help="the agent command")
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase (default 10)")
    parser.add_argument("--connections", type=int, default=60, help="flooding connections (default 60)")
    parser.add_argument("--cost", type=int, default=10, help="bcrypt cost of the user's hash (default 10)")
    parser.add_argument("--write-rate", type=int, default=60000, help="lines/s offered (default 60000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="auth-flood-") as tmp:
        folder = Path(tmp)
        agent = Agent(args.trt_agent, folder / "flood", args.cost)
        writer = Writer(agent.log, args.write_rate)
        writer.start()
        try:
            time.sleep(2)  # the agent's first read
            print(f"user hash cost {args.cost}, writer offering {args.write_rate:,} lines/s")
            print(f"quiet  {phase(agent, args.seconds, 0)}")
            print(f"flood  {phase(agent, args.seconds, args.connections)}  ({args.connections} connections)")
        finally:
            writer.stop.set()
            agent.stop()
        for cost in (5, 12):
            print(user_timing(args.trt_agent, folder / f"cost{cost}", cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
