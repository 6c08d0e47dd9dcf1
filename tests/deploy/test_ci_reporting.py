"""Every CI build reported: ``check --push`` to a real Pushgateway (Debian
``prometheus-pushgateway``) and ``report --format prometheus --output`` to a real node_exporter's
textfile collector (Debian ``prometheus-node-exporter``), both scraped by a real Prometheus that
loads deploy/prometheus/builds.yml; the build-history dashboard's queries evaluated on that data.
Both packages are installed by scripts/test.sh."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from conftest import DATA, ROOT, answers_ok, dashboard_queries, free_port, promql, self_signed, trt_agent
from harness import wait_for
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

PUSHGATEWAY = shutil.which("prometheus-pushgateway")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")
PROMTOOL = shutil.which("promtool")
RULES = ROOT / "rules.example.toml"
BUILD_RULES = ROOT / "deploy" / "prometheus" / "builds.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "trt-agent-builds.json"
MODEL = "segformer"
JOB = "trt-ci"
# Two builds of one model, as two CI runs logged them (trtexec 8.6.1, SegFormer with a LayerNorm
# plugin): the second fused less (fusion coverage 87 % -> 50 %: the regression the dashboard
# marks) and left more kernels unfused; each gives all four figures.
BUILDS = {
    "c1": [str(DATA / "corpus" / "trtexec-8.6.1-segformer-layernorm-plugin-full.log")],
    "c2": [str(next((DATA / "corpus").glob("05_*")))],
}
FIGURES = {  # metric -> its key in report --json
    "trt_engine_fusion_coverage_ratio": "fusion_coverage",
    "trt_engine_int8_coverage_ratio": "int8_coverage",
    "trt_engine_unfused_kernel_ratio": "unfused_kernel_ratio",
}


def _need(tool: str | None, package: str) -> str:
    if tool is None:
        pytest.fail(f"{package} is not installed: scripts/test.sh installs the Debian package {package}")
    return tool


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start(argv, ready_path)``: a server process on a fresh port (``{port}`` in argv),
    returned as host:port once ``ready_path`` answers; stopped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], ready: str = "/-/ready", scheme: str = "http") -> str:
        address = f"127.0.0.1:{free_port()}"
        log = open(tmp_path / f"{Path(argv[0]).name}.log", "ab")  # noqa: SIM115 - the process writes it
        procs.append(
            subprocess.Popen([a.replace("{address}", address) for a in argv], stdout=log, stderr=log)
        )
        if scheme == "http":
            wait_for(lambda: answers_ok(f"http://{address}{ready}"), 30, f"{argv[0]} ready")
        else:
            wait_for(lambda: _listening(address), 30, f"{argv[0]} listening")
        return address

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(20)


def _listening(address: str) -> bool:
    host, port = address.split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def _report(build: str) -> dict[str, Any]:
    result = trt_agent("report", "--json", "--engine", MODEL, *BUILDS[build])
    assert result.returncode == 0, result.stderr
    (engine,) = json.loads(result.stdout)["engines"]
    return engine  # type: ignore[no-any-return]


def _expected(report: dict[str, Any]) -> dict[str, float | None]:
    """The figures of ``report --json``: a ratio, or None where the build cannot give it."""
    out: dict[str, float | None] = {name: report[key]["ratio"] for name, key in FIGURES.items()}
    out["trt_engine_peak_memory_bytes"] = report["peak_memory_bytes"]
    return out


def _by_build(base: str, metric: str, job: str) -> dict[str, float]:
    """The last value each build reported of ``metric`` under ``job``: the build history."""
    rows = promql(base, f'last_over_time({metric}{{job="{job}", engine="{MODEL}"}}[10m])')
    return {row["metric"]["commit"]: float(row["value"][1]) for row in rows}


def _last_build(base: str, figure: str) -> list[float]:
    """The values of the last-build line (builds.yml) of ``figure`` for the pushed builds."""
    rows = promql(base, f'job_instance_engine:{figure}:last_build{{job="{JOB}"}}')
    return [float(row["value"][1]) for row in rows]


def test_two_builds_become_a_history_in_prometheus(
    tmp_path: Path, prometheus: Any, daemons: Callable[..., str]
) -> None:
    pushgateway = daemons(
        [
            _need(PUSHGATEWAY, "prometheus-pushgateway"),
            "--web.listen-address={address}",
            "--persistence.file=",
        ]
    )
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    node = daemons(
        [
            _need(NODE_EXPORTER, "prometheus-node-exporter"),
            "--web.listen-address={address}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
        ],
        ready="/metrics",
    )
    # The daemon's own target is not part of this test: Prometheus scrapes the Pushgateway
    # (honor_labels, as its docs require) and node_exporter.
    base = prometheus(
        pushgateway,
        rule_files=[BUILD_RULES],
        jobs={"pushgateway": (pushgateway, True), "node": (node, False)},
    )
    expected: dict[str, dict[str, float | None]] = {}
    for build, files in BUILDS.items():
        labels = ["--label", f"commit={build}", "--label", "branch=main"]
        pushed = trt_agent(
            "check", "--rules", RULES, "--engine", MODEL, "--push", f"http://{pushgateway}", "--job", JOB,
            *labels, *files,
        )  # fmt: skip
        assert pushed.returncode in (0, 1), pushed.stderr  # the gate's verdict, not a push failure
        assert f"pushed 1 engine(s) to http://{pushgateway}" in pushed.stderr
        written = trt_agent(
            "report", "--format", "prometheus", "--engine", MODEL, "--rules", RULES,
            "--output", textfiles / f"{MODEL}.prom", *labels, *files,
        )  # fmt: skip
        assert written.returncode == 0, written.stderr
        expected[build] = _expected(_report(build))
        for job in (JOB, "node"):
            wait_for(
                lambda job=job, build=build: promql(  # type: ignore[misc]
                    base, f'trt_engine_report_timestamp_seconds{{job="{job}", commit="{build}"}}'
                ),
                30,
                f"build {build} scraped from {job}",
            )
        # Builds are minutes apart in CI; here they are seconds apart, so wait until the rules
        # have evaluated this build (its last-build line shows its figure) before the next one
        # arrives. Otherwise c2 can replace c1 between two evaluations, the rules never see c1,
        # and there is no change between builds to record (a race the test, not the rules, made).
        coverage = expected[build]["trt_engine_fusion_coverage_ratio"]
        wait_for(
            lambda coverage=coverage: (
                _last_build(base, "trt_engine_fusion_coverage_ratio")  # type: ignore[misc]
                == pytest.approx([coverage], rel=1e-5)
            ),
            30,
            f"the rules evaluated build {build}",
        )
    assert expected["c1"] != expected["c2"], "the two builds must differ for a history to show"

    # The history: each build's figures, as report --json gave them, from both ways of reporting.
    for job in (JOB, "node"):
        for metric in (*FIGURES, "trt_engine_peak_memory_bytes"):
            history = _by_build(base, metric, job)
            want = {
                build: value for build, figures in expected.items() if (value := figures[metric]) is not None
            }
            assert history == pytest.approx(want, rel=1e-5), (
                job,
                metric,
            )  # JSON rounds to 6 places  # n/a: no sample, never 0
        verdicts = _by_build(base, "trt_engine_check_ok", job)
        assert set(verdicts) == set(BUILDS) and set(verdicts.values()) <= {0.0, 1.0}

    # The trend through the builds and the regression (fusion coverage of c2 below c1's).
    latest = expected["c2"]["trt_engine_fusion_coverage_ratio"]
    assert _last_build(base, "trt_engine_fusion_coverage_ratio") == pytest.approx([latest], rel=1e-5)
    drop = expected["c1"]["trt_engine_fusion_coverage_ratio"] - latest  # type: ignore[operator]
    regressions = wait_for(
        lambda: promql(
            base,
            f'last_over_time(job_instance_engine_figure:trt_engine_report:regression{{job="{JOB}", figure="fusion_coverage"}}[10m])',
        ),
        30,
        "the regression recorded",
    )
    assert float(regressions[0]["value"][1]) == pytest.approx(drop)

    # promtool's linter on what both collectors serve of the builds (text format 0.0.4)
    _promtool_clean(_scrape(pushgateway))
    _promtool_clean(_scrape(node))

    # Every query of the build-history dashboard evaluates with data.
    for where, expr in dashboard_queries(json.loads(DASHBOARD.read_text())):
        assert promql(base, _substitute(expr)), f"{where}: no data for {expr}"


def _substitute(expr: str) -> str:
    """Grafana's variables with 'All' selected; label_values(X, l) evaluated as X."""
    expr = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", expr)
    values = {"job": ".+", "engine": ".+", "builds": "10", "__range": "1h"}
    for name, value in values.items():
        expr = re.sub(r"\$" + name + r"\b", value, expr)
    assert "$" not in expr, expr
    return expr


# -- the formats --------------------------------------------------------------------------------------


def _promtool_clean(exposition: bytes) -> None:
    lint = subprocess.run(
        [_need(PROMTOOL, "prometheus"), "check", "metrics"], input=exposition, capture_output=True
    )
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint


def _scrape(address: str) -> bytes:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return response.read()  # type: ignore[no-any-return]


def test_both_formats_parse_strictly(tmp_path: Path) -> None:
    """The text format passes promtool's linter; OpenMetrics (which promtool 2.42 cannot read:
    it parses the text format only) passes prometheus-client's strict OpenMetrics parser."""
    outputs = {}
    for fmt in ("prometheus", "openmetrics"):
        out = tmp_path / f"build.{fmt}"
        result = trt_agent(
            "report", "--format", fmt, "--rules", RULES, "--label", "commit=abc", "--output", out, *BUILDS["c1"]
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs[fmt] = out.read_text()
    _promtool_clean(outputs["prometheus"].encode())
    assert outputs["openmetrics"].endswith("# EOF\n")

    def samples(families: Iterable[Metric]) -> list[tuple[str, dict[str, str], float]]:
        # the two runs differ only in when they were made
        return sorted(
            ((s.name, s.labels, s.value) for f in families for s in f.samples if "timestamp" not in s.name),
            key=repr,
        )

    assert samples(openmetrics_families(outputs["openmetrics"])) == samples(
        text_string_to_metric_families(outputs["prometheus"])
    )
    assert "trt_engine_check_ok{" in outputs["openmetrics"]


# -- push hazards ------------------------------------------------------------------------------------


def test_push_with_basic_auth_and_tls(tmp_path: Path, daemons: Callable[..., str]) -> None:
    """The Pushgateway behind its own web config (TLS and a bcrypt user): the push authenticates
    with --push.config.file; a wrong password is exit 3 (the gate passed) with the gateway's answer."""
    cert, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "pgw-web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  ci: {hashed}\n"
    )
    pushgateway = daemons(
        [
            _need(PUSHGATEWAY, "prometheus-pushgateway"),
            "--web.listen-address={address}",
            f"--web.config.file={web}",
            "--persistence.file=",
        ],
        scheme="https",
    )
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    client = tmp_path / "push.yml"
    client.write_text(
        f"basic_auth:\n  username: ci\n  password_file: {secret.name}\ntls_config:\n  ca_file: {cert.name}\n"
    )
    args = [
        "check",
        "--rules",
        RULES,
        "--push",
        f"https://localhost:{pushgateway.split(':')[1]}",
        "--job",
        JOB,
    ]
    ok = trt_agent(
        *args, "--push.config.file", client, "--label", "commit=c9", "--engine", MODEL, *BUILDS["c1"]
    )
    assert ok.returncode in (0, 1) and "pushed 1 engine(s)" in ok.stderr, ok.stderr

    # what the gateway now holds, read back over TLS with the same user
    request = urllib.request.Request(f"https://localhost:{pushgateway.split(':')[1]}/metrics")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"ci:s3cret").decode())
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        held = response.read().decode()
    assert (
        f'trt_engine_report_timestamp_seconds{{commit="c9",engine="{MODEL}",instance="",job="{JOB}"}}' in held
    )

    secret.write_text("wrong\n")
    refused = trt_agent(*args, "--push.config.file", client, "--engine", MODEL, *BUILDS["c1"])
    gate_passed = ok.returncode == 0
    assert refused.returncode == (3 if gate_passed else 1), refused.stderr
    assert f"push of engine {MODEL} failed: HTTP 401" in refused.stderr
    untrusted = tmp_path / "untrusted.yml"
    untrusted.write_text(
        "basic_auth:\n  username: ci\n  password: s3cret\n"
    )  # no CA: the self-signed cert is refused
    refused = trt_agent(*args, "--push.config.file", untrusted, "--engine", MODEL, *BUILDS["c1"])
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr and refused.returncode in (1, 3)
