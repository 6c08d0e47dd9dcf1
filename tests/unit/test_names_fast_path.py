"""decompose's fast paths (names without brackets or commas, the bookkeeping regex gated by how its
matches start and end) give what the token-by-token reading gives, on any text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trt_agent.vocab import names
from trt_agent.vocab.names import LayerName, decompose

_PIECES = st.sampled_from(
    [
        "a", "b_1", " ", "+", "|", ",", "(", ")", "[", "]", "{", "}", ".", "\n", "\t", "PWN(", " + ",
        " || ", "{ForeignNode[", "...", " [profile 1]", " copy", " to nvm", " from nvm", " finish",
        "[HostToDeviceCopy 0]", " input reformatter 3", "__myl_", "_myl1_2", "__mye3", "Reformatted ",
        "Reformatting CopyNode for ", ".weight",
    ]
)  # fmt: skip


def _slow(name: str) -> LayerName:
    """decompose as it was before the fast paths (every name through ``_atoms``)."""
    name = name.strip()
    if name.endswith("]") and " [profile " in name:
        name = names._PROFILE_SUFFIX.sub("", name)
    if name.startswith(names.REFORMAT_PREFIXES) or name.endswith(" copy") or names._BOOKKEEPING.search(name):
        return LayerName((), "reformat")
    foreign = names._FOREIGN.match(name) if name.startswith("{ForeignNode[") else None
    if foreign is not None:
        out: list[str] = []
        for endpoint in foreign.group(1).split("..."):
            names._atoms(endpoint, out)
        return LayerName(tuple(dict.fromkeys(out)), "myelin")
    if name.startswith("{") and name.endswith("}") and "," in name:
        return LayerName(tuple(m.strip() for m in name[1:-1].split(",") if m.strip()), "dla")
    out = []
    names._atoms(name, out)
    unique = tuple(dict.fromkeys(out))
    if names._MYELIN_KERNEL.search(name):
        return LayerName(unique, "myelin_kernel")
    return LayerName(unique, "fused" if len(unique) > 1 else "single")


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_fast_paths_agree_with_the_token_reading(name: str) -> None:
    assert decompose(name) == _slow(name)


def test_plain_and_fused_names() -> None:
    for name in ["conv1", " conv1 ", "conv1 + bn1 + relu1", "a + b || c + d", "a +  + b", "x  [profile 0]"]:
        assert decompose(name) == _slow(name)
