"""The Prometheus endpoint of ``trt-agent run``, scraped by real clients: a real Prometheus server
(Debian package ``prometheus``, installed by scripts/test.sh), ``promtool``, urllib over TLS."""

from __future__ import annotations

import datetime
import gzip
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from conftest import DATA, answers_ok
from harness import Agent, run_once, wait_for

PROMTOOL = shutil.which("promtool")
ALEXNET = sorted(str(p) for p in (DATA / "corpus").glob("0[1-4]_*alexnet*"))
H100_PROFILE = str(next((DATA / "extra").glob("41_*")))


def _alexnet_agent(agents: list[Agent], root: Path, **options: Any) -> Agent:
    logs = [{"path": str(DATA / "corpus" / "0[1-4]_*alexnet*"), "engine": "alexnet-fp16"}]
    logs.append({"path": H100_PROFILE, "engine": "h100"})
    agent = Agent(root, logs, **options)
    agents.append(agent)
    return agent


def _report(files: list[str], engine: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "trt_agent", "report", "--json", "--engine", engine, *files],
        capture_output=True,
        check=True,
    ).stdout
    return next(e for e in json.loads(out)["engines"] if e["engine"] == engine)  # type: ignore[no-any-return]


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            doc = json.load(response)
    except (urllib.error.URLError, ConnectionError):
        return []
    return doc["data"]["result"] if doc.get("status") == "success" else []  # type: ignore[no-any-return]


def _ratio(doc: dict[str, Any]) -> float:
    """A ratio of ``report --json`` from its own numerator and denominator."""
    return float(doc["numerator"]) / float(doc["denominator"])


def _value(base: str, promql: str) -> float:
    result = _query(base, promql)
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


def test_real_prometheus_scrapes_what_report_says(
    tmp_path: Path, agents: list[Agent], prometheus: Any
) -> None:
    agent = _alexnet_agent(agents, tmp_path).start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    base = prometheus(agent.metrics_url.split("/")[2])
    wait_for(lambda: _query(base, 'up{job="trt-agent"} == 1'), 60, "a successful scrape")
    wait_for(lambda: _query(base, 'trt_engine_fusion_coverage_ratio{engine="alexnet-fp16"}'), 30, "coverage")

    report = _report(ALEXNET, "alexnet-fp16")
    assert _value(base, 'trt_engine_fusion_coverage_ratio{engine="alexnet-fp16"}') == pytest.approx(
        _ratio(report["fusion_coverage"])
    )
    assert _value(base, 'trt_engine_int8_coverage_ratio{engine="alexnet-fp16"}') == pytest.approx(
        _ratio(report["int8_coverage"])
    )
    assert _value(base, 'trt_engine_unfused_kernel_ratio{engine="alexnet-fp16"}') == pytest.approx(
        _ratio(report["unfused_kernel_ratio"])
    )

    h100 = _report([H100_PROFILE], "h100")
    counts = {
        r["metric"]["layer"]: float(r["value"][1])
        for r in _query(base, 'trt_layer_latency_seconds_count{engine="h100"}')
    }
    assert counts and sum(counts.values()) == h100["events"]["by_type"]["layer_time"]
    for row in h100["slowest_layers"]:
        assert counts[row["layer"]] == row["count"]
        mean = _value(
            base,
            f'trt_layer_latency_seconds_sum{{engine="h100",layer="{row["layer"]}"}}'
            f' / trt_layer_latency_seconds_count{{engine="h100",layer="{row["layer"]}"}}',
        )
        assert mean * 1000 == pytest.approx(row["avg_ms"], rel=1e-6)
    assert agent.stop() == 0


def test_promtool_check_metrics_is_clean(tmp_path: Path, agents: list[Agent]) -> None:
    if PROMTOOL is None:
        pytest.fail("promtool is not installed: scripts/test.sh installs the Debian package prometheus")
    agent = _alexnet_agent(agents, tmp_path).start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    with urllib.request.urlopen(agent.metrics_url, timeout=5) as response:
        text = response.read()
    assert b"trt_layer_latency_seconds_bucket" in text and b"trt_build_info" in text
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True)
    assert check.returncode == 0 and not check.stdout and not check.stderr, check.stdout + check.stderr
    assert agent.stop() == 0


def test_content_negotiation_gzip_health_and_readiness(tmp_path: Path, agents: list[Agent]) -> None:
    agent = _alexnet_agent(agents, tmp_path).start()
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
    assert "trt_log_events_total{" in body
    with urllib.request.urlopen(agent.metrics_url) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    refused = urllib.request.Request(agent.metrics_url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    with urllib.request.urlopen(refused) as response:
        assert response.headers["Content-Encoding"] is None and b"trt_agent_up" in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/nope")
    assert missing.value.code == 404
    # Malformed HTTP gets a 400 and the server goes on serving.
    host, port = agent.metrics_url.split("/")[2].split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    assert agent.metrics()["trt_agent_up"] == 1
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


# -- TLS and basic auth ----------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)  # the agent refuses a private key others can read
    return cert_path, key_path


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
    cert, _key = _self_signed(tmp_path)
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
        assert b"trt_agent_up 1.0" in response.read()
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


# -- cardinality -----------------------------------------------------------------------------------


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
        return sum(v for k, v in metrics.items() if k.startswith("trt_layer_latency_seconds_count{"))

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
    counts = {k: v for k, v in metrics.items() if k.startswith("trt_layer_latency_seconds_count{")}
    assert len(counts) == 51  # 50 layers + __other__
    assert 'trt_layer_latency_seconds_count{engine="big",layer="__other__"}' in counts
    assert sum(counts.values()) == 100_000
    # Twice the names, not twice the layer memory: the model keeps at most 2 x 5000 layers, so
    # RSS has reached its plateau by 50,000 names (measured: 69.5 MiB at 50 k, 69.3 at 100 k,
    # 70.4 at 300 k; 50,000 more tracked layers would add ~25 MiB).
    assert big_rss - small_rss < 10 * 1024 * 1024, (small_rss, big_rss)
