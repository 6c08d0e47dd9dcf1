"""Make NVIDIA's tensorrt-stubs (10.13.0.35.1) parseable, so mypy can check the profiler host.

The generated stub file has two kinds of syntax error: a parameter named ``in`` (a keyword) and a
parameter without default after ones with defaults. Both are in builder and plugin APIs the agent
never calls; the fix renames/defaults them and touches nothing else. Idempotent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def main() -> int:
    import importlib.util

    spec = importlib.util.find_spec("tensorrt_bindings")
    if spec is None or not spec.submodule_search_locations:
        print("tensorrt-stubs not installed; nothing to fix", file=sys.stderr)
        return 0
    stub = Path(next(iter(spec.submodule_search_locations))) / "tensorrt.pyi"
    if not stub.exists():
        return 0
    text = stub.read_text()
    fixed = re.sub(r"(\(self[^)\n]*?), in: ", r"\1, in_: ", text)
    fixed = fixed.replace(
        "power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)"
    )
    if fixed != text:
        stub.write_text(fixed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
