"""Basic auth for ``/metrics`` with a bounded cost (``basic_auth_users`` of ``web-config.yml``).

bcrypt is slow by design (a check at cost 10 takes ~60 ms of a core, at cost 12 ~230 ms), so an
unauthenticated client that sends wrong passwords would otherwise spend the host's CPU at will
(60 connections of wrong passwords cut the agent's ingestion from 20 k to 4.6 k events/s and
pushed a scraper's p99 to 4.3 s) and, through the time a check takes, tell user names apart.
Here:

* verified credentials are remembered by their SHA-256 (never in clear; as the exporter-toolkit
  does): a scraper pays bcrypt once, then never again, and a remembered scraper gets in even
  while its address is rate-limited (behind the same NAT as an attacker);
* each client address (an IPv6 one by its /64) may fail ``FAILURE_BURST`` checks, then one
  more every ``FAILURE_REFILL_S``; beyond that it gets 429 with ``Retry-After`` and no bcrypt
  is run (a check in flight holds one of its allowances, so a burst of parallel requests cannot
  run more checks than it may fail);
* bcrypt runs on one worker thread of its own, at the lowest CPU priority (nice 19), never on
  the threads that answer scrapes; at most ``QUEUE`` checks wait for it, one more gets 429
  (``busy``) at once: at most one core, and only what the tailer leaves;
* an unknown user is checked against a dummy hash with the cost of the configured users' most
  costly hash, so it costs what a known user's wrong password costs (give every user the same
  cost and no user name can be told by timing).

Each refusal is counted by reason (``REJECT_REASONS``) and each bcrypt check run, for
``trt_agent_http_auth_*``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import os
import queue
import threading
import time
from base64 import b64decode
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Final

import bcrypt

# Failed checks a client address may have at once, then one more per FAILURE_REFILL_S.
FAILURE_BURST: Final = 10
FAILURE_REFILL_S: Final = 1.0
# Client addresses remembered (the least recently seen is forgotten first: a full allowance).
MAX_CLIENTS: Final = 4096
# bcrypt checks waiting for (or running on) the worker; one more is refused with 429.
QUEUE: Final = 4
# Verified credentials remembered (by SHA-256; the least recently used is forgotten first).
MAX_VERIFIED: Final = 256
# Why a request was refused (trt_agent_http_auth_rejected_requests_total{reason}).
REJECT_REASONS: Final = ("no_credentials", "wrong_credentials", "rate_limited", "busy")


@dataclass(frozen=True)
class Decision:
    """``ok``; else ``retry_after`` > 0: refused with 429 (no check was run), 0: with 401."""

    ok: bool
    retry_after: int = 0


OK: Final = Decision(True)
DENIED: Final = Decision(False)


def hash_cost(hashed: bytes) -> int:
    """The cost of a ``$2y$NN$...`` bcrypt hash (4 when it cannot be read)."""
    try:
        return max(4, min(31, int(hashed.split(b"$")[2])))
    except (IndexError, ValueError):
        return 4


def client_key(address: str) -> str:
    """What the failure allowance is kept by: the IPv4 address, or an IPv6 address's /64 (one
    host gets a whole /64); an IPv4-mapped IPv6 address is its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _Check:
    __slots__ = ("done", "hashed", "ok", "password")

    def __init__(self, password: bytes, hashed: bytes) -> None:
        self.password, self.hashed = password, hashed
        self.ok = False
        self.done = threading.Event()


class BasicAuth:
    """Checks ``Authorization`` headers against ``users`` (name -> bcrypt hash); no users: every
    request is allowed."""

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = dict(users)
        self.cost = max((hash_cost(h) for h in self.users.values()), default=4)
        # The hash an unknown user's password is checked against: as costly as the costliest user's.
        self.dummy = bcrypt.hashpw(b"trt-agent", bcrypt.gensalt(rounds=self.cost)) if self.users else b""
        self._lock = threading.Lock()
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._clients: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (allowance, at)
        self._queue: queue.Queue[_Check] = queue.Queue(maxsize=QUEUE)
        self._worker: threading.Thread | None = None
        self.rejected: Counter[str] = Counter()
        self.checks = 0  # bcrypt checks run

    def counts(self) -> tuple[int, dict[str, int]]:
        """bcrypt checks run, and requests refused by reason."""
        with self._lock:
            return self.checks, {reason: self.rejected[reason] for reason in REJECT_REASONS}

    def check(self, header: str | None, address: str) -> Decision:
        if not self.users:
            return OK
        credentials = _credentials(header)
        if credentials is None:
            self._count("no_credentials")
            return DENIED
        user, password = credentials
        hashed = self.users.get(user)
        key = hashlib.sha256(f"{user}\0{password}\0".encode() + (hashed or b"")).digest()
        client = client_key(address)
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return OK
            wait = self._take(client, time.monotonic())
            if wait > 0:
                self.rejected["rate_limited"] += 1
                return Decision(False, math.ceil(wait))
        ok = self._bcrypt(password.encode(), hashed if hashed is not None else self.dummy)
        if ok is None:  # the worker's queue is full: no check ran
            with self._lock:
                self._give_back(client)
                self.rejected["busy"] += 1
            return Decision(False, 1)
        ok = ok and hashed is not None
        with self._lock:
            if ok:
                self._give_back(client)  # a success costs no allowance
                self._verified[key] = None
                if len(self._verified) > MAX_VERIFIED:
                    self._verified.popitem(last=False)
            else:
                self.rejected["wrong_credentials"] += 1
        return OK if ok else DENIED

    def _count(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    # -- the failure allowance per client (under _lock) ------------------------------------------

    def _allowance(self, client: str, now: float) -> float:
        allowance, at = self._clients.get(client, (float(FAILURE_BURST), now))
        return min(float(FAILURE_BURST), allowance + (now - at) / FAILURE_REFILL_S)

    def _take(self, client: str, now: float) -> float:
        """Take one check from ``client``'s allowance: 0, or the seconds until it may try again."""
        allowance = self._allowance(client, now)
        if allowance < 1.0:
            self._clients[client] = (allowance, now)
            self._clients.move_to_end(client)
            return (1.0 - allowance) * FAILURE_REFILL_S
        self._clients[client] = (allowance - 1.0, now)
        self._clients.move_to_end(client)
        while len(self._clients) > MAX_CLIENTS:
            self._clients.popitem(last=False)
        return 0.0

    def _give_back(self, client: str) -> None:
        now = time.monotonic()
        self._clients[client] = (min(float(FAILURE_BURST), self._allowance(client, now) + 1.0), now)

    # -- the bcrypt worker -------------------------------------------------------------------------

    def _bcrypt(self, password: bytes, hashed: bytes) -> bool | None:
        """Whether ``password`` matches ``hashed``, checked on the worker; None: queue full."""
        check = _Check(password, hashed)
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="bcrypt", daemon=True)
                self._worker.start()
            try:
                self._queue.put_nowait(check)
            except queue.Full:
                return None
        check.done.wait()
        return check.ok

    def _work(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: the nice of this thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while True:
            check = self._queue.get()
            try:
                check.ok = bcrypt.checkpw(check.password, check.hashed)
            except ValueError:  # bcrypt takes at most 72 bytes: no such password can match
                check.ok = False
            finally:
                with self._lock:
                    self.checks += 1
                check.done.set()


def _credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of a ``Basic`` ``Authorization`` header; None when there is none."""
    if not header or header[:6].lower() != "basic ":  # the scheme is case-insensitive
        return None
    try:
        user, sep, password = b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
