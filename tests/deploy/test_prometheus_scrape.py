"""A real Prometheus server (Debian package ``prometheus``, installed by scripts/test.sh) scraping
``trt-agent run``, and ``promtool check metrics`` on its exposition."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, alexnet_agent
from harness import Agent, wait_for

PROMTOOL = shutil.which("promtool")
ALEXNET = sorted(str(p) for p in (DATA / "corpus").glob("0[1-4]_*alexnet*"))
H100_PROFILE = str(next((DATA / "extra").glob("41_*")))


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
    agent = alexnet_agent(agents, tmp_path).start()
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
        for r in _query(base, 'trt_engine_layer_latency_seconds_count{engine="h100"}')
    }
    assert counts and sum(counts.values()) == h100["events"]["by_type"]["layer_time"]
    for row in h100["slowest_layers"]:
        assert counts[row["layer"]] == row["count"]
        mean = _value(
            base,
            f'trt_engine_layer_latency_seconds_sum{{engine="h100",layer="{row["layer"]}"}}'
            f' / trt_engine_layer_latency_seconds_count{{engine="h100",layer="{row["layer"]}"}}',
        )
        assert mean * 1000 == pytest.approx(row["avg_ms"], rel=1e-6)
    assert agent.stop() == 0


def test_promtool_check_metrics_is_clean(tmp_path: Path, agents: list[Agent]) -> None:
    if PROMTOOL is None:
        pytest.fail("promtool is not installed: scripts/test.sh installs the Debian package prometheus")
    agent = alexnet_agent(agents, tmp_path).start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    with urllib.request.urlopen(agent.metrics_url, timeout=5) as response:
        text = response.read()
    assert b"trt_engine_layer_latency_seconds_bucket" in text and b"trt_engine_build_info" in text
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True)
    assert check.returncode == 0 and not check.stdout and not check.stderr, check.stdout + check.stderr
    assert agent.stop() == 0
