"""deploy/kubernetes is valid and keeps its promises, offline: the Kubernetes JSON schemas come with
kubernetes-validate, the ServiceMonitor schema is the prometheus-operator CRD vendored in
tests/data/crds."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from trt_agent.config import load_config
from trt_agent.daemon import parse_listen

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from conftest import DATA, ROOT

K8S = ROOT / "deploy" / "kubernetes"
SERVICEMONITOR_CRD = DATA / "crds" / "monitoring.coreos.com_servicemonitors.yaml"
AGENT_CONTAINER = "trt-agent"


# The oldest Kubernetes release the manifests must be valid for (schemas bundled offline).
K8S_VERSION = "1.29"


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def k8s_kind(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_documents() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} under deploy/kubernetes, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = k8s_kind("Deployment")["spec"]["template"]["spec"]
    return spec


def container(name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec()["containers"] if c["name"] == name]
    return found


def agent_config(tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    text = k8s_kind("ConfigMap")["data"]["config.toml"]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(str(path)), tomllib.loads(text)


def strict_crd_schema(schema: Any) -> Any:
    """The CRD's openAPIV3Schema with unknown fields rejected, as the API server's strict field
    validation (kubectl's default) does; ``x-kubernetes-preserve-unknown-fields`` stays open."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def servicemonitor_validator() -> Any:
    import jsonschema

    crd = next(d for d in yaml.safe_load_all(SERVICEMONITOR_CRD.read_text()) if d)
    assert crd["spec"]["names"]["kind"] == "ServiceMonitor"
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = strict_crd_schema(v1["schema"]["openAPIV3Schema"])
    # metadata is validated by the API server's ObjectMeta, not by the CRD schema
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate_k8s(doc: dict[str, Any]) -> None:
    if doc["kind"] == "ServiceMonitor":
        servicemonitor_validator().validate(doc)
        return
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "path,doc", k8s_documents(), ids=[f"{p.name}:{d['kind']}" for p, d in k8s_documents()]
)
def test_every_manifest_validates_against_its_schema(path: Path, doc: dict[str, Any]) -> None:
    pytest.importorskip("kubernetes_validate")
    validate_k8s(doc)


def test_the_validators_reject_unknown_fields() -> None:
    """The validation above can fail: a misspelt field is caught in core and CRD kinds alike."""
    pytest.importorskip("kubernetes_validate")
    import jsonschema
    import kubernetes_validate

    deployment = copy.deepcopy(k8s_kind("Deployment"))
    agent = next(
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == AGENT_CONTAINER
    )
    agent["securityContext"]["readOnlyRootFileSystem"] = True  # capital S: not a field
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment)
    monitor = copy.deepcopy(k8s_kind("ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        validate_k8s(monitor)
    monitor = copy.deepcopy(k8s_kind("ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scheme"] = "ftp"
    with pytest.raises(jsonschema.ValidationError):
        validate_k8s(monitor)


def test_the_agent_container_is_locked_down() -> None:
    spec = pod_spec()
    pod_security = spec.get("securityContext", {})
    agent = container(AGENT_CONTAINER)
    security = pod_security | agent["securityContext"]
    assert security["runAsNonRoot"] is True
    assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    assert agent["securityContext"]["allowPrivilegeEscalation"] is False
    assert agent["securityContext"].get("privileged", False) is False
    assert agent["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert not agent["securityContext"]["capabilities"].get("add")
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec.get("automountServiceAccountToken") is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(agent["resources"][kind]), kind
    # the inference container may not escalate either
    inference = next(c for c in spec["containers"] if c["name"] != AGENT_CONTAINER)
    assert inference["securityContext"]["allowPrivilegeEscalation"] is False


def test_probes_use_the_agents_endpoints_on_the_metrics_port(tmp_path: Path) -> None:
    agent = container(AGENT_CONTAINER)
    assert agent["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "metrics"}
    assert agent["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "metrics"}
    (port,) = [p for p in agent["ports"] if p["name"] == "metrics"]
    config, _ = agent_config(tmp_path)
    host, listen_port = parse_listen(config.metrics.listen)
    assert listen_port == port["containerPort"]
    assert host == "0.0.0.0", "probes come from the kubelet, not from localhost"


def test_configmap_toml_loads_and_matches_the_pod(tmp_path: Path) -> None:
    config, raw = agent_config(tmp_path)
    agent = container(AGENT_CONTAINER)
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    # the config file is where the command line says, from the ConfigMap
    args = agent.get("command", []) + agent["args"]
    config_path = args[args.index("-c") + 1]
    (config_mount,) = [m for m in mounts.values() if config_path.startswith(m["mountPath"] + "/")]
    assert volumes[config_mount["name"]]["configMap"]["name"] == k8s_kind("ConfigMap")["metadata"]["name"]
    assert Path(config_path).name in k8s_kind("ConfigMap")["data"]
    # every [[logs]] glob is on a volume the inference container writes and the agent only reads
    writers = {
        m["name"]: m
        for c in pod_spec()["containers"]
        if c["name"] != AGENT_CONTAINER
        for m in c["volumeMounts"]
    }
    assert config.logs
    for source in config.logs:
        (mount,) = [m for m in mounts.values() if source.path.startswith(m["mountPath"] + "/")]
        assert mount.get("readOnly") is True, f"{mount['name']} must be read-only for the agent"
        assert not writers[mount["name"]].get("readOnly"), "the inference container writes the logs"
        assert writers[mount["name"]]["mountPath"] == mount["mountPath"]
    # state_dir is a writable volume of its own (emptyDir or PVC), not the read-only root
    (state_mount,) = [m for m in mounts.values() if m["mountPath"] == config.state_dir]
    assert not state_mount.get("readOnly")
    assert {"emptyDir", "persistentVolumeClaim"} & set(volumes[state_mount["name"]])
    assert config.events.path == "-", "events go to stdout (kubectl logs, log shippers)"
    assert raw["redaction"]["enabled"] is False or raw["redaction"].get("key_file")
    # SIGTERM drains within shutdown_timeout, well inside the grace period
    assert pod_spec()["terminationGracePeriodSeconds"] > config.tail.shutdown_timeout
    # same top-level keys as the example config: nothing invented, nothing essential missing
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    assert set(raw) <= set(example)
    assert {"agent", "logs", "metrics", "events"} <= set(raw)


def test_service_and_servicemonitor_reach_the_metrics_port() -> None:
    service = k8s_kind("Service")
    monitor = k8s_kind("ServiceMonitor")
    pod_labels = k8s_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == "metrics"]
    assert port["targetPort"] == "metrics"
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present
    assert len(listed) == len(set(listed))
    images = {i["name"] for i in kustomization.get("images", [])}
    assert container(AGENT_CONTAINER)["image"].split(":")[0] in images


def test_kustomize_renders_the_pod_offline() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out) if d)
    assert kinds == ["ConfigMap", "Deployment", "Service", "ServiceMonitor"]
