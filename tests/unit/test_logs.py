"""The agent's own logs: the event stream's keys (``ts``, ``severity``, ``msg``) in JSON, a
readable line on the console."""

from __future__ import annotations

import contextlib
import io
import json

import structlog

from trt_agent.logs import configure_logging, get_logger


def _logged(fmt: str) -> str:
    out = io.StringIO()
    saved = structlog.get_config()
    try:
        with contextlib.redirect_stderr(out):
            configure_logging("debug", fmt)
        log = get_logger("trt_agent.test")
        log.debug("looking", file="a.log")
        log.warning("empty input", file="b.log", msg="a call's own msg")
        log.error("failed")
    finally:
        structlog.configure(**saved)
    return out.getvalue()


def test_the_agents_own_json_logs_have_the_event_streams_keys() -> None:
    lines = [json.loads(line) for line in _logged("json").splitlines()]
    assert [list(line)[:3] for line in lines] == [["ts", "severity", "msg"]] * 3
    assert [(line["severity"], line["msg"]) for line in lines] == [
        ("verbose", "looking"),
        ("warning", "empty input"),
        ("error", "failed"),
    ]
    assert lines[1]["msg_"] == "a call's own msg" and lines[1]["file"] == "b.log"
    assert lines[0]["ts"].endswith("Z")
    assert not {"event", "level", "timestamp"} & {key for line in lines for key in line}


def test_the_console_stays_readable() -> None:
    first = _logged("console").splitlines()[0]
    assert "[verbose" in first and "looking" in first and "file=a.log" in first
    assert "msg=" not in first and "severity=" not in first
