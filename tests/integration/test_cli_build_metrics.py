"""``report --format prometheus|openmetrics`` (the metrics of one build, for node_exporter's
textfile collector) and ``check --push`` (its failures and exit codes; the real Pushgateway is in
tests/deploy/test_ci_reporting.py)."""

from __future__ import annotations

import os
import stat
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DATA, alexnet_agent, free_port, rules_file, self_signed, trt_agent
from harness import Agent, wait_for
from prometheus_client.parser import text_string_to_metric_families

ALEXNET = sorted(str(p) for p in (DATA / "corpus").glob("0[1-4]_*alexnet*"))
ENGINE = "alexnet-fp16"
PASSING = '[[rule]]\nname = "fused"\ncheck = "fusion_coverage"\nmin = 0.1\n'
FAILING = '[[rule]]\nname = "fused"\ncheck = "fusion_coverage"\nmin = 0.99\n'


def _samples(
    text: str, drop: frozenset[str] = frozenset()
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, labels without ``drop``) -> value, of every ``trt_engine_*`` sample."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("trt_engine_"):
                labels = tuple(sorted((k, v) for k, v in s.labels.items() if k not in drop))
                out[(s.name, labels)] = s.value
    return out


def test_a_build_report_has_the_daemons_figures_and_its_labels(tmp_path: Path, agents: list[Agent]) -> None:
    """The same logs, read by the daemon and by report: the same trt_engine_* samples, the
    report's with the build's labels on every one."""
    result = trt_agent(
        "report", "--format", "prometheus", "--engine", ENGINE, "--label", "commit=abc123",
        "--label", "branch=main", *ALEXNET,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = _samples(result.stdout)
    assert report and all(
        dict(labels)["commit"] == "abc123" and dict(labels)["branch"] == "main" for _, labels in report
    )
    assert not [
        line
        for line in result.stdout.splitlines()
        if line.startswith("trt_") and not line.startswith("trt_engine_")
    ]
    (stamp,) = [v for (name, _), v in report.items() if name == "trt_engine_report_timestamp_seconds"]
    assert abs(stamp - time.time()) < 60
    assert not any(name == "trt_engine_check_ok" for name, _ in report)  # no rules, no verdict

    agent = alexnet_agent(agents, tmp_path).start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    with urllib.request.urlopen(agent.metrics_url, timeout=5) as response:
        daemon = _samples(response.read().decode())
    daemon = {key: value for key, value in daemon.items() if dict(key[1]).get("engine") == ENGINE}
    built = {
        key: value
        for key, value in _samples(result.stdout, frozenset({"commit", "branch"})).items()
        if key[0] != "trt_engine_report_timestamp_seconds"
    }
    assert built == daemon


def test_openmetrics_and_the_verdict_with_rules(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, PASSING + FAILING.replace('"fused"', '"fully_fused"'))
    result = trt_agent("report", "--format", "openmetrics", "--rules", rules, "--engine", ENGINE, *ALEXNET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("# EOF\n")
    lines = result.stdout.splitlines()
    assert f'trt_engine_check_ok{{engine="{ENGINE}"}} 0.0' in lines  # fully_fused failed
    assert f'trt_engine_rule_ok{{engine="{ENGINE}",rule="fused",severity="error"}} 1.0' in lines
    assert f'trt_engine_rule_ok{{engine="{ENGINE}",rule="fully_fused",severity="error"}} 0.0' in lines


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("engine=x", "'engine' is a label the metrics already use"),
        ("layer=x", "'layer' is a label the metrics already use"),
        ("job=x", "'job' is a label the metrics already use"),
        ("1commit=x", "is no Prometheus label name"),
        ("__name__=x", "is no Prometheus label name"),
        ("commit=", "empty value"),
        ("commit", "expected KEY=VALUE"),
    ],
)
def test_bad_labels_are_refused_before_any_input_is_read(label: str, message: str) -> None:
    result = trt_agent("report", "--format", "prometheus", "--label", label, "/nonexistent.log")
    assert result.returncode == 2 and message in result.stderr and "nonexistent" not in result.stderr, (
        result.stderr
    )


def test_labels_need_a_metrics_format_and_the_formats_agree() -> None:
    result = trt_agent("report", "--label", "commit=a", *ALEXNET)
    assert result.returncode == 2 and "--label labels the metrics of --format" in result.stderr
    result = trt_agent("report", "--json", "--format", "prometheus", *ALEXNET)
    assert result.returncode == 2 and "contradict" in result.stderr


def test_output_is_replaced_whole_and_readable_by_the_collector(tmp_path: Path) -> None:
    out = tmp_path / "textfile" / "alexnet.prom"
    out.parent.mkdir()
    out.write_text("# the previous build\n")
    result = trt_agent(
        "report", "--format", "prometheus", "--engine", ENGINE, "--output", out, *ALEXNET,
        preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert out.read_text().startswith("# HELP trt_engine_")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # node_exporter runs as another user
    assert os.listdir(out.parent) == ["alexnet.prom"]  # no temporary file left beside it

    # A partial or empty build never replaces the last complete one.
    before = out.read_bytes()
    for files in (
        [*ALEXNET, str(tmp_path / "missing.log")],
        [str(rules_file(tmp_path, "no facts\n", "x.log"))],
    ):
        result = trt_agent("report", "--format", "prometheus", "--engine", ENGINE, "--output", out, *files)
        assert result.returncode == 2 and "no metrics written" in result.stderr, result.stderr
        assert out.read_bytes() == before
    result = trt_agent(
        "report", "--format", "prometheus", "--output", tmp_path / "nodir" / "x.prom", *ALEXNET
    )
    assert result.returncode == 2 and "cannot write the output" in result.stderr


@pytest.mark.parametrize(("rules", "status"), [(PASSING, 3), (FAILING, 1)])
def test_a_failed_push_never_hides_the_verdict(tmp_path: Path, rules: str, status: int) -> None:
    """Nothing listens at the URL: exit 3 when the gate passed, 1 (the verdict) when it failed;
    the verdict is printed and the JUnit file written either way."""
    junit = tmp_path / "junit.xml"
    url = f"http://127.0.0.1:{free_port()}"
    result = trt_agent(
        "check", "--rules", rules_file(tmp_path, rules), "--format", "junit", "-o", junit,
        "--push", url, "--label", "commit=abc", "--engine", ENGINE, *ALEXNET,
    )  # fmt: skip
    assert result.returncode == status, result.stderr
    assert f"--push: {url}: push of engine {ENGINE} failed: " in result.stderr
    assert "Connection refused" in result.stderr
    assert junit.read_text().startswith("<?xml") and "fused" in result.stdout


def test_push_options_without_push_and_bad_push_config(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, PASSING)
    for option in (["--label", "commit=a"], ["--job", "trt-agent-check"], ["--push.timeout", "30"]):
        result = trt_agent("check", "--rules", rules, *option, *ALEXNET)  # even a default's value
        assert result.returncode == 2 and "go with --push URL" in result.stderr, option
    config = tmp_path / "push.yml"
    for text, message in [
        ("bearer_token: x\n", "unsupported key(s) bearer_token"),
        ("tls_config:\n  server_name: x\n", "tls_config.server_name is not supported"),
        ("basic_auth:\n  username: ci\n", "basic_auth needs one of password, password_file"),
        ("basic_auth:\n  username: ci\n  password_file: nope\n", "password_file not found"),
        ("tls_config:\n  ca_file: nope.crt\n", "ca_file not found"),
        ("- a list\n", "must be a mapping"),
    ]:
        config.write_text(text)
        result = trt_agent(
            "check", "--rules", rules, "--push", "http://127.0.0.1:1", "--push.config.file", config, *ALEXNET
        )
        assert result.returncode == 2 and message in result.stderr, (text, result.stderr)
        assert "pushed" not in result.stderr


@pytest.mark.parametrize("label", ["cuda=12.4", "tensorrt=10", "cudnn=9"])
def test_a_label_of_the_version_info_is_refused(label: str) -> None:
    """trt_engine_build_info's labels are given per sample (the versions a log wrote): a --label
    of that name would overwrite the version TensorRT reported."""
    result = trt_agent("report", "--format", "prometheus", "--label", label, *ALEXNET)
    assert result.returncode == 2 and "is a label the metrics already use" in result.stderr, result.stderr


def test_output_through_a_link_and_into_a_fifo(tmp_path: Path) -> None:
    """A symbolic link's target is replaced (the link stays); a FIFO (like /dev/stdout) is
    written to, never renamed over."""
    (tmp_path / "real").mkdir()
    link = tmp_path / "current.prom"
    link.symlink_to(tmp_path / "real" / "alexnet.prom")
    result = trt_agent("report", "--format", "prometheus", "--engine", ENGINE, "-o", link, *ALEXNET)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and (tmp_path / "real" / "alexnet.prom").read_text().startswith("# HELP")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = trt_agent("report", "--format", "prometheus", "--engine", ENGINE, "-o", fifo, *ALEXNET)
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode) and got and got[0].startswith(b"# HELP")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--push", ""], "--push: empty URL"),
        (["--push", "ftp://gateway:9091"], "the Pushgateway's URL is http://HOST:PORT"),
        (["--push", "http://127.0.0.1:1", "--push.timeout", "0"], "--push.timeout must be in (0, 3600]"),
        (["-o", ""], "-o: empty path"),
    ],
)
def test_unusable_push_and_output_arguments_are_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = trt_agent("check", "--rules", rules_file(tmp_path, PASSING), *args, *ALEXNET)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_push_config_that_would_leak_or_lie(tmp_path: Path) -> None:
    """A null password is no password "None"; TLS settings with an http:// URL would be unused
    (and basic auth in cleartext): both refused."""
    rules = rules_file(tmp_path, PASSING)
    cert, _key = self_signed(tmp_path)
    config = tmp_path / "push.yml"
    for text, url, message in [
        (
            "basic_auth:\n  username: ci\n  password:\n",
            "http://127.0.0.1:1",
            "basic_auth.password must be a string",
        ),
        (
            f"tls_config:\n  ca_file: {cert}\n",
            "http://127.0.0.1:1",
            "tls_config is set but --push is no https:// URL",
        ),
        (
            f"tls_config:\n  ca_file: {cert}\n",
            "127.0.0.1:1",
            "tls_config is set but --push is no https:// URL",
        ),
    ]:
        config.write_text(text)
        result = trt_agent("check", "--rules", rules, "--push", url, "--push.config.file", config, *ALEXNET)
        assert result.returncode == 2 and message in result.stderr, (text, result.stderr)
