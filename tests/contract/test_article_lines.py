"""The article the project is modelled on prints its own log lines; each must give the event it
describes. The article's text lost some symbols ("+", "->", "="), so both the printed form and
the intended one are read. Parsed through the real log reader, header and prefilter included."""

from __future__ import annotations

import io

import pytest

from trt_agent.parse.log import ParseStats, parse_log
from trt_agent.vocab.events import Event

GiB = 1024**3


def _parse(line: str) -> list[Event]:
    stats = ParseStats()
    events = list(parse_log(io.BytesIO(line.encode() + b"\n"), "article.log", "article", stats))
    assert stats.parse_errors == 0
    return events


def _one(line: str) -> Event:
    [event] = _parse(line)
    return event


@pytest.mark.parametrize(
    "line",
    [
        "[Fusion] Conv_1 Bias_2 ReLU_3 - fused_conv_bias_relu",
        "[Fusion] Conv_1 + Bias_2 + ReLU_3 -> fused_conv_bias_relu",
    ],
)
def test_fusion(line: str) -> None:
    event = _one(line)
    assert event["type"] == "fusion"
    assert event["layers"] == ["Conv_1", "Bias_2", "ReLU_3"]
    assert event["result"] == "fused_conv_bias_relu"


@pytest.mark.parametrize(
    "line",
    [
        "[Quantization] Activations of Gemm_4 quantized to INT8, scale0.023",
        "[Quantization] Activations of Gemm_4 quantized to INT8, scale=0.023",
    ],
)
def test_quantization(line: str) -> None:
    event = _one(line)
    assert (event["type"], event["layer"], event["precision"], event["scale"]) == (
        "quantization",
        "Gemm_4",
        "Int8",
        0.023,
    )


def test_plugin() -> None:
    event = _one("[Plugin] Using kernel efficient_attention for node Attention_5")
    assert (event["type"], event["plugin"], event["layer"]) == (
        "plugin",
        "efficient_attention",
        "Attention_5",
    )


def test_memory() -> None:
    event = _one("[Memory] Estimated peak GPU memory usage: 1.8 GB")
    assert (event["type"], event["kind"], event["bytes"]) == ("memory", "peak_estimate", round(1.8 * GiB))


def test_calibration() -> None:
    event = _one("[Calibration] Layer: output_head, dynamic range [-98.7, 102.4]")
    assert (event["type"], event["tensor"], event["min"], event["max"]) == (
        "calibration",
        "output_head",
        -98.7,
        102.4,
    )


def test_profile() -> None:
    event = _one("[Profile] attention_qkv_proj took 0.87 ms")
    assert (event["type"], event["layer"], event["ms"]) == ("layer_time", "attention_qkv_proj", 0.87)


def test_skipping_fusion_is_a_warning_fallback() -> None:
    event = _one("[WARNING] Skipping fusion for node CustomLayerNorm due to unsupported plugin.")
    assert (event["type"], event["layer"], event["reason"]) == (
        "fallback",
        "CustomLayerNorm",
        "unsupported_plugin",
    )
    assert event["severity"] == "warning"


def test_not_supported_fallback() -> None:
    event = _one("[Fallback] MultiHeadAttn not supported, using generic subgraph")
    assert (event["type"], event["layer"], event["reason"]) == (
        "fallback",
        "MultiHeadAttn",
        "unsupported_generic",
    )


def test_the_article_log_as_a_whole() -> None:
    article = "\n".join(
        [
            "[Fusion] Conv_1 + Bias_2 + ReLU_3 -> fused_conv_bias_relu",
            "[Quantization] Activations of Gemm_4 quantized to INT8, scale=0.023",
            "[Plugin] Using kernel efficient_attention for node Attention_5",
            "[Memory] Estimated peak GPU memory usage: 1.8 GB",
            "[Calibration] Layer: output_head, dynamic range [-98.7, 102.4]",
            "[Profile] attention_qkv_proj took 0.87 ms",
            "[WARNING] Skipping fusion for node CustomLayerNorm due to unsupported plugin.",
            "[Fallback] MultiHeadAttn not supported, using generic subgraph",
        ]
    )
    events = _parse(article)
    assert [e["type"] for e in events] == [
        "fusion",
        "quantization",
        "plugin",
        "memory",
        "calibration",
        "layer_time",
        "fallback",
        "fallback",
    ]
    assert [e["source"]["line"] for e in events] == list(range(1, 9))
