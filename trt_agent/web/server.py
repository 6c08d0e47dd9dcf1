"""The HTTP endpoint of ``trt-agent run``: ``/metrics``, ``/-/healthy``, ``/-/ready``.

Built on the standard library's threading HTTP server (one thread per connection) so the TLS
handshake and basic-auth check of one slow client never hold up another. ``/metrics`` speaks
both exposition formats by content negotiation (Prometheus text 0.0.4, or OpenMetrics when the
scraper asks for it) and gzip when accepted, like prometheus-client's own handler.

Hostile clients meet fixed limits (tests/integration/test_hostile_http.py): a TLS handshake, and each
request's line and headers, must be complete ``REQUEST_TIMEOUT_S`` after the server starts
waiting for them, however slowly the bytes trickle in (slowloris); request line and headers
together are at most ``MAX_REQUEST_BYTES``; bytes that cannot start an HTTP/1 request are
refused at once; at most ``MAX_CONNECTIONS`` connections are held, and one more closes the
connection that has waited longest for its request (idle, slow, stalled in its handshake) so a
scraper always gets in. A request whose framing is ambiguous gets 400 and a close: a GET or HEAD
with a body (it was read as a second request), a control byte (a CR) in the request line or a
header, a folded header, an HTTP/1.1 request without exactly one ``Host``. What was closed or
refused is counted by reason (``rejected()``). Basic auth's cost is bounded in ``web.auth``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import select
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlparse

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from trt_agent.logs import get_logger
from trt_agent.sinks.prometheus import exposition
from trt_agent.web.auth import REJECT_REASONS as AUTH_REJECT_REASONS
from trt_agent.web.auth import BasicAuth
from trt_agent.web.config import WebConfig

# The TLS handshake, and each request's line and headers (from when the server starts waiting
# for it: the accept, or the end of the previous response on a kept-alive connection), must be
# complete within this many seconds, however the bytes trickle in; then the connection is closed
# (with a 408 when the request had begun). Responses: each write within this many seconds.
REQUEST_TIMEOUT_S: Final = 10.0
# Connections held at once (a scrape needs one; Prometheus HA pairs and probes a few). One more
# closes the one that has waited longest for its request; if every one is being answered, the
# new one is refused.
MAX_CONNECTIONS: Final = 64
# Threads of evicted connections end at once; should they lag, the accept loop waits for them
# (up to a second, then refuses) rather than run more than this many connection threads.
_MAX_THREADS: Final = MAX_CONNECTIONS + 16
# Request line and headers together (a scrape sends under 1 KiB); more gets 414 or 431.
MAX_REQUEST_BYTES: Final = 32 * 1024
# A request refused by basic auth's rate limit (429) is answered this late, and its connection
# closed, so a flood of them costs threads that sleep, not CPU.
RATE_LIMITED_DELAY_S: Final = 1.0
_log = get_logger("trt_agent.web")

# Reasons of ``MetricsServer.rejected()`` (trt_agent_http_rejected_connections_total{reason}).
REJECT_REASONS: Final = ("timeout", "too_large", "bad_request", "tls_handshake", "evicted", "capacity")
_ERROR_REASONS: Final = {400: "bad_request", 505: "bad_request", 414: "too_large", 431: "too_large"}
# Methods served; any other gets 405 with ``Allow`` (the stdlib answered 501 and an HTML page).
ALLOWED_METHODS: Final = ("GET", "HEAD")
# A refused request's body is read (so closing does not reset the connection before the client
# reads the 405) when it is at most this long; a longer one is not read: the connection closes.
_DRAIN_BODY_BYTES: Final = 64 * 1024
# Control bytes a request line or header value must not hold (a CR in a value could smuggle a
# header past a proxy that splits lines on it; HTAB is allowed).
_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# The start of an HTTP/1 request line: a method token, a space, no control bytes.
_REQUEST_LINE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}(?: [^\x00-\x08\x0a-\x1f\x7f]*)?")


@dataclass(eq=False)
class _Connection:
    sock: socket.socket | None  # what eviction shuts down (None: being closed)
    waiting_since: float | None  # waiting for a handshake or request since (monotonic); None: answering
    served: int = 0
    evicted: bool = False


class MetricsServer(ThreadingHTTPServer):
    """Serves ``registry``; ``ready()`` answers ``/-/ready``."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog (socketserver's 5 drops SYNs under a flood: 1 s retries)

    def __init__(
        self,
        address: tuple[str, int],
        registry: CollectorRegistry,
        web: WebConfig,
        ready: Callable[[], bool],
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.registry = registry
        self.web = web
        self.ready = ready
        self.auth = BasicAuth(web.users)
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # a connection's thread ended
        self._connections: dict[Any, _Connection] = {}  # by the accepted socket
        self._rejected: Counter[str] = Counter()
        # One scrape encoded at a time (the GIL runs one anyway): the others wait on this lock,
        # not for the GIL, where 30 busy threads starved the accept loop and new connections
        # (32 clients hammering: a new connection's scrape p50 ~400-730 ms, 150-220 with it).
        self.encoding = threading.Lock()
        # finish_request makes the handlers itself (with their connection's record).
        super().__init__(address, _Handler)  # type: ignore[arg-type]

    # -- what it counts ----------------------------------------------------------------------------

    def rejected(self) -> dict[str, int]:
        """Connections closed or refused, by reason (``REJECT_REASONS``)."""
        with self._lock:
            return {reason: self._rejected[reason] for reason in REJECT_REASONS}

    def open_connections(self) -> int:
        with self._lock:
            return sum(not c.evicted for c in self._connections.values())

    def count(self, conn: _Connection, reason: str) -> None:
        with self._lock:
            if not conn.evicted:  # its eviction was counted
                self._rejected[reason] += 1

    # -- connections -------------------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        # The accept loop: make room (or refuse) before a thread is started.
        with self._lock:
            live = sum(not c.evicted for c in self._connections.values())
            admitted = live < MAX_CONNECTIONS or self._evict_one()
            if admitted and len(self._connections) >= _MAX_THREADS:
                admitted = self._ended.wait_for(lambda: len(self._connections) < _MAX_THREADS, 1.0)
            if admitted:
                self._connections[request] = _Connection(request, time.monotonic())
            else:
                self._rejected["capacity"] += 1
        if not admitted:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for its request (under ``_lock``)."""
        waiting = [c for c in self._connections.values() if c.waiting_since is not None and not c.evicted]
        if not waiting:
            return False
        victim = min(waiting, key=lambda c: c.waiting_since or 0.0)
        victim.evicted = True  # its thread ends and removes it
        self._rejected["evicted"] += 1
        if victim.sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket call even on an SSLSocket: its thread wakes from its read.
                socket.socket.shutdown(victim.sock, socket.SHUT_RDWR)
        return True

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            conn = self._connections.get(request)
        if conn is None:
            return  # evicted before its thread ran
        if self.web.ssl_context is None:
            _Handler(request, client_address, self, conn)
            return
        # The handshake runs here, on the connection's own thread, not in the accept loop; the
        # timeout bounds the whole handshake (CPython's SSL handshake takes it as a deadline).
        request.settimeout(REQUEST_TIMEOUT_S)
        with self._lock:
            if conn.evicted:
                return
            try:
                tls = self.web.ssl_context.wrap_socket(
                    request, server_side=True, do_handshake_on_connect=False
                )
            except OSError:
                return
            conn.sock = tls  # what eviction shuts down from now on
        try:
            tls.do_handshake()
        except TimeoutError:
            self.count(conn, "timeout")
        except (ssl.SSLEOFError, ConnectionError):
            pass  # the client went away (a TCP probe)
        except OSError:
            self.count(conn, "tls_handshake")  # plain HTTP to the TLS port, a bad client certificate
        else:
            _Handler(tls, client_address, self, conn)
        finally:
            with self._lock:
                conn.sock = None
            tls.close()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
            self._ended.notify_all()
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-response is not the agent's problem


class _RequestTooLarge(Exception):
    pass


class _LineRecorder:
    """``readline`` of a reader, keeping each line read (what ``http.client`` reads headers with)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.reader.readline(limit)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


class _RequestReader(io.RawIOBase):
    """The read side of a connection, for one request at a time (``start()``): raises
    ``TimeoutError`` at the request's deadline however slowly bytes arrive, and
    ``_RequestTooLarge`` past ``MAX_REQUEST_BYTES``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.start()

    def start(self) -> None:
        self.deadline = time.monotonic() + REQUEST_TIMEOUT_S
        self.left = MAX_REQUEST_BYTES
        self.received = 0
        self.timed_out = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise _RequestTooLarge
        try:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("request not received in time")
            self.sock.settimeout(remaining)
            n = self.sock.recv_into(buffer, min(len(buffer), self.left))
        except TimeoutError:
            self.timed_out = True
            raise
        self.left -= n
        self.received += n
        return n


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    timeout = REQUEST_TIMEOUT_S
    protocol_version = "HTTP/1.1"
    # A request line that cannot be parsed still gets a status line (the stdlib assumes HTTP/0.9
    # and answers with a bare HTML body).
    default_request_version = "HTTP/1.0"
    server_version = "trt-agent"
    # Headers and body are two writes (two TLS records): with Nagle, the body waited for the
    # client's delayed ACK, ~40 ms a TLS scrape (measured p50 52 ms, 9 ms without).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds would drown the agent's own logs

    def version_string(self) -> str:
        return self.server_version  # the stdlib adds "Python/3.x.y": no need to tell a scanner

    def __init__(self, request: Any, client_address: Any, server: MetricsServer, conn: _Connection) -> None:
        self.conn = conn
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.reader = _RequestReader(self.connection)
        self.rfile = self.request_in = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.start()
        self.conn.waiting_since = time.monotonic()
        self.raw_requestline = b""
        try:
            start = self.request_in.peek(1)  # what has arrived: a TLS ClientHello does not end its line
            if start and not _could_be_http(start):
                self._refuse(400, "Bad request syntax (not HTTP/1)")
                return
            super().handle_one_request()
        except TimeoutError:
            self.close_connection = True
        except _RequestTooLarge:
            line = not self.raw_requestline
            self._refuse(
                414 if line else 431, "Request line too long" if line else "Request headers too large"
            )
            return
        if self.reader.timed_out:
            self.close_connection = True
            if self.reader.received or not self.conn.served:  # not a kept-alive connection gone idle
                self.server.count(self.conn, "timeout")
            if self.reader.received:
                self._refuse(408, "Request not received in time")

    def parse_request(self) -> bool:
        # An evicted connection's read ends early (its socket was shut down): no answer, and no
        # scrape computed for a slowloris. The header lines are recorded as read, before the
        # email parser splits them (on a lone CR too) and joins them (folded lines).
        rfile, recorder = self.rfile, _LineRecorder(self.rfile)
        self.rfile = recorder  # type: ignore[assignment]
        try:
            ok = not self.conn.evicted and super().parse_request() and not self.conn.evicted
        finally:
            self.rfile = rfile
        self.connection.settimeout(REQUEST_TIMEOUT_S)  # for the response
        if self.conn.evicted:
            self.close_connection = True
        elif ok:
            self.conn.waiting_since = None
            self.conn.served += 1
            problem = self._framing_problem(recorder.lines)
            if problem:
                self._bad_request(problem)
                return False
            if self.command not in ALLOWED_METHODS:
                self._method_not_allowed()
                return False  # answered: handle_one_request goes no further
            if "Transfer-Encoding" in self.headers or self.headers.get("Content-Length", "0").strip() != "0":
                # A GET or HEAD has no body; one sent anyway would be read as the next request
                # (a second response to one request). Read it when it is short, answer 400, close.
                self._drain_body()
                self._bad_request("A GET or HEAD request has no body")
                return False
        return ok

    def _framing_problem(self, lines: list[bytes]) -> str | None:
        """Why the request's line or headers are malformed (answered 400), or None."""
        if _CONTROL.search(self.raw_requestline.rstrip(b"\r\n")):
            return "Control character in the request line"
        for line in lines:
            text = line.removesuffix(b"\n").removesuffix(b"\r")
            if not text:
                continue  # the blank line that ends the headers
            if text[:1] in (b" ", b"\t"):
                return "Folded header line"
            if _CONTROL.search(text):
                return "Control character in a header"
        hosts = self.headers.get_all("Host") or []
        if self.request_version == "HTTP/1.1" and len(hosts) != 1:
            return "HTTP/1.1 request without exactly one Host header"
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1 or any(not v.strip().isascii() or not v.strip().isdigit() for v in lengths):
            return "Bad Content-Length"
        return None

    def _bad_request(self, message: str) -> None:
        """400 to a request whose line and headers were read, and close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.send_error(400, message)

    def _method_not_allowed(self) -> None:
        """405 with ``Allow``, plain text; the body (if any, and short) is read and discarded so
        a kept-alive connection can go on, else the connection closes."""
        if not self._drain_body():
            self.close_connection = True
        extra = {"Allow": ", ".join(ALLOWED_METHODS)}
        if self.close_connection:
            extra["Connection"] = "close"
        with contextlib.suppress(OSError):
            self._reply(405, b"Method Not Allowed: use GET or HEAD\n", "text/plain", head=False, extra=extra)

    def _drain_body(self) -> bool:
        """Read the request's body, if it has a short one; False when it could not be."""
        if "Transfer-Encoding" in self.headers:
            return False
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isascii() or not length.isdigit() or int(length) > _DRAIN_BODY_BYTES:
            return False
        remaining = int(length)
        self.reader.start()  # the body gets its own deadline, and a budget of its length
        self.reader.left = remaining
        try:
            while remaining > 0:
                chunk = self.rfile.read(remaining)
                if not chunk:
                    return False
                remaining -= len(chunk)
        except (OSError, _RequestTooLarge):
            self.reader.timed_out = False  # a slow body: closed after the 405, not answered 408
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code in _ERROR_REASONS:
            self.server.count(self.conn, _ERROR_REASONS[code])
        super().send_error(code, message, explain)

    def _refuse(self, code: int, message: str) -> None:
        """Answer ``code`` to a request that was not (completely) read, and close."""
        self.close_connection = True
        self.requestline, self.request_version, self.command = "", self.default_request_version, ""
        self.connection.settimeout(1.0)
        with contextlib.suppress(OSError):
            self.send_error(code, message)

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        url = urlparse(self.path)
        if url.path in ("/-/healthy", "/-/ready"):
            ok = url.path == "/-/healthy" or self.server.ready()
            self._reply(200 if ok else 503, b"OK\n" if ok else b"not ready\n", "text/plain", head=head)
            return
        decision = self.server.auth.check(self.headers.get("Authorization"), str(self.client_address[0]))
        if decision.retry_after:
            self._too_many(decision.retry_after, head)
            return
        if not decision.ok:
            self._reply(
                401,
                b"Unauthorized\n",
                "text/plain",
                head=head,
                extra={"WWW-Authenticate": 'Basic realm="trt-agent"'},
            )
            return
        if url.path == "/metrics":
            self._metrics(url.query, head)
        elif url.path == "/":
            self._reply(
                200, b'<html><body><a href="/metrics">/metrics</a></body></html>\n', "text/html", head=head
            )
        else:
            self._reply(404, b"Not Found\n", "text/plain", head=head)

    def _too_many(self, retry_after: int, head: bool) -> None:
        """429 for a client refused without a bcrypt check, held back ``RATE_LIMITED_DELAY_S``
        first (evictable meanwhile) and then closed: answered at once, a flood of refused
        requests on kept-alive connections took the CPU the tailer needs (1.8 k events/s)."""
        self.conn.waiting_since = time.monotonic()
        with contextlib.suppress(OSError, ValueError):
            # poll, not select: select() refuses descriptors >= 1024 (ValueError), and the agent,
            # which raises its fd limit to follow many files, has them; the 429 went out at once
            waiter = select.poll()
            waiter.register(self.connection, select.POLLIN | select.POLLPRI)
            waiter.poll(RATE_LIMITED_DELAY_S * 1000)  # an eviction wakes it
        self.conn.waiting_since = None
        self.close_connection = True
        if self.conn.evicted:
            return
        extra = {"Retry-After": str(retry_after), "Connection": "close"}
        self._reply(429, b"Too Many Requests\n", "text/plain", head=head, extra=extra)

    def _metrics(self, query: str, head: bool) -> None:
        registry: CollectorRegistry | _Restricted = self.server.registry
        names = parse_qs(query).get("name[]")
        if names:
            registry = _Restricted(self.server.registry, names)
        extra = {}
        started = time.monotonic()
        with self.server.encoding:
            # prometheus-client's encoders, with each engine's samples formatted once per model
            body, content_type = exposition(registry, self.headers.get("Accept", ""))
            if _accepts_gzip(self.headers.get("Accept-Encoding", "")):
                body = gzip.compress(body, compresslevel=5)
                extra["Content-Encoding"] = "gzip"
        _log.debug(
            "scrape served",
            bytes=len(body),
            seconds=round(time.monotonic() - started, 4),
            format=content_type.split(";", 1)[0],
            gzip="Content-Encoding" in extra,
        )
        self._reply(200, body, content_type, head=head, extra=extra)

    def _reply(
        self, code: int, body: bytes, content_type: str, *, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        for key, value in self.server.web.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


class _Restricted:
    """``?name[]=`` of prometheus-client's handler: the samples with one of ``names`` (the
    sample name, ``trt_agent_tail_errors_total``), or whole families named (the family name,
    ``trt_engine_layer_latency_seconds``). prometheus-client's own ``restricted_registry`` finds only
    collectors that ``describe()`` themselves, which the agent's (computed at scrape) do not:
    every filter gave an empty body."""

    def __init__(self, registry: CollectorRegistry, names: list[str]) -> None:
        self.registry = registry
        self.names = set(names)

    def collect(self) -> Iterator[Metric]:
        for metric in self.registry.collect():
            if metric.name in self.names:
                yield metric
                continue
            samples = [s for s in metric.samples if s.name in self.names]
            if samples:
                restricted = Metric(metric.name, metric.documentation, metric.type, metric.unit)
                restricted.samples = samples
                yield restricted


def _could_be_http(start: bytes) -> bool:
    """Whether ``start``, the first bytes of a request, can begin an HTTP/1 request line: a TLS
    ClientHello or random bytes cannot (HTTP/2's preface can, and gets 505)."""
    line = start.lstrip(b"\r\n").split(b"\n", 1)[0].removesuffix(b"\r")
    return not line or _REQUEST_LINE.fullmatch(line) is not None


def _accepts_gzip(header: str) -> bool:
    """``gzip`` listed in Accept-Encoding without ``q=0``."""
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


class ServerCollector(Collector):
    """The metrics endpoint's own connections (``trt_agent_http_*``)."""

    def __init__(self, server: MetricsServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        rejected = CounterMetricFamily(
            "trt_agent_http_rejected_connections",
            "Connections to the metrics endpoint closed or refused, by reason (timeout, too_large, bad_request, tls_handshake, evicted, capacity).",
            labels=["reason"],
        )
        counts = self.server.rejected()
        for reason in REJECT_REASONS:
            rejected.add_metric([reason], counts.get(reason, 0))
        yield GaugeMetricFamily(
            "trt_agent_http_connections",
            "Connections the metrics endpoint holds.",
            value=self.server.open_connections(),
        )
        yield rejected
        checks, refused = self.server.auth.counts()
        auth = CounterMetricFamily(
            "trt_agent_http_auth_rejected_requests",
            "Requests to the metrics endpoint refused by basic auth, by reason (no_credentials, "
            "wrong_credentials: 401; rate_limited: the client address failed too often, busy: too many "
            "bcrypt checks waiting: 429 with no check run).",
            labels=["reason"],
        )
        for reason in AUTH_REJECT_REASONS:
            auth.add_metric([reason], refused.get(reason, 0))
        yield auth
        yield CounterMetricFamily(
            "trt_agent_http_auth_checks",
            "bcrypt checks of basic-auth passwords run (verified credentials are remembered: a "
            "scraper's are checked once).",
            value=checks,
        )
