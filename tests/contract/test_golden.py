"""Golden files: every real log in tests/data beside the events it must produce.

``tests/golden/<folder>/<file>.jsonl`` holds the expected events. After a deliberate parser
change, regenerate with ``UPDATE_GOLDEN=1 pytest tests/contract/test_golden.py`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import DATA, GOLDEN, parse_file

INPUTS = sorted(
    p
    for folder in ("corpus", "extra", "dialects")
    for p in (DATA / folder).iterdir()
    if p.suffix in (".log", ".json", ".cache")
)


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_events_match_golden(path: Path, update_golden: bool) -> None:
    events, stats = parse_file(path.name)
    got = b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SORT_KEYS) for e in events)
    golden = GOLDEN / path.parent.name / (path.name + ".jsonl")
    if update_golden or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(got)
        if not update_golden:
            pytest.fail(f"golden file {golden} was missing and has been written; review and commit it")
    expected = golden.read_bytes()
    if got != expected:
        want = expected.decode().splitlines()
        have = got.decode().splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b), min(len(want), len(have))
        )
        pytest.fail(
            f"{path.name}: {len(have)} events, golden has {len(want)}; first difference at event {first}:\n"
            f"  golden: {want[first] if first < len(want) else '<none>'}\n"
            f"  got:    {have[first] if first < len(have) else '<none>'}"
        )
    assert stats.lines > 0
