"""Shared helpers of every tier (unit/, contract/, integration/, deploy/): where things are (ROOT,
DATA, GOLDEN), real TensorRT text from tests/data (corpus/ and extra/, see SOURCES.md there), the
command line as a process, rules files, a TLS certificate, redaction helpers, the ``agents`` and ``prometheus``
fixtures. Import what you need: ``from conftest import DATA, parse_file``.

The tiers are folders without ``__init__.py`` and pytest imports a test file by its name, so a
file's name is unique across the tiers. ``pytest tests/unit`` runs the fast tier alone (no
process, server or browser); plain ``pytest`` runs everything."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
from harness import Agent, wait_for

from trt_agent.config import RedactionConfig
from trt_agent.model import EngineModel, build_models
from trt_agent.parse import ParseStats, parse_path
from trt_agent.redact import NAME_FIELDS, NAME_LIST_FIELDS, Redactor, scrubbable
from trt_agent.vocab.events import Event
from trt_agent.vocab.names import decompose

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent  # the repository: README, rules.example.toml, config.example.toml, deploy/
DATA = TESTS / "data"
GOLDEN = TESTS / "golden"


def data_file(name: str) -> Path:
    """A file of tests/data/corpus, extra or dialects by (a unique prefix of) its name."""
    for folder in ("corpus", "extra", "dialects"):
        matches = sorted((DATA / folder).glob(name + "*"))
        if matches:
            return matches[0]
    raise FileNotFoundError(name)


def parse_file(name: str, engine: str = "test") -> tuple[list[Event], ParseStats]:
    stats = ParseStats()
    path = data_file(name)
    rel = os.path.relpath(path, DATA)
    cwd = os.getcwd()
    os.chdir(DATA)
    try:
        events = list(parse_path(rel, engine, stats))
    finally:
        os.chdir(cwd)
    return events, stats


def model_of(*names: str) -> EngineModel:
    events: list[Event] = []
    for name in names:
        events.extend(parse_file(name)[0])
    return build_models(events)["test"]


def of_type(events: list[Event], type_: str, **match: Any) -> list[Event]:
    return [e for e in events if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def update_golden() -> bool:
    return os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    """Agents a test starts (append them); killed at teardown if a test left one running."""
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.kill()


PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_ok(url: str) -> bool:
    """A GET of ``url`` succeeds; an error status (a 503 "not ready yet") or no server is "not
    yet", for wait_for."""
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start(target, rule_files=(), jobs={})``: a real Prometheus (the Debian package) scraping
    ``target`` as job ``trt-agent`` (and each of ``jobs``: name -> (target, honor_labels)) and
    evaluating ``rule_files`` every second; returns its URL once ready."""
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed: scripts/test.sh installs the Debian package")
    procs: list[subprocess.Popen[bytes]] = []

    def start(target: str, rule_files: Sequence[Path] = (), jobs: Mapping[str, tuple[str, bool]] = {}) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        scrapes = {"trt-agent": (target, False), **jobs}
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: {json.dumps([str(p) for p in rule_files])}\n"
            "scrape_configs:\n"
            + "".join(
                f"  - job_name: {name}\n    honor_labels: {json.dumps(honor)}\n"
                f"    static_configs:\n      - targets: ['{where}']\n"
                for name, (where, honor) in scrapes.items()
            )
        )
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - the process writes it
        procs.append(
            subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
            )
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers_ok(f"{base}/-/ready"), 30, "Prometheus ready")
        return base

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(20)


def promql(base: str, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query to the Prometheus at ``base``; a PromQL error fails the
    test with Prometheus's message."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            doc = json.load(response)
    except urllib.error.HTTPError as exc:
        pytest.fail(f"{expr}\n  -> {exc.code}: {exc.read().decode(errors='replace')}")
    assert doc["status"] == "success", (expr, doc)
    result = doc["data"]["result"]
    return result if isinstance(result, list) else [result]


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel of a Grafana dashboard, those inside rows included."""
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def dashboard_queries(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target, variable query and annotation of a dashboard."""
    out = []
    for panel in dashboard_panels(doc["panels"]):
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for var in doc["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            out.append((f"variable {var['name']}", query))
    for annotation in doc["annotations"]["list"]:
        if "expr" in annotation:
            out.append((f"annotation {annotation['name']!r}", annotation["expr"]))
    return out


def alexnet_agent(agents: list[Agent], root: Path, **options: Any) -> Agent:
    """An agent (not started) on the AlexNet FP16 logs of the corpus and the H100 profile (engine h100)."""
    logs = [{"path": str(DATA / "corpus" / "0[1-4]_*alexnet*"), "engine": "alexnet-fp16"}]
    logs.append({"path": str(next((DATA / "extra").glob("41_*"))), "engine": "h100"})
    agent = Agent(root, logs, **options)
    agents.append(agent)
    return agent


def agent_toml(tmp_path: Path, text: str) -> Path:
    """``tmp_path/agent.toml``: a state dir and an ephemeral port, then ``text``."""
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\n{text}')
    return path


# -- the command line --------------------------------------------------------------------------------


def trt_agent(
    *args: str | Path, cwd: Path | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """``trt-agent ARGS`` as a process, run from the repository (or ``cwd``), to its exit."""
    return subprocess.run(
        [sys.executable, "-m", "trt_agent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or ROOT,
        **kwargs,  # type: ignore[call-overload]
    )


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def rules_file(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# What a team gates its AlexNet/ResNet builds on (thresholds tuned to the network, as a team does).
GATE = """
[[rule]]
name = "fusion_coverage"
check = "fusion_coverage"
min = 0.6
[[rule]]
name = "no_fallback"
check = "no_fallback"
[[rule]]
name = "plugins_registered"
check = "plugins_registered"
[[rule]]
name = "fp16_everywhere"
check = "precision"
layer_types = ["CaskConvolution", "CaskGemmConvolution"]
allowed = ["Half", "Int8"]
"""

ATTENTION_RULES = """
[[rule]]
name = "attention_fused"
check = "fused"
layers = ["*/attention/self/*"]
[[rule]]
name = "attention_latency"
check = "layer_latency"
layers = ["*/attention/*"]
max_ratio = 1.2
[[rule]]
name = "attention_precision"
check = "precision"
layers = ["*/attention/*"]
allowed = ["Half", "Int8", "FP8"]
"""


# -- TLS -----------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """``server.crt`` and ``server.key`` (mode 600) for ``localhost`` in ``directory``."""
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


# -- redaction -----------------------------------------------------------------------------------------

REDACTION_KEY = b"0123456789abcdef-test-key"
REDACTION_CONFIG = '[redaction]\nenabled = true\nkey_file = "key"\n'  # with write_key(folder)
PSEUDONYMS = re.compile(r"[LP][0-9a-f]{10}(?:[0-9a-f]{6})?")

# Tensor names the layer lines of these corpus files list (inputs and outputs).
LAYER_LINE_TENSORS = {
    "62_": ["concat_ids", "concat_mask", "sent_ids", "pos_ids", "score"],
    "03_": [
        "input",
        "output",
        "output'.1_4",
        "__mye574/classifier/classifier_6/Gemm_alpha",
        "__mye595_dconst",
        "classifier_6_bias _ ONNXTRT_Broadcast_6_constantHalf",
        "/features/features.1/Relu_output_0",
    ],
    "47_": ["input", "581", "596", "610"],
    "46_": ["tensor", "(Unnamed Layer* 0) [DynamicQuantize]_output_1"],
    "69_": ["net_inout_fp16", "(Unnamed Layer* 2) [Activation]_output"],
}


def make_redactor(mode: str = "pseudonym", **settings: object) -> Redactor:
    """The redactor of ``[redaction]`` on with ``REDACTION_KEY`` (and ``settings``)."""
    return Redactor(RedactionConfig(enabled=True, mode=mode, **settings), REDACTION_KEY)  # type: ignore[arg-type]


def write_key(root: Path) -> None:
    """``root/key``: REDACTION_KEY, as ``REDACTION_CONFIG`` names it."""
    (root / "key").write_bytes(REDACTION_KEY)
    (root / "key").chmod(0o600)  # the agent refuses a key others can read


def names_in(events: list[Event]) -> set[str]:
    """Every layer/tensor name the unredacted run extracted, and the members of fused names."""
    names = {event[k] for event in events for k in NAME_FIELDS if isinstance(event.get(k), str)}
    names |= {
        v for event in events for k in NAME_LIST_FIELDS for v in event.get(k) or () if isinstance(v, str)
    }
    for name in list(names):
        names.update(decompose(name).sources)
    return {n for n in names if n}


# Names that are also words the outputs print ("direction": "input", "outputs 1.5 MiB"): trtexec
# names an engine's bindings "input" and "output", and extra/46's layer line a tensor "tensor"
# (a layer event's ``inputs``; the JSON report says "tensor_cores"). A substring search cannot
# tell the name from the word: tests check these where names stand (a binding event's or row's
# name, LAYER_LINE_TENSORS) instead.
NAMES_THAT_ARE_WORDS: Final = frozenset({"input", "output", "tensor"})


def leaks(names: set[str], output: str) -> list[str]:
    """Names found in ``output`` once pseudonyms are taken out (which could contain short names)."""
    text = PSEUDONYMS.sub("", output)
    return sorted(n for n in names if scrubbable(n) and n in text)


def clear_names(text: str, names: list[str]) -> list[str]:
    """The names that stand in ``text`` as names (not inside a longer word), pseudonyms aside."""
    text = PSEUDONYMS.sub("", text)
    return [n for n in names if re.search(rf"(?<![\w.']){re.escape(n)}(?![\w.'])", text)]
