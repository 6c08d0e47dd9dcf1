"""TensorRT speaking through applications (Ultralytics export, DeepStream/nvinfer and GStreamer,
DeepStream-Triton, jetson-inference, FastDeploy and ultra_infer, tensorRT_Pro-style loggers, the
mmdeploy SDK, VideoPipe, ODTK, Riva ServiceMaker, Savant, loguru- and spdlog-wrapped apps, docker
compose) and applications that print TensorRT's profiler figures: what a person reading each real
log would extract. The files are tests/data/dialects/15N-18N_*; their sources are in
tests/data/dialects/SOURCES.md."""

from __future__ import annotations

from conftest import of_type, parse_file

MiB = 1024 * 1024


def _msgs(events: list[dict], type_: str, **match: object) -> list[str]:
    return [e["msg"] for e in of_type(events, type_, **match)]


def _coded(events: list[dict]) -> list[tuple[int, str]]:
    return [(e["code"], e["category"]) for e in of_type(events, "error") if e.get("code") is not None]


def _times(events: list[dict]) -> list[tuple[str, float]]:
    return [(e["layer"], e["ms"]) for e in of_type(events, "layer_time")]


# --- Ultralytics export ---------------------------------------------------------------------


def test_ultralytics_int8_export_interleaves_its_own_lines_with_tensorrt() -> None:
    events, _ = parse_file("150_")
    warnings = _msgs(events, "warning", severity="warning")
    assert any("Your ONNX model has been generated with INT64 weights" in m for m in warnings)
    assert any("Calibration Profile is not defined. Calibrating with Profile 0" in m for m in warnings)
    assert of_type(events, "memory", kind="host_persistent")[0]["bytes"] == 283360
    assert not of_type(events, "error")


def test_ultralytics_export_tail_quoted_with_markdown_marker() -> None:
    events, _ = parse_file("151_")  # every line starts with "> "
    memory = {e["kind"]: e["bytes"] for e in of_type(events, "memory")}
    assert memory["device_persistent"] == 962048
    assert memory["scratch"] == 132710912
    assert memory["activation"] == 495616000
    assert memory["peak_gpu"] == 21054 * MiB
    [cudnn] = of_type(events, "version", component="cudnn")
    assert (cudnn["version"], cudnn["linked"], cudnn["severity"]) == ("8.5.0", "8.6.0", "warning")


def test_ultralytics_int8_calibration_then_no_implementation() -> None:
    events, _ = parse_file("152_")
    assert {e["version"] for e in of_type(events, "version", component="tensorrt")} == {"10.11.0"}
    [fallback] = of_type(events, "fallback", reason="no_implementation")
    assert fallback["severity"] == "error"
    assert fallback["layer"] == (
        "/model.23/proto/cv3/conv/Conv + PWN(PWN(/model.23/proto/cv3/act/Sigmoid), PWN(/model.23/proto/cv3/act/Mul))"
    )


def test_ultralytics_calibration_app_error_and_missing_scales() -> None:
    events, _ = parse_file("153_")
    assert any(
        "Exception caught in get_batch(): KeyboardInterrupt" in m
        for m in _msgs(events, "error", severity="error")
    )
    assert {e["version"] for e in of_type(events, "version", component="tensorrt")} == {"8.6.1"}
    assert [e["layer"] for e in of_type(events, "fallback", reason="missing_int8_scale")] == [
        "(Unnamed Layer* 300) [Constant]_output",
        "(Unnamed Layer* 301) [Constant]_output",
    ]


def test_ultralytics_jetson_nano_placement_and_tactic_device_requests() -> None:
    events, _ = parse_file("173_")
    placed = of_type(events, "placement")
    assert [(p["layer"], p["device"]) for p in placed] == [
        ("PWN(Sigmoid_284)", "GPU"),  # the first line carries a "> " quote marker
        ("onnx::Concat_455 copy", "GPU"),
        ("onnx::Concat_456 copy", "GPU"),
    ]
    requested = {e["bytes"] for e in of_type(events, "memory")}
    assert {538 * MiB, 806 * MiB} <= requested  # "Tactic Device request: 538MB Available: 166MB"
    assert [e["tactic"] for e in of_type(events, "fallback", reason="insufficient_memory")] == ["4", "4"]


# --- DeepStream (nvinfer, GStreamer, DeepStream-Triton, Savant) -----------------------------


def test_deepstream_triton_glog_forwards_tensorrt_deserialize_errors() -> None:
    events, _ = parse_file("154_")
    errors = _msgs(events, "error", severity="error")
    assert any("Serialization Error in verifyHeader: 0 (Magic tag does not match)" in m for m in errors)
    assert any("INVALID_CONFIG: Deserialize the cuda engine failed." in m for m in errors)
    assert len(errors) == 4  # three TensorRT lines behind logging.cc:43 + model_repository_manager
    assert [e["severity"] for e in of_type(events, "warning")] == ["warning", "warning"]


def test_deepstream_error_trt_out_of_memory_and_skipped_tactic() -> None:
    events, _ = parse_file("171_")
    assert _coded(events) == [(2, "OutOfMemory"), (2, "OutOfMemory")]
    assert all(e["severity"] == "error" for e in of_type(events, "error"))
    [skipped] = of_type(events, "fallback", reason="insufficient_memory")
    assert (skipped["tactic"], skipped["severity"]) == ("0x0000000000000004", "warning")
    requested = [e for e in events if "Requested amount of GPU memory (4294967296 bytes)" in (e["msg"] or "")]
    assert requested and all(e["severity"] == "warning" for e in requested)


def test_deepstream_yolo_trt7_gpu_layer_placement() -> None:
    events, _ = parse_file("172_")
    placed = of_type(events, "placement")
    assert len(placed) == 28 and {p["device"] for p in placed} == {"GPU"}
    assert [p["layer"] for p in placed][:2] == ["Conv_132", "PWN(PWN(Sigmoid_133), Mul_134)"]
    assert "Conv_140 || Conv_149" in [p["layer"] for p in placed]
    assert all(p["severity"] == "info" for p in placed)  # "[TensorRT] INFO: [GpuLayer] ..."


def test_deepstream6_plugin_creator_not_found_through_nvinfer_logger() -> None:
    events, _ = parse_file("179_")
    [missing] = of_type(events, "plugin", registered=False)
    assert (missing["plugin"], missing["version"], missing["severity"]) == ("DETECT_TRT", "1.0", "error")
    assert _coded(events) == [(1, "Serialization"), (4, "Internal Error")]
    assert any("Deserialize engine failed from file:" in m for m in _msgs(events, "error", severity="error"))
    assert of_type(events, "warning")[0]["severity"] == "warning"  # GStreamer "WARN nvinfer ..."


def test_deepstream5_func_utils_prefix_plugin_creator_not_found() -> None:
    events, _ = parse_file("180_")
    [missing] = of_type(events, "plugin", registered=False)
    assert (missing["plugin"], missing["version"], missing["severity"]) == ("YoloLayer_TRT", "1", "error")
    errors = _msgs(events, "error", severity="error")
    assert any("Cannot deserialize plugin since corresponding IPluginCreator not found" in m for m in errors)
    assert any("INVALID_CONFIG: Deserialize the cuda engine failed." in m for m in errors)
    assert of_type(events, "warning")[0]["severity"] == "warning"


def test_savant_under_docker_compose_loads_a_deserialized_engine_quietly() -> None:
    events, _ = parse_file("183_")
    assert not of_type(events, "error") and not of_type(events, "warning")


# --- jetson-inference -----------------------------------------------------------------------


def test_jetson_inference_version_tag_mismatch_is_an_error() -> None:
    events, _ = parse_file("158_")
    errors = _msgs(events, "error", severity="error")
    assert any("Serialization Error in verifyHeader: 0 (Version tag does not match)" in m for m in errors)
    assert any("INVALID_STATE: std::exception" in m for m in errors)
    assert any("INVALID_CONFIG: Deserialize the cuda engine failed." in m for m in errors)


def test_jetson_inference_plugin_creators_registered_and_one_refused() -> None:
    events, _ = parse_file("159_")
    assert {e["version"] for e in of_type(events, "version", component="tensorrt")} == {"7.1.3"}
    registered = of_type(events, "plugin", registered=True)
    assert [p["plugin"] for p in registered] == [
        "GridAnchor_TRT",
        "NMS_TRT",
        "Reorg_TRT",
        "Region_TRT",
        "Clip_TRT",
        "LReLU_TRT",
        "PriorBox_TRT",
        "Normalize_TRT",
        "RPROI_TRT",
        "BatchedNMS_TRT",
        "CropAndResize",
    ]
    assert all(p["version"] == "1" for p in registered)
    [refused] = of_type(events, "plugin", registered=False)  # "Could not register plugin creator -  ::..."
    assert (refused["plugin"], refused["version"]) == ("FlattenConcat_TRT", "1")


def test_jetson_inference_ros_error_code_without_severity_word() -> None:
    events, _ = parse_file("160_")
    [error] = of_type(events, "error")
    assert (error["severity"], error["code"], error["category"]) == ("error", 4, "Internal Error")
    assert "Tensor output is already set as network output" in error["msg"]


# --- plan and device mismatches behind applications -----------------------------------------


def test_videopipe_plan_from_another_tensorrt() -> None:
    events, _ = parse_file("155_")  # "expecting library version 8.5.2.2 got 8.5.1.7"
    versions = {(e["component"], e["version"], e["severity"]) for e in of_type(events, "version")}
    assert ("tensorrt", "8.5.2.2", "error") in versions
    assert ("tensorrt_plan", "8.5.1.7", "error") in versions
    assert _coded(events) == [(4, "Internal Error")]
    assert of_type(events, "memory", kind="engine_size")[0]["bytes"] == 34 * MiB
    assert any(
        "cv::dnn::readNet load network failed!" in m for m in _msgs(events, "warning", severity="warning")
    )


def test_odtk_bare_numbered_messages_are_errors() -> None:
    events, _ = parse_file("156_")  # no severity and no prefix: "6: The engine plan file ..."
    versions = {(e["component"], e["version"]): e["severity"] for e in of_type(events, "version")}
    assert versions == {("tensorrt", "8.0.0"): "error", ("tensorrt_plan", "8.0.1"): "error"}
    [error] = of_type(events, "error")
    assert (error["severity"], error["code"], error["category"]) == ("error", 4, "Internal Error")


def test_docker_compose_plan_version_mismatch() -> None:
    events, _ = parse_file("157_")
    versions = {(e["component"], e["version"]) for e in of_type(events, "version", severity="error")}
    assert versions == {("tensorrt", "8.2.3"), ("tensorrt_plan", "8.2.1")}
    assert _coded(events) == [(4, "Internal Error")]


def test_trt7_incompatible_device_expecting_compute() -> None:
    events, _ = parse_file("161_")  # "expecting compute 7.5 got compute 7.0": device 7.5, plan 7.0
    assert {e["version"] for e in of_type(events, "version", component="compute_capability")} == {"7.5"}
    assert "7.0" in {e["version"] for e in of_type(events, "version")}
    errors = _msgs(events, "error", severity="error")
    assert any("expecting compute 7.5 got compute 7.0" in m for m in errors)
    assert any("Core engine deserialization failure" in m for m in errors)


def test_sam_cpp_bare_serialization_version_213_vs_232() -> None:
    events, _ = parse_file("163_")
    assert _coded(events) == [(1, "Serialization"), (4, "Internal Error")]
    assert all(e["severity"] == "error" for e in of_type(events, "error"))
    assert "232" in {e["version"] for e in of_type(events, "version", component="serialization_plan")}


def test_d2slam_spdlog_around_serialization_version_mismatch() -> None:
    events, _ = parse_file("178_")
    assert _coded(events) == [(1, "Serialization"), (4, "Internal Error")]
    assert len(of_type(events, "error", severity="error")) == 4  # + the app's two spdlog [error] lines
    assert "232" in {e["version"] for e in of_type(events, "version", component="serialization_plan")}
    assert of_type(events, "memory", kind="engine_size")[0]["bytes"] == 6 * MiB


def test_yolov5_loading_a_tensorrtx_engine_without_its_plugin() -> None:
    events, _ = parse_file("162_")
    [missing] = of_type(events, "plugin", registered=False)
    assert (missing["plugin"], missing["version"], missing["severity"]) == ("YoloLayer_TRT", "1", "error")
    assert _coded(events) == [(1, "Serialization"), (4, "Internal Error")]
    assert of_type(events, "memory", kind="engine_size")[0]["bytes"] == 33 * MiB


# --- spdlog-, bracket- and tab-style application loggers ------------------------------------


def test_tensorrt_pro_style_logger_error_code_and_fatal() -> None:
    events, _ = parse_file("165_")
    errors = of_type(events, "error")
    assert (errors[0]["severity"], errors[0]["code"], errors[0]["category"]) == ("error", 1, "Cuda Runtime")
    assert errors[1]["severity"] in ("error", "internal_error")  # "[fatal][trt_infer.cpp:340]:execute fail"
    warn, _ = parse_file("166_")
    [cublas] = of_type(warn, "version", component="cublas")
    assert (cublas["version"], cublas["linked"], cublas["severity"]) == ("11.4.2", "11.6.5", "warning")


def test_ultra_infer_tab_logger_severity_comes_from_its_prefix() -> None:
    events, _ = parse_file("167_")  # "[ERROR] .../trt_backend.cc(239)::log<TAB>10: Could not find ..."
    assert all(e["severity"] == "error" for e in events) and len(events) == 4
    layers = {e["layer"] for e in of_type(events, "fallback", reason="no_implementation")}
    assert layers == {"{ForeignNode[eager_tmp_2_deepcopy_547...Reshape.413]}"}
    # the "Error Code 10: Internal Error (Could not find any implementation ...)" line is both
    assert [(e["code"], e["category"]) for e in of_type(events, "error") if "code" in e] == [
        (10, "Internal Error")
    ]
    assert any("Failed to call buildSerializedNetwork()." in m for m in _msgs(events, "error"))


def test_fastdeploy_warnings_and_quiet_build_info() -> None:
    events, _ = parse_file("168_")
    assert [e["severity"] for e in of_type(events, "warning")] == ["warning"] * 3
    assert not of_type(events, "error")


def test_mmdeploy_sdk_myelin_library_mismatch() -> None:
    events, _ = parse_file("169_")
    cublas = of_type(events, "version", component="cublas")
    assert [(e["version"], e["linked"], e["severity"]) for e in cublas] == [
        ("11.3.1", "11.8.0", "warning")
    ] * 2
    assert _coded(events) == [(1, "Myelin")]
    assert of_type(events, "error")[0]["severity"] == "error"
    other, _ = parse_file("170_")
    assert _coded(other) == [(1, "Myelin")]
    assert [e["severity"] for e in of_type(other, "error")] == ["error"] * 3


def test_riva_servicemaker_python_logging_and_polygraphy_warnings() -> None:
    events, _ = parse_file("177_")
    assert [e["severity"] for e in of_type(events, "warning")] == ["warning", "warning"]
    assert not of_type(events, "error")


def test_loguru_lines_before_trtexec_are_no_warnings() -> None:
    events, _ = parse_file("182_")
    assert {e["version"] for e in of_type(events, "version", component="tensorrt")} == {"8.2.4"}
    assert not [e for e in events if "utils.export_utils" in (e["msg"] or "")]  # loguru "| INFO |"
    assert not of_type(events, "error")


# --- subnormal FP16 weights -----------------------------------------------------------------


def test_subnormal_fp16_weight_counts() -> None:
    events, _ = parse_file("181_")
    subnormal = [f for f in of_type(events, "fallback") if "Detected subnormal FP16 values" in f["msg"]]
    assert [(f["count"], f["severity"]) for f in subnormal] == [(223, "warning")]
    assert of_type(events, "build_complete")[0]["seconds"] == 324.144
    assert of_type(events, "memory", kind="engine_size")[0]["bytes"] == 85 * MiB


# --- profiler figures printed by applications -----------------------------------------------


def test_app_printed_profiler_rows_and_inference_time() -> None:
    events, _ = parse_file("174_")
    times = _times(events)
    assert len(times) == 27
    assert times[0] == ("layer1-conv", 0.184)
    assert times[-1] == ("layer15-act", 0.029)
    assert ("layer5-shortcut", 0.167) in times
    assert 16.0298 in {e["value"] for e in of_type(events, "perf_summary")}  # "Time taken for inference"


def test_profiler_rows_with_names_cut_at_40_characters() -> None:
    events, _ = parse_file("175_")  # the file starts with "{Cast}": a log, not a JSON artifact
    times = _times(events)
    assert len(times) == 24
    assert times[0] == ("{Cast}", 0.301)
    assert ("ReduceMean__9", 132.021) in times
    assert ("(Unnamed Layer* 10) [ElementWise] + Redu", 123.283) in times  # "%-40.40s" cut the name
    assert ("Conv/BatchNorm/Const:0 + (Unnamed Layer*", 0.221) in times


def test_paddle_glog_tensorrt_layer_profile_rows() -> None:
    events, _ = parse_file("176_")
    times = _times(events)
    assert len(times) == 8
    assert times[0] == ("res3c_branch2a + res3c_branch2a_relu", 0.075)
    assert ("res4a_branch1", 0.125) in times
    assert all(e["severity"] == "info" for e in of_type(events, "layer_time"))


def test_tensorrt_demos_dla_subgraphs_listed_on_terminal_wrapped_lines() -> None:
    events, _ = parse_file("184_")
    placed = of_type(events, "placement", device="DLA")
    assert len(placed) == len(events) == 48  # 8 DLA subgraphs of 6 layers each
    names = [e["layer"] for e in placed]
    # names the terminal cut in two ("013_convo" / "lutional") are whole again
    assert "013_convolutional" in names and "016_convolutional" in names and "026_convolutional_tanh" in names
    assert not any(n.startswith(",") or n.endswith("_convo") for n in names)
    assert names[-1] == "059_convolutional_bn"


def test_polygraphy_critical_marker_and_error_10_in_a_comfyui_node() -> None:
    events, _ = parse_file("186_")
    assert of_type(events, "fallback", reason="no_implementation", severity="error")
    assert [(e.get("code"), e["severity"]) for e in of_type(events, "error")] == [
        (10, "error"),  # the fallback's line is also its numbered error
        (None, "error"),  # "[!] Invalid Engine. Please ensure the engine was built correctly"
        (None, "error"),  # "ERROR:root:Failed to build engine: ..."
    ]
