"""The floor under ``trt-agent parse``: the reader's loop with the grammar taken out.

Run from the repository root (after ``bench/parse_vs_mtail.py`` built its input)::

    .venv/bin/python bench/parse_floor.py [bench/out/bench-input.log] [--repeat 3]

For every candidate line the real prefilter finds (Hyperscan on large regions), it does what any
parser of those lines must: count the lines skipped, decode the line, match TensorRT's common
header, run one regex over the message, build one event dict and encode it as a JSON line. No
grammar rule, handler, name decomposition, block or severity decision. Prints CPU seconds per
round and the candidates seen; what ``trt-agent parse`` takes beyond this (same input, same
machine) is the grammar's own cost, the part a compiled component would have to take over.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

import orjson

from trt_agent.parse.log import CHUNK_BYTES, PREFILTER
from trt_agent.parse.prefix import _COMMON, HEADER_START  # the header regexes split_header runs first

_ONE_RULE = re.compile(r"(\S+) (.*)")


def floor(path: Path) -> tuple[float, int]:
    start = time.process_time()
    events = 0
    line_no = 1
    pending = b""
    with open(path, "rb") as stream, open("/dev/null", "wb") as sink:
        while chunk := stream.read1(CHUNK_BYTES):
            buf = pending + chunk if pending else chunk
            end = buf.rfind(b"\n") + 1
            pending = buf[end:]
            find = PREFILTER.finder(buf, end)
            pos = 0
            out = []
            while pos < end:
                at = find(buf, pos, end)
                if at < 0:
                    line_no += buf.count(b"\n", pos, end)
                    break
                line_no += buf.count(b"\n", pos, at)
                nl = buf.find(b"\n", at)
                text = buf[at:nl].decode("utf-8", "replace")
                header = _COMMON.match(text) or HEADER_START.search(text)
                message = text[header.end() :] if header else text
                match = _ONE_RULE.search(message)
                out.append(
                    {
                        "type": "x",
                        "ts": None,
                        "severity": "info",
                        "engine": "bench",
                        "source": {"file": str(path), "line": line_no},
                        "msg": text,
                        "word": match.group(1) if match else None,
                    }
                )
                pos = nl + 1
                line_no += 1
            events += len(out)
            sink.write(b"".join([orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in out]))
    return time.process_time() - start, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", nargs="?", type=Path, default=Path("bench/out/bench-input.log"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.input.exists():
        raise SystemExit(f"{args.input}: run bench/parse_vs_mtail.py --keep first, or give a log")
    rounds = [floor(args.input) for _ in range(args.repeat)]
    seconds = [s for s, _ in rounds]
    print(f"candidate lines: {rounds[0][1]:,}")
    print(
        f"CPU s per round: {', '.join(f'{s:.3f}' for s in seconds)}; median {statistics.median(seconds):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
