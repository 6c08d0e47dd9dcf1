"""What a person reading each real log would extract, asserted value by value."""

from __future__ import annotations

from conftest import model_of, of_type, parse_file

from trt_agent.model import EngineModel


def test_alexnet_trt10_verbose_build_fusions_counts_and_layers() -> None:
    events, _ = parse_file("03_")
    fusions = of_type(events, "fusion")
    assert [f["kind"] for f in fusions].count("ConvReluFusion") == 5
    assert [f["kind"] for f in fusions].count("ConstShuffleFusion") == 3
    relu = fusions[3]
    assert relu["layers"] == ["/features/features.0/Conv", "/features/features.1/Relu"]
    assert relu["result"] == "/features/features.0/Conv + /features/features.1/Relu"
    removal = of_type(events, "fusion", kind="PoolingErasure")
    assert removal[0]["layers"] == ["/avgpool/AveragePool"] and removal[0]["result"] is None
    counts = {e["stage"]: e["count"] for e in of_type(events, "layer_count")}
    assert counts["original"] == 32
    assert counts["after_myelin_optimization"] == 15
    assert counts["after_final_dead_layer_removal"] == 9
    assert of_type(events, "build_complete", stage="engine_generation")[0]["seconds"] == 8.62539
    assert of_type(events, "version")[0]["version"] == "10.4.0"
    conv = of_type(events, "layer", name="/features/features.0/Conv + /features/features.1/Relu")[0]
    assert conv["layer_type"] == "CaskConvolution" and conv["precision"] == "Half"
    assert conv["sources"] == ["/features/features.0/Conv", "/features/features.1/Relu"]
    assert conv["tactic"] == "0x280b0ad3c23d8442"
    assert of_type(events, "memory", kind="engine_size")[0]["bytes"] == round(117.087 * 1024 * 1024)


def test_alexnet_perf_summary_numbers() -> None:
    events, _ = parse_file("04_")
    perf = {(e["metric"], e["stat"]): e["value"] for e in of_type(events, "perf_summary")}
    assert perf[("throughput_qps", "mean")] == 1995.29
    assert perf[("latency_ms", "median")] == 0.499023
    assert perf[("latency_ms", "p99")] == 0.503418
    assert perf[("gpu_compute_ms", "p90")] == 0.501465
    assert perf[("enqueue_ms", "max")] == 0.0112305
    assert perf[("h2d_ms", "mean")] == 0.0 and perf[("d2h_ms", "p95")] == 0.0
    assert perf[("host_walltime_s", "total")] == 3.00106
    assert len(of_type(events, "perf_summary")) == 5 * 7 + 3


def test_alexnet_json_artifacts_join_build_log_and_profile() -> None:
    model = model_of("01_", "02_", "03_")
    assert len(model.layers) == 14
    assert model.layers["/features/features.2/MaxPool"].precision == "Half"
    gemm = model.layers["/classifier/classifier_1/Gemm_myl9_2"]
    assert len(gemm.sources) > 1  # Myelin layer members come from the inspector Metadata
    slowest = model.slowest_layers(1)[0]
    assert slowest["layer"] == "/classifier/classifier_1/Gemm_myl9_2"
    assert slowest["precision"] == "Half"
    times = model.layer_times["/features/features.0/Conv + /features/features.1/Relu"]
    assert times.avg_ms == 0.023456 and times.median_ms == 0.023552
    cov = model.fusion_coverage()
    assert (cov.numerator, cov.denominator) == (14, 19)
    unfused = model.unfused_kernel_ratio()
    assert (unfused.numerator, unfused.denominator) == (6, 13)


def test_segformer_full_build_model() -> None:
    events, stats = parse_file("trtexec-8.6.1")
    assert stats.lines == 18331
    assert len(of_type(events, "layer")) == 230
    assert len(of_type(events, "source_layer")) == 605
    assert len(of_type(events, "fusion", kind="ConvReluFusion")) == 1
    assert of_type(events, "fusion", kind="ConvReluFusion")[0]["layers"] == ["Conv_1342", "Relu_1343"]
    pwn = of_type(events, "fusion", kind="PointWiseFusion")[0]
    assert pwn["result"] == "PWN(Mul_52, Add_53)"
    assert of_type(events, "fusion", kind="ConcatenationElimination")[0]["layers"] == ["Concat_1341"]
    plugins = [p for p in of_type(events, "plugin") if not p.get("creator")]  # not the registry's list
    assert (
        len(plugins) == 6 and {p["plugin"] for p in plugins} == {"LayerNorm"} and plugins[0]["version"] == "1"
    )
    model = model_of("trtexec-8.6.1")
    assert model.stages["original"] == 1007 and model.stages["after_reformat_layers"] == 230
    assert model.versions == {"tensorrt": "8.6.1", "device": "Tesla T4", "compute_capability": "7.5"}
    assert model.memory["activation"] == 929038336
    assert model.memory["workspace_limit"] == 15000 * 1024 * 1024
    assert model.precision_counts() == {"Float": 137}
    assert model.int8_coverage().numerator == 0
    assert len(model.plugin_layers()) == 6
    assert model.build_seconds["engine_generation"] == 253.092
    foreign = [layer for layer in model.layers.values() if layer.kind == "myelin"]
    assert len(foreign) == 8 and not foreign[0].members_listed
    assert model.opaque_layers() > 0


def test_segformer_tail_layer_list_without_opener_and_precisions() -> None:
    events, _ = parse_file("05_")
    layers = of_type(events, "layer")
    assert len(layers) == 27
    topk = of_type(events, "layer", name="ArgMax_1386")[0]
    assert topk["layer_type"] == "TopK" and topk["precision"] == "Float"
    pwn = of_type(events, "layer", name="PWN(Sub_1382, PWN(Exp_1383))")[0]
    assert pwn["sources"] == ["Sub_1382", "Exp_1383"]
    assert of_type(events, "version")[0]["version"] == "8.6.1"  # &&&& PASSED ... [TensorRT v8601]
    assert of_type(events, "memory", kind="device_persistent")[0]["bytes"] == 969728


def test_calibration_cache_scales() -> None:
    events, _ = parse_file("07_")
    assert of_type(events, "version")[0]["version"] == "8.6.1"
    cal = of_type(events, "calibration")
    assert len(cal) == 146
    first = cal[0]
    assert first["tensor"] == "img"
    assert abs(first["scale"] - 0.019148) < 1e-5  # 0x3c9cdc9b
    assert first["max"] == -first["min"] == first["scale"] * 127
    assert of_type(events, "calibration", tensor="(Unnamed Layer* 5) [Constant]_output")


def test_dump_profile_tables_all_formats() -> None:
    new, _ = parse_file("08_")
    rows = of_type(new, "layer_time")
    assert len(rows) == 7 and rows[0]["iterations"] == 2094
    assert (
        rows[1]["layer"]
        == "node_of_gpu_0/conv1_1 + node_of_gpu_0/res_conv1_bn_1 + node_of_gpu_0/res_conv1_bn_2"
    )
    assert (rows[1]["total_ms"], rows[1]["ms"], rows[1]["median_ms"], rows[1]["percentage"]) == (
        47.82,
        0.0228,
        0.0225,
        1.6,
    )
    old, _ = parse_file("28_")
    names = [e["layer"] for e in of_type(old, "layer_time")]
    assert names == [
        "data to nvm",
        names[1],
        "data copy finish",
        "prob input reformatter 0",
        "loss3/classifier finish",
        "prob",
    ]
    assert of_type(old, "layer_time", layer="prob input reformatter 0")[0]["ms"] == 3.33
    gpu = {e["stat"]: e["value"] for e in of_type(old, "perf_summary", metric="gpu_compute_ms")}
    assert gpu == {"min": 3.60278, "max": 4.14014, "mean": 3.68068, "median": 3.66748, "p99": 3.87695}
    orin, _ = parse_file("29_")
    foreign = of_type(orin, "layer_time", layer="{ForeignNode[conv1/7x7_s2...loss3/classifier]}")[0]
    assert (foreign["ms"], foreign["median_ms"]) == (1.032, 1.0321)
    lpr, _ = parse_file("31_")
    assert len(of_type(lpr, "layer_time")) == 28
    assert of_type(lpr, "layer_time", layer="[HostToDeviceCopy 0]")[0]["total_ms"] == 16.77


def test_old_style_latency_summary_through_grep() -> None:
    events, _ = parse_file("30_")
    latency = {e["stat"]: e["value"] for e in of_type(events, "perf_summary", metric="latency_ms")}
    assert latency == {"min": 1.97266, "max": 2.20117, "mean": 2.00712, "median": 2.00586, "p99": 2.03125}
    assert of_type(events, "perf_summary", metric="throughput_qps")[0]["value"] == 496.392
    assert of_type(events, "perf_summary", metric="gpu_compute_ms", stat="median")[0]["value"] == 1.96094


def test_trt7_python_logger_dialect() -> None:
    events, _ = parse_file("09_")
    assert len(of_type(events, "warning")) == 11 and len(of_type(events, "error")) == 1
    assert events[0]["ts"] is None and events[0]["severity"] == "warning"
    verbose, _ = parse_file("11_")
    fusion = of_type(verbose, "fusion", kind="ShuffleShuffleFusion")[0]
    assert fusion["layers"] == ["(Unnamed Layer* 315) [Shuffle]", "(Unnamed Layer* 316) [Shuffle]"]
    scale = of_type(verbose, "fusion", kind="ConvScaleFusion")
    assert [f["layers"] for f in scale] == [
        ["MatMul_243", "BatchNormalization_244"],
        ["MatMul_246", "BatchNormalization_247"],
    ]
    assert {e["stage"]: e["count"] for e in of_type(verbose, "layer_count")} == {
        "after_myelin_optimization": 95,
        "after_scale_fusion": 93,
    }


def test_trt8_memory_and_linked_versions() -> None:
    events, _ = parse_file("12_")
    memory = {e["kind"]: e["bytes"] for e in of_type(events, "memory") if "phase" not in e}
    assert memory == {
        "host_persistent": 157312,
        "device_persistent": 13765632,
        "scratch": 15879680,
        "peak_cpu": 17 * 2**20,
        "peak_gpu": 4914 * 2**20,
        "activation": 53452800,
    }
    versions = {e["component"]: (e["version"], e["linked"]) for e in of_type(events, "version")}
    assert versions == {"cudnn": ("8.2.0", "8.2.1"), "cublas": ("11.5.1", "11.6.3")}
    mnist, _ = parse_file("13_")
    assert of_type(mnist, "version", component="tensorrt")[0]["version"] == "8.2.0"
    assert of_type(mnist, "memory", kind="activation")[0]["bytes"] == 16861187


def test_fallbacks_and_errors() -> None:
    events, _ = parse_file("17_")
    fb = of_type(events, "fallback")
    assert fb[0]["reason"] == "no_implementation" and fb[0]["severity"] == "error"
    assert (
        fb[0]["layer"]
        == "{ForeignNode[(Unnamed Layer* 1247) [Shuffle].../layers.7/Transpose_2 + /layers.7/Reshape_4]}"
    )
    mem, _ = parse_file("18_")
    assert of_type(mem, "fallback", reason="insufficient_memory")[0]["severity"] == "warning"
    gpt2, _ = parse_file("20_")  # with TensorRT's own typo "insuficient"
    assert of_type(gpt2, "fallback", reason="insufficient_memory")
    assert (
        of_type(gpt2, "fallback", reason="no_implementation")[0]["layer"]
        == "{ForeignNode[transformer.wte.weight...MatMul_2899]}"
    )
    myelin, _ = parse_file("19_")
    assert of_type(myelin, "fallback", reason="myelin_error")
    dla, _ = parse_file("49_")
    assert of_type(dla, "fallback", reason="dla_unsupported")[2]["layer"] == "LSTM encoder"
    scale, _ = parse_file("48_")
    assert (
        of_type(scale, "fallback", reason="missing_int8_scale")[0]["layer"]
        == "encoder.layer.0.output.LayerNorm.bias_output"
    )


def test_wrapped_dialects() -> None:
    docker, _ = parse_file("22_")
    assert of_type(docker, "memory", kind="activation")[0]["bytes"] == 7181828
    assert of_type(docker, "fallback", reason="no_native_fp16")
    llm, _ = parse_file("23_")
    assert of_type(llm, "version", component="tensorrt_llm")[0]["version"] == "0.8.0"
    assert of_type(llm, "build_complete")
    jetson, _ = parse_file("27_")
    assert jetson[0]["type"] == "error" and jetson[0]["msg"].startswith("[TRT]    INVALID_ARGUMENT")
    deepstream, _ = parse_file("51_")
    assert all(e["severity"] == "warning" for e in deepstream) and len(deepstream) == 4
    ort, _ = parse_file("54_")
    assert [e["severity"] for e in ort] == ["warning", "warning", "error"]
    assert ort[0]["ts"] == "2020-03-18T20:08:48Z"


def test_int8_engine_layer_information() -> None:
    model = model_of("47_")
    assert model.int8_coverage().value == 1.0
    conv = model.layers["Pad_6 + 0.blocks.0.1.our_module.weight + QuantizeLinear_9 + Conv_13 + PWN(Clip_14)"]
    # the weight is a member of the name, not a source layer (issue 16)
    assert conv.sources == ("Pad_6", "QuantizeLinear_9", "Conv_13", "Clip_14")


def test_trt10_plugin_and_fp8_layers() -> None:
    events, _ = parse_file("42_")
    assert of_type(events, "plugin")[0]["plugin"] == "AddScalar"
    fp8, _ = parse_file("46_")
    assert of_type(fp8, "layer")[0]["precision"] == "FP8"
    missing, _ = parse_file("50_")
    assert of_type(missing, "plugin")[0] | {} and of_type(missing, "plugin")[0]["registered"] is False


def test_tactic_exception_is_a_fallback() -> None:
    events, _ = parse_file("53_")
    skipped = of_type(events, "fallback", reason="tactic_exception")
    assert len(skipped) >= 2 and skipped[0]["severity"] == "error"


def test_layer_times_stay_bounded_and_lose_no_observation() -> None:
    model = EngineModel("e", max_tracked_layers=100)
    for i in range(5000):
        model.apply(
            {
                "type": "layer_time",
                "engine": "e",
                "severity": "info",
                "source": {},
                "layer": f"l{i}",
                "ms": 1 + i % 7,
            }
        )
    model.apply(
        {"type": "layer_time", "engine": "e", "severity": "info", "source": {}, "layer": "l4999", "ms": 50.0}
    )
    assert len(model.layer_times) <= 200
    observed = sum(t.count for t in model.layer_times.values()) + model.other_layer_time.count
    assert observed == 5001
    assert (
        sum(sum(t.buckets) for t in model.layer_times.values()) + sum(model.other_layer_time.buckets) == 5001
    )
    assert model.layer_times["l4999"].count == 2  # the newest name survives the fold it caused


def test_polygraphy_configuration_table_says_what_the_build_asked_for() -> None:
    """Polygraphy prints the builder flags as an indented "Key | value" table with no header;
    the Flags and Memory Pools rows are read, and the table's end gives the next line back."""
    int8, _ = parse_file("44_")
    assert [(e["precisions"], e["source"]["line"]) for e in of_type(int8, "build_config")] == [
        (["Float", "Int8"], 13)
    ]
    assert of_type(int8, "memory", kind="workspace_limit")[0]["bytes"] == round(81081.00 * 2**20)
    assert model_of("44_").int8_requested()
    fp16, _ = parse_file("45_")
    assert [e["precisions"] for e in of_type(fp16, "build_config")] == [["Float", "Half"]]
    assert of_type(fp16, "memory", kind="workspace_limit")[0]["bytes"] == 1024 * 2**20
    assert not model_of("45_").int8_requested()
    # the [MemUsageChange] line right after the table is an ordinary line again
    assert [e["source"]["line"] for e in fp16 if e["type"] == "memory"][1:3] == [27, 31]


def test_trt8_0_to_8_3_layer_list_tensor_types() -> None:
    """TensorRT 8.0-8.3 print tensor types as ``name[Half(1,64,128,150)]``: the precision is read."""
    events, _ = parse_file("69_")
    layers = of_type(events, "layer")
    assert [(e["layer_type"], e["precision"]) for e in layers] == [
        ("Reformat", "Half"),
        ("CaskConvolution", "Half"),
        ("CaskConvolution", "Half"),
        ("CaskConvolution", "Half"),
    ]
    assert layers[2]["tactic"] == "8839784824303350101"


def test_trt10_max_scratch_memory() -> None:
    events, _ = parse_file("70_")
    assert [e["bytes"] for e in of_type(events, "memory", kind="scratch")] == [2065996800]


def test_skipped_tactics_name_the_tactic_id_not_its_index() -> None:
    """ "Skipping tactic 1 ... detected for tactic 0x40a12e3938221818": the id is the second
    number; "due to oom error" (TensorRT 8.2) and a missing separator (TensorRT 9) are read too."""
    trt10, _ = parse_file("71_")
    skipped = of_type(trt10, "fallback", reason="insufficient_memory")
    assert [e["tactic"] for e in skipped] == ["0x1673e3594ce11cea", "0x40a12e3938221818"]
    trt9, _ = parse_file("72_")
    assert [e["tactic"] for e in of_type(trt9, "fallback", reason="insufficient_memory")] == [
        "0x000000000000001e",
        "0x000000000000001f",
    ]
    trt8, _ = parse_file("73_")
    assert [(e["reason"], e["tactic"]) for e in of_type(trt8, "fallback")] == [("insufficient_memory", "2")]


def test_dla_fallback_wordings_of_tensorrt_5_to_8() -> None:
    subgraphs, _ = parse_file("74_")
    assert {e["reason"] for e in of_type(subgraphs, "fallback")} == {"dla_subgraph_limit"}
    assert of_type(subgraphs, "fallback")[0]["layer"] == "conv_6"
    not_running, _ = parse_file("75_")
    assert [e["layer"] for e in of_type(not_running, "fallback")][:2] == ["layer74-act", "layer76-act"]
    switching, _ = parse_file("76_")
    fallbacks = of_type(switching, "fallback", reason="dla_unsupported", to_device="GPU")
    assert [e["layer"] for e in fallbacks][:2] == [
        "/model.24/Constant_1_output_0",
        "(Unnamed Layer* 277) [Shuffle]",
    ]
    assert len(fallbacks) == len(switching)


def test_strict_mode_precision_constraints_ignored_is_a_fallback() -> None:
    events, _ = parse_file("77_")
    assert [e["layer"] for e in of_type(events, "fallback", reason="precision_constraint_ignored")] == [
        "Reshape_118[Reshape]",
        "Conv_119[Conv]",
        "Split_120[SplitPlugin]",
        "PWN(Sigmoid_122[Sigmoid])",
    ]


def test_engine_plan_from_another_tensorrt_is_a_version_mismatch() -> None:
    from trt_agent.sinks.prometheus import version_mismatch

    model = model_of("78_")
    assert (model.versions["tensorrt"], model.versions["tensorrt_plan"]) == ("8.5.1.7", "8.5.3.1")
    assert version_mismatch(model)
    assert not version_mismatch(model_of("70_"))


def test_a_plan_for_another_device_or_serialization_format_is_a_version_mismatch() -> None:
    from trt_agent.sinks.prometheus import version_mismatch

    device = model_of("161_")  # pytorch-YOLOv4: "expecting compute 7.5 got compute 7.0"
    assert device.plan_mismatches() == [("compute_capability", "7.0", "7.5")]
    assert version_mismatch(device)
    serialization = model_of("163_")  # "Current Version: 213, Serialized Engine Version: 232"
    assert serialization.plan_mismatches() == [("serialization", "232", "213")]
    assert version_mismatch(serialization)
    # two error lines, though the first gives an error and two version events
    assert serialization.summary()["events"] | {"by_type": None} == {
        "total": 4,
        "warnings": 0,
        "errors": 2,
        "by_type": None,
    }


def test_tensorrt_llm_runtime_memory_lines() -> None:
    kv, _ = parse_file("79_")
    assert [e["bytes"] for e in of_type(kv, "memory", kind="kv_cache")] == [round(78.30 * 2**30)]
    context, _ = parse_file("80_")
    assert [e["bytes"] for e in of_type(context, "memory", kind="execution_context")] == [
        round(37812.51 * 2**20)
    ]


def test_polygraphy_build_time_and_tensorrt_module_version() -> None:
    events, _ = parse_file("81_")
    assert [(e["stage"], e["seconds"]) for e in of_type(events, "build_complete")] == [
        ("polygraphy_build", 457.124)
    ]
    verbose, _ = parse_file("45_")
    assert [e["version"] for e in of_type(verbose, "version", component="tensorrt")] == ["10.16.2.5"]


def test_no_gpu_memory_fact_when_tensorrt_could_not_measure_it() -> None:
    """After "Unable to determine GPU memory usage" (CUDA failed to start), "GPU 0 (MiB)" is no
    measurement: no memory event; the warnings stay."""
    events, _ = parse_file("82_")
    assert not of_type(events, "memory")
    assert [e["type"] for e in events] == ["warning", "warning", "warning"]
    assert model_of("12_").memory["process_gpu"] > 0  # a real [MemUsageChange] still counts
