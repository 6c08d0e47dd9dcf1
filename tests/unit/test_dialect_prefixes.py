"""Severity and message start behind any application's prefix (parse/prefix.py, parse/log.py).

The shapes are the ones issue 15 lists; the real files they come from are in tests/data/dialects
(tests/contract/test_dialect_*.py read those).
"""

from __future__ import annotations

import io

import pytest

from trt_agent.parse.log import ParseStats, parse_log
from trt_agent.parse.prefix import prefix_severity, trt_error
from trt_agent.vocab.events import Event


def _parse(text: str) -> list[Event]:
    return list(parse_log(io.BytesIO(text.encode()), "x.log", "e", ParseStats()))


@pytest.mark.parametrize(
    ("prefix", "severity"),
    [
        ("E0101 10:00:00.123456  42 logging.cc:43] ", "error"),
        ("W0101 10:00:00.123456  42 trt_logger.cc:41] ", "warning"),
        ("WARNING:torch_tensorrt [TensorRT Conversion Context]:", "warning"),
        ("2025-01-01 10:00:00 | INFO     | exporter | ", "info"),
        ("[2025-01-01 10:00:00][error][builder.cpp:30]:NVInfer: ", "error"),
        ("|app|error|[TensorRT] ", "error"),
        ("DEBUG: [Torch-TensorRT TorchScript Conversion Context] - ", "verbose"),
        ("[W:onnxruntime:log, x.h:53 log] [2021-10-15 06:49:00 WARNING] ", "warning"),  # nearest wins
        ("[E:onnxruntime:log] [2021-10-15 06:49:00 INFO] ", "info"),
        ("svc_1  | E0101 10:00:00.123 42 logging.cc:43] ", "error"),
        (
            "RuntimeError: Failed to parse onnx, In node 848 (importFallbackPluginImporter): UNSUPPORTED_NODE: ",
            "error",
        ),
        ("error.code() = <ErrorCode.INVALID_NODE: 6>", None),  # a value printed, not a level
        ("2022-07-13 16:42:54.915035: E tensorflow/compiler/tf2tensorrt/utils/trt_logger.cc:42] ", "error"),
        ("[!] ", "error"),  # Polygraphy
        ("(gst-plugin-scanner:26): GStreamer-WARNING **: 07:09:47.376: ", "warning"),
        ("DefaultLogger INVALID_STATE: ", "error"),
        ("TENSORRT LOG: ", None),
        ("no error here: ", None),  # a level word in running text is none
    ],
)
def test_the_nearest_level_token_of_a_prefix_is_the_severity(prefix: str, severity: str | None) -> None:
    assert prefix_severity(prefix) == severity


def test_tensorrt_error_forms_carry_code_and_category() -> None:
    assert trt_error(
        "4: [runtime.cpp::deserializeCudaEngine::75] Error Code 4: Internal Error (x)", None
    ) == (
        4,
        "Internal Error",
    )
    assert trt_error("coreReadArchive.cpp (38) - Serialization Error in verifyHeader: 0 (x)", None) == (
        0,
        "Serialization",
    )
    assert trt_error("6: The engine plan file is not compatible", None) == (None, None)
    assert trt_error("6: The engine plan file is not compatible", "warning") is None
    assert trt_error("Some message", None) is None


def test_a_tensorrt_error_is_an_error_whatever_the_wrapper_says() -> None:
    line = (
        "I0101 10:00:00.123456  42 logging.cc:43] 4: [runtime.cpp::deserializeCudaEngine::75] "
        "Error Code 4: Internal Error (Engine deserialization failed.)\n"
    )
    [event] = _parse(line)
    assert (event["type"], event["severity"], event["code"], event["category"]) == (
        "error",
        "error",
        4,
        "Internal Error",
    )


def test_a_message_behind_an_unknown_prefix_is_read_with_the_prefix_severity_and_time() -> None:
    [event] = _parse("2025-01-01 10:00:00 | WARNING  | exporter | Fusing conv1 with relu1\n")
    assert event["type"] == "fusion" and event["layers"] == ["conv1", "relu1"]
    assert (event["severity"], event["ts"]) == ("warning", "2025-01-01T10:00:00Z")


def test_a_run_line_glued_to_an_application_prefix_gives_the_version() -> None:
    [event] = _parse("myapp[12]: &&&& RUNNING TensorRT.trtexec [TensorRT v100400] # trtexec --onnx=m.onnx\n")
    assert (event["type"], event["version"]) == ("version", "10.4.0")


def test_an_error_cut_onto_the_next_line_keeps_its_error_and_the_rest_of_its_facts() -> None:
    events = _parse(
        "[TRT] [E] 6: The engine plan file is not compatible with this version of TensorRT, expecting\n"
        "library version 8.5.1.7 got 8.5.3.1, please rebuild.\n"
    )
    assert events[0]["type"] == "error" and events[0]["severity"] == "error"
    versions = {e["component"]: e["version"] for e in events if e["type"] == "version"}
    assert versions == {"tensorrt": "8.5.1.7", "tensorrt_plan": "8.5.3.1"}
    assert all(e["source"]["line"] == (1 if e["type"] == "error" else 2) for e in events)


def test_a_log_whose_first_line_starts_with_a_brace_is_a_log(tmp_path: object) -> None:
    from trt_agent.parse.dispatch import sniff

    assert sniff(b"{Cast}                                   0.012ms\n") == "log"
    assert sniff(b'{\n  "count": 3\n}\n') == "json"


def test_a_failed_run_is_an_error() -> None:
    events = _parse("&&&& FAILED TensorRT.trtexec [TensorRT v8501] # trtexec --onnx=model.onnx\n")
    assert [(e["type"], e["severity"]) for e in events] == [("error", "error"), ("version", "error")]
    assert events[1]["version"] == "8.5.1"


def test_trtllm_kv_cache_allocation_in_bytes() -> None:
    [event] = _parse(
        "[TensorRT-LLM][INFO] Max tokens in paged KV cache: 117760. Allocating 54022635520 bytes.\n"
    )
    assert (event["kind"], event["bytes"]) == ("kv_cache", 54022635520)
