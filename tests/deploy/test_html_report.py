"""``report --html`` and ``diff --html`` opened in a real headless Chromium (Debian ``chromium``).

The page must render with no console message at all (no error, no warning, no log), hold the
heatmap, and make no network request (it is self-contained). A screenshot of each page is kept in
``.test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import DATA, ROOT

ARTIFACTS = ROOT / ".test-artifacts"
QAT_LAYERS = next((DATA / "extra").glob("67_*"))
QAT_PROFILE = next((DATA / "extra").glob("68_*"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium not installed (scripts/test.sh installs it)"
)


def chromium(page: Path, tmp_path: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # tests may run as root
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1800",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def console_messages(stderr: str) -> list[str]:
    """Everything the page wrote to the console or threw, as Chromium logs it."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def rendered(page: Path, tmp_path: Path, screenshot: Path) -> str:
    """The DOM after scripts ran; fails on any console message. Saves a screenshot."""
    dom = chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    shot = chromium(page, tmp_path, f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert console_messages(shot.stderr) == []
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    return dom.stdout


def profiler_stream(path: Path, iterations: int = 240) -> None:
    """An event stream as the daemon writes it, with ``iterations`` profiler reports per layer.

    The layers and their mean times are the real QAT ResNet profile (68); the per-iteration
    spread around them is generated (no GPU here to record a real one), with a slowdown in the
    second half so the heatmap has something to show."""
    rng = random.Random(7)
    records = [r for r in orjson.loads(QAT_PROFILE.read_bytes()) if "name" in r]
    with path.open("wb") as out:
        for i in range(iterations):
            for r in records:
                ms = (
                    r["averageMs"]
                    * rng.uniform(0.9, 1.1)
                    * (1.5 if i >= iterations // 2 and "layer4" in r["name"] else 1)
                )
                event = {"type": "layer_time", "ts": None, "severity": "info", "engine": "qat"}
                event |= {"source": {"kind": "profiler"}, "msg": None, "layer": r["name"], "ms": ms}
                out.write(orjson.dumps(event) + b"\n")


def trt_agent(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trt_agent", *map(str, args)], capture_output=True, text=True, timeout=60
    )


def test_report_html_renders_with_heatmap_and_no_console_errors(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stream = tmp_path / "events.jsonl"
    profiler_stream(stream)
    out = tmp_path / "report.html"
    result = trt_agent(
        "report", "--engine", "qat", "--rules", ROOT / "rules.example.toml", "--html", out, QAT_LAYERS, stream
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "the page must not load anything"
    dom = rendered(out, tmp_path, ARTIFACTS / "report.png")
    heatmap = re.search(r'<svg id="heatmap-qat" class="heatmap".*?</svg>', dom, re.S)
    assert heatmap is not None
    cells = re.findall(r'<rect class="cell"', heatmap.group())
    # 26 profiled layers (the 40-row cap is not reached) x 60 columns (240 reports, 4 per cell)
    assert len(cells) == 26 * 60
    assert "240 observations, oldest left" in heatmap.group()
    # the slowdown in layer4 shows: its cells get darker to the right
    row = re.findall(r'fill="(#[0-9a-f]{6})"><title>layer4\.1\.conv2\.weight[^<]*</title>', heatmap.group())
    assert len(row) == 60 and row[0] != row[-1]
    assert 'class="verdict bad">FAIL' in dom  # rules were given: int8_coverage fails (95.5% < 98%)
    # the precision mix, by the precision each layer computes in: 3 Q/DQ layers compute nothing
    assert "Int8 21" in dom and "Float 1" in dom and "conversion 3" in dom


def test_diff_html_renders(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    out = tmp_path / "diff.html"
    a, b = DATA / "constructed" / "bert-attention-a-fused", DATA / "constructed" / "bert-attention-b-generic"
    result = trt_agent("diff", "--html", out, a, b)
    assert result.returncode == 1
    dom = rendered(out, tmp_path, ARTIFACTS / "diff.png")
    assert "5 REGRESSION(S)" in dom
    assert "fusion lost: {ForeignNode[/encoder/layer.0/attention/self/query/MatMul" in dom
    assert dom.count('class="heatmap"') == 2  # one per build


def test_the_console_check_catches_a_script_error(tmp_path: Path) -> None:
    """The check above can fail: a page that throws is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>notDefined();</script></body></html>")
    result = chromium(page, tmp_path, "--dump-dom")
    assert any("notDefined is not defined" in line for line in console_messages(result.stderr))


def test_three_builds_diff_html_renders_them_side_by_side(tmp_path: Path) -> None:
    """``diff --html`` of the FP32, FP16 and QAT ResNet builds: a column per build in the layers
    side by side, the QAT layer that runs ``layer2.0.downsample`` in the row of the FP32 layer
    that runs the same convolution (``Conv_16``), and a section per build."""
    ARTIFACTS.mkdir(exist_ok=True)
    builds = []
    for name, prefixes in (("fp32", ("66_", "84_")), ("fp16", ("65_", "83_")), ("qat", ("67_", "68_"))):
        folder = tmp_path / name
        folder.mkdir()
        for prefix in prefixes:
            (src,) = (DATA / "extra").glob(f"{prefix}*")
            (folder / src.name).write_bytes(src.read_bytes())
        builds.append(folder)
    out = tmp_path / "diff.html"
    result = trt_agent("diff", "--html", out, *builds)
    assert result.returncode == 0, result.stderr
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", out.read_text()), "the page must not load anything"
    dom = rendered(out, tmp_path, ARTIFACTS / "diff-three-builds.png")
    assert "trt-agent diff: fp32, fp16, qat" in dom and "NO REGRESSION" in dom
    table = re.search(r'<table class="sortable aligned">.*?</table>', dom, re.S)
    assert table is not None
    assert re.findall(r"<th>(\w+)</th><th>ms</th>", table.group()) == ["fp32", "fp16", "qat"]
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(), re.S)
    (row,) = [r for r in rows if "layer2.0.downsample.0.weight" in r]
    assert "Conv_16 + Add_17 + Relu_18" in row
    assert dom.count('class="heatmap"') == 3  # one per build
