"""The bytes of a layer's tensors and weights (trt_agent/vocab/tensors.py), on the Format/Datatype
strings real layer lists print (tests/data: AlexNet FP16, ResNet-50 FP32/FP16/QAT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trt_agent.vocab.tensors import channel_vector, tensor_bytes, weights_bytes


@pytest.mark.parametrize(
    ("fmt", "vector"),
    [
        ("Channel major FP16 format where channel % 8 == 0", 8),
        ("Channel major FP16 format where channel % 16 == 0", 16),
        ("Channel major FP32 format where channel % 4 == 0", 4),
        ("Thirty-two wide channel vectorized row major Int8 format", 32),
        ("Four wide channel vectorized row major Int8 format", 4),
        ("Row major linear FP16 format", 1),
        ("Channel major FP32 format", 1),
        ("Half", 1),
    ],
)
def test_the_channel_vector_a_format_pads_to(fmt: str, vector: int) -> None:
    assert channel_vector(fmt) == vector


def test_tensor_bytes_pad_the_channel_dimension() -> None:
    # AlexNet's input reformatted to channel % 4: 3 channels take 4
    assert (
        tensor_bytes([1, 3, 224, 224], "Channel major FP16 format where channel % 4 == 0")
        == 4 * 224 * 224 * 2
    )
    assert tensor_bytes([1, 3, 224, 224], "Row major linear FP16 format") == 3 * 224 * 224 * 2
    # ResNet QAT: 64 channels of Int8 in CHW32 (64 is already a multiple of 32), 3 channels take 32
    assert (
        tensor_bytes([1, 64, 56, 56], "Thirty-two wide channel vectorized row major Int8 format")
        == 64 * 56 * 56
    )
    assert tensor_bytes([1, 3, 4, 4], "Thirty-two wide channel vectorized row major Int8 format") == 32 * 16
    # Myelin's tensors name only the type
    assert tensor_bytes([9216, 4096], "Half") == 9216 * 4096 * 2
    assert tensor_bytes([1], "Float") == 4
    assert tensor_bytes([], "Float") == 4  # a scalar


@pytest.mark.parametrize(
    ("dimensions", "fmt"),
    [
        ([-1, 3, 224, 224], "Row major linear FP32"),  # a dynamic shape: unknown, not 0
        ([1, 3], "Opaque vendor format"),  # a type it does not name
        ("1x3", "Half"),
        ([1, True], "Half"),
        (None, "Half"),
        ([1, 3], None),
    ],
)
def test_a_size_the_list_does_not_give_is_unknown(dimensions: object, fmt: object) -> None:
    assert tensor_bytes(dimensions, fmt) is None


def test_weights_bytes() -> None:
    assert weights_bytes({"Type": "Half", "Count": 23232}) == 46464
    assert weights_bytes({"Type": "Int8", "Count": 36864}) == 36864
    assert weights_bytes({"Type": "Float", "Count": 64}) == 256
    assert weights_bytes({"Type": "Int4", "Count": 3}) == 2  # half a byte each, rounded up
    for bad in ({"Type": "Half"}, {"Count": 3}, {"Type": "Half", "Count": -1}, {"Type": "?", "Count": 1}, 7):
        assert weights_bytes(bad) is None


def test_a_layer_keeps_what_the_layer_list_said_when_a_log_names_it_again() -> None:
    """AlexNet FP16's layer-info JSON gives each layer's weights and kernel name; the build log
    (``Engine Layer Information``) names the same layers again without weights: the model keeps
    both (the log read after the JSON, and before it)."""
    from trt_agent.model import build_models
    from trt_agent.parse import ParseStats, parse_path

    root = Path(__file__).resolve().parents[2] / "examples" / "logs"
    (layer_list,) = root.glob("02_*")
    logs = [p for p in sorted(root.glob("0[34]_*")) if p.suffix == ".log"]
    assert logs, "the AlexNet build log of examples/logs"
    for order in ([layer_list, *logs], [*logs, layer_list]):
        events = [e for path in order for e in parse_path(str(path), "alexnet", ParseStats())]
        model = build_models(events)["alexnet"]
        # both named by the log's "Name: …, LayerType: …" lines too
        assert model.layers["/classifier/classifier_6/Gemm_myl9_4"].weights_bytes == 8_194_008
        conv = model.layers["/features/features.0/Conv + /features/features.1/Relu"]
        assert (conv.weights_bytes, conv.activation_bytes) == (46_592, 387_200)
