"""The figures `report` prints, checked against the raw tables and files of tests/data (issue 16):
shares and ranks from trtexec's Time column, the time per inference, the text report's plugins,
wrapped lines and version mismatches, `diff`'s cut lists, and files of one build joined by stem.

Each expected figure is computed here from the raw text, independently of trt-agent's parsers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
from conftest import DATA, ROOT, trt_agent

CORPUS = DATA / "corpus"
EXTRA = DATA / "extra"
TRT7_DLA = next(CORPUS.glob("28_*"))  # TensorRT 7.1 table: Avg. Time rounded to 2 decimals
EXCERPT = next(CORPUS.glob("08_*"))  # 7 rows of a ResNet-50 table, 5.9 % of its time
LPRNET = next(CORPUS.glob("31_*"))  # TensorRT 8.5 table with a Median column
H100_PROFILED = next(EXTRA.glob("41_*"))  # TensorRT 10.16 --dumpProfile
H100_UNPROFILED = next(EXTRA.glob("40_*"))  # the same model-trained.onnx, run without a profiler
SEGFORMER = CORPUS / "trtexec-8.6.1-segformer-layernorm-plugin-full.log"
YOLORT = next(CORPUS.glob("12_*"))


def _table(path: Path) -> tuple[int, list[tuple[str, float, float]], tuple[float, float] | None]:
    """(iterations, [(layer, Time ms, Time %)], the Total row's (Time, Avg)) read from the text."""
    text = path.read_text()
    iterations = int(re.search(r"=== Profile \((\d+) iterations", text).group(1))  # type: ignore[union-attr]
    rows, total = [], None
    header_new = "Time(ms)     Avg.(ms)" in text  # TensorRT >= 8.6: numbers first, then the name
    median = r"\s+[\d.]+" if "Median Time (ms)" in text else ""  # TensorRT 8.x, names first
    for line in text.splitlines()[text[: text.index("=== Profile")].count("\n") + 2 :]:
        body = re.sub(r"^(\[[^\]]*\] )?\[I\] ", "", line)
        if header_new:
            m = re.match(r"\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(.+)$", body)
            if m is None:
                break
            name, time, pct, avg = m.group(5).strip(), float(m.group(1)), float(m.group(4)), float(m.group(2))
        else:
            m = re.match(rf"\s*(.+?)\s+([\d.]+)\s+([\d.]+){median}\s+([\d.]+)$", body)
            if m is None:
                break
            name, time, pct, avg = m.group(1).strip(), float(m.group(2)), float(m.group(4)), float(m.group(3))
        if name == "Total":
            total = (time, avg)
            break
        rows.append((name, time, pct))
    return iterations, rows, total


def _report(*args: str | Path) -> dict:  # type: ignore[type-arg]
    result = trt_agent("report", "--json", *args)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)  # type: ignore[no-any-return]


def _engine(*args: str | Path) -> dict:  # type: ignore[type-arg]
    (engine,) = _report(*args)["engines"]
    return engine  # type: ignore[no-any-return]


def _text(*args: str | Path) -> str:
    result = trt_agent("report", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- shares and ranks from the Time column ------------------------------------------------------


def test_trt7_shares_are_trtexecs_time_percent_not_the_rounded_average() -> None:
    """Was: shares from the 2-decimal Avg column, 'data to nvm' 1.4 % (trtexec 1.2 %),
    'loss3/classifier finish' 0.0 % (0.1 %): up to 0.2 points off."""
    iterations, rows, total = _table(TRT7_DLA)
    engine = _engine(TRT7_DLA)
    shares = {row["layer"]: row["share"] * 100 for row in engine["slowest_layers"]}
    assert len(shares) == len(rows) == 6
    for name, _time, pct in rows:
        assert abs(shares[name] - pct) <= 0.05 + 1e-9, (name, shares[name], pct)
    assert [row["layer"] for row in engine["slowest_layers"]] == [
        name for name, _t, _p in sorted(rows, key=lambda r: r[1], reverse=True)
    ]
    finish = next(row for row in engine["slowest_layers"] if row["layer"] == "loss3/classifier finish")
    assert (finish["avg_ms"], finish["total_ms"]) == (0.0, 4.58)  # Avg 0.00, Time 4.58 ms: 0.1 %
    assert iterations == 1514
    assert total is not None


def test_near_ties_rank_as_trtexecs_time_column() -> None:
    """Was: node_max_pool2d (82.34 ms) ranked above node_max_pool2d_1 (82.36 ms), both 0.0045 avg;
    node_conv2d_myl0_1 12.6 % where trtexec says 12.7 %."""
    _iterations, rows, _total = _table(H100_PROFILED)
    engine = _engine(H100_PROFILED)
    expected = [name for name, _t, _p in sorted(rows, key=lambda r: r[1], reverse=True)][:10]
    assert [row["layer"] for row in engine["slowest_layers"]] == expected
    pct = {name: p for name, _t, p in rows}
    for row in engine["slowest_layers"]:
        assert abs(row["share"] * 100 - pct[row["layer"]]) <= 0.05 + 1e-9, row["layer"]


def test_every_table_in_tests_data_gives_trtexecs_shares() -> None:
    for path in (TRT7_DLA, LPRNET, H100_PROFILED):
        _iterations, rows, _total = _table(path)
        pct = {name: p for name, _t, p in rows}
        for row in _engine(path)["slowest_layers"]:
            assert abs(row["share"] * 100 - pct[row["layer"]]) <= 0.05 + 1e-9, (path.name, row["layer"])


def test_an_excerpt_of_a_table_keeps_trtexecs_shares_and_says_it_is_partial() -> None:
    """Was: the 7 rows of 08 shared out as if they were the whole engine: conv1 26.6 % where
    trtexec says 1.6 %."""
    _iterations, rows, _total = _table(EXCERPT)
    assert sum(p for _n, _t, p in rows) < 10  # the excerpt: 5.9 % of trtexec's time
    engine = _engine(EXCERPT)
    pct = {name: p for name, _t, p in rows}
    for row in engine["slowest_layers"]:
        assert abs(row["share"] * 100 - pct[row["layer"]]) < 1e-9
    per = engine["time_per_inference"]
    assert per["partial"] is True and per["table_percent"] == 5.9
    assert "a partial table: its rows hold 5.9% of trtexec's time" in " ".join(_text(EXCERPT).split())
    # the per-type and per-kernel groups share the same way: trtexec's Time %, summed (no types
    # or kernels in a table: one group of each, holding the excerpt's 5.9 %)
    for key in ("by_layer_type", "by_kernel_family"):
        (group,) = engine[key]
        assert abs(group["share"] * 100 - sum(pct.values())) < 1e-6, key


# -- time per inference ---------------------------------------------------------------------------


def test_report_gives_the_time_per_inference_of_the_table() -> None:
    """Was: no time per inference in `report` (only `diff` summed the layers)."""
    for path in (TRT7_DLA, LPRNET, H100_PROFILED):
        iterations, rows, total = _table(path)
        assert total is not None
        per = _engine(path)["time_per_inference"]
        summed = sum(t for _n, t, _p in rows) / iterations
        assert abs(per["sum_of_layers_ms"] - summed) < 1e-6, path.name
        assert abs(per["sum_of_layers_ms"] - total[1]) <= 0.006, path.name  # the Total row's Avg
        assert per["from"] == "time column" and per["partial"] is False


def test_the_time_per_inference_stands_beside_the_unprofiled_gpu_compute_time() -> None:
    """40 runs model-trained.onnx without a profiler (GPU Compute Time median 0.0361328 ms); 41
    profiles its engine (Total 1529.13 ms over 18362 iterations): the gap is profiling overhead."""
    iterations, rows, _total = _table(H100_PROFILED)
    median = float(
        re.search(r"GPU Compute Time: .*median = ([\d.]+) ms", H100_UNPROFILED.read_text()).group(1)
    )  # type: ignore[union-attr]
    args = ("--engine", "model-trained", H100_UNPROFILED, H100_PROFILED)
    per = _engine(*args)["time_per_inference"]
    summed = sum(t for _n, t, _p in rows) / iterations
    assert per["gpu_compute_ms"] == median
    assert abs(per["overhead_ms"] - (summed - median)) < 1e-6
    text = " ".join(_text(*args).split())
    assert f"GPU compute median {median:.4g} ms | profiling overhead +{summed - median:.4g} ms" in text


# -- the text report ------------------------------------------------------------------------------


def test_plugins_counts_plugin_layers_as_json_and_metrics_do() -> None:
    """Was: `plugins 7` (the plugin type LayerNorm counted with its 6 layers)."""
    engine = _engine(SEGFORMER)
    assert len(engine["plugins"]["layers"]) == 6
    text = _text(SEGFORMER)
    line = next(line for line in text.splitlines() if line.startswith("plugins"))
    assert line.startswith("plugins         6 layers: LayerNormN-0, ")
    assert "(created: LayerNorm v1 x6)" in " ".join(text.split())


def test_long_lines_wrap_and_keep_the_peak_memory() -> None:
    """Was: the memory line cut at 100 columns before `peak_gpu 4.0 GiB`."""
    text = _text(SEGFORMER)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "peak_gpu 4.0 GiB" in text
    assert "…" not in text.split("slowest layers")[0]  # nothing cut above the layer table


def test_linked_and_loaded_versions_that_differ_are_shown() -> None:
    """Was: in /metrics (trt_engine_version_mismatch) but not in the text report."""
    text = _text(YOLORT)
    assert "linked/loaded   cublas linked 11.6.3, loaded 11.5.1; cudnn linked 8.2.1, loaded 8.2.0" in text


def test_diff_says_how_many_precision_changes_it_left_out() -> None:
    """Was: 15 of the 23 FP32 -> FP16 changes listed, nothing said of the other 8."""
    fp32, fp16 = next(EXTRA.glob("66_*")), next(EXTRA.glob("65_*"))
    doc = orjson.loads(trt_agent("diff", "--format", "json", fp32, fp16).stdout)
    assert len(doc["precision_changes"]) == 23
    text = trt_agent("diff", fp32, fp16).stdout
    changes = text.split("precision changes\n")[1].split("\n\n")[0].splitlines()
    assert len(changes) == 16
    assert changes[-1] == "  … and 8 more (--format json lists all)"


# -- files of one build ---------------------------------------------------------------------------


def test_files_of_one_build_join_by_their_shared_stem(tmp_path: Path) -> None:
    """The QAT ResNet's --exportLayerInfo and --exportProfile JSON, named as trtexec cookbooks
    name them (model-exportLayerInfo.json, model-exportProfile.json; extra/41's command line).
    Was: two engines, one with layers and no times, one with times and no precisions."""
    layers = shutil.copy(next(EXTRA.glob("67_*")), tmp_path / "resnet50-qat-exportLayerInfo.json")
    profile = shutil.copy(next(EXTRA.glob("68_*")), tmp_path / "resnet50-qat-exportProfile.json")
    result = trt_agent("report", "--json", layers, profile)
    (engine,) = orjson.loads(result.stdout)["engines"]
    assert engine["engine"] == "resnet50-qat"
    assert engine["layers"]["engine"] == 26 and engine["time_per_inference"] is not None
    assert any(row["precision"] == "Int8" for row in engine["slowest_layers"])
    assert result.stderr == (
        "trt-agent: joined 2 files of engine resnet50-qat: resnet50-qat-exportLayerInfo.json, "
        "resnet50-qat-exportProfile.json (their names share the stem; --engine NAME names the "
        "engine of every input)\n"
    )


def test_trex_names_of_one_build_join(tmp_path: Path) -> None:
    """TREx's process_engine.py names them <engine>.graph.json, <engine>.profile.json and
    <engine>.build.log: the log was an engine of its own (``resnet.onnx.engine.build``)."""
    base = "resnet.onnx.engine"
    shutil.copy(next(EXTRA.glob("67_*")), tmp_path / f"{base}.graph.json")
    shutil.copy(next(EXTRA.glob("68_*")), tmp_path / f"{base}.profile.json")
    shutil.copy(next(EXTRA.glob("47_*")), tmp_path / f"{base}.build.log")
    files = sorted(tmp_path.iterdir())
    assert [e["engine"] for e in _report(*files)["engines"]] == [base]
    # --engine still names every input's engine, and says nothing of a join
    result = trt_agent("report", "--json", "--engine", "x", *files)
    assert [e["engine"] for e in orjson.loads(result.stdout)["engines"]] == ["x"]
    assert "joined" not in result.stderr


# -- found by review ------------------------------------------------------------------------------

SEGFORMER = next((DATA / "corpus").glob("trtexec-8.6.1-*"))
TRT7_DLA = next((DATA / "corpus").glob("28_*"))


def test_a_build_log_cut_before_its_layer_list_has_no_fusion_coverage(tmp_path: Path) -> None:
    lines = SEGFORMER.read_text().splitlines(keepends=True)
    opener = next(
        i
        for i, line in enumerate(lines)
        if "Engine Layer Information" in line or line.rstrip().endswith("Layers:")
    )
    head = tmp_path / "segformer-head.log"
    head.write_text("".join(lines[:opener]))
    coverage = _engine(head)["fusion_coverage"]
    assert coverage["ratio"] is None and "no engine layer" in coverage["reason"]  # was 0/605, a red


def test_a_complete_table_of_small_rows_is_not_partial(tmp_path: Path) -> None:
    from trt_agent.model.timing import TableRow, _partial

    rows = {
        f"layer{i}": TableRow(total_ms=0.01 + i * 1e-5, percentage=0.25, iterations=100) for i in range(400)
    }
    assert not _partial(rows)  # 400 rows of 0.25 %: the whole table, though no row implies it
    excerpt = dict(list(rows.items())[:20])
    assert _partial(excerpt)


def test_a_short_layer_whose_average_rounds_to_zero_still_ran(tmp_path: Path) -> None:
    text = TRT7_DLA.read_text()
    row = next(line for line in text.splitlines() if re.search(r"\bprob\s+\d", line))
    time_ms = row.split()[-3]
    changed = tmp_path / "t7.log"
    changed.write_text(text.replace(row, re.sub(r"(\bprob\s+[\d.]+\s+)[\d.]+", r"\g<1>0.00", row)))
    assert float(time_ms) > 0
    assert _engine(changed)["layers"]["compute"] == _engine(TRT7_DLA)["layers"]["compute"]


def test_files_with_one_stem_in_two_directories_are_two_builds(tmp_path: Path) -> None:
    for folder in ("fp16", "qat"):
        (tmp_path / folder).mkdir()
    shutil.copy(next((DATA / "extra").glob("65_*")), tmp_path / "fp16" / "resnet.graph.json")
    shutil.copy(next((DATA / "extra").glob("67_*")), tmp_path / "qat" / "resnet-exportLayerInfo.json")
    doc = _report(tmp_path / "fp16" / "resnet.graph.json", tmp_path / "qat" / "resnet-exportLayerInfo.json")
    assert len(doc["engines"]) == 2


def test_a_myelin_kernel_is_neither_fused_nor_unfused_in_the_slowest_layers() -> None:
    rows = {row["layer"]: row for row in _engine(next((DATA / "extra").glob("41_*")))["slowest_layers"]}
    assert rows["node_conv2d_myl0_1"]["fused"] is None and rows["node_max_pool2d"]["fused"] is False
    text = _text(next((DATA / "extra").glob("41_*")))
    line = next(line for line in text.splitlines() if line.startswith("node_conv2d_myl0_1"))
    assert line.rstrip().endswith("-")


def test_report_rules_keep_a_skip_reason_whole_and_no_label_stands_alone() -> None:
    text = _text("--rules", ROOT / "rules.example.toml", next((DATA / "extra").glob("41_*")))
    skip = next(line for line in text.splitlines() if "fusion_coverage" in line and "skip" in line)
    assert skip.rstrip().endswith("no source-layer list counts them")
    assert not any(line.strip() in ("INT8 coverage", "fusion coverage") for line in text.splitlines())
