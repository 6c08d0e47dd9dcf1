"""The progress line of the offline commands on a terminal."""

from __future__ import annotations

import io
import sys
import time

import pytest

from trt_agent.parse import ParseStats
from trt_agent.progress import Progress


def test_progress_stays_quiet_for_a_short_run(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(ParseStats(), enabled=True):
        time.sleep(0.2)  # the run: shorter than the delay before a progress line is drawn
    assert err.getvalue() == ""  # was: a progress line ending in \r, then a newline


def test_progress_is_erased_when_the_run_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress = Progress(ParseStats(), enabled=True, interval=0.05, delay=0.05)
    with progress:
        time.sleep(0.3)  # the run: long enough for a few progress lines (interval 0.05 s)
    text = err.getvalue()
    assert " MB/s" in text and "\n" not in text
    drawn = max(len(part) for part in text.split("\r"))
    assert text.endswith("\r" + " " * (drawn + 1) + "\r") or text.endswith("\r" + " " * drawn + "\r")
