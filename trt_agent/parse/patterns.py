"""User patterns (``[[patterns]]`` in the config): a team's own log lines turned into events
without a release of trt-agent.

Each pattern is a regex whose named groups become the fields of an event of one type of the
vocabulary (``trt_agent.vocab.events.EVENT_SPECS``). The regexes run on google-re2, whose time is
linear in the line whatever the regex, so no pattern can hang the daemon: RE2 syntax, without
backreferences or lookaround (https://github.com/google/re2/wiki/Syntax).

A pattern sees one line (without its newline; the header of the line included). The log reader
asks :meth:`UserPatterns.search` for the next line any pattern matches (one RE2 search over a
whole region of lines, not one per line), then :meth:`UserPatterns.match` for the events of
that line. docs/patterns.md is the user's guide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import re2  # type: ignore[import-untyped]

from trt_agent.parse.grammar import to_bytes
from trt_agent.parse.search import finder
from trt_agent.vocab.events import EVENT_SPECS, NUMBER, KeyType
from trt_agent.vocab.severities import SEVERITIES

# The keys of one ``[[patterns]]`` entry (config/schema.py's PatternConfig documents them; a
# test checks the two agree).
PATTERN_KEYS: Final = ("regex", "type", "severity", "engine", "fields")
_REQUIRED_KEYS: Final = ("regex", "type")

_INT64: Final = 1 << 63
_INT: Final = re.compile(r"[-+]?\d+")
_FLOAT: Final = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})
# ``(?flags)`` / ``(?flags:``: RE2's flag groups (i, m, s, U), as the prefilter rewrites them.
_FLAG_GROUP: Final = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
# Where a line ends in a region: before its newline, after the ``\r`` the reader strips.
_LINE_END: Final = r"(?:\r*$)"


def _options(*, prefilter: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every syntax error on stderr
    if prefilter:
        options.never_capture = True  # the patterns' group names may clash
        options.never_nl = True  # no match spans two lines, whatever the regex says
    return options


def _error_text(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


@dataclass(frozen=True)
class UserPattern:
    """One ``[[patterns]]`` entry, compiled. ``key`` names it in errors (``patterns[0]``);
    ``fields`` are the constant fields its events carry (defaults of groups of the same name)."""

    key: str
    source: str  # the regex as written
    type: str
    severity: str | None = None
    engine: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    regex: Any = field(default=None, compare=False, repr=False)  # the compiled re2 regex

    def facts(self, line: str) -> dict[str, Any] | None:
        """The event fields of ``line``, or None when the regex does not match it or a group's
        text is not of its key's type (``ms`` that is no number, a size beyond 64 bits)."""
        m = self.regex.search(line)
        if m is None:
            return None
        return _fields(self, {k: v for k, v in m.groupdict().items() if v is not None})


def _key_types(type_: str) -> dict[str, KeyType]:
    spec = EVENT_SPECS[type_]
    return dict(spec.required + spec.optional)


def _makes_bytes(types: Mapping[str, KeyType], groups: Mapping[str, Any]) -> bool:
    """A ``value`` + ``unit`` pair of groups becomes ``bytes`` (for the types that hold bytes)."""
    return "value" in groups and "unit" in groups and "bytes" in types


def _fields(pattern: UserPattern, groups: dict[str, str]) -> dict[str, Any] | None:
    types = _key_types(pattern.type)
    out: dict[str, Any] = dict(pattern.fields)
    if _makes_bytes(types, groups):
        value, unit = groups.pop("value"), groups.pop("unit")
        if not _FLOAT.fullmatch(value.strip()):
            return None
        try:
            size = to_bytes(value.strip(), unit.strip())
        except KeyError:  # a unit that is no size unit
            return None
        if not -_INT64 <= size < _INT64:
            return None
        out["bytes"] = size
    for name, text in groups.items():
        value = _convert(text, types[name])
        if value is None:
            return None
        out[name] = value
    if not all(name in out for name, _kind in EVENT_SPECS[pattern.type].required):
        return None  # an optional group without a default in ``fields`` did not take part
    return out


def _convert(text: str, kind: KeyType) -> Any:
    """A group's text as its key's type, or None when it is not one."""
    if kind is str:
        return text
    if kind is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    if kind is bool:
        word = text.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    text = text.strip()
    if _INT.fullmatch(text):
        number = int(text)
        return number if -_INT64 <= number < _INT64 else None
    if kind is int or not _FLOAT.fullmatch(text):
        return None
    real = float(text)
    return real if math.isfinite(real) else None


def compile_patterns(entries: Sequence[Mapping[str, Any]]) -> tuple[UserPattern, ...]:
    """Compile the ``[[patterns]]`` entries; a bad one raises ``ValueError`` naming its key,
    e.g. ``patterns[1].regex: missing ): (a``."""
    return tuple(_compile(f"patterns[{index}]", entry) for index, entry in enumerate(entries))


def _compile(where: str, entry: Mapping[str, Any]) -> UserPattern:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a table")
    for name in entry:
        if name not in PATTERN_KEYS:
            raise ValueError(f"{where}.{name}: unknown key (known: {', '.join(PATTERN_KEYS)})")
    for name in _REQUIRED_KEYS:
        if name not in entry:
            raise ValueError(f"{where}.{name} is required")
    for name in ("regex", "type", "severity", "engine"):
        if name in entry and not isinstance(entry[name], str):
            raise ValueError(f"{where}.{name} must be a string, got {entry[name]!r}")
    source: str = entry["regex"]
    type_: str = entry["type"]
    if type_ not in EVENT_SPECS:
        raise ValueError(f"{where}.type: unknown event type {type_!r} (known: {', '.join(EVENT_SPECS)})")
    severity = entry.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"{where}.severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    engine = entry.get("engine")
    if engine is not None and not engine.strip():
        raise ValueError(f"{where}.engine is empty (an engine/build id, or leave the key out)")
    if not source:
        raise ValueError(f"{where}.regex is empty (it would match every line)")
    try:
        regex = re2.compile(source, _options())
    except re2.error as exc:
        raise ValueError(
            f"{where}.regex: {_error_text(exc)} (RE2 syntax: no backreferences, no lookaround; "
            "docs/patterns.md)"
        ) from None
    types = _key_types(type_)
    groups = dict(regex.groupindex)
    makes_bytes = _makes_bytes(types, groups)
    if makes_bytes and "bytes" in groups:
        raise ValueError(
            f"{where}.regex: groups value and unit make bytes; a group bytes too is one too many"
        )
    for name in groups:
        if name not in types and not (makes_bytes and name in ("value", "unit")):
            extra = " (or value and unit, which make bytes)" if "bytes" in types else ""
            raise ValueError(
                f"{where}.regex: group {name!r} is no key of event type {type_} "
                f"(its keys: {', '.join(types) or 'none'}{extra})"
            )
    constants = _constants(where, entry.get("fields", {}), types, groups)
    provided = set(groups) | set(constants) | ({"bytes"} if makes_bytes else set())
    for name, _kind in EVENT_SPECS[type_].required:
        if name not in provided:
            raise ValueError(
                f"{where}.regex: event type {type_} requires {name!r}: no named group (?P<{name}>...) "
                f"nor {where}.fields gives it"
            )
    return UserPattern(where, source, type_, severity, engine, constants, regex)


def _constants(
    where: str, table: Any, types: Mapping[str, KeyType], groups: Mapping[str, int]
) -> dict[str, Any]:
    """``fields = { kind = "peak" }``: constant fields of every event of the pattern (a group
    of the same name, where it took part in the match, wins)."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}.fields must be a table (key = value), got {table!r}")
    out: dict[str, Any] = {}
    for name, value in table.items():
        if name not in types:
            raise ValueError(
                f"{where}.fields.{name}: no key of this event type (its keys: {', '.join(types) or 'none'})"
            )
        kind = types[name]
        ok = (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
            if kind is list
            else isinstance(value, kind)
            and (kind is bool or not isinstance(value, bool))
            and (not isinstance(value, float) or math.isfinite(value))
        )
        if not ok:
            expected = "a number" if kind == NUMBER else getattr(kind, "__name__", str(kind))
            raise ValueError(f"{where}.fields.{name} must be {expected}, got {value!r}")
        out[name] = list(value) if isinstance(value, list) else value
    return out


def _class_end(source: str, i: int) -> int:
    """The index just past the character class that opens at ``source[i]`` (``[``)."""
    n = len(source)
    j = i + 1
    if j < n and source[j] == "^":
        j += 1
    if j < n and source[j] == "]":  # a leading ] is a literal
        j += 1
    while j < n:
        c = source[j]
        if c == "\\":
            j += 2
        elif source.startswith("[:", j):
            end = source.find(":]", j + 2)
            j = n if end < 0 else end + 2
        elif c == "]":
            return j + 1
        else:
            j += 1
    return n


def line_form(source: str) -> str:
    """``source`` for a search over a region of lines in multi-line mode: ``\\A`` is a line's
    start, ``$`` and ``\\z`` its end (before the ``\\r`` the reader strips), and a flag group
    cannot turn the multi-line mode off. Whatever matches one line alone matches it here."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            escape = source[i + 1 : i + 2]
            if escape == "Q":  # \Q...\E: literal text
                end = source.find("\\E", i + 2)
                end = n if end < 0 else end + 2
                out.append(source[i:end])
                i = end
                continue
            out.append("^" if escape == "A" else _LINE_END if escape == "z" else source[i : i + 2])
            i += 2
        elif c == "[":
            end = _class_end(source, i)
            out.append(source[i:end])
            i = end
        elif c == "$":
            out.append(_LINE_END)
            i += 1
        elif c == "(" and (flags := _FLAG_GROUP.match(source, i)) is not None:
            on, off, close = flags.group(1), (flags.group(2) or "").replace("m", ""), flags.group(3)
            spelled = on + ("-" + off if off else "")
            if spelled or close == ":":
                out.append(f"(?{spelled}{close}")
            i = flags.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


class UserPatterns:
    """The compiled ``[[patterns]]`` of a config, for the log reader (empty: there are none)."""

    __slots__ = ("_cache", "_find", "patterns")

    def __init__(self, patterns: Sequence[UserPattern] = ()) -> None:
        self.patterns: tuple[UserPattern, ...] = tuple(patterns)
        self._find: Any = None
        if self.patterns:
            combined = "(?m)" + "|".join(f"(?:{line_form(p.source)})" for p in self.patterns)
            try:
                prefilter = re2.compile(combined, _options(prefilter=True))
            except re2.error:  # beyond RE2's memory bound together: every line is a candidate
                prefilter = re2.compile("(?m)^", _options(prefilter=True))
            self._find = finder(prefilter)
        # (region, pos, answer) of the last search: the reader asks again from each line it
        # reads, and the answer holds until pos passes it (no rescan of the same bytes).
        self._cache: tuple[bytes, int, int | None] | None = None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __len__(self) -> int:
        return len(self.patterns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserPatterns) and other.patterns == self.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)

    def __repr__(self) -> str:
        return f"UserPatterns({[p.key for p in self.patterns]})"

    def search(self, region: bytes, pos: int) -> int | None:
        """The offset of the start of the first line at or after ``pos`` (a line's start) in
        ``region`` that some pattern matches, or None."""
        if self._find is None:
            return None
        cache = self._cache
        if cache is not None and cache[0] is region and cache[1] <= pos:
            answer = cache[2]
            if answer is None or pos <= answer:
                return answer
        answer = self._search(region, pos)
        self._cache = (region, pos, answer)
        return answer

    def _search(self, region: bytes, pos: int) -> int | None:
        size = len(region)
        while pos < size:
            hit = self._find(region, pos, size)
            if hit < 0:
                return None
            start = region.rfind(b"\n", pos, hit) + 1 or pos
            end = region.find(b"\n", hit)
            end = size if end < 0 else end
            line = region[start:end].decode("utf-8", "replace").rstrip("\r")
            if any(p.regex.search(line) is not None for p in self.patterns):
                return start
            pos = end + 1
        return None

    def match(self, line: str) -> list[tuple[UserPattern, dict[str, Any]]]:
        """Every pattern that matches ``line`` (anywhere in it), in config order, with its fields."""
        out: list[tuple[UserPattern, dict[str, Any]]] = []
        if self._find is None or self._find(encoded := line.encode(), 0, len(encoded)) < 0:
            return out  # one RE2 search for all patterns: most lines the reader asks about
        for pattern in self.patterns:
            facts = pattern.facts(line)
            if facts is not None:
                out.append((pattern, facts))
        return out


NO_PATTERNS: Final = UserPatterns()
