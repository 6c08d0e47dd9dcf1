"""Log-line headers of every TensorRT dialect: timestamp, severity, and where the message starts.

Dialects seen in the wild (examples are real lines from ``tests/data``):

* TensorRT 7 Python logger        ``[TensorRT] WARNING: onnx2trt_utils.cpp:217: ...``
* TensorRT 8/10 Python logger      ``[06/13/2022-09:40:11] [TRT] [I] [MemUsageChange] ...``
* trtexec and the C++ samples      ``[11/01/2024-10:32:46] [I] [TRT] ...`` / ``[I] GPU Compute``
* TensorRT-LLM                     ``[TensorRT-LLM][INFO] ...``, ``[05/21/2024-14:00:33] [TRT-LLM] [I] ...``
* jetson-inference                 ``[TRT]    INVALID_ARGUMENT: ...``
* ONNX Runtime TensorRT EP         ``[W:onnxruntime:..., tensorrt_execution_provider.h:83 log] [2023-05-11 07:39:51 WARNING] ...``
* wrappers that prepend their own text (docker-compose ``svc_1  | ``, a shell prompt).

The header is a run of ``[...]`` tokens; anything before the first recognised token is kept as
``lead`` and ignored.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from trt_agent.vocab.severities import LETTER_SEVERITY, WORD_SEVERITY

_SOURCES: Final = frozenset({"TRT", "TensorRT", "TRT-LLM", "TensorRT-LLM"})

# A token that opens a TensorRT header. Searching for it skips wrapper text in front.
_HEADER_START = re.compile(
    r"\[(?:\d\d/\d\d/\d{4}-\d\d:\d\d:\d\d|[VIWEF]|TRT|TensorRT|TRT-LLM|TensorRT-LLM|"
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +[A-Z_]+)\]"
)
HEADER_START: Final = _HEADER_START  # (a line holds a header when it holds one of these tokens)
_US_DATE = re.compile(r"(\d\d)/(\d\d)/(\d{4})-(\d\d:\d\d:\d\d)$")
_ISO_DATE_SEV = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) +([A-Z_]+)$")
# TensorRT 7 style: "[TensorRT] WARNING: msg"; also bare "ERROR: msg" from custom loggers.
_WORD_LEVEL = re.compile(r"(VERBOSE|DEBUG|INFO|WARNING|WARN|ERROR|INTERNAL_ERROR|FATAL|CRITICAL):\s?")
# The ILogger's error codes, which TensorRT puts in front of an error's text ("INVALID_CONFIG:
# Deserialize the cuda engine failed."), sometimes with no severity printed.
_ILOGGER_CODES = (
    "INVALID_ARGUMENT|INVALID_CONFIG|INVALID_STATE|UNSUPPORTED_STATE|FAILED_ALLOCATION|"
    "FAILED_INITIALIZATION|FAILED_EXECUTION|FAILED_COMPUTATION|UNSPECIFIED_ERROR|API_USAGE_ERROR"
)
_ERROR_CODE = re.compile(rf"(?:{_ILOGGER_CODES}|INTERNAL_ERROR)\b")


class Header(NamedTuple):
    """What the header of one line says. ``message`` is the text after it."""

    ts: str | None
    severity: str | None
    message: str
    prefixed: bool
    # TensorRT's own full header ("[date] [I] [TRT] "): the message starts right after it, so no
    # application prefix can hide it.
    exact: bool = False


# The two headers nearly every line has (trtexec/C++ samples and the Python logger), read in one
# match; anything else, or a message that starts like another header token, takes the general path.
_COMMON = re.compile(
    r"\[(\d\d)/(\d\d)/(\d{4})-(\d\d:\d\d:\d\d)\] \[(?:([VIWEF])\](?: \[TRT\])?|TRT\] \[([VIWEF])\]) +"
)


def split_header(line: str) -> Header:
    """Split ``line`` into its TensorRT header (timestamp, severity) and message."""
    common = _COMMON.match(line)
    if common is not None and not line.startswith(("[", ": "), common.end()):
        month, day, year, clock, letter, letter_after_trt = common.groups()
        letter_severity = LETTER_SEVERITY[letter or letter_after_trt]
        return Header(_utc(year, month, day, clock), letter_severity, line[common.end() :], True, True)
    start = _HEADER_START.search(line)
    if start is None:
        level = _WORD_LEVEL.match(line)
        if level is not None:
            return Header(None, WORD_SEVERITY[level.group(1)], line[level.end() :], True)
        return Header(None, None, line, False)
    ts: str | None = None
    severity: str | None = None
    pos = start.start()
    n = len(line)
    while pos < n and line[pos] == "[":
        close = line.find("]", pos + 1)
        if close < 0:
            break
        token = line[pos + 1 : close]
        if token in _SOURCES:
            pass
        elif token in LETTER_SEVERITY:
            severity = severity or LETTER_SEVERITY[token]
        elif token in WORD_SEVERITY:
            severity = severity or WORD_SEVERITY[token]
        elif (us := _US_DATE.match(token)) is not None:
            month, day, year, clock = us.groups()
            ts = _utc(year, month, day, clock)
        elif (iso := _ISO_DATE_SEV.match(token)) is not None and iso.group(3) in WORD_SEVERITY:
            ts = f"{iso.group(1)}T{iso.group(2)}Z"
            severity = severity or WORD_SEVERITY[iso.group(3)]
        else:
            break
        pos = close + 1
        while pos < n and line[pos] == " ":
            pos += 1
    message = line[pos:]
    if ts is None and start.start() > 0:  # a container runtime's or application's time in front
        ts = prefix_timestamp(line[: start.start()])
    if message.startswith(": "):  # DeepStream: "WARNING: [TRT]: message"
        message = message[2:]
    if severity is None and start.start() > 0:
        lead = _WORD_LEVEL.search(line, 0, start.start())
        if lead is not None:
            severity = WORD_SEVERITY[lead.group(1)]
    if severity is None:
        level = _WORD_LEVEL.match(message)
        if level is not None:
            severity = WORD_SEVERITY[level.group(1)]
            message = message[level.end() :]
        elif _ERROR_CODE.match(message):
            severity = "error"
    return Header(ts, severity, message, True)


# Words that make a line worth reading even when no rule knows its message: warning and error
# material in the spelling of any wrapper (the log reader's prefilter adds them to the grammar's
# ``MESSAGE_STARTS``). RE2 syntax, like those.
SEVERITY_STARTS: Final = (
    r"\[[WEF!][\]:]",
    r"(?i:warn|error|fatal|critical)",
    r"(?m:(?:^|[^\S\n])[WEF]\d{4} \d)",  # (a space, not the newline: one line)
    r"\d: [WEF] [\w./-]+:\d+\] ",
    r"INVALID_",
    r"UNSUPPORTED_",
    r"FAILED_",
    r"UNSPECIFIED_",
    r"API_USAGE_",
    r"DESERIALIZE_FAILED",
    r"Exception:",
    r"\d: [A-Za-z\[]",  # a message TensorRT numbered (``trt_error``)
)

_LEVEL_WORDS = "|".join(sorted(WORD_SEVERITY, key=len, reverse=True))
# A severity token in an application's prefix: glog's letter ("E0101 10:00:00.123"), "[W]" or
# ONNX Runtime's "[W:onnxruntime", and a level word set off as a level: upper case on its own
# ("| WARNING |", "WARNING:torch_tensorrt", "- ERROR -"), or in any case when bracketed, piped,
# followed by a colon or after "level=" ("[error]", "|error|", "error:"). A level word in running
# text ("no error") is none.
_LEVEL_TOKEN = re.compile(
    r"(?:^|(?<=\s))(?P<glog>[IWEF])\d{4} \d\d:\d\d:\d\d"
    # TensorFlow's C++ logger (TF-TRT): "2022-07-13 16:42:54.915035: E tensorflow/...cc:42] "
    r"|(?<=\d: )(?P<tf>[IWEF]) (?=[\w./-]+:\d+\] )"
    r"|\[(?P<letter>[VIWEF])[\]:]"
    r"|(?P<critical>\[!\])"  # Polygraphy's critical messages
    rf"|(?<!\w)(?P<upper>{_LEVEL_WORDS})(?![\w-])"  # (also GStreamer's "GStreamer-WARNING **:")
    rf"|(?:(?<=[\[|])|(?<=level=))\s*(?P<word>(?i:{_LEVEL_WORDS}))\s*(?=[\]|])"
    rf"|(?<![\w-])(?P<colon>(?i:{_LEVEL_WORDS})):(?!:)"
    # a Python exception ("RuntimeError: Failed to parse onnx, ...") and the ONNX parser's error
    # codes ("UNSUPPORTED_NODE: Assertion failed: ...")
    r"|(?<![\w.-])(?P<error>[A-Z]\w*(?:Error|Exception)|INVALID_NODE|UNSUPPORTED_NODE|INVALID_GRAPH"
    rf"|INVALID_VALUE|MODEL_DESERIALIZE_FAILED|UNSUPPORTED_GRAPH|{_ILOGGER_CODES}):"
)
_ISO_TS = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d:\d\d:\d\d)")
_US_TS = re.compile(r"(\d\d)/(\d\d)/(\d{4})-(\d\d:\d\d:\d\d)")
# TensorRT's own error form, "4: [runtime.cpp::deserializeCudaEngine::75] Error Code 4: Internal
# Error (Engine deserialization failed.)" (TensorRT 10 also "Error Code: 9: ..."): an error
# whatever severity the wrapper printed.
# TensorRT 7's: "coreReadArchive.cpp (38) - Serialization Error in verifyHeader: 0 (Version tag
# does not match)". And a message TensorRT numbered with its ErrorCode, which it does to errors
# only ("6: The engine plan file is not compatible ..."), printed with no severity of its own.
_TRT_ERROR_CODE = re.compile(r"Error Code:? (?P<code>\d+): (?:(?P<category>[A-Z][\w ]{0,40}?) \()?")
_TRT7_ERROR = re.compile(
    r"\.(?:cpp|cu|h|hpp) \(\d+\) - (?P<category>[A-Z]\w*(?: \w+)??) Error in \w+: (?P<code>\d+)"
)
_NUMBERED = re.compile(r"\d{1,3}: [A-Za-z\[]")


def trt_error(message: str, severity: str | None) -> tuple[int | None, str | None] | None:
    """(code, category) when ``message`` is in one of TensorRT's own error forms, else None. A
    message TensorRT numbered counts only when nothing else gave the line a severity."""
    if "Error" in message:
        m = _TRT_ERROR_CODE.search(message) or _TRT7_ERROR.search(message)
        if m is not None:
            return int(m.group("code")), m.group("category")
    if severity is None and _NUMBERED.match(message):
        return None, None
    return None


def prefix_severity(prefix: str) -> str | None:
    """The severity of the token nearest the message in an application's ``prefix``, or None."""
    found = None
    for token in _LEVEL_TOKEN.finditer(prefix):
        found = token
    if found is None:
        return None
    letter = found.group("glog") or found.group("tf") or found.group("letter")
    if letter:
        return LETTER_SEVERITY[letter]
    if found.group("error") or found.group("critical"):
        return "error"
    word = found.group("upper") or found.group("word") or found.group("colon")
    return WORD_SEVERITY[word.upper()]


def prefix_timestamp(prefix: str) -> str | None:
    """An ISO (``2025-01-01 10:00:00``) or TensorRT (``01/01/2025-10:00:00``) time in ``prefix``."""
    iso = _ISO_TS.search(prefix)
    if iso is not None:
        year, month, day, clock = iso.groups()
        return _utc(year, month, day, clock)
    us = _US_TS.search(prefix)
    if us is not None:
        month, day, year, clock = us.groups()
        return _utc(year, month, day, clock)
    return None


def _utc(year: str, month: str, day: str, clock: str) -> str:
    """RFC 3339 of a log time: TensorRT prints local time without a zone, read as UTC."""
    return f"{year}-{month}-{day}T{clock}Z"
