"""TensorRT speaking through another program's logger (TF-TRT glog, Paddle glog, Triton and its
TensorRT-LLM backend, Torch-TensorRT's Python logging, the mmdeploy SDK and converter, DeepStream,
applications that wrap the Python logger): what a person reading each real log would extract.
The files are tests/data/dialects/1NN_*; their sources are in tests/data/dialects/SOURCES.md."""

from __future__ import annotations

from conftest import model_of, of_type, parse_file


def _msgs(events: list[dict], type_: str, **match: object) -> list[str]:
    return [e["msg"] for e in of_type(events, type_, **match)]


def test_tf_trt_glog_linked_and_loaded_versions_and_subnormal_fp16_weights() -> None:
    events, _ = parse_file("100_")
    versions = {(e["version"], e.get("linked")) for e in of_type(events, "version", component="tensorrt")}
    assert versions == {("8.5.3", "8.4.3")}  # "Linked TensorRT version" / "Loaded TensorRT version"
    subnormal = [f for f in of_type(events, "fallback") if "Detected subnormal FP16 values" in f["msg"]]
    assert len(subnormal) == 2  # the FP16 build and the first FP16 run each say it once
    assert all(f["severity"] == "warning" for f in subnormal)  # glog "W ... trt_logger.cc:83]"
    assert all(f["count"] == 55 for f in subnormal)  # "- 55 weights are affected by this issue"
    tf_trt = [e for e in events if "TF-TRT Warning: DefaultLogger" in (e["msg"] or "")]
    assert len(tf_trt) == 8 and all(e["severity"] == "warning" for e in tf_trt)


def test_paddle_trt_glog_deserialize_plugin_not_found() -> None:
    events, _ = parse_file("101_")
    missing = of_type(events, "plugin", registered=False)
    assert [(p["plugin"], p["version"], p["severity"]) for p in missing] == [("pool_plugin", "1", "error")]
    errors = _msgs(events, "error", severity="error")
    assert any("Serialization Error in load: 0 (Cannot deserialize plugin" in m for m in errors)
    assert any("INVALID_CONFIG: Deserialize the cuda engine failed." in m for m in errors)
    assert of_type(events, "warning")[0]["severity"] == "warning"  # "W0112 ... links the 7216 version"


def test_trtllm_backend_runtime_warnings_and_engine_size() -> None:
    events, _ = parse_file("102_")
    assert len(of_type(events, "warning", severity="warning")) == 4  # [TensorRT-LLM][WARNING] x4
    assert of_type(events, "memory", kind="engine_size")[0]["bytes"] == 12858 * 1024 * 1024
    assert not of_type(events, "error")


def test_trtllm_backend_plan_version_mismatch() -> None:
    events, _ = parse_file("103_")
    [error] = of_type(events, "error")
    assert (error["severity"], error["code"], error["category"]) == ("error", 1, "Serialization")
    versions = {(e["component"], e["version"]) for e in of_type(events, "version")}
    # "Current Version: 226, Serialized Engine Version: 228": the runtime's, then the plan's
    assert {("serialization", "226"), ("serialization_plan", "228")} <= versions


def test_docker_compose_triton_trtllm_failed_to_deserialize() -> None:
    events, _ = parse_file("104_")
    [error] = of_type(events, "error")
    assert error["severity"] == "error"  # "triton-models-1  | E0625 ..."
    assert "[TensorRT-LLM][ERROR] Assertion failed: Failed to deserialize cuda engine." in error["msg"]


def test_mmdeploy_sdk_trt10_plan_version_mismatch() -> None:
    events, _ = parse_file("105_")
    trt = [e for e in of_type(events, "error") if e.get("code") is not None]
    assert [(e["code"], e["category"], e["severity"]) for e in trt] == [(1, "Serialization", "error")]
    versions = {(e["component"], e["version"]) for e in of_type(events, "version")}
    assert {("serialization", "239"), ("serialization_plan", "237")} <= versions
    assert len(of_type(events, "error", severity="error")) == 3  # + mmdeploy's own two [error] lines


def test_mmdeploy_sdk_magic_tag_and_plugin_creator_not_found() -> None:
    for name in ("106_", "107_"):
        events, _ = parse_file(name)
        trt = [e for e in of_type(events, "error") if e.get("code") is not None]
        assert [(e["code"], e["category"]) for e in trt] == [(1, "Serialization"), (4, "Internal Error")]
        assert all(e["severity"] == "error" for e in of_type(events, "error"))
    events, _ = parse_file("107_")
    assert "IPluginCreator not found in Plugin Registry" in of_type(events, "error")[0]["msg"]


def test_torch_tensorrt_dynamo_python_logging_memory() -> None:
    events, _ = parse_file("108_")
    memory = {e["kind"]: e["bytes"] for e in of_type(events, "memory")}
    assert memory["host_persistent"] == 352
    assert memory["device_persistent"] == 0 and memory["scratch"] == 0
    assert memory["activation"] == 20001280 and memory["weights"] == 0
    assert all(e["severity"] == "info" for e in of_type(events, "memory"))  # "INFO:torch_tensorrt ..."


def test_torch_tensorrt_dynamo_warning_level_from_python_logging() -> None:
    events, _ = parse_file("109_")
    trt_warnings = [e for e in of_type(events, "warning") if "torch_tensorrt" in e["msg"]]
    assert [e["severity"] for e in trt_warnings] == ["warning", "warning"]
    assert "Unused Input: out" in trt_warnings[0]["msg"]
    assert "[RemoveDeadLayers]" in trt_warnings[1]["msg"]
    changes = of_type(events, "memory", kind="process_gpu")
    assert [e["phase"] for e in changes] == ["Init CUDA", "Init builder kernel library"]
    assert changes[1]["gpu_delta_bytes"] == 317 * 1024 * 1024


def test_torch_tensorrt_torchscript_debug_prefix() -> None:
    events, _ = parse_file("110_")
    [activation] = of_type(events, "memory", kind="activation")
    assert activation["bytes"] == 1073741824 and activation["severity"] == "verbose"  # "DEBUG: ..."
    assert of_type(events, "layer_count")[0]["count"] == 1


def test_triton_quoted_glog_plugin_creators_registered() -> None:
    events, _ = parse_file("111_")
    plugins = of_type(events, "plugin", registered=True)
    assert len(plugins) == 11
    assert (plugins[0]["plugin"], plugins[0]["version"]) == ("ROIAlign_TRT", "2")
    assert (plugins[2]["plugin"], plugins[2]["version"]) == ("InstanceNormalization_TRT", "3")
    assert plugins[-1]["plugin"] == "CoordConvAC" and plugins[-1]["severity"] == "info"


def test_compute_capability_mismatch_behind_applications() -> None:
    events, _ = parse_file("112_")  # "expecting compute 9.0 got compute 8.9": device 9.0, plan 8.9
    assert any("expecting compute 9.0 got compute 8.9" in m for m in _msgs(events, "error", severity="error"))
    assert {e["version"] for e in of_type(events, "version", component="compute_capability")} == {"9.0"}
    assert {e["version"] for e in of_type(events, "version", component="compute_capability_plan")} == {"8.9"}
    assert [(e["code"], e["category"]) for e in of_type(events, "error") if e.get("code") is not None] == [
        (2, "Internal Error")
    ]
    events, _ = parse_file("113_")  # InspireFace's "[TensorRT]" logger, TRT 10 form
    first = of_type(events, "error")[0]
    assert (first["severity"], first["code"], first["category"]) == ("error", 6, "API Usage Error")
    assert {e["version"] for e in of_type(events, "version", component="compute_capability")} == {"8.9"}


def test_mmdeploy_converter_two_logger_formats_and_trt_warnings() -> None:
    events, _ = parse_file("114_")
    assert len(of_type(events, "warning", severity="warning")) == 3  # the [TRT] [W] onnx2trt lines
    assert of_type(events, "memory", phase="Init CUDA")[0]["cpu_delta_bytes"] == 243 * 1024 * 1024
    assert not of_type(events, "error")


def test_onnx_parser_check_fallback_plugin_importer_gridsample3d() -> None:
    events, _ = parse_file("115_")
    missing = of_type(events, "plugin", registered=False)
    assert {p["op"] for p in missing} == {"GridSample3D"}
    assert {p["layer"] for p in missing} == {"/dense_motion_network/GridSample", "/GridSample"}
    assert all(e["severity"] == "error" for e in of_type(events, "error"))


def test_mmdeploy_import_fallback_plugin_importer_trtbatchednms() -> None:
    events, _ = parse_file("116_")
    missing = of_type(events, "plugin", registered=False)
    assert missing and {p["plugin"] for p in missing} == {"TRTBatchedNMS"}  # searched on the line before
    assert missing[0]["severity"] == "error"
    assert any("with Call id: 1 failed. exit." in m for m in _msgs(events, "error", severity="error"))


def test_mmdeploy_trt7_no_importer_then_plugin_creator_not_found() -> None:
    events, _ = parse_file("117_")
    assert len(of_type(events, "warning", severity="warning")) == 8
    missing = of_type(events, "plugin", registered=False)
    assert [(p["plugin"], p["version"], p["severity"]) for p in missing][-1] == (
        "TRTBatchedNMS",
        "1",
        "error",
    )
    assert any(p.get("op") == "TRTBatchedNMS" for p in missing)  # "No importer registered for op: ..."


def test_deepstream_while_parsing_node_plugin_not_found() -> None:
    events, _ = parse_file("118_")
    missing = of_type(events, "plugin", registered=False)
    assert missing[0]["plugin"] == "BatchedNMSCustomDynamic_TRT" and missing[0]["version"] == "1"
    assert any(
        p.get("op") == "BatchedNMSCustomDynamic_TRT" for p in missing
    )  # "While parsing node number 343"
    assert all(e["severity"] == "error" for e in of_type(events, "error"))
    assert of_type(events, "warning")[0]["severity"] == "warning"


def test_tf_trt_errors_behind_tensorflows_logger_letter() -> None:
    events, _ = parse_file(
        "185_"
    )  # "2022-07-13 16:42:54.915035: E tensorflow/...trt_logger.cc:42] DefaultLogger ..."
    assert [e["severity"] for e in events] == ["error"] * 3
    first = of_type(events, "error")[0]
    assert (first.get("code"), first.get("category")) == (0, "Serialization")
    assert all(e["ts"] == "2022-07-13T16:42:54Z" for e in events)


def test_tf_trt_linked_and_loaded_tensorrt_are_one_version_with_its_link() -> None:
    from trt_agent.sinks.prometheus import version_mismatch

    [version] = of_type(parse_file("100_")[0], "version", component="tensorrt")
    assert (version["version"], version["linked"]) == ("8.5.3", "8.4.3")
    assert version_mismatch(model_of("100_"))


def test_paddle_inspector_requirement_is_no_version() -> None:
    events, _ = parse_file("187_")  # "Inspector needs TensorRT version 8.2 and after."
    assert not of_type(events, "version", component="tensorrt")
    linked = {e["component"]: (e["version"], e["linked"]) for e in of_type(events, "version")}
    assert linked == {"cublas": ("11.3.1", "11.6.3"), "cudnn": ("8.1.0", "8.2.1")}
    assert all(e["severity"] == "warning" for e in events)


def test_trtllm_runtime_memory_budget_for_the_kv_cache() -> None:
    events, _ = parse_file("188_")
    memory = {e["kind"]: e["bytes"] for e in of_type(events, "memory")}
    assert memory == {"gpu_total": round(39.39 * 2**30), "gpu_available": round(21.89 * 2**30)}
