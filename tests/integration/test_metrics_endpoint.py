"""The metrics endpoint of ``trt-agent run`` over real HTTP: content negotiation, ``?name[]=``,
probes, TLS and basic auth, methods, the series it exports from the start, and its bounds."""

from __future__ import annotations

import gzip
import http.client
import os
import platform
import signal
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path

import bcrypt
import pytest
from conftest import DATA, alexnet_agent, answers_ok, self_signed
from harness import LINE, Agent, new_agent, run_once, wait_for

from trt_agent import __version__
from trt_agent.daemon import tensorrt_version

ALEXNET = sorted(str(p) for p in (DATA / "corpus").glob("0[1-4]_*alexnet*"))
H100_PROFILE = str(next((DATA / "extra").glob("41_*")))


def test_content_negotiation_gzip_health_and_readiness(tmp_path: Path, agents: list[Agent]) -> None:
    agent = alexnet_agent(agents, tmp_path).start()
    base = agent.metrics_url.rsplit("/", 1)[0]
    wait_for(lambda: answers_ok(f"{base}/-/ready"), 20, "ready", agent)
    with urllib.request.urlopen(f"{base}/-/healthy") as response:
        assert response.status == 200
    request = urllib.request.Request(
        agent.metrics_url,
        headers={"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(response.read()).decode()
    assert body.endswith("# EOF\n")
    assert "trt_engine_log_events_total{" in body
    with urllib.request.urlopen(agent.metrics_url) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    refused = urllib.request.Request(agent.metrics_url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    with urllib.request.urlopen(refused) as response:
        assert response.headers["Content-Encoding"] is None and b"trt_agent_build_info{" in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/nope")
    assert missing.value.code == 404
    # Malformed HTTP gets a 400 and the server goes on serving.
    host, port = agent.metrics_url.split("/")[2].split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    assert agent.metrics()["trt_agent_ready"] == 1
    assert agent.stop() == 0


def test_not_ready_before_start_up_files_are_read(tmp_path: Path, agents: list[Agent]) -> None:
    """A file too big to read in one pass: /-/ready says 503 until the agent is through it."""
    big = tmp_path / "big.log"
    line = b"[11/26/2026-10:00:00] [TRT] [V] Tactic: 0x0000000000000000 Time: 0.0123\n"
    big.write_bytes(line * 1_500_000)  # ~100 MB: several read budgets
    agent = Agent(tmp_path, [{"path": str(big), "engine": "big"}])
    agents.append(agent)
    agent.start()
    base = agent.metrics_url.rsplit("/", 1)[0]
    seen: list[int] = []

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/-/ready") as response:
                seen.append(response.status)
        except urllib.error.HTTPError as exc:
            seen.append(exc.code)
        return seen[-1] == 200

    wait_for(ready, 60, "ready", agent)
    assert seen[0] == 503
    assert agent.metrics()['trt_agent_lines_total{file="%s"}' % big] == 1_500_000  # noqa: UP031
    assert agent.stop() == 0


def _get(
    url: str, context: ssl.SSLContext | None, user: str | None = None, password: str | None = None
) -> int:
    headers = {}
    if user is not None:
        headers["Authorization"] = "Basic " + b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_tls_and_basic_auth(tmp_path: Path, agents: list[Agent]) -> None:
    cert, _key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: {hashed}\n"
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    )
    agent = Agent(
        tmp_path, [{"path": ALEXNET[3], "engine": "alexnet-fp16"}], metrics={"web_config_file": "web.yml"}
    )
    agents.append(agent)
    agent.start()
    address = agent.wait_log("serving metrics")
    assert address["tls"] is True and address["basic_auth"] is True
    port = address["address"].split(":")[1]
    url = f"https://localhost:{port}/metrics"
    context = ssl.create_default_context(cafile=str(cert))

    assert _get(url, context, "prometheus", "s3cret") == 200
    assert _get(url, context, "prometheus", "wrong") == 401
    assert _get(url, context, "nobody", "s3cret") == 401
    assert _get(url, context) == 401
    assert (
        _get(url, context, "prometheus", "x" * 100) == 401
    )  # longer than bcrypt takes: 401, not a dropped connection
    assert _get(f"https://localhost:{port}/-/healthy", context) == 200  # probes need no credentials
    lower = urllib.request.Request(
        url, headers={"Authorization": "basic " + b64encode(b"prometheus:s3cret").decode()}
    )
    with urllib.request.urlopen(lower, context=context) as response:  # the scheme is case-insensitive
        assert response.status == 200
    request = urllib.request.Request(
        url, headers={"Authorization": "Basic " + b64encode(b"prometheus:s3cret").decode()}
    )
    with urllib.request.urlopen(request, context=context) as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert b"trt_agent_build_info{" in response.read()
    # Plain HTTP to the TLS port gets no HTTP answer.
    conn = http.client.HTTPConnection("localhost", int(port), timeout=5)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)):
        conn.request("GET", "/metrics")
        conn.getresponse()
    # A client that does not trust the certificate fails the handshake.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5)
    assert _get(url, context, "prometheus", "s3cret") == 200  # and the server still serves
    assert agent.stop() == 0


def test_bad_web_config_is_a_clear_start_up_error(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n"
    )
    (tmp_path / "agent.toml").write_text(
        '[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\nweb_config_file = "web.yml"\n'
    )
    result = run_once(tmp_path / "agent.toml")
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"trt-agent: {tmp_path / 'agent.toml'}: metrics.web_config_file: {tmp_path / 'web.yml'}: tls_server_config"
    )
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n")
    result = run_once(tmp_path / "agent.toml")
    assert result.returncode == 2
    assert "tls_server_config.cipher_suites is not supported by trt-agent" in result.stderr
    # A bcrypt cost no check could afford (each step doubles it; the start-up's dummy hash too):
    # refused at once, not a start-up that never ends.
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prometheus: $2y$31$" + "a" * 53 + "\n")
    result = run_once(tmp_path / "agent.toml")
    assert result.returncode == 2
    assert "basic_auth_users.prometheus: bcrypt cost 31 is over 16" in result.stderr


def test_fifo_web_config_or_tls_file_is_refused_at_start_up(tmp_path: Path) -> None:
    """A FIFO named as the web config (or as a TLS file in it) is refused at once, naming it:
    opened like a regular file it blocked start-up, and SIGTERM, for good."""
    self_signed(tmp_path)
    os.mkfifo(tmp_path / "web.yml")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "agent.toml").write_text(
        '[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\nweb_config_file = "web.yml"\n'
    )
    result = run_once(tmp_path / "agent.toml", timeout=10)
    assert result.returncode == 2
    assert f"{tmp_path / 'web.yml'}: web config file not readable: it is a FIFO" in result.stderr
    (tmp_path / "web.yml").unlink()
    tls = {"cert_file": "server.crt", "key_file": "server.key"}
    for key, extra in (
        ("cert_file", {}),
        ("key_file", {}),
        ("client_ca_file", {"client_auth_type": "RequireAndVerifyClientCert"}),
    ):
        lines = [f"  {k}: {v}" for k, v in {**tls, **extra, key: "fifo"}.items()]
        (tmp_path / "web.yml").write_text("tls_server_config:\n" + "\n".join(lines) + "\n")
        result = run_once(tmp_path / "agent.toml", timeout=10)
        assert result.returncode == 2, (key, result.stderr)
        assert f"tls_server_config.{key} {tmp_path / 'fifo'} is not a regular file" in result.stderr, key


def _profile_log(path: Path, layers: int) -> None:
    """A trtexec --dumpProfile table (TensorRT 10.16's format, tests/data/extra/41_*) with
    ``layers`` distinct layer names."""
    head = "[07/07/2026-02:11:43] [I] "
    rows = [
        f"{head}=== Profile (18362 iterations ) ===",
        f"{head}   Time(ms)     Avg.(ms)   Median(ms)   Time(%)   Layer",
    ]
    rows += [
        f"{head}{1 + i % 97:>11.2f} {0.001 * (1 + i % 97):>12.4f} {0.001 * (1 + i % 97):>12.4f} {0.1:>9.1f}   layer_{i:06d}"
        for i in range(layers)
    ]
    rows.append(f"{head}    1529.13       0.0833       0.0804     100.0   Total")
    path.write_text("\n".join(rows) + "\n")


def _rss_after(agents: list[Agent], root: Path, layers: int) -> tuple[float, dict[str, float]]:
    root.mkdir()
    log = root / "profile.log"
    _profile_log(log, layers)
    agent = Agent(root, [{"path": str(log), "engine": "big"}], metrics={"max_layer_series": 50})
    agents.append(agent)
    agent.start()

    def observed(metrics: dict[str, float]) -> float:
        return sum(v for k, v in metrics.items() if k.startswith("trt_engine_layer_latency_seconds_count{"))

    def complete() -> dict[str, float] | None:
        metrics = agent.metrics()
        return metrics if observed(metrics) >= layers else None

    metrics = wait_for(complete, 60, "every observation", agent)
    assert observed(metrics) == layers
    assert agent.stop() == 0
    return metrics["process_resident_memory_bytes"], metrics


def test_layer_series_capped_and_memory_bounded(tmp_path: Path, agents: list[Agent]) -> None:
    small_rss, _ = _rss_after(agents, tmp_path / "small", 50_000)
    big_rss, metrics = _rss_after(agents, tmp_path / "big", 100_000)
    counts = {k: v for k, v in metrics.items() if k.startswith("trt_engine_layer_latency_seconds_count{")}
    assert len(counts) == 51  # 50 layers + __other__
    assert 'trt_engine_layer_latency_seconds_count{engine="big",layer="__other__"}' in counts
    assert sum(counts.values()) == 100_000
    # Twice the names, not twice the layer memory: the model keeps at most 2 x 5000 layers, so
    # RSS has reached its plateau by 50,000 names (measured: 69.5 MiB at 50 k, 69.3 at 100 k,
    # 70.4 at 300 k; 50,000 more tracked layers would add ~25 MiB).
    assert big_rss - small_rss < 10 * 1024 * 1024, (small_rss, big_rss)


ALEXNET_GLOB = str(DATA / "corpus" / "0[1-4]_*alexnet*")
TAIL_ERROR_REASONS = (
    "permission_denied",
    "not_found",
    "not_a_regular_file",
    "symlink_loop",
    "symlink_outside_logs",
    "too_many_files",
    "io_error",
    "internal_error",
)


def _port(agent: Agent) -> int:
    return int(agent.wait_log("serving metrics")["address"].rsplit(":", 1)[1])


def _http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def _sample_names(body: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0] for line in body.splitlines() if line and not line.startswith("#")
    }


def test_name_filter_returns_the_requested_families(tmp_path: Path, agents: list[Agent]) -> None:
    agent = new_agent(agents, tmp_path, [{"path": ALEXNET_GLOB, "engine": "alexnet-fp16"}]).start()
    port = _port(agent)
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    everything = _sample_names(_http_get(port, "/metrics")[2])
    assert {"trt_agent_build_info", "process_open_fds", "trt_engine_fusion_coverage_ratio"} <= everything
    assert "trt_agent_up" not in everything  # Prometheus's own up says it

    query = "name[]=trt_agent_build_info&name[]=process_open_fds&name[]=trt_engine_fusion_coverage_ratio"
    status, _, body = _http_get(port, f"/metrics?{query}")
    assert status == 200
    assert _sample_names(body) == {
        "trt_agent_build_info",
        "process_open_fds",
        "trt_engine_fusion_coverage_ratio",
    }
    assert 'trt_engine_fusion_coverage_ratio{engine="alexnet-fp16"}' in body
    assert "# HELP trt_agent_build_info " in body and "# TYPE trt_agent_build_info gauge" in body

    # prometheus-client's names are sample names (a counter's _total); a family name brings the
    # whole family (a histogram's buckets, sum and count).
    body = _http_get(port, "/metrics?name[]=trt_agent_tail_errors_total")[2]
    assert _sample_names(body) == {"trt_agent_tail_errors_total"}
    body = _http_get(port, "/metrics?name[]=trt_agent_parse_seconds")[2]
    assert _sample_names(body) == {"trt_agent_parse_seconds_count", "trt_agent_parse_seconds_sum"}
    # OpenMetrics too, and a name nobody exports: an empty exposition, as prometheus-client's.
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}
    status, headers, body = _http_get(port, "/metrics?name[]=trt_agent_build_info", openmetrics)
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    versions = f'python="{platform.python_version()}",tensorrt="{tensorrt_version()}",version="{__version__}"'
    assert body == (
        "# HELP trt_agent_build Versions of the agent, the Python running it and the installed TensorRT"
        " Python package (empty when none).\n# TYPE trt_agent_build info\n"
        f"trt_agent_build_info{{{versions}}} 1.0\n# EOF\n"
    )
    assert _http_get(port, "/metrics?name[]=no_such_metric")[2] == ""
    assert agent.stop() == 0


def test_every_tail_error_reason_is_exported_from_the_start(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    log.write_text(LINE.format(tag="a", n=0))
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}]).start()
    metrics = agent.metrics()
    for reason in TAIL_ERROR_REASONS:
        assert metrics[f'trt_agent_tail_errors_total{{reason="{reason}"}}'] == 0, reason
    (tmp_path / "dir.log").mkdir()
    agent.config_path.write_text(
        agent.config_path.read_text() + f'[[logs]]\npath = "{tmp_path / "dir.log"}"\n'
    )
    agent.send(signal.SIGHUP)
    wait_for(
        lambda: agent.metrics()['trt_agent_tail_errors_total{reason="not_a_regular_file"}'] >= 1,
        10,
        "error",
        agent,
    )
    assert agent.stop() == 0


def test_other_methods_get_405_with_allow_and_no_python_version(tmp_path: Path, agents: list[Agent]) -> None:
    agent = new_agent(agents, tmp_path, [{"path": ALEXNET_GLOB, "engine": "alexnet-fp16"}]).start()
    port = _port(agent)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for method, path in (("POST", "/metrics"), ("PUT", "/"), ("OPTIONS", "*"), ("DELETE", "/-/ready")):
            body = b"x=1" if method in ("POST", "PUT") else None
            conn.request(method, path, body=body)
            response = conn.getresponse()
            text = response.read()
            assert response.status == 405, (method, response.status)
            assert response.getheader("Allow") == "GET, HEAD"
            assert response.getheader("Content-Type") == "text/plain"
            assert b"<" not in text and len(text) < 100
            assert response.getheader("Server") == "trt-agent"
        # The same connection goes on: each short body was read.
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200 and b"trt_agent_build_info{" in response.read()
        assert response.getheader("Server") == "trt-agent"
    finally:
        conn.close()
    # A body too long to read: answered, then closed.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1000)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 405 ") and b"\r\nAllow: GET, HEAD\r\n" in reply
    assert b"\r\nConnection: close\r\n" in reply
    # Errors the stdlib answers keep the bare Server header too.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/9.9\r\n\r\n")
        assert b"\r\nServer: trt-agent\r\n" in sock.recv(4096)
    assert "trt_agent_ready" in agent.metrics()
    assert agent.stop() == 0


def test_debug_logs_say_what_each_scrape_and_save_cost(tmp_path: Path, agents: list[Agent]) -> None:
    """``--log.level debug`` (the harness's level) shows a line per scrape served and per
    checkpoint and snapshot save, at the event stream's ``verbose`` severity."""
    agent = alexnet_agent(agents, tmp_path).start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    scrape = agent.wait_log("scrape served", format="text/plain")
    assert scrape["severity"] == "verbose" and scrape["bytes"] > 1000 and scrape["gzip"] is False
    assert agent.wait_log("checkpoints saved")["files"] >= 1
    assert agent.wait_log("model snapshot saved")["engines"] >= 1
    assert agent.stop() == 0
