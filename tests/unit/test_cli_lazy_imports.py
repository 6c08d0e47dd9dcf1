"""``trt-agent parse`` starts without what it never uses (start-up is part of its CPU time, issue
19): the other commands' modules, prometheus_client, the daemon, the engine model, Hyperscan,
structlog until something is logged; and the constants the command line copies stay equal to their homes'."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from trt_agent.cli import check, diff, report
from trt_agent.model import diff as model_diff
from trt_agent.sinks import build_metrics, pushgateway

NOT_FOR_PARSE = (
    "prometheus_client",
    "structlog",
    "yaml",
    "trt_agent.daemon",
    "trt_agent.web.server",
    "trt_agent.reports.html",
    "trt_agent.reports.summary",
    "trt_agent.rules",
    "trt_agent.sinks.build_metrics",
    "trt_agent.sinks.pushgateway",
    "trt_agent.model.store",
    "trt_agent.model.engine",  # (the configuration's latency buckets live in vocab.buckets)
    "hyperscan",  # (a one-line log stays on RE2; Hyperscan is imported for a large region)
)

_PROBE = """
import json, sys
from trt_agent.cli import main
code = main(["parse", sys.argv[1]])
sys.stdout.flush()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def test_parse_imports_nothing_it_never_uses(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("[06/01/2024-10:00:00] [I] [TRT] Loaded engine size: 12 MiB\n")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(log)], capture_output=True, text=True, check=True
    )
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    assert probe["code"] == 0
    assert done.stdout.strip()  # it did parse
    loaded = set(probe["modules"])
    assert sorted(m for m in NOT_FOR_PARSE if m in loaded) == []


def test_copied_constants_equal_their_homes() -> None:
    assert report.FORMATS == build_metrics.FORMATS
    assert check.TIMEOUT_SECONDS == pushgateway.TIMEOUT_SECONDS
    assert diff.AGAINST == model_diff.AGAINST
