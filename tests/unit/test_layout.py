"""The package layout is the pipeline (sources -> parse -> model -> redact -> sinks): the import
graph keeps it so, and docs/design.md describes the tree that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "trt_agent"


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every trt_agent module ``path`` imports, wherever the import stands (functions and
    ``if TYPE_CHECKING:`` blocks included: a cycle through them is still a cycle of ideas)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trt_agent"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("trt_agent"))
    return {m for m in found if m in modules}


MODULES = _modules()
GRAPH = {name: _imports(path, MODULES) - {name} for name, path in MODULES.items()}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in GRAPH[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_graph_is_read_from_the_real_tree() -> None:
    assert "trt_agent.daemon" in MODULES and "trt_agent.sinks.prometheus" in MODULES
    assert "trt_agent.model.engine" in GRAPH["trt_agent.sinks.prometheus"]


def test_no_import_cycle() -> None:
    """A package's ``__init__`` re-exporting its modules is fine; a module importing it back is a
    cycle (the one this test was written for: the daemon and the Prometheus collector)."""
    cycles = sorted(m for m in MODULES if m in _reachable(m))
    assert cycles == [], f"modules that import themselves through others: {cycles}"


@pytest.mark.parametrize("outputs", ["trt_agent.sinks", "trt_agent.reports", "trt_agent.web"])
def test_outputs_never_import_the_daemon_a_source_or_the_cli(outputs: str) -> None:
    """Sinks and documents read events and engine models; they never reach back into what
    produces them."""
    offenders = {
        module: sorted(
            d for d in _reachable(module) if _in(d, "trt_agent.daemon", "trt_agent.sources", "trt_agent.cli")
        )
        for module in MODULES
        if _in(module, outputs)
    }
    assert {m: d for m, d in offenders.items() if d} == {}


def test_the_vocabulary_and_the_parsers_stand_alone() -> None:
    """vocab is read by everything and reads nothing; the parsers read only the vocabulary."""
    for module in MODULES:
        if _in(module, "trt_agent.vocab"):
            assert {d for d in GRAPH[module] if not _in(d, "trt_agent.vocab")} == set(), module
        if _in(module, "trt_agent.parse"):
            assert {d for d in GRAPH[module] if not _in(d, "trt_agent.vocab", "trt_agent.parse")} == set(), (
                module
            )


def test_only_the_command_line_starts_the_daemon() -> None:
    importers = {m for m, deps in GRAPH.items() if "trt_agent.daemon" in deps}
    assert {m for m in importers if not _in(m, "trt_agent.cli")} == set()
    cli_importers = {m for m, deps in GRAPH.items() if any(_in(d, "trt_agent.cli") for d in deps)}
    assert {m for m in cli_importers if not _in(m, "trt_agent.cli", "trt_agent.__main__")} == set()


def _layout_block() -> list[str]:
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Layout", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block is not None, "docs/design.md: no code block under '## Layout'"
    return [line.split()[0] for line in block.group(1).splitlines() if line.strip().startswith("trt_agent/")]


def test_design_doc_layout_matches_the_tree() -> None:
    listed = _layout_block()
    missing_on_disk = [p for p in listed if not (ROOT / p.rstrip("/")).exists()]
    assert missing_on_disk == [], f"docs/design.md lists what is not in the tree: {missing_on_disk}"
    packages = sorted(
        str(p.relative_to(ROOT)) + "/"
        for p in PACKAGE.rglob("__init__.py")
        for p in [p.parent]
        if p != PACKAGE
    )
    top_modules = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    unlisted = [p for p in packages + top_modules if p not in listed]
    assert unlisted == [], f"docs/design.md's layout does not list: {unlisted}"
