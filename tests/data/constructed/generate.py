"""Writes the constructed builds of the seed's attention case (see README.md here).

Run ``python tests/data/constructed/generate.py`` after a deliberate change; review the diff.
The layer records copy the field layout of ``tests/data/corpus/02_*`` (trtexec 10.4
``--exportLayerInfo``) and the profile records that of ``tests/data/corpus/01_*``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
P = "/encoder/layer.0/attention"
SELF = [
    f"{P}/self/query/MatMul", f"{P}/self/query/Add", f"{P}/self/key/MatMul", f"{P}/self/key/Add",
    f"{P}/self/value/MatMul", f"{P}/self/value/Add", f"{P}/self/Reshape", f"{P}/self/Transpose",
    f"{P}/self/MatMul", f"{P}/self/Div", f"{P}/self/Add", f"{P}/self/Softmax", f"{P}/self/MatMul_1",
    f"{P}/self/Transpose_3", f"{P}/self/Reshape_3",
]  # fmt: skip
OUTPUT = [f"{P}/output/dense/MatMul", f"{P}/output/dense/Add", f"{P}/output/Add"]
FP16 = "Row major linear FP16 format"
FP32 = "Row major linear FP32 format"


def layer(name: str, layer_type: str, members: list[str], fmt: str, tactic: str) -> dict[str, object]:
    return {
        "Name": name,
        "LayerType": layer_type,
        "Inputs": [
            {
                "Name": "hidden_states",
                "Location": "Device",
                "Dimensions": [8, 128, 768],
                "Format/Datatype": FP16,
            }
        ],
        "Outputs": [
            {
                "Name": f"{members[-1]}_output_0",
                "Location": "Device",
                "Dimensions": [8, 128, 768],
                "Format/Datatype": fmt,
            }
        ],
        "TacticName": tactic,
        "StreamId": 0,
        "Metadata": "\x1e".join(f"[ONNX Layer: {m}]" for m in members),
    }


def profile(rows: list[tuple[str, float]], count: int = 2000) -> list[dict[str, object]]:
    total = sum(ms for _, ms in rows)
    out: list[dict[str, object]] = [{"count": count}]
    for name, ms in rows:
        out.append(
            {
                "name": name,
                "timeMs": ms * count,
                "averageMs": ms,
                "medianMs": ms,
                "percentage": ms / total * 100,
            }
        )
    return out


dense = " + ".join(OUTPUT)
fused_attention = f"{{ForeignNode[{SELF[0]}...{SELF[-1]}]}}"
fused = [
    layer(fused_attention, "Myelin", SELF, FP16, "_gemm_mha_v2_0x3c8b5f2e"),
    layer(
        dense,
        "CaskGemmMatrixMultiply",
        OUTPUT,
        FP16,
        "sm80_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x128x32_stage4",
    ),
]
qkv = [f"{SELF[i]} + {SELF[i + 1]}" for i in (0, 2, 4)]
unfused = [
    *(
        layer(
            n,
            "CaskGemmMatrixMultiply",
            n.split(" + "),
            FP16,
            "sm80_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize64x64x32_stage5",
        )
        for n in qkv
    ),
    layer(f"{SELF[6]} + {SELF[7]}", "Shuffle", SELF[6:8], FP16, "0x0000000000000000"),
    layer(
        SELF[8],
        "CaskGemmMatrixMultiply",
        [SELF[8]],
        FP16,
        "sm80_xmma_gemm_f16f16_f16f32_f32_nn_n_tilesize64x64x32_stage5",
    ),
    layer(f"PWN({SELF[9]}, {SELF[10]})", "PointWiseV2", SELF[9:11], FP16, "0x000000000000000a"),
    layer(SELF[11], "SoftMax", [SELF[11]], FP32, "0x00000000000003ea"),
    layer(
        SELF[12],
        "CaskGemmMatrixMultiply",
        [SELF[12]],
        FP16,
        "sm80_xmma_gemm_f16f16_f16f32_f32_nn_n_tilesize64x64x32_stage5",
    ),
    layer(f"{SELF[13]} + {SELF[14]}", "Shuffle", SELF[13:15], FP16, "0x0000000000000000"),
    layer(
        dense,
        "CaskGemmMatrixMultiply",
        OUTPUT,
        FP16,
        "sm80_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x128x32_stage4",
    ),
]
builds = {
    "bert-attention-a-fused": (fused, [(fused_attention, 0.0612), (dense, 0.0181)]),
    "bert-attention-b-generic": (
        unfused,
        [(qkv[0], 0.0121), (qkv[1], 0.0119), (qkv[2], 0.0122), (f"{SELF[6]} + {SELF[7]}", 0.0043), (SELF[8], 0.0214),
         (f"PWN({SELF[9]}, {SELF[10]})", 0.0091), (SELF[11], 0.0342), (SELF[12], 0.0193),
         (f"{SELF[13]} + {SELF[14]}", 0.0041), (dense, 0.0183)],
    ),
}  # fmt: skip
for name, (layers, times) in builds.items():
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    (folder / "layers.json").write_text(
        json.dumps({"Layers": layers, "Bindings": ["hidden_states", f"{P}/output/Add_output_0"]}, indent=1)
        + "\n"
    )
    (folder / "profile.json").write_text(json.dumps(profile(times), indent=1) + "\n")


# -- two optimisation profiles ---------------------------------------------------------------------
#
# The real ResNet FP16 layer list (tests/data/extra/65_*, batch 32) as an engine built with two
# optimisation profiles lists it: every layer, tensor and binding once per profile, those of
# profile N > 0 named "X [profile N]" (TREx's parser.py, filter_profiles; Polygraphy's
# `inspect model` docs show `node_of_Y [profile 1]` with tensors `X [profile 1]`). Profile 1 is
# made batch 8 here. Its profile JSON is the real one of that engine (83_*) with the names of
# profile 1 and the times scaled to a quarter (made up): `trtexec --profile=1 --exportProfile`
# times the layers of the profile it ran.
EXTRA = HERE.parent / "extra"
SUFFIX = " [profile 1]"


def profile_one(record: dict[str, object]) -> dict[str, object]:
    """A layer record of profile 0 as profile 1 lists it: names suffixed, batch 32 -> 8."""
    copy = json.loads(json.dumps(record))
    copy["Name"] = f"{copy['Name']}{SUFFIX}"
    for tensor in copy.get("Inputs", []) + copy.get("Outputs", []):
        tensor["Name"] = f"{tensor['Name']}{SUFFIX}"
        dims = tensor.get("Dimensions")
        if isinstance(dims, list) and dims and dims[0] == 32:
            dims[0] = 8
    return copy


(graph,) = EXTRA.glob("65_*")
(timed,) = EXTRA.glob("83_*")
plan = json.loads(graph.read_text())
folder = HERE / "resnet-fp16-two-profiles"
folder.mkdir(exist_ok=True)
two = {
    "Layers": plan["Layers"] + [profile_one(r) for r in plan["Layers"]],
    "Bindings": plan["Bindings"] + [f"{b}{SUFFIX}" for b in plan["Bindings"]],
}
(folder / "layers.json").write_text(json.dumps(two, indent=1) + "\n")
ran = []
for record in json.loads(timed.read_text()):
    if "name" in record:
        record = {k: (v / 4 if k in ("timeMs", "averageMs", "medianMs") else v) for k, v in record.items()}
        record["name"] = f"{record['name']}{SUFFIX}"
    ran.append(record)
(folder / "profile.json").write_text(json.dumps(ran, indent=1) + "\n")
