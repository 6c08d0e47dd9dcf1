"""The three-build ``diff`` of docs/commands.md (its text block and the page it links,
docs/examples/diff-three-resnet-builds.html) is what ``trt-agent diff fp32 fp16 qat`` prints and
writes today. ``UPDATE_GOLDEN=1`` rewrites both, to be reviewed as a diff like the goldens."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import DATA, ROOT, trt_agent

DOC = ROOT / "docs" / "commands.md"
PAGE = ROOT / "docs" / "examples" / "diff-three-resnet-builds.html"
BLOCK = re.compile(
    r"(<!-- diff-three-builds:[^\n]*-->\n```console\n\$ trt-agent diff fp32 fp16 qat\n)(.*?)(```)", re.S
)
BUILDS = {"fp32": ("66_", "84_"), "fp16": ("65_", "83_"), "qat": ("67_", "68_")}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("builds")
    for name, prefixes in BUILDS.items():
        (root / name).mkdir()
        for prefix in prefixes:
            (src,) = (DATA / "extra").glob(f"{prefix}*")
            (root / name / src.name).write_bytes(src.read_bytes())
    result = trt_agent("diff", "fp32", "fp16", "qat", "--html", "page.html", cwd=root)
    assert result.returncode == 0, result.stderr
    return result.stdout, (root / "page.html").read_text()


def test_the_docs_text_is_what_diff_prints(run: tuple[str, str]) -> None:
    text, _ = run
    doc = DOC.read_text()
    found = BLOCK.search(doc)
    assert found is not None, "the diff-three-builds block is gone from docs/commands.md"
    if os.environ.get("UPDATE_GOLDEN"):
        DOC.write_text(doc[: found.start(2)] + text + doc[found.end(2) :])
        return
    assert found.group(2) == text, (
        "docs/commands.md is stale: UPDATE_GOLDEN=1 pytest tests/contract/test_docs_diff_example.py"
    )


def test_the_docs_page_is_what_diff_writes(run: tuple[str, str]) -> None:
    _, page = run
    if os.environ.get("UPDATE_GOLDEN"):
        PAGE.write_text(page)
        return
    assert PAGE.read_text() == page, (
        f"{PAGE.relative_to(ROOT)} is stale: UPDATE_GOLDEN=1 pytest {Path(__file__).relative_to(ROOT)}"
    )
