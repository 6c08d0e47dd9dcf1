"""deploy/prometheus (alerts, recording rules, their promtool tests, the runbook) and
deploy/grafana (the dashboard), checked with promtool and against a real Prometheus 2.42 that
scrapes a real ``trt-agent run`` fed with corpus logs and loads the rule files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DATA, ROOT, dashboard_panels, dashboard_queries, promql, trt_agent
from harness import Agent, wait_for

PROM_DIR = ROOT / "deploy" / "prometheus"
RULE_FILES = [PROM_DIR / "recording.yml", PROM_DIR / "alerts.yml", PROM_DIR / "builds.yml"]
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))
RUNBOOK = PROM_DIR / "RUNBOOK.md"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "trt-agent-dashboard.json"
PROMTOOL = shutil.which("promtool")
JOB = "trt-agent"

# Names a query may use that the agent does not export: Prometheus's own series.
ALLOWED_NAMES = {"up", "ALERTS"}
# Families the fixture below leaves without samples: none (tail errors are exported at 0 from the
# start, so even the file-error panel has data).
EXPECTED_EMPTY: set[str] = set()
RULES_EXAMPLE = ROOT / "rules.example.toml"

H100_PROFILE = next((DATA / "extra").glob("41_*"))
ALEXNET_FILES = sorted((DATA / "corpus").glob("0[1-4]_*alexnet*"))
# Engine id -> files: per engine, a fact the dashboard and the rules read.
ENGINES = {
    "alexnet-fp16": [str(DATA / "corpus" / "0[1-4]_*alexnet*")],  # coverage, latency, versions
    "int8-qdq": [str(next((DATA / "extra").glob("47_*")))],  # INT8 layers
    "trtllm-llama3": [str(next((DATA / "corpus").glob("25_*")))],  # cuDNN version mismatch
    "nmt-dla": [str(next((DATA / "extra").glob("49_*")))],  # DLA -> GPU fallbacks
    "segformer": [  # plugins, Myelin opaque layers, calibration ranges
        str(DATA / "corpus" / "trtexec-8.6.1-segformer-layernorm-plugin-full.log"),
        str(next((DATA / "corpus").glob("07_*"))),
    ],
    "h100": [],  # a --dumpProfile table the test appends to (runtime latency): set up below
}


def _require(tool: str | None, name: str) -> str:
    if tool is None:
        pytest.fail(f"{name} is not installed: scripts/test.sh installs the Debian package prometheus")
    return tool


# -- promtool ----------------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [_require(PROMTOOL, "promtool"), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES), result.stdout


def test_promtool_check_metrics_on_a_scrape_of_every_corpus_log(tmp_path: Path, agents: list[Agent]) -> None:
    """Prometheus's own linter on what the agent exports, fed every real log and artifact of
    tests/data and the shipped rules: names, units, suffixes, HELP, no problem at all."""
    logs = [{"path": str(DATA / folder / "*")} for folder in ("corpus", "extra")]
    agent = Agent(tmp_path, logs)
    agents.append(agent)
    agent.write_config(f"[rules]\nfile = {json.dumps(str(RULES_EXAMPLE))}\n")
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 30, "ready", agent)
    with urllib.request.urlopen(agent.metrics_url, timeout=5) as response:
        exposition = response.read()
    families = {line.split()[2] for line in exposition.decode().splitlines() if line.startswith("# TYPE")}
    assert len(families) >= 50
    assert {
        "trt_engine_layer_latency_seconds",
        "trt_engine_fusion_coverage_ratio",
        "trt_engine_rule_ok",
        "trt_engine_build_info",
    } <= families
    result = subprocess.run(
        [_require(PROMTOOL, "promtool"), "check", "metrics"], input=exposition, capture_output=True
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
    # the control: the linter does judge (a counter without _total, no HELP)
    bad = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=b"# TYPE x counter\nx 1\n", capture_output=True
    )
    assert bad.returncode != 0 and b"x" in bad.stdout + bad.stderr
    assert agent.stop() == 0


def test_promtool_test_rules() -> None:
    assert len(RULE_TESTS) >= 2
    result = subprocess.run(
        [_require(PROMTOOL, "promtool"), "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


# -- the rule files themselves -------------------------------------------------------------------


def _rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return _rules(PROM_DIR / "alerts.yml")


def _recordings() -> list[dict[str, Any]]:
    """The recording rules: fleet views (recording.yml) and build history (builds.yml)."""
    return [*_rules(PROM_DIR / "recording.yml"), *_rules(PROM_DIR / "builds.yml")]


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_severity_annotations_and_a_runbook_section() -> None:
    anchors = {
        _github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    alerts = _alerts()
    assert len(alerts) >= 10
    for alert in alerts:
        name = alert["alert"]
        severity = alert["labels"]["severity"]
        assert severity in {"critical", "warning", "info"} or "$labels.severity" in severity, name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        url, _, anchor = annotations["runbook_url"].partition("#")
        assert url.endswith("deploy/prometheus/RUNBOOK.md"), name
        assert anchor == name.lower() and anchor in anchors, f"{name}: no runbook section #{anchor}"
    # trt_engine_rule_ok's severity label decides the alert's
    (rule_failed,) = [a for a in alerts if "trt_engine_rule_ok" in a["expr"]]
    assert "$labels.severity" in rule_failed["labels"]["severity"]


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    evaluated: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
            for case in test.get("promql_expr_test", []):
                evaluated |= _metric_names(case["expr"])
    names = {a["alert"] for a in _alerts()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"
    records = {r["record"] for r in _recordings()}
    assert records - evaluated == set(), "recording rules without a promql_expr_test"


def test_recording_rules_follow_the_naming_convention() -> None:
    for rule in _recordings():
        level, metric, operations = rule["record"].split(":")
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", level) and operations, rule["record"]
        # the level names the labels kept: every `by (...)` label list of the outermost
        # aggregation is a subset of them
        kept = set(level.split("_"))
        outer = re.match(r"\s*\w+ by \(([^)]*)\)", rule["expr"])
        if outer:
            assert {label.strip() for label in outer.group(1).split(",")} <= kept | {"le"}, rule["record"]
        assert metric.startswith("trt_"), rule["record"]


# -- PromQL names ------------------------------------------------------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
_KEYWORDS |= {"offset", "bool", "inf", "nan", "atan2"}


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords and labels removed)."""
    expr = re.sub(r"label_values\((.*),\s*\w+\)\s*$", r"\1", expr.strip())  # Grafana variables
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for m in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        if m.group(2) is None and m.group(1).lower() not in _KEYWORDS:
            names.add(m.group(1))
    return names


def test_metric_name_extraction() -> None:
    assert _metric_names(
        'histogram_quantile(0.99, sum by (engine, le) (rate(trt_engine_layer_latency_seconds_bucket{engine=~"a|b"}[5m])))'
    ) == {"trt_engine_layer_latency_seconds_bucket"}
    assert _metric_names(
        "(trt_engine_version_mismatch == 1) * ignoring (tensorrt, cuda, cudnn) group_left (tensorrt) trt_engine_build_info"
    ) == {"trt_engine_version_mismatch", "trt_engine_build_info"}
    assert _metric_names(
        "a:b:c offset 1h > 1e-3 unless on (engine) present_over_time(x_total[1h] offset 15m)"
    ) == {
        "a:b:c",
        "x_total",
    }
    assert _metric_names("count(trt_engine_rule_ok == 0) or vector(0)") == {"trt_engine_rule_ok"}
    assert _metric_names('label_values(trt_engine_fallbacks{job=~"$job"}, engine)') == {
        "trt_engine_fallbacks"
    }
    assert _metric_names("sum(trt_engine_fusion_coverage) by (engine)") == {"trt_engine_fusion_coverage"}


# -- the dashboard ---------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def _dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target, variable query and annotation."""
    return dashboard_queries(_dashboard())


def test_dashboard_structure() -> None:
    doc = _dashboard()
    assert doc["schemaVersion"] >= 39 and doc["uid"] and doc["title"]
    assert [i["pluginId"] for i in doc["__inputs"]] == ["prometheus"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert {"engine", "layer", "instance", "job"} <= set(variables)
    panels = [p for p in dashboard_panels(doc["panels"]) if p["type"] != "row"]
    assert len({p["id"] for p in dashboard_panels(doc["panels"])}) == len(
        list(dashboard_panels(doc["panels"]))
    )
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    heatmaps = [p for p in panels if p["type"] == "heatmap"]
    assert heatmaps and all(
        t["format"] == "heatmap" and "trt_engine_layer_latency_seconds_bucket" in t["expr"]
        for p in heatmaps
        for t in p["targets"]
    )
    exprs = " ".join(expr for _, expr in _dashboard_queries())
    for needed in (
        "topk(",
        "trt_engine_rule_ok",
        "trt_engine_build_info",
        "trt_agent_tail_lag_bytes",
        "trt_engine_plugins",
    ):
        assert needed in exprs, needed
    # panels do not overlap
    cells: set[tuple[int, int]] = set()
    for panel in dashboard_panels(doc["panels"]):
        pos = panel["gridPos"]
        mine = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert pos["x"] + pos["w"] <= 24 and not mine & cells, panel["title"]
        cells |= mine


def test_grafana_provisioning_examples() -> None:
    """The provider loads the dashboard from where deploy/grafana/README.md puts it."""
    (provider,) = yaml.safe_load((GRAFANA / "provisioning/dashboards/trt-agent.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    readme = (GRAFANA / "README.md").read_text()
    assert f"{provider['options']['path']}/{DASHBOARD.name}" in readme
    (source,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"].startswith("http")


def _substitute(expr: str, engines: list[str]) -> str:
    """Grafana's variables, as Grafana fills them in with 'All' selected (job: its default)."""
    values = {
        "engine": "|".join(engines),
        "layer": ".*",
        "instance": ".*",
        "job": next(v for v in _dashboard()["templating"]["list"] if v["name"] == "job")["query"],
        "__rate_interval": "1m",
        "__interval": "15s",
        "__range": "1h",
    }
    for name, value in values.items():
        expr = re.sub(r"\$\{" + name + r"(:[a-z]+)?\}|\$" + name + r"\b", value, expr)
    assert "$" not in expr, expr
    return expr


# -- a real Prometheus with the rules loaded --------------------------------------------------------


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    except (urllib.error.URLError, ConnectionError):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body


def _exported_names(text: str) -> set[str]:
    """Every series name a scrape of the agent gives Prometheus, from samples and # TYPE lines
    (a family without samples yet, e.g. tail errors, still counts)."""
    names = set()
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            names |= {name + suffix for suffix in suffixes.get(kind, ())}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_dashboard_and_rules_against_real_prometheus(
    tmp_path: Path, agents: list[Agent], prometheus: Any
) -> None:
    profile = tmp_path / "h100-profile.log"
    profile.write_bytes(H100_PROFILE.read_bytes())
    logs = [{"path": path, "engine": engine} for engine, paths in ENGINES.items() for path in paths]
    logs.append({"path": str(profile), "engine": "h100"})
    (tmp_path / "agent").mkdir()
    agent = Agent(tmp_path / "agent", logs)
    agent.write_config(f"[rules]\nfile = {json.dumps(str(RULES_EXAMPLE))}\n")  # trt_engine_rule_ok
    agents.append(agent)
    agent.start()
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "agent ready", agent)
    with urllib.request.urlopen(agent.metrics_url, timeout=5) as response:
        exported = _exported_names(response.read().decode())

    base = prometheus(agent.metrics_url.split("/")[2], rule_files=RULE_FILES)
    wait_for(lambda: promql(base, f'up{{job="{JOB}"}} == 1'), 30, "a successful scrape")
    wait_for(
        lambda: promql(base, 'trt_engine_layer_latency_seconds_count{engine="h100"}'), 30, "latency scraped"
    )
    # The profile runs again: rates become non-zero, so the quantile recordings get values. First
    # the first run's counts are scraped more than once: the base the rates rise from.
    wait_for(
        lambda: promql(
            base, 'min(count_over_time(trt_engine_layer_latency_seconds_count{engine="h100"}[5m])) >= 2'
        ),
        30,
        "two scrapes of the first run",
    )
    with profile.open("ab") as out:
        out.write(H100_PROFILE.read_bytes())
    wait_for(
        lambda: promql(base, 'engine_layer:trt_engine_layer_latency_seconds:p99_5m_avg1d{engine="h100"}'),
        30,
        "p99 recordings and their baseline",
    )

    # Every rule loaded and evaluated without error.
    groups = _get(f"{base}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(_alerts()) + len(_recordings())
    wait_for(
        lambda: all(
            r["health"] == "ok" for g in _get(f"{base}/api/v1/rules")["data"]["groups"] for r in g["rules"]
        ),
        15,
        "every rule evaluated",
    )
    for group in _get(f"{base}/api/v1/rules")["data"]["groups"]:
        for rule in group["rules"]:
            assert rule["health"] == "ok" and not rule.get("lastError"), rule

    recordings = {r["record"] for r in _recordings()}
    # and the families only a CI build's report writes (builds.yml reads them: docs/ci.md)
    built = trt_agent("report", "--format", "prometheus", "--rules", RULES_EXAMPLE, *ALEXNET_FILES)
    assert built.returncode == 0, built.stderr
    known = exported | recordings | ALLOWED_NAMES | _exported_names(built.stdout)
    engines = sorted(ENGINES)

    # Every rule expression: valid on the real server, and only names that exist.
    for rule in _alerts() + _recordings():
        name = rule.get("alert") or rule["record"]
        unknown = _metric_names(rule["expr"]) - known
        assert not unknown, f"{name} reads series nobody exports: {unknown}"
        promql(base, rule["expr"])
    # Every recording of the daemon's series has data with this fixture (builds.yml's have data
    # where CI builds are pushed: tests/deploy/test_ci_reporting.py).
    for record in sorted(r["record"] for r in _rules(PROM_DIR / "recording.yml")):
        assert promql(base, record), f"recording rule {record} has no data"

    # Every dashboard query: valid, only existing names, and data unless its family is known
    # to stay empty here.
    queries = _dashboard_queries()
    assert len(queries) >= 50
    empty = []
    for where, expr in queries:
        unknown = _metric_names(expr) - known
        assert not unknown, f"{where}: {expr} reads series nobody exports: {unknown}"
        query = _substitute(re.sub(r"label_values\((.*),\s*\w+\)\s*$", r"\1", expr), engines)
        if not promql(base, query) and not _metric_names(expr) & EXPECTED_EMPTY:
            empty.append(f"{where}: {query}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

    # Facts the fixture has, through the dashboard's and the rules' names.
    def values(query: str) -> dict[str, float]:
        return {r["metric"].get("engine", ""): float(r["value"][1]) for r in promql(base, query)}

    assert set(values("count by (engine) (trt_engine_fallbacks)")) == set(ENGINES)
    assert values('trt_engine_build_info{engine="alexnet-fp16", tensorrt="10.4.0"}') == {"alexnet-fp16": 1}
    assert values("engine_tensorrt:trt_engine_fusion_coverage_ratio:avg")["alexnet-fp16"] == pytest.approx(
        values("trt_engine_fusion_coverage_ratio")["alexnet-fp16"]
    )
    assert values("engine:trt_engine_int8_coverage_ratio:min")["int8-qdq"] == 1
    assert values("engine:trt_engine_fallbacks:max")["nmt-dla"] > 0
    assert values("max by (engine) (trt_engine_plugins)")["segformer"] > 0
    assert values("count by (engine) (trt_engine_calibration_range)")["segformer"] > 0
    p99s = values('max by (engine) (engine_layer:trt_engine_layer_latency_seconds:p99_5m{engine="h100"})')
    p99 = p99s["h100"]
    assert 0 < p99 <= 0.5

    # The alerts this fixture must raise, and must not.
    def alerts() -> list[dict[str, str]]:
        return [a["labels"] | {"state": a["state"]} for a in _get(f"{base}/api/v1/alerts")["data"]["alerts"]]

    def raised(name: str) -> dict[tuple[str, ...], dict[str, str]]:
        return {(a["engine"], a.get("rule", "")): a for a in alerts() if a["alertname"] == name}

    failing = {(r["metric"]["engine"], r["metric"]["rule"]) for r in promql(base, "trt_engine_rule_ok == 0")}
    assert ("alexnet-fp16", "fusion_coverage") in failing  # rules.example.toml: 14/19 < 90 %
    wait_for(lambda: set(raised("TRTRuleFailed")) == failing, 15, "an alert per failing rule")
    rule_alerts = raised("TRTRuleFailed")
    for alert in rule_alerts.values():
        expected = {"error": "critical", "warning": "warning"}[alert["rule_severity"]]
        assert alert["severity"] == expected and alert["state"] in {"pending", "firing"}, alert
    assert rule_alerts[("alexnet-fp16", "fusion_coverage")]["severity"] == "critical"

    wait_for(lambda: ("trtllm-llama3", "") in raised("TRTVersionMismatch"), 15, "mismatch alert")
    mismatch = raised("TRTVersionMismatch")
    assert set(mismatch) == {("trtllm-llama3", "")}
    assert mismatch[("trtllm-llama3", "")]["cudnn"] == "8.9.2"  # trt_engine_build_info joined in
    # nmt-dla: an engine new to this Prometheus, with DLA fallbacks
    # segformer: trtexec asked for TF32 on a T4, which has none ("BuilderFlag::kTF32 is set but
    # hardware does not support TF32. Disabling TF32."), a no_tf32 fallback
    fallback = raised("TRTNewFallback")
    assert set(fallback) == {("nmt-dla", ""), ("segformer", "")}
    assert fallback[("nmt-dla", "")]["state"] == "firing"
    others = {a["alertname"] for a in alerts()} - {"TRTRuleFailed", "TRTVersionMismatch", "TRTNewFallback"}
    assert not others, others
    assert agent.stop() == 0
