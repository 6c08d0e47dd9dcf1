"""Which engine an input of the offline commands belongs to, from the ``[[logs]]`` of the config."""

from __future__ import annotations

from pathlib import Path

import orjson
from conftest import DATA, ROOT, trt_agent, write

CORPUS = DATA / "corpus"
ALEXNET_BUILD = next(CORPUS.glob("03_*"))


def test_the_example_config_gives_each_unrelated_build_its_own_engine() -> None:
    """Was: yolort (TensorRT 8.2) and lprnet (8.5.2) were one engine "examples", whose facts
    mixed and whose versions rule failed on a mismatch no single build had."""
    logs = sorted((ROOT / "examples" / "logs").glob("*.log"))
    result = trt_agent("check", "-c", "config.example.toml", "--format", "json", *logs)
    doc = orjson.loads(result.stdout)
    engines = {r["engine"] for r in doc["results"]}
    assert engines == {"alexnet-fp16", logs[2].stem, logs[3].stem}
    versions = {r["engine"]: r for r in doc["results"] if r["rule"] == "versions"}
    assert "cudnn loaded 8.2.0" in versions[logs[2].stem]["message"]
    assert "tensorrt 8.5.2 (expected 10)" in versions[logs[3].stem]["message"]
    assert all(r["status"] == "pass" for r in doc["results"] if r["rule"] == "errors")


def test_a_relative_input_gets_the_engine_of_an_absolute_logs_glob(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", f'[[logs]]\npath = "{CORPUS}/0[1-4]_*"\nengine = "alexnet"\n')
    relative = ALEXNET_BUILD.relative_to(ROOT)
    for spelling in (ALEXNET_BUILD, relative, Path(".") / relative):
        doc = orjson.loads(trt_agent("report", "--json", "-c", config, spelling).stdout)
        assert [e["engine"] for e in doc["engines"]] == ["alexnet"], spelling
    config = write(
        tmp_path / "r.toml", f'[[logs]]\npath = "{relative.parent}/0[1-4]_*"\nengine = "alexnet"\n'
    )
    doc = orjson.loads(trt_agent("report", "--json", "-c", config, ALEXNET_BUILD).stdout)
    assert [e["engine"] for e in doc["engines"]] == ["alexnet"]
