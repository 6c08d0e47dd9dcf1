"""The docs agree with the code: the reference tables of docs/reference/ are what
scripts/gen_reference.py generates from the one home of each (config schema, event specs, a real
scrape), and the hand-written pages name only metrics, event keys, config defaults and files
that exist."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from trt_agent.config.schema import SECTIONS, keys
from trt_agent.vocab.events import EVENT_SPECS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REGENERATE = "run `.venv/bin/python scripts/gen_reference.py` and commit docs/reference/"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_reference", module)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _committed(name: str) -> str:
    path = DOCS / "reference" / name
    assert path.exists(), f"docs/reference/{name} is missing: {REGENERATE}"
    return path.read_text()


@pytest.mark.parametrize(
    ("name", "render"), [("config.md", "config_reference"), ("events.md", "events_reference")]
)
def test_reference_is_generated_from_the_code(name: str, render: str) -> None:
    assert _committed(name) == getattr(GEN, render)(), f"docs/reference/{name} is out of date: {REGENERATE}"


def test_metrics_reference_is_what_a_running_agent_serves() -> None:
    """Starts ``trt-agent run`` on the example files (about a second) and scrapes it."""
    assert _committed("metrics.md") == GEN.metrics_reference(GEN.scrape_agent()), (
        f"docs/reference/metrics.md is out of date: {REGENERATE}"
    )


def _metric_names() -> set[str]:
    """Families of the generated reference, and the profiler's, kept by hand in profiler.md."""
    names = set(re.findall(r"^\| `(trt_[a-z0-9_]+)`", _committed("metrics.md"), re.M))
    metrics_section = (DOCS / "profiler.md").read_text().split("## Metrics", 1)[1]
    names |= set(re.findall(r"`(trt_agent_profiler_[a-z0-9_]+)", metrics_section))
    return names


def test_pages_name_only_metrics_that_exist() -> None:
    families = _metric_names()
    suffixes = ("_bucket", "_sum", "_count")
    unknown: dict[str, set[str]] = {}
    for page in [*PAGES, ROOT / "SECURITY.md"]:
        for token in re.findall(r"(?<![\w/.-])trt_[a-z0-9_]+\b(?![./])", page.read_text()):
            if token in ("trt_agent", "trt_double", "trt_facts", "trt_managed_gpu"):
                continue  # the package, the test double, bench/trt_facts.mtail, a memory kind
            known = (
                token in families
                or any(token == f + s for f in families for s in suffixes)
                or any(f.startswith(token.rstrip("_") + "_") for f in families)  # a prefix: trt_engine
            )
            if not known:
                unknown.setdefault(page.name, set()).add(token)
    assert unknown == {}, f"metrics named in the docs that the agent does not export: {unknown}"


def test_event_table_of_commands_md_covers_every_spec() -> None:
    """The hand-written table of which messages give which event names every type, and every key
    the spec of that type declares."""
    section = (DOCS / "commands.md").read_text().split("## Events", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = line.strip("|").split(" | ")
            for event_type in re.findall(r"`([a-z_]+)`", cells[0]):
                rows[event_type] = cells[1]
    assert sorted(rows) == sorted(EVENT_SPECS)
    for event_type, spec in EVENT_SPECS.items():
        declared = [key for key, _ in spec.required + spec.optional]
        missing = [key for key in declared if f"`{key}`" not in rows[event_type]]
        assert missing == [], f"docs/commands.md's row of {event_type!r} does not name {missing}"


def _example_config() -> dict[str, Any]:
    """config.example.toml with its commented-out keys and sections uncommented."""
    lines = []
    for line in (ROOT / "config.example.toml").read_text().splitlines():
        match = re.match(r"#\s?(\[\[?\w+\]\]?\s*$|\w+\s*=\s*\S.*)", line)
        lines.append(match.group(1) if match else line)
    doc: dict[str, Any] = tomllib.loads("\n".join(lines))
    doc["logs"] = doc["logs"][0]
    doc["patterns"] = doc["patterns"][0]
    return doc


# Keys whose value in the example is an example, not the default.
EXAMPLE_VALUES = {
    "agent.state_dir",
    "agent.engine",
    "metrics.web_config_file",
    "logs.path",
    "logs.engine",
    "redaction.key_file",
    "redaction.key_env",
    "rules.file",
    "profiler.engine",
    "profiler.engine_id",
    "profiler.shapes",
    "patterns.regex",
    "patterns.type",
    "patterns.severity",
    "patterns.engine",
    "patterns.fields",
}


def test_the_example_config_shows_every_key_with_its_default() -> None:
    example = _example_config()
    for section in SECTIONS:
        for key in keys(section):
            where = f"{section}.{key.name}"
            assert key.name in example.get(section, {}), f"config.example.toml does not show {where}"
            if where in EXAMPLE_VALUES:
                continue
            value = example[section][key.name]
            default = list(key.default) if isinstance(key.default, tuple) else key.default
            assert value == default, f"config.example.toml: {where} = {value!r}, the default is {default!r}"


def test_defaults_named_in_the_pages_are_the_schema_defaults() -> None:
    defaults = {f"{s}.{k.name}": k.default for s in SECTIONS for k in keys(s)}
    for page in PAGES:
        for key, value in re.findall(r"`([a-z_]+\.[a-z_]+)` defaults to `([^`]+)`", page.read_text()):
            assert str(defaults[key]) == value, (
                f"{page.name}: {key} defaults to {defaults[key]!r}, not {value!r}"
            )


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


LINKED = [
    *PAGES,
    *sorted((DOCS / "reference").glob("*.md")),
    ROOT / "SECURITY.md",
    ROOT / "bench" / "README.md",
]
LINKED += [ROOT / "deploy" / "grafana" / "README.md", ROOT / "deploy" / "kubernetes" / "README.md"]


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)}: broken links {broken}"


# Named like repository paths, but not in the repository: a kubectl resource, benchmark output.
NOT_PATHS = ("deploy/trt-inference", "bench/out/")


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_named_in_the_pages_exist(page: Path) -> None:
    """A file or folder of the repository a page names (`tests/...`, `bench/...`) is there: when
    one moves, the page says where it went."""
    top = "tests|bench|deploy|scripts|examples|systemd|fuzz|trt_agent|docs"
    missing = []
    for match in re.finditer(rf"(?<![\w/.<-])(?:{top})/[\w./-]*(?![\w*…<\[])", page.read_text()):
        path = match.group(0).rstrip(".")
        if path.startswith(NOT_PATHS):
            continue
        base = page.parent if page.parent.name in ("grafana", "kubernetes") else ROOT
        if not (ROOT / path).exists() and not (base / path).exists():
            missing.append(path)
    assert missing == [], f"{page.relative_to(ROOT)} names what is not in the tree: {sorted(set(missing))}"


def test_the_readme_report_sample_is_what_report_prints() -> None:
    """The README shows `report` output as a user sees it: each line it shows (trimmed ones are
    `…`) is a line of the real output, in order."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\n\$ trt-agent report (.*?)\n(.*?)```", readme, re.S)
    assert block is not None, "README.md: no `$ trt-agent report` sample"
    args = block.group(1).split()
    files = [str(p) for a in args if "*" in a for p in sorted(ROOT.glob(a))]
    argv = [a for a in args if "*" not in a] + files
    real = subprocess.run(
        [sys.executable, "-m", "trt_agent", "report", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    shown = [line for line in block.group(2).splitlines() if line != "…"]
    lines = iter(real)
    missing = [line for line in shown if line not in lines]  # in order: ``in`` consumes the iterator
    assert missing == [], f"README.md shows lines `report` does not print (in this order): {missing}"


def test_the_hand_kept_profiler_metrics_are_the_collectors() -> None:
    """docs/profiler.md lists the ``trt_agent_profiler_*`` families by hand (a run without a GPU
    cannot show them); they are the ones the host's collector defines (read as text)."""
    source = (ROOT / "trt_agent" / "sources" / "profiler" / "metrics.py").read_text()
    defined = set(re.findall(r'"(trt_agent_profiler_[a-z0-9_]+)"', source))
    metrics_section = (DOCS / "profiler.md").read_text().split("## Metrics", 1)[1]
    documented = {
        name.removesuffix("_total")
        for name in re.findall(r"`(trt_agent_profiler_[a-z0-9_]+)", metrics_section)
    }
    assert documented == defined, (
        f"docs/profiler.md lists {sorted(documented)}, the collector {sorted(defined)}"
    )
