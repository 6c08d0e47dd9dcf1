"""The layer list's rows read without split_header (``LogParser._block_line``'s fast path, issue
19) give exactly the events of the general path: on every log of tests/data and on rows that hold
a header token or both row starts. Not timed."""

from __future__ import annotations

import orjson
import pytest
from conftest import DATA

from trt_agent.parse import LogReader, ParseStats, log
from trt_agent.parse.dispatch import sniff

FILES = sorted(path for path in DATA.rglob("*") if path.is_file() and path.suffix not in (".md", ".py"))
LOGS = [path for path in FILES if sniff(path.read_bytes()[:65536]) == "log"]

CRAFTED = (
    b"[09/10/2023-23:27:03] [V] [TRT] Engine Layer Information:\n"
    b"Layer(CaskConvolution): Conv_27, Tactic: 0x27728c886a448c5a, img (Float[1,3,8,8]) -> a (Float[1,4,8,8])\n"
    b"Layer(Shuffle): Name: odd, Tactic: 0x0000000000000000, a (Float[1,4,8,8]) -> b (Float[1,256])\n"
    b"Layer(Reformat): x[I]y, Tactic: 0x0000000000000000, b (Float[1,256]) -> c (Half[1,256])\n"
    b"Layer(Reformat): z [TRT] w, Tactic: 0x0000000000000000, c (Half[1,256]) -> d (Float[1,256])\n"
    b"Name: n1, LayerType: Reformat, Inputs: [ { Name: d, Location: Device, Dimensions: [1], "
    b"Format/Datatype: Float }], Outputs: [ { Name: e, Location: Device, Dimensions: [1], "
    b"Format/Datatype: Float }], TacticValue: 0x0, StreamId: 0, Metadata: \n"
    b"Layer(Shuffle): after, Tactic: 0x0, e (Float[1]) -> f (Float[1])\n"
    b"[09/10/2023-23:27:04] [I] [TRT] Loaded engine size: 12 MiB\n"
    b"Layer(Shuffle): head, Tactic: 0x0, e (Float[1]) -> f (Float[1])\n"
)


def _events(data: bytes) -> list[bytes]:
    reader = LogReader("f", "t", ParseStats())
    out = [orjson.dumps(e) for e in reader.feed(data)]
    return out + [orjson.dumps(e) for e in reader.close()]


@pytest.mark.parametrize("data", [CRAFTED, *(p.read_bytes() for p in LOGS)], ids=["crafted", *map(str, LOGS)])
def test_fast_path_gives_the_general_paths_events(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _events(data)
    monkeypatch.setattr(log, "_LAYER_ROW_STARTS", ("\0never",))  # every row by split_header
    assert fast == _events(data)


def test_the_crafted_rows_give_layers() -> None:
    lines = [orjson.loads(e)["source"]["line"] for e in _events(CRAFTED) if b'"type":"layer"' in e]
    # (3 holds both row starts: the later is read; 4 holds a header token: the list ends there)
    assert lines[:3] == [2, 6, 7]
