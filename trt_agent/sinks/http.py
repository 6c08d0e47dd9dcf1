"""The HTTP endpoint of ``trt-agent run``: ``/metrics``, ``/-/healthy``, ``/-/ready``.

Built on the standard library's threading HTTP server (one thread per connection) so the TLS
handshake and basic-auth check of one slow client never hold up another. ``/metrics`` speaks
both exposition formats by content negotiation (Prometheus text 0.0.4, or OpenMetrics when the
scraper asks for it) and gzip when accepted, like prometheus-client's own handler.
"""

from __future__ import annotations

import gzip
import socket
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from trt_agent.sinks.webconfig import WebConfig

# A client that sends nothing (or a TLS client that stalls its handshake) is cut off after this.
REQUEST_TIMEOUT_S = 10.0


class MetricsServer(ThreadingHTTPServer):
    """Serves ``registry``; ``ready()`` answers ``/-/ready``."""

    daemon_threads = True

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
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs here, on the connection's own thread, not in the accept loop.
        if self.web.ssl_context is not None:
            request.settimeout(REQUEST_TIMEOUT_S)
            try:
                request = self.web.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # plain HTTP to the TLS port, a bad client certificate, a stalled handshake
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-response is not the agent's problem


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    timeout = REQUEST_TIMEOUT_S
    protocol_version = "HTTP/1.1"
    # A request line that cannot be parsed still gets a status line (the stdlib assumes HTTP/0.9
    # and answers with a bare HTML body).
    default_request_version = "HTTP/1.0"
    server_version = "trt-agent"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds would drown the agent's own logs

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        url = urlparse(self.path)
        if url.path in ("/-/healthy", "/-/ready"):
            ok = url.path == "/-/healthy" or self.server.ready()
            self._reply(200 if ok else 503, b"OK\n" if ok else b"not ready\n", "text/plain", head=head)
            return
        if not self.server.web.authorized(self.headers.get("Authorization")):
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

    def _metrics(self, query: str, head: bool) -> None:
        registry = self.server.registry
        names = parse_qs(query).get("name[]")
        if names:
            registry = registry.restricted_registry(names)  # type: ignore[assignment]
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body = encoder(registry)
        extra = {}
        if _accepts_gzip(self.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body, compresslevel=5)
            extra["Content-Encoding"] = "gzip"
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


def _accepts_gzip(header: str) -> bool:
    """``gzip`` listed in Accept-Encoding without ``q=0``."""
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False
