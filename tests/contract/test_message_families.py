"""Message families of issue 15 (items 3 and 6), each on the real files of tests/data that hold it:
profiler figures applications print, layer placement, plan refusals with both sides' versions,
plugin registry and ONNX-parser plugin failures, weight-conversion and workspace warnings, tactic
memory requests, timing-cache sizes. What a person reading the line would take from it."""

from __future__ import annotations

import io

import pytest
from conftest import model_of, of_type, parse_file

from trt_agent.model import build_models
from trt_agent.parse.log import ParseStats, parse_log
from trt_agent.rules.evaluate import evaluate_rule
from trt_agent.rules.load import parse_rules
from trt_agent.vocab.events import Event

MiB = 1024 * 1024


def _parse(text: str) -> list[Event]:
    stats = ParseStats()
    events = list(parse_log(io.BytesIO(text.encode()), "lines.log", "e", stats))
    assert stats.parse_errors == 0
    return events


# --- profiler output printed by applications (item 3) --------------------------------------


def test_samples_profiler_rows_and_the_time_of_one_inference() -> None:
    events, _ = parse_file("174_")  # lewes6369/TensorRT-Yolov3: printf("%-40.40s %4.3fms")
    rows = of_type(events, "layer_time")
    assert len(rows) == 27 and (rows[0]["layer"], rows[0]["ms"]) == ("layer1-conv", 0.184)
    assert all(e["severity"] == "info" and e["source"]["line"] > 1 for e in rows)
    [total] = of_type(events, "perf_summary")  # host time around one execute(): a sample, not a mean
    assert (total["metric"], total["stat"], total["value"]) == ("inference_ms", "sample", 16.0298)
    model = model_of("174_")
    assert model.perf["inference_ms"] == {"sample": 16.0298}
    assert model.layer_times["layer5-shortcut"].avg_ms == 0.167


def test_profiler_row_names_cut_at_40_characters_are_kept_as_printed() -> None:
    events, _ = parse_file("175_")
    names = [e["layer"] for e in of_type(events, "layer_time")]
    assert names[0] == "{Cast}" and "PWN((Unnamed Layer* 24) [ElementWise], P" in names
    assert all(len(n) <= 40 and n == n.rstrip() for n in names)


def test_paddle_glog_profile_rows_keep_total_and_runs() -> None:
    events, _ = parse_file("176_")
    first = of_type(events, "layer_time")[0]
    assert (first["layer"], first["ms"], first["total_ms"], first["iterations"]) == (
        "res3c_branch2a + res3c_branch2a_relu",
        0.075,
        0.075,
        1,
    )


@pytest.mark.parametrize(
    "line",
    [
        "[I] Latency: min = 0.49 ms, max = 0.51 ms, mean = 0.5 ms, median = 0.499023 ms",
        "[V] [BlockAssignment] Algorithm ShiftNTopDown took 0.082887ms",
        "short name 0.184ms",
        "a name of forty-one characters, one extra 0.184ms",
        "                                         0.184ms",
    ],
)
def test_other_lines_ending_in_ms_are_no_profiler_rows(line: str) -> None:
    assert not of_type(_parse(line + "\n"), "layer_time")


# --- layer placement -----------------------------------------------------------------------


def test_gpu_layer_placement_lines() -> None:
    events, _ = parse_file("172_")  # DeepStream-Yolo, TensorRT 7: "[TensorRT] INFO: [GpuLayer] Conv_132"
    placed = of_type(events, "placement")
    assert len(placed) == 28 and {p["device"] for p in placed} == {"GPU"}
    assert placed[6]["layer"] == "Conv_140 || Conv_149"
    events, _ = parse_file("173_")  # the first line is quoted ("> [07/28/2024-...")
    assert of_type(events, "placement")[0]["layer"] == "PWN(Sigmoid_284)"


def test_placement_with_layer_type_and_dla_regions() -> None:
    events = _parse(
        "[11/06/2025-11:57:39] [I] [TRT] [GpuLayer] CONVOLUTION: /model.0/conv/Conv + PWN(PWN(/model.0/act/Sigmoid), /model.0/act/Mul)\n"
        "[I] [TRT] [DlaLayer] {ForeignNode[(Unnamed Layer* 0) [ElementWise]]},\n"
    )
    gpu, dla = of_type(events, "placement")
    assert (gpu["device"], gpu["layer_type"]) == ("GPU", "CONVOLUTION")
    assert gpu["layer"] == "/model.0/conv/Conv + PWN(PWN(/model.0/act/Sigmoid), /model.0/act/Mul)"
    assert (dla["device"], dla["layer"]) == ("DLA", "{ForeignNode[(Unnamed Layer* 0) [ElementWise]]}")


# --- a runtime refusing a plan: both sides' versions ----------------------------------------


def test_serialization_versions_of_the_runtime_and_the_plan() -> None:
    for name, runtime, plan in (("103_", "226", "228"), ("105_", "239", "237"), ("163_", "213", "232")):
        events, _ = parse_file(name)
        versions = {e["component"]: e["version"] for e in of_type(events, "version")}
        assert (versions["serialization"], versions["serialization_plan"]) == (runtime, plan), name
        coded = [(e["code"], e["category"]) for e in of_type(events, "error") if e.get("code")]
        assert (1, "Serialization") in coded, name  # the error itself stays


def test_compute_capability_of_the_device_and_the_plan() -> None:
    for name, device, plan in (("112_", "9.0", "8.9"), ("113_", "8.9", "8.6"), ("161_", "7.5", "7.0")):
        model = model_of(name)
        assert (model.versions["compute_capability"], model.versions["compute_capability_plan"]) == (
            device,
            plan,
        )
        assert model.plan_mismatches() == [("compute_capability", plan, device)]
        assert model.error_lines >= 1


def test_the_versions_rule_flags_every_plan_mismatch() -> None:
    rules = parse_rules({"rule": [{"name": "v", "check": "versions", "expect": {"tensorrt": "8"}}]})
    [rule] = rules.rules
    for name, words in (
        ("103_", "serialization version 228, read by a runtime of version 226"),
        ("112_", "built for compute capability 8.9, run on compute capability 9.0"),
        ("156_", "engine plan built by TensorRT 8.0.1, read by TensorRT 8.0.0"),
    ):
        result = evaluate_rule(rule, model_of(name))
        assert result.status == "fail" and any(words in o for o in result.offenders), (name, result)


# --- plugins: the registry, and the ONNX parser's plugin failures ---------------------------


def test_plugin_creators_the_registry_lists_are_no_plugins_of_the_network() -> None:
    events, _ = parse_file(
        "159_"
    )  # jetson-inference: "[TRT]    Registered plugin creator - ::NMS_TRT version 1"
    creators = of_type(events, "plugin", creator=True)
    assert len(creators) == 12 and all(p["layer"] is None and p["version"] == "1" for p in creators)
    [refused] = [p for p in creators if not p["registered"]]  # "Could not register plugin creator -  ::..."
    assert refused["plugin"] == "FlattenConcat_TRT"
    events, _ = parse_file("111_")  # Triton's glog quotes the message: '... logging.cc:49] "Registered ..."'
    assert [p["plugin"] for p in of_type(events, "plugin", creator=True)][:2] == [
        "ROIAlign_TRT",
        "CropAndResizeDynamic",
    ]
    # the report and the plugin rules see the plugins the network uses, not the registry
    model = model_of("trtexec-8.6.1")
    assert set(model.plugins) == {"LayerNorm"}
    assert not model_of("159_").plugins


def test_onnx_parser_plugin_failures_name_the_op() -> None:
    events, _ = parse_file("115_")  # TensorRT 10 checkFallbackPluginImporter
    missing = of_type(events, "plugin", registered=False)
    assert [(p["layer"], p["op"], p["plugin"]) for p in missing] == [
        ("/dense_motion_network/GridSample", "GridSample3D", "GridSample3D"),
        ("/GridSample", "GridSample3D", "GridSample3D"),
    ]
    events, _ = parse_file("116_")  # TensorRT 8: the plugin of the "Searching for plugin" line before
    [missing] = of_type(events, "plugin", registered=False)
    assert (missing["plugin"], missing["version"], missing["op"]) == ("TRTBatchedNMS", "1", "TRTBatchedNMS")
    events, _ = parse_file("118_")  # "While parsing node number 343 [BatchedNMSCustomDynamic_TRT -> ...]"
    first, second = of_type(events, "plugin", registered=False)
    assert "op" not in first and second["op"] == "BatchedNMSCustomDynamic_TRT"
    assert second["severity"] == "error"


def test_no_importer_is_no_failure_until_the_plugin_is_missing() -> None:
    events, _ = parse_file("117_")  # "No importer registered for op: TRTBatchedNMS", then not found
    [missing] = of_type(events, "plugin", registered=False)
    assert (missing["plugin"], missing["op"], missing["severity"]) == (
        "TRTBatchedNMS",
        "TRTBatchedNMS",
        "error",
    )
    # segformer: "No importer registered for op: LayerNorm" six times, and the plugin is found
    events, _ = parse_file("trtexec-8.6.1")
    assert not of_type(events, "plugin", registered=False)


def test_a_while_parsing_line_of_another_failure_is_no_plugin_event() -> None:
    events = _parse(
        "ERROR: [TRT]: 3: getPluginCreator could not find plugin: X_TRT version: 1\n"
        'ERROR: [TRT]: ModelImporter.cpp:771: While parsing node number 12 [Resize -> "out"]:\n'
    )
    assert [e["type"] for e in events] == ["plugin", "error"]


# --- weights, workspace, tactic memory, timing cache, TensorRT-LLM build memory -------------


def test_fp16_weight_conversion_counts() -> None:
    for name, subnormal, underflow in (("181_", 223, 63), ("81_", 81, 49), ("100_", 55, 24)):
        events, _ = parse_file(name)
        fallbacks = of_type(events, "fallback")
        assert {f["count"] for f in fallbacks if f["reason"] == "subnormal_fp16_weights"} == {subnormal}
        assert {f["count"] for f in fallbacks if f["reason"] == "fp16_underflow_weights"} == {underflow}
        assert all(f["severity"] == "warning" for f in fallbacks if "count" in f)


def test_workspace_and_tactic_device_requests() -> None:
    events, _ = parse_file("71_")  # "Tactic Device request: 5MB Available: 0MB."
    assert of_type(events, "fallback")[0]["reason"] == "insufficient_workspace"
    assert {e["bytes"] for e in of_type(events, "memory", kind="tactic_device_request")} == {5 * MiB}
    assert {e["bytes"] for e in of_type(events, "memory", kind="tactic_device_available")} == {0}
    events, _ = parse_file("173_")  # "Tactic Device request: 538MB Available: 166MB."
    pairs = list(
        zip(
            (e["bytes"] for e in of_type(events, "memory", kind="tactic_device_request")),
            (e["bytes"] for e in of_type(events, "memory", kind="tactic_device_available")),
            strict=True,
        )
    )
    assert pairs == [(538 * MiB, 166 * MiB), (806 * MiB, 187 * MiB)]
    events, _ = parse_file("13_")  # TensorRT 8.2's wording ("... may increase performance")
    assert [f["reason"] for f in of_type(events, "fallback")] == ["insufficient_workspace"]


def test_timing_cache_entries() -> None:
    events, _ = parse_file("trtexec-8.6.1")  # "Deleting timing cache: 1000 entries, served 1673 hits"
    [cache] = of_type(events, "timing_cache")
    assert (cache["action"], cache["entries"], cache["hits"]) == ("deleted", 1000, 1673)
    events, _ = parse_file("45_")  # Polygraphy, TensorRT 10: "Serialized 0 timing cache entries"
    [cache] = of_type(events, "timing_cache")
    assert (cache["action"], cache["entries"]) == ("serialized", 0) and "hits" not in cache


def test_trtllm_build_phase_peak_memory() -> None:
    # TensorRT-LLM's builder (tensorrt_llm/builder.py); the line as a public build log prints it
    # (no such log in tests/data yet)
    events = _parse(
        "[04/29/2026-11:04:07] [TRT-LLM] [I] Build phase peak memory: 10421.96 MB, children: 6296.07 MB\n"
    )
    memory = {e["kind"]: e["bytes"] for e in of_type(events, "memory")}
    assert memory == {
        "peak_build_host": round(10421.96 * MiB),
        "peak_build_host_children": round(6296.07 * MiB),
    }
    assert build_models(events)["e"].memory["peak_build_host"] == round(10421.96 * MiB)
