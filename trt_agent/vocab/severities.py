"""Severities: the five an event can carry, and every spelling of them TensorRT and its wrappers
use (log-line letters and words, ``ILogger.Severity`` numbers). The log prefix parser, the
profiler's logger, the config check and the engine model all read them from here.

A rule's ``severity`` (``error`` fails the gate, ``warning`` reports) is another idea and lives
with the rules (``trt_agent.rules.RULE_SEVERITIES``).
"""

from __future__ import annotations

from typing import Final

# Most verbose first; an event's ``severity`` is one of these.
SEVERITIES: Final = ("verbose", "info", "warning", "error", "internal_error")
ERROR_SEVERITIES: Final = ("error", "internal_error")

# "[W]", "[TRT] [E]", glog's "W1206": the one-letter forms.
LETTER_SEVERITY: Final = {
    "V": "verbose",
    "I": "info",
    "W": "warning",
    "E": "error",
    "F": "internal_error",
}
LETTER_OF: Final = {severity: letter for letter, severity in LETTER_SEVERITY.items()}

# "[TensorRT] WARNING:", "| ERROR |", Python logging and loguru level names.
WORD_SEVERITY: Final = {
    "VERBOSE": "verbose",
    "INFO": "info",
    "WARN": "warning",
    "WARNING": "warning",
    "ERROR": "error",
    "INTERNAL_ERROR": "internal_error",
    "FATAL": "internal_error",
    "CRITICAL": "internal_error",
    "DEBUG": "verbose",
    "TRACE": "verbose",
}

# ``tensorrt.ILogger.Severity`` values (TensorRT 10 and 11) -> our severities.
TRT_LOGGER_SEVERITY: Final = {
    0: "internal_error",
    1: "error",
    2: "warning",
    3: "info",
    4: "verbose",
}
TRT_LOGGER_LEVEL: Final = {severity: level for level, severity in TRT_LOGGER_SEVERITY.items()}
