"""The log reader: bytes of a TensorRT log in, events out, in constant memory.

Most lines of a verbose TensorRT log (tactic timing, format autotuning, option dumps) carry no
decision. The reader therefore never looks at them one by one: it reads the file in large
chunks and asks one RE2 search (the prefilter, built from every rule's starting words and the
severity words) for the next line holding such a word anywhere, behind any application's
prefix. Only those candidate lines are decoded, split into header and message and run through
``grammar.match_message``; when TensorRT's own header does not say where the message starts, it
is looked for where a rule's starting words are, and the severity is the nearest level token of
the prefix in front of it. Line numbers come from ``bytes.count(b"\\n")`` over the skipped
spans, so provenance stays exact.

Kinds of block are read line by line because their continuation lines have no keyword: the
engine layer list ("Engine Layer Information:" / "Layers:"), the ``--dumpProfile`` table, the old
(TensorRT 7/8.0) multi-line performance summary, Polygraphy's build configuration table
("Flags | [INT8]"), TensorRT 5-7's "Layers running on DLA:" list, and the line after an error
that may continue it. Docker json-file records are unwrapped line for line first
(``docker.py``); user ``[[patterns]]`` see a line before the grammar does.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from math import isfinite
from typing import Any, BinaryIO, Final, Protocol

from trt_agent.parse import grammar
from trt_agent.parse.docker import DockerJsonLines, is_docker_json
from trt_agent.parse.prefix import (
    HEADER_START,
    SEVERITY_STARTS,
    Header,
    prefix_severity,
    prefix_timestamp,
    split_header,
    trt_error,
)
from trt_agent.parse.search import HYPERSCAN, NATIVE, Find, finder, re2
from trt_agent.vocab.events import Event, make_event

CHUNK_BYTES: Final = 1 << 20
# A line at least this long may have been cut by a terminal (80 columns, or wider).
_TERMINAL_WIDTH: Final = 80
# How a message that was not cut ends; an error line ending otherwise may go on on the next line.
_SENTENCE_ENDS: Final = (".", ")", "]", "!", ":", '"', "'")
DEFAULT_MAX_LINE_BYTES: Final = 1 << 20


# The prefilter: one RE2 search (a DFA, linear in the bytes, whatever the number of families)
# for the next line holding a word some message of the grammar starts with, or a warning/error
# word, anywhere in the line, behind any application's prefix. Built from the rules, so the
# grammar and the prefilter cannot drift apart (tests/contract/test_prefilter.py checks both
# readers agree on every file of tests/data).
#
# The search is anchored at line starts ("(?m)^[^\n]*?(?:words)"): it answers where the next
# candidate line begins in one call over the chunk, so the ~93 % of lines that hold no such word
# cost no Python work at all. Without google-re2 (or with ``native=False``) the same question is
# answered line by line by Python's ``re``: slower, the same lines (tests/contract/test_native.py).
#
# With ``multi=True`` (the reader's own prefilter) and Hyperscan installed, a region of at least
# ``multi_min_bytes`` is scanned once by Hyperscan instead: every match's end offset is collected
# (one callback a match, ~1.3 a candidate line) and ``find`` bisects them; a match never spans a
# line (no word holds a newline), so the line holding the first end past ``pos`` is the next
# candidate, the same line RE2 finds (tests/contract/test_native.py compares all three paths).
# Its database is compiled when first needed (~50 ms, paid back within a few MB), so a small log
# or a tailer's small appends stay on RE2 and start-up does not pay it.
def _byte_spaces(pattern: bytes) -> bytes:
    """``pattern`` with ``\\s``/``\\S`` spelled as POSIX ``space`` classes, which hold the vertical
    tab as Python's ``re`` and Hyperscan's ``\\s`` do (RE2's ``\\s`` leaves it out): inside a
    bracket expression ``[:space:]``/``[:^space:]``, outside one ``[[:space:]]``/``[[:^space:]]``."""
    out, i, in_class = bytearray(), 0, False
    while i < len(pattern):
        c = pattern[i : i + 1]
        if c == b"\\" and i + 1 < len(pattern):
            escape = pattern[i + 1 : i + 2]
            if escape in (b"s", b"S"):
                name = b":space:" if escape == b"s" else b":^space:"
                out += b"[" + name + b"]" if in_class else b"[[" + name + b"]]"
            else:
                out += c + escape
            i += 2
            continue
        if c == b"[" and not in_class:
            in_class = True
            out += c
            if pattern[i + 1 : i + 2] == b"^":  # a "]" right after "[" or "[^" is a member
                out += b"^"
                i += 1
            if pattern[i + 1 : i + 2] == b"]":
                out += b"]"
                i += 1
        elif c == b"]" and in_class:
            in_class = False
            out += c
        else:
            out += c
        i += 1
    return bytes(out)


# The prefilter reads bytes as Python's re and Hyperscan do: one byte a character (a line with
# bytes that are no UTF-8 is still read; RE2's default UTF-8 mode skips them), ASCII case folding.
_BYTE_OPTIONS: Any = None
if re2 is not None:
    _BYTE_OPTIONS = re2.Options()
    _BYTE_OPTIONS.encoding = re2.Options.Encoding.LATIN1


class Prefilter:
    """A compiled search for the start of the next line worth reading."""

    def __init__(self, pattern: bytes, *, native: bool | None = None, words: tuple[bytes, ...] = ()) -> None:
        self.pattern = pattern
        self.native = NATIVE if native is None else native
        self.find: Find  # start of the next candidate line at or after pos (a line start), or -1
        if self.native:
            self.regex = re2.compile(rb"(?m)^[^\n]*?(?:" + _byte_spaces(pattern) + rb")", _BYTE_OPTIONS)
            self.find = finder(self.regex)
        else:
            self.find = _line_finder(re.compile(pattern))
        # ``words``: the alternatives of ``pattern``, one Hyperscan expression each (compiled as
        # one alternation they take ~5x as long to compile); none: RE2 only.
        self.words = words
        self.multi = self.native and bool(words) and HYPERSCAN
        self.multi_min_bytes = 1 << 18
        self._database: Any = None
        self._scratch_space: Any = None  # hyperscan.Scratch, once imported
        self._lock = threading.Lock()
        self._scratch = threading.local()  # a Hyperscan scratch space per thread

    def finder(self, region: bytes, size: int) -> Find:
        """``find`` for ``region[:size]`` (the only region it may then be asked about): Hyperscan's
        answers for a large region, else ``self.find``."""
        if not self.multi or size < self.multi_min_bytes:
            return self.find
        database = self._database or self._compile()
        scratch = getattr(self._scratch, "space", None)
        if scratch is None:
            scratch = self._scratch.space = self._scratch_space(database)
        ends: list[int] = []
        append = ends.append

        def on_match(_id: int, _start: int, end: int, _flags: int, _context: object) -> None:
            append(end)

        data = region if size == len(region) else memoryview(region)[:size]
        database.scan(data, match_event_handler=on_match, scratch=scratch)
        ends.sort()  # (reported in order of end offset already: a linear check)
        return _ends_finder(ends)

    def _compile(self) -> Any:
        with self._lock:
            if self._database is None:
                import hyperscan

                self._scratch_space = hyperscan.Scratch
                database = hyperscan.Database()
                count = len(self.words)
                database.compile(expressions=list(self.words), ids=list(range(count)), flags=[0] * count)
                self._database = database
            return self._database


def _ends_finder(ends: list[int]) -> Find:
    """``find`` over the sorted end offsets of a region's matches."""
    count = len(ends)

    def find(data: bytes, pos: int, size: int) -> int:
        i = bisect_right(ends, pos)  # the first match ending past pos: its last byte is at or after pos
        if i == count:
            return -1
        return data.rfind(b"\n", pos, ends[i] - 1) + 1 or pos

    return find


def _line_finder(regex: re.Pattern[bytes]) -> Find:
    """The pure-Python prefilter: the first line at or after ``pos`` where ``regex`` matches."""
    search = regex.search

    def find(data: bytes, pos: int, size: int) -> int:
        while pos < size:
            nl = data.find(b"\n", pos, size)
            if nl < 0:
                nl = size
            if search(data, pos, nl) is not None:
                return pos
            pos = nl + 1
        return -1

    return find


def build_prefilter(starts: tuple[str, ...], *, native: bool | None = None, multi: bool = True) -> Prefilter:
    """The prefilter for ``starts`` (regex fragments, ASCII, in the syntax RE2, Hyperscan and ``re``
    share; none can match an empty string or a newline)."""
    words = tuple(b"(?:" + start.encode() + b")" for start in starts)
    return Prefilter(b"|".join(words), native=native, words=words if multi else ())


PREFILTER: Final = build_prefilter(grammar.MESSAGE_STARTS + SEVERITY_STARTS)
# The reference reader's prefilter: every non-empty line.
EVERY_LINE: Final = Prefilter(rb"[^\n]")


class LinePattern(Protocol):
    """What the reader needs of a user pattern (``trt_agent.parse.patterns.UserPattern``)."""

    @property
    def key(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def severity(self) -> str | None: ...
    @property
    def engine(self) -> str | None: ...


class LinePatterns(Protocol):
    """User patterns (``trt_agent.parse.patterns.UserPatterns``): lines they match give their
    events and are not read by the grammar."""

    def __bool__(self) -> bool: ...
    def search(self, region: bytes, pos: int) -> int | None: ...
    def match(self, line: str) -> Sequence[tuple[LinePattern, dict[str, Any]]]: ...


@dataclass
class ParseStats:
    """Counters for one parse run; exported as self-metrics by the daemon."""

    files: int = 0
    bytes: int = 0
    lines: int = 0
    events: int = 0
    event_lines: int = 0
    candidates_unmatched: int = 0
    parse_errors: int = 0  # lines a grammar rule failed on (a bug; the line is skipped, counted)
    invalid_utf8_lines: int = 0
    truncated_lines: int = 0

    @property
    def unparsed(self) -> int:
        """Lines that produced no event (tactic timing, option dumps, unknown text...)."""
        return self.lines - self.event_lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "lines": self.lines,
            "events": self.events,
            "unparsed": self.unparsed,
            "candidates_unmatched": self.candidates_unmatched,
            "parse_errors": self.parse_errors,
            "invalid_utf8_lines": self.invalid_utf8_lines,
            "truncated_lines": self.truncated_lines,
        }


class LogParser:
    """Turns the lines of one TensorRT log into events; holds the state multi-line messages need."""

    def __init__(
        self,
        file: str,
        engine: str,
        stats: ParseStats,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        patterns: LinePatterns | None = None,
    ) -> None:
        self.file = file
        self.engine = engine
        self.patterns = patterns
        self.stats = stats
        self.max_line_bytes = max_line_bytes
        self.state = grammar.ParserState(preceding=self._preceding)
        # Where the current candidate line sits, for ``_preceding``; ``tail`` ends the last region.
        self._region = b""
        self._line_start = 0
        self.tail = b""
        # Open block: (kind, ts, severity, extra). A file may begin inside a layer list (a log
        # excerpt, a tail): "layers_head" reads such leading layer lines and closes on any other.
        self.block: tuple[str, str | None, str, Any] | None = ("layers_head", None, "verbose", None)
        # The last line counted in ``invalid_utf8_lines``: a line that closes an open block is
        # decoded twice (offered to the block, then read as an ordinary line) and counts once.
        self._invalid_line = -1
        self._cut_line = -1  # the same for truncated_lines

    # -- helpers -----------------------------------------------------------------------------------

    def _decode(self, raw: bytes, line_no: int) -> str:
        if len(raw) > self.max_line_bytes:
            # A long line that arrived whole within one read (the reader cuts only the lines it
            # must hold): the event and its msg get at most max_line_bytes of it, as they would
            # had it come in pieces.
            raw = raw[: self.max_line_bytes]
            if line_no != self._cut_line:
                self._cut_line = line_no
                self.stats.truncated_lines += 1
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            if line_no != self._invalid_line:
                self._invalid_line = line_no
                self.stats.invalid_utf8_lines += 1
            text = raw.decode("utf-8", "replace")
        return text.rstrip("\r")

    def _events(
        self, facts: list[grammar.Fact], ts: str | None, severity: str, line_no: int, msg: str
    ) -> list[Event]:
        source = {"file": self.file, "line": line_no}
        engine = self.engine
        events = []
        for type_, fields in facts:
            # A number too large for a float (a damaged "percentile(99%) = 9999…9 ms") is no fact:
            # JSON has no infinity, and no sink could hold it. The line still counts as read.
            for value in fields.values():
                if isinstance(value, float) and not isfinite(value):
                    break
            else:
                events.append(make_event(type_, ts, severity, engine, source, msg, fields))
        return events

    # -- ordinary lines ----------------------------------------------------------------------------

    def _preceding(self, count: int) -> list[str]:
        """Up to ``count`` lines before the current candidate, nearest last."""
        start = self._line_start
        before = self._region[max(0, start - 4096) : start]
        if start < 4096:
            before = self.tail + before
        lines = before.split(b"\n")[-count - 1 : -1] if before else []
        return [line.decode("utf-8", "replace") for line in lines]

    def feed(self, line_no: int, raw: bytes, region: bytes = b"", start: int = 0) -> list[Event]:
        """Parse one candidate line: ``raw`` is ``region[start:...]`` when the region is given."""
        self._region, self._line_start = region, start
        text = self._decode(raw, line_no)
        try:
            return self._message(line_no, text, split_header(text))
        except Exception:  # no input may stop the reader: the line is counted and skipped
            self.stats.parse_errors += 1
            return []

    def feed_block(self, line_no: int, raw: bytes) -> tuple[bool, list[Event]]:
        """Offer a line to the open block. Returns (consumed, events); not consumed closes it."""
        try:
            return self._block_line(line_no, raw)
        except Exception:
            self.stats.parse_errors += 1
            self.block = None
            return True, []

    @staticmethod
    def _opener(message: str) -> tuple[str, Any] | None:
        """(kind, extra) of the block ``message`` opens, if it opens one."""
        if message in grammar.LAYER_LIST_OPENERS:
            return "layers", None
        if message == grammar.CONFIG_TABLE_OPENER:
            return "config_table", None
        profile = grammar.PROFILE_HEADER.match(message) if message.startswith("=== Profile") else None
        if profile is not None:
            return "profile_header", int(profile.group(1))
        if message in grammar.OLD_SUMMARY_HEADERS:
            return "old_summary", grammar.OLD_SUMMARY_HEADERS[message]
        placement = grammar.PLACEMENT_LIST_OPENER.match(message) if "Layers running on" in message else None
        if placement is not None:
            return "placement", (placement.group(1), "", None)
        return None

    def _message(self, line_no: int, text: str, header: Header) -> list[Event]:
        message = header.message.strip()
        if self.patterns:
            hits = self.patterns.match(text)
            if hits:
                return self._pattern_events(hits, line_no, text, header)
        opener = self._opener(message)
        if opener is not None:
            self.block = (opener[0], header.ts, header.severity or "info", opener[1])
            return []
        matched, facts = grammar.match_message(message, self.state)
        prefix_end = 0
        if not matched and not header.exact:
            # The message may start behind an application's prefix the header parser does not
            # know ("WARNING:torch_tensorrt [...]:", glog's "E0101 ... logging.cc:43] "): look for
            # it where a rule's starting words are.
            for start in grammar.message_starts(message):
                candidate = message[start:]
                if message[start - 1] == '"' and candidate.endswith('"'):
                    candidate = candidate[:-1]  # a logger that quotes messages (Triton's glog)
                opener = self._opener(candidate)
                if opener is not None:
                    opened_at = header.severity or prefix_severity(message[:start]) or "info"
                    self.block = (opener[0], header.ts, opened_at, opener[1])
                    return []
                matched, facts = grammar.match_message(candidate, self.state)
                if matched:
                    prefix_end = start
                    break
        severity: str | None = header.severity
        ts = header.ts
        if severity is None or (ts is None and not header.prefixed):
            # No header the parser knows: the nearest severity token of the application's prefix
            # (up to where the message was found; a message nobody knows has no clear start, and
            # only tokens set off as levels count).
            if prefix_end:
                prefix = message[:prefix_end]
            elif matched:  # an unanchored rule on the whole line: it starts at its first words
                starts = grammar.message_starts(message)
                prefix = message[: starts[0]] if starts else ""
            else:
                prefix = message[: grammar.MAX_PREFIX_CHARS]
            severity = severity or prefix_severity(prefix)
            ts = ts or prefix_timestamp(prefix)
        error = trt_error(message[prefix_end:], severity)
        errs = error is not None
        if not errs:
            for kind, _ in facts:
                if kind == "error":
                    errs = True
                    break
        if errs and severity != "internal_error":
            severity = "error"  # TensorRT's own error forms, whatever the wrapper said
        severity = severity or "info"
        if facts and error is not None and error[0] is not None and all(kind != "error" for kind, _ in facts):
            # "Error Code 10: Internal Error (Could not find any implementation for node X.)" is a
            # fallback and an error: the error, with its code, is what alerting counts
            facts = [*facts, ("error", _error_fields(error))]
        if not facts:
            if severity in ("warning", "error", "internal_error"):
                fields = _error_fields(error) if error is not None else {}
                facts = [("warning" if severity == "warning" else "error", fields)]
                if severity != "warning" and (
                    message.count("(") > message.count(")") or not message.endswith(_SENTENCE_ENDS)
                ):
                    # Cut onto the next line by a terminal or a post: that line may hold the rest.
                    self.block = ("wrapped", ts, severity, message)
            elif not matched:
                self.stats.candidates_unmatched += 1
                return []
            else:
                return []
        return self._events(facts, ts, severity, line_no, text)

    def _pattern_events(
        self, hits: Sequence[tuple[LinePattern, dict[str, Any]]], line_no: int, text: str, header: Header
    ) -> list[Event]:
        ts = header.ts or prefix_timestamp(text[: grammar.MAX_PREFIX_CHARS])
        default = header.severity or prefix_severity(text[: grammar.MAX_PREFIX_CHARS]) or "info"
        return [
            make_event(
                pattern.type,
                ts,
                pattern.severity or default,
                pattern.engine or self.engine,
                {"file": self.file, "line": line_no, "pattern": pattern.key},
                text,
                fields,
            )
            for pattern, fields in hits
        ]

    # -- blocks ------------------------------------------------------------------------------------

    def _placement_line(
        self, line_no: int, text: str, header: Header, ts: str | None, severity: str, extra: Any
    ) -> tuple[bool, list[Event]]:
        """A line after "Layers running on DLA:" / "GPU:". A logger line lists layers. A line with
        no header continues the one before when a terminal cut that one (a long line: names may be
        cut too), so the last item of a long line is held until the next line says whether it was
        complete; held items are given with the line that listed them."""
        device, held, held_at = extra
        events = self._held_placements(device, held, held_at, ts, severity)
        message = header.message.strip() if header.prefixed else text.strip()
        opener = grammar.PLACEMENT_LIST_OPENER.match(message)
        if opener is not None:
            self.block = ("placement", ts, severity, (opener.group(1), "", None))
            return True, events
        if header.prefixed:
            if not message:  # a logger's empty line inside the summary
                self.block = ("placement", ts, severity, (device, "", None))
                return True, events
            if "," not in message and not message.startswith("{"):
                self.block = None
                return False, events
            body = message
        else:
            continues = held and held_at is not None and held_at[2] >= _TERMINAL_WIDTH
            if continues:
                body = held + message
                events = []  # the held item goes on in this line
            elif message.startswith(("{", ",")):
                body = message.lstrip(",")
            else:
                self.block = None
                return False, events
        names, rest = _placement_items(body)
        events += self._events(
            [("placement", {"layer": name, "device": device}) for name in names], ts, severity, line_no, text
        )
        self.block = ("placement", ts, severity, (device, rest, (line_no, text, len(text)) if rest else None))
        return True, events

    def _held_placements(
        self, device: str, held: str, held_at: tuple[int, str, int] | None, ts: str | None, severity: str
    ) -> list[Event]:
        if not held or held_at is None:
            return []
        line_no, text, _ = held_at
        facts: list[grammar.Fact] = [
            ("placement", {"layer": name, "device": device}) for name in _item_names(held)
        ]
        return self._events(facts, ts, severity, line_no, text)

    def close(self) -> list[Event]:
        """End of input: what an open block still holds."""
        block, self.block = self.block, None
        if block is None or block[0] != "placement":
            return []
        _, ts, severity, (device, held, held_at) = block
        return self._held_placements(device, held, held_at, ts, severity)

    def _block_line(self, line_no: int, raw: bytes) -> tuple[bool, list[Event]]:
        assert self.block is not None
        kind, ts, severity, extra = self.block
        text = self._decode(raw, line_no)
        if (
            (kind == "layers" or kind == "layers_head")
            and text.startswith(_LAYER_ROW_STARTS)
            # a row of the layer list: split_header would find a header only where a header token
            # stands in it (no word level starts with "L" or "N"), so that token alone is asked for
            and HEADER_START.search(text) is None
        ):
            _, facts = grammar.match_message(
                text[max(text.find("Layer("), text.find("Name: ")) :], self.state
            )
            return True, self._events(facts, ts, severity, line_no, text)
        header = split_header(text)
        if kind == "placement":
            return self._placement_line(line_no, text, header, ts, severity, extra)
        if kind == "wrapped":
            # The line after an error whose "(" was never closed: when it is the rest of that
            # message (no header, not a message of its own), the facts of the whole message that
            # the first line alone did not give ("... Note: Current" / "Version: 236, Serialized
            # Engine Version: 213)").
            self.block = None
            rest = text.strip()
            head = rest[: grammar.MAX_PREFIX_CHARS]
            if (
                header.prefixed
                or not rest
                or prefix_severity(head) is not None
                or prefix_timestamp(head) is not None
                or trt_error(rest, None) is not None
                # (asked on a copy: a rule may take state, "Linked TensorRT version" for one)
                or grammar.match_message(rest, dataclasses.replace(self.state))[0]
            ):
                return False, []  # a line of its own
            _, facts = grammar.match_message(f"{extra} {rest}", self.state)
            # the first line gave the error; the rest adds only what the whole message says
            facts = [fact for fact in facts if fact[0] != "error"]
            return True, self._events(facts, ts, severity, line_no, text)
        if kind in ("layers", "layers_head"):
            if header.prefixed:
                self.block = None
                return False, []
            start = max(text.find("Layer("), text.find("Name: "))
            if start < 0 and kind == "layers_head":
                self.block = None
                return False, []
            if start < 0:
                # Text inside the list that is not a layer (an elision, a blank line): skip it.
                if text.strip():
                    self.stats.candidates_unmatched += 1
                return True, []
            _, facts = grammar.match_message(text[start:], self.state)
            return True, self._events(facts, ts, severity, line_no, text)
        if kind == "config_table":
            if header.prefixed or not grammar.CONFIG_TABLE_ROW.match(text):
                self.block = None
                return False, []
            _, facts = grammar.match_message(text.strip(), self.state)
            return True, self._events(facts, ts, severity, line_no, text)
        message = header.message.strip()
        if kind == "old_summary":
            m = grammar.OLD_SUMMARY_LINE.match(message)
            if m is None:
                self.block = None
                return False, []
            return True, self._events(_old_summary_facts(extra, m), header.ts, severity, line_no, text)
        if kind == "profile_header":
            columns = _profile_columns(message)
            if columns is None:
                self.block = None
                return False, []
            self.block = ("profile", ts, severity, (extra, columns, 0))
            return True, []
        # profile rows
        iterations, columns, misses = extra
        if not message or message.startswith("==="):
            self.block = None
            return (not message), []
        row = _profile_row(message, columns)
        if row is None:
            # A row cut by whoever posted the log is skipped; a line of another severity, or a
            # third non-row in a row, means the table ended without its "Total" line.
            if header.severity not in (None, severity) or misses + 1 >= 3:
                self.block = None
                return False, []
            self.block = ("profile", ts, severity, (iterations, columns, misses + 1))
            self.stats.candidates_unmatched += 1
            return True, []
        if misses:
            self.block = ("profile", ts, severity, (iterations, columns, 0))
        name, values = row
        if name == "Total":
            self.block = None
            return True, []
        fields: dict[str, Any] = {"layer": name, "ms": values["avg"], "iterations": iterations}
        if "median" in values:
            fields["median_ms"] = values["median"]
        fields["total_ms"] = values["total"]
        fields["percentage"] = values["pct"]
        return True, self._events([("layer_time", fields)], header.ts, severity, line_no, text)


def _error_fields(error: tuple[int | None, str | None]) -> dict[str, Any]:
    code, category = error
    fields: dict[str, Any] = {}
    if code is not None:
        fields["code"] = code
    if category:
        fields["category"] = category
    return fields


def _placement_items(text: str) -> tuple[list[str], str]:
    """The layer names of the complete items of a placement list (``{a,b}, {c}`` or ``a, b``), and
    the text after the last item boundary, which the next line may continue."""
    *complete, rest = _split_top_level(text)
    return [name for item in complete for name in _item_names(item)], rest.lstrip()


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _item_names(item: str) -> list[str]:
    item = item.strip()
    if item.startswith("{") and item.endswith("}"):
        return [name.strip() for name in item[1:-1].split(",") if name.strip()]
    return [item] if item else []


def _old_summary_facts(metric: str, m: re.Match[str]) -> list[grammar.Fact]:
    word, value, _unit, percent = m.groups()
    number = float(value)
    if word == "throughput":
        return [("perf_summary", {"metric": "throughput_qps", "stat": "mean", "value": number})]
    if word == "walltime":
        return [("perf_summary", {"metric": "host_walltime_s", "stat": "total", "value": number})]
    if word == "total compute time":
        return [("perf_summary", {"metric": "gpu_compute_total_s", "stat": "total", "value": number})]
    stat = grammar.stat_name("p", percent or "99") if word == "percentile" else word
    return [("perf_summary", {"metric": metric, "stat": stat, "value": number})]


# How the rows of a layer list start (TensorRT 8-9 "Layer(Type): name, ...", 10 "Name: name, ...")
_LAYER_ROW_STARTS: Final = ("Layer(", "Name: ")
_NUMBER = r"(\d+(?:\.\d+)?)"


def _profile_columns(header: str) -> tuple[bool, bool] | None:
    """The profile table's header row: (layer name first, has a median column)."""
    if "Layer" not in header or "Time" not in header:
        return None
    return header.lstrip().startswith("Layer"), "Median" in header


# A row of the profile table, by (layer name first, has a median column): compiled once.
_PROFILE_ROWS: Final = {
    (name_first, has_median): re.compile(
        r"^\s*(.+?)" + (r"\s+" + _NUMBER) * (4 if has_median else 3) + r"\s*$"
        if name_first
        else r"^\s*" + (_NUMBER + r"\s+") * (4 if has_median else 3) + r"(.+?)\s*$"
    )
    for name_first in (True, False)
    for has_median in (True, False)
}
_PROFILE_KEYS: Final = {True: ("total", "avg", "median", "pct"), False: ("total", "avg", "pct")}


def _profile_row(message: str, columns: tuple[bool, bool]) -> tuple[str, dict[str, float]] | None:
    name_first, has_median = columns
    m = _PROFILE_ROWS[columns].match(message)
    if m is None:
        return None
    groups = m.groups()
    if name_first:
        name, values = groups[0], groups[1:]
    else:
        name, values = groups[-1], groups[:-1]
    return name, {key: float(value) for key, value in zip(_PROFILE_KEYS[has_median], values, strict=True)}


class LogReader:
    """Push interface to the log parser: bytes in as they arrive, events of complete lines out.

    ``parse_log`` drives it from a stream; the daemon's tailer feeds it what a file grew by. A
    line without its newline is held (``pending``) until the newline arrives or ``flush`` is
    called (end of input, or the tailer's partial-line timeout). ``line_no`` is the number of the
    first line not yet consumed, so ``offset``/``line_no`` together are a resumable position.
    """

    def __init__(
        self,
        file: str,
        engine: str,
        stats: ParseStats,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        first_line: int = 1,
        patterns: LinePatterns | None = None,
        prefilter: Prefilter | None = None,
    ) -> None:
        self.parser = LogParser(file, engine, stats, max_line_bytes, patterns or None)
        self.stats = stats
        self.max_line_bytes = max_line_bytes
        self.line_no = first_line
        self.consumed = 0  # bytes fed and no longer held (complete lines, dropped excess)
        self._buf = b""
        self._prefilter = PREFILTER if prefilter is None else prefilter  # (read when called)
        self._skipping_rest_of_long_line = False
        # Docker's json-file records, unwrapped line for line; decided on the first line.
        self._docker: DockerJsonLines | None = None
        self._format_known = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished last line, held until its newline arrives."""
        return len(self._buf)

    # A list per call, not a generator: every caller wants the batch, and each event yielded
    # through the reader's layers cost a resumption per layer (about 2 % of ``parse``).
    def feed(self, data: bytes) -> list[Event]:
        """The events of the complete lines that ``data`` finishes (consumed fully)."""
        buf = self._buf + data if self._buf else data
        self._buf = b""
        if self._skipping_rest_of_long_line:
            nl = buf.find(b"\n")
            if nl < 0:
                self.consumed += len(buf)
                return []
            self.consumed += nl + 1
            buf = buf[nl + 1 :]
            self.line_no += 1
            self.stats.lines += 1
            self._skipping_rest_of_long_line = False
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) <= self.max_line_bytes:
                self._buf = buf
                return []
            # One line longer than the limit: parse its head, drop the rest up to its newline.
            self.stats.truncated_lines += 1
            self.consumed += len(buf)
            self._skipping_rest_of_long_line = True
            head = buf[: self.max_line_bytes] + b"\n"
            return self._region(head, len(head), count_lines=False)
        self._buf = buf[end + 1 :]
        self.consumed += end + 1
        return self._region(buf, end + 1)  # the complete lines, read in place

    def close(self) -> list[Event]:
        """End of input: the held unfinished line's events, then what an open block still holds."""
        events = self.flush()
        held = self.parser.close()
        if held:
            self.stats.events += len(held)
            self.stats.event_lines += 1
            events += held
        return events

    def flush(self) -> list[Event]:
        """Treat a held unfinished line as complete (end of input, or it waited long enough)."""
        if self._buf:
            data, self._buf = self._buf, b""
            self.consumed += len(data)
            return self._region(data + b"\n", len(data) + 1)
        return []

    def _region(self, region: bytes, size: int, *, count_lines: bool = True) -> list[Event]:
        """The events of ``region[:size]``, complete lines, read where they lie (no copy)."""
        if not self._format_known:
            first = region[:size].lstrip().partition(b"\n")[0]
            if first.strip():
                self._format_known = True
                self._docker = DockerJsonLines(self.max_line_bytes) if is_docker_json(first) else None
        if self._docker is not None and count_lines:
            region = self._docker.unwrap(region[:size])
            size = len(region)
        events, newlines = _scan_region(region, size, self.line_no, self.parser, self._prefilter)
        parser = self.parser
        parser.tail = region[size - 4096 : size] if size >= 4096 else (parser.tail + region[:size])[-4096:]
        if count_lines:
            self.line_no += newlines
            self.stats.lines += newlines
        return events


def _read(stream: BinaryIO, size: int) -> bytes:
    read1 = getattr(stream, "read1", None)
    data: bytes = read1(size) if read1 is not None else stream.read(size)
    return data


def parse_log(
    stream: BinaryIO,
    file: str,
    engine: str,
    stats: ParseStats,
    *,
    head: bytes = b"",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    before_read: Callable[[], None] | None = None,
    patterns: LinePatterns | None = None,
    prefilter: Prefilter | None = None,
) -> Iterator[Event]:
    """Yield the events of a TensorRT log read from ``stream`` (a file or a pipe).

    ``head`` is data already read from the stream (by the format sniffer). Lines longer than
    ``max_line_bytes`` are cut there and counted in ``stats.truncated_lines``. ``before_read``
    runs before each read that may block (a sink flushes there, so a pipe streams).
    """
    reader = LogReader(
        file, engine, stats, max_line_bytes=max_line_bytes, patterns=patterns, prefilter=prefilter
    )
    if head:
        yield from reader.feed(head)
    while True:
        if before_read is not None:
            before_read()
        chunk = _read(stream, CHUNK_BYTES)
        if not chunk:
            break
        stats.bytes += len(chunk)
        yield from reader.feed(chunk)
    yield from reader.close()
    stats.files += 1


def _scan_region(
    region: bytes, size: int, first_line: int, parser: LogParser, prefilter: Prefilter
) -> tuple[list[Event], int]:
    """The events of the complete lines in ``region[:size]``, and how many lines it holds;
    ``first_line`` is the number of its first line. The prefilter finds each candidate line's
    start in one call; nothing else looks at the lines between candidates (their newlines are
    counted once, on the way to the next candidate)."""
    out: list[Event] = []
    stats = parser.stats
    pos = 0
    line_no = first_line
    find = prefilter.finder(region, size)
    patterns = parser.patterns
    while pos < size:
        if parser.block is not None:
            nl = region.find(b"\n", pos)
            consumed, events = parser.feed_block(line_no, region[pos:nl])
            if events:  # (a closing block may still give what it held)
                stats.events += len(events)
                stats.event_lines += 1
                out += events
            if not consumed:
                continue  # the block closed; this line is read again as an ordinary line
            pos = nl + 1
            line_no += 1
            continue
        start = find(region, pos, size)  # a line start, or -1
        if patterns:
            user = patterns.search(region, pos)
            if user is not None and user < size and (start < 0 or user < start):
                start = region.rfind(b"\n", pos, user) + 1 or pos
        if start < 0:
            line_no += region.count(b"\n", pos, size)
            break
        if start != pos:
            line_no += region.count(b"\n", pos, start)
        nl = region.find(b"\n", start)
        events = parser.feed(line_no, region[start:nl], region, start)
        if events:
            stats.events += len(events)
            stats.event_lines += 1
            out += events
        pos = nl + 1
        line_no += 1
    return out, line_no - first_line
