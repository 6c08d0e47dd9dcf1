"""Keyed pseudonyms for layer and tensor names: the one choke point before anything leaves the
process (JSONL events, metric labels, reports, the agent's own logs, error messages).

A name maps to ``L`` + the first 10 hex digits of HMAC-SHA256(key, name): the same name gets the
same pseudonym in build logs, runtime profiles, restarts and every replica sharing the key, so
build-time and runtime facts still join. Whoever holds the key can map a pseudonym back
(``trt-agent redact-map``); whoever does not, cannot.

Free text (an event's ``msg`` whatever its type, the other text a grammar rule captured, a log
message) is scrubbed of every name the redactor has learned so far; a rule recognising a line
proves nothing about what else the line says, so nothing skips the scrubbing (fail closed):
whole names, and the members of fused names (``conv1 + bn1 + relu1``, ``PWN(a, b)``,
``{ForeignNode[a...b]}``). One Aho-Corasick automaton finds them all in one pass
(leftmost-longest, so a name that contains another is replaced whole). With ``scrub_paths``,
absolute paths and model/engine file names left in the text are replaced too. A layer line's
layer and tensor names are found by the grammar and replaced where they stand, numeric ones
too; elsewhere a name too short or numeric to search for is replaced only where it stands
before a bracketed annotation (a rule's ``341 [-333.2, 333.2]``).

Modes: ``pseudonym`` (the whole name becomes one pseudonym), ``structure`` (the fusion
structure and op-type words stay, identifiers are hashed: ``L1.. + L2..``,
``/Lab12../Conv``), ``drop`` (names are removed: ``<redacted>``).
"""

from __future__ import annotations

import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Final

import ahocorasick  # type: ignore[import-not-found]

from trt_agent.config import Config, ConfigError, RedactionConfig
from trt_agent.memory import release_free_memory
from trt_agent.parse.grammar import layer_name_spans
from trt_agent.security import check_secret_fd
from trt_agent.vocab.events import EVENT_SPECS, Event
from trt_agent.vocab.names import decompose

# What each event type holds and how its msg is scrubbed: the event specs (vocab.events).
# A type whose spec declares no name keys is searched for every key that names something
# anywhere (an event read back from a stream can carry more keys than its type defines).
NAME_FIELDS: Final = tuple(dict.fromkeys(k for spec in EVENT_SPECS.values() for k in spec.names))
NAME_LIST_FIELDS: Final = tuple(dict.fromkeys(k for spec in EVENT_SPECS.values() for k in spec.name_lists))
_ANY_KEYS: Final = (NAME_FIELDS, NAME_LIST_FIELDS)
_NAME_KEYS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    kind: (spec.names, spec.name_lists) if spec.names or spec.name_lists else _ANY_KEYS
    for kind, spec in EVENT_SPECS.items()
}
_NOTHING_TO_HIDE: Final = frozenset(k for k, spec in EVENT_SPECS.items() if spec.msg == "nothing")
_PATHS_ONLY: Final = frozenset(k for k, spec in EVENT_SPECS.items() if spec.msg == "paths")
_ONE_NAME: Final = {k: spec.names[0] for k, spec in EVENT_SPECS.items() if spec.msg == "one_name"}
_LAYER_LINES: Final = frozenset(k for k, spec in EVENT_SPECS.items() if spec.msg == "layer_line")
# Keys whose values the parser picks from a closed vocabulary (precisions, reasons, components...):
# every other string a grammar rule captured (a device's name, a fusion pass, a plugin, a tactic's
# kernel, a phase) is free text and scrubbed like a msg: a rule's ``(.+)$`` reads whatever follows.
_VOCABULARY_KEYS: Final = frozenset(
    {"precision", "input_precision", "from_precision", "to_precision", "reason", "metric", "stat"}
    | {"component", "device", "to_device", "action", "origin"}
)
_EXTRA_TEXT_KEYS: Final = {"memory": ("phase",), "fallback": ("tactic",)}
_TEXT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    kind: tuple(
        dict.fromkeys(
            [
                *(k for k, t in (*spec.required, *spec.optional) if t is str and k not in spec.names),
                *_EXTRA_TEXT_KEYS.get(kind, ()),
            ]
        ).keys()
        - _VOCABULARY_KEYS
    )
    for kind, spec in EVENT_SPECS.items()
}
# What every event carries and no log text fills in (the message is scrubbed on its own).
_ENVELOPE_KEYS: Final = frozenset({"type", "severity", "engine", "ts", "msg"})
_PSEUDONYM_CHARS: Final = re.compile(r"[LP0-9a-f]+")
PSEUDONYM: Final = re.compile(r"L[0-9a-f]{10}(?:[0-9a-f]{6})?")
DROPPED: Final = "<redacted>"
# Op-type words that ``structure`` mode keeps (ONNX and TensorRT layer types).
_OP_WORDS_TEXT: Final = """
    Conv ConvTranspose Relu LeakyRelu Sigmoid Tanh Gelu Erf Softmax LogSoftmax MatMul Gemm Add Sub Mul Div Pow
    Sqrt Exp Log Reshape Transpose Flatten Squeeze Unsqueeze Concat Split Slice Gather Shape Cast Constant
    MaxPool AveragePool GlobalAveragePool BatchNormalization LayerNormalization InstanceNormalization
    ReduceMean ReduceSum Resize Pad Clip Where Equal Expand Tile TopK NonZero Identity Dropout
    QuantizeLinear DequantizeLinear Einsum Range ScatterND Convolution Activation Pooling ElementWise Shuffle
    Reduce Scale Unary MatrixMultiply SoftMax Normalization PluginV2 PluginV3 Myelin Reformat
"""
OP_WORDS: Final = frozenset(_OP_WORDS_TEXT.split())
_STRUCTURE_SPLIT: Final = re.compile(r"( \+ |PWN\(|\)|\(|, |,|\{ForeignNode\[|\]\}|\.\.\.|/|\[|\]|\{|\}| )")
_NAME_FLAGS: Final = re.compile(
    r"(--(?:shapes|minShapes|optShapes|maxShapes|layerPrecisions|layerOutputTypes|layerDeviceTypes|loadInputs)=)(\S+)"
)
_FILE_EXTENSION: Final = re.compile(
    r"\.(?:onnx|engine|plan|trt|pb|pt|pth|safetensors|cache|json|uff|caffemodel|prototxt)\b"
)
_PATH: Final = re.compile(
    r"(?<![\w.:])(?:/[^\s'\"\[\]{}(),:;]+)+"  # /abs/path/parts
    r"|[\w.-]+\.(?:onnx|engine|plan|trt|pb|pt|pth|safetensors|cache|json|uff|caffemodel|prototxt)\b"
)
_MIN_LEARNED: Final = 3
_FIELD_CACHE_SIZE: Final = 10_000
_EVENT_CACHE_SIZE: Final = 4096  # messages whose events' redacted copies are kept (see Redactor.events)
_EVENTS_PER_MESSAGE: Final = 8
# Generations of the automaton (see _Generations): a new one for each batch of new names; the last
# two are merged while the older is at most _MERGE_FACTOR times the younger, so sizes fall
# geometrically and each name is rebuilt O(log) times; all are merged into one once scanning the
# extra ones has cost _COMPACT_AFTER times what rebuilding all of them would.
_MERGE_FACTOR: Final = 4
_COMPACT_AFTER: Final = 4
_PLACEHOLDER: Final = re.compile("\x00([0-9]+)\x00")
# A short or numeric name is replaced in free text only where it stands before a bracketed
# annotation, as rule messages and TensorRT print them: "341 [-333.2, 333.2]", "a [Conv]".
_ANNOTATED: Final = re.compile(r"(?<![^\s,:(])([^\s,:()\[\]]+)(?= \[[^\[\]]*\])")


def _has_path_start(text: str) -> bool:
    """A "/" where a path can start (not the ones inside "11/26/2026")."""
    return (
        text.startswith("/")
        or " /" in text
        or "'/" in text
        or '"/' in text
        or "=/" in text
        or "(/" in text
        or "[/" in text
        or ":/" in text
        or ",/" in text
    )


def scrubbable(name: str) -> bool:
    """Whether free text is scrubbed of ``name``. Names of one or two characters and numbers
    (ONNX's generated tensor names: ``1827``) would hit every word and number in a line; in
    event fields and labels they are replaced like any other name."""
    return len(name) >= _MIN_LEARNED and not name.isdigit()


class Redactor:
    """Pseudonyms and scrubbing; thread-safe (the tailer, the writer, scrapes and logs share one)."""

    def __init__(self, settings: RedactionConfig, key: bytes) -> None:
        if not key:
            raise ConfigError("redaction is enabled but the key is empty")
        self._key = key
        self.mode = settings.mode
        self.scrub_paths = settings.scrub_paths
        self._allow = [re.compile(p) for p in settings.allowlist]
        self._lock = threading.Lock()
        self._pseudonyms: dict[str, str] = {}
        # name -> what name() returns; in pseudonym mode without an allowlist that is the
        # pseudonym of every name, so one table serves both (a name held costs one entry)
        self._outputs: dict[str, str] = (
            self._pseudonyms if self.mode == "pseudonym" and not self._allow else {}
        )
        self._direct: dict[
            str, bool
        ] = {}  # see _is_direct  # name -> what name() returns (allowlist and mode applied)
        self._owners: dict[str, str] = {}  # pseudonym -> name, to catch collisions
        self.collisions = 0
        # Every name offered to learn(), least recently offered first, with the names it taught
        # (None: itself): at most max_learned_names; beyond, the oldest is forgotten (evicted).
        self._seen: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()
        self.max_names = settings.max_learned_names  # 0: no limit
        self._pressure_cap = 0  # while the agent is over its memory limit: see shrink()
        self.evicted = 0  # names forgotten to stay within max_names
        self._churn = 0  # names forgotten since the tables were last copied: see _compact_tables
        self._learned: dict[str, int] = {}  # names free text is scrubbed of -> how many seen names taught it
        self._annotated: dict[str, int] = {}  # short and numeric names: see _ANNOTATED
        self._pending: list[str] = []  # learned, in no automaton yet
        self._generations = _Generations()
        # the generations' automata and the learned_version they hold, swapped whole
        self._built: tuple[tuple[Any, ...], int] = ((), 0)
        self._learned_version = 0  # bumped when names are learned or forgotten
        self._build_lock = threading.Lock()  # one automaton build at a time; others wait for it
        # scrubbed field values and messages, for the automata they were scrubbed with (swapped whole)
        self._field_cache: tuple[Any, dict[str, str]] = (None, {})
        # redacted copies of events, by msg, for the automata they were redacted with: see events()
        self._event_cache: tuple[int, dict[str, list[tuple[Event, Event]]]] = (-1, {})

    def __repr__(self) -> str:  # the key never shows, not even in a traceback's locals
        return f"Redactor(mode={self.mode!r}, names={len(self._seen)})"

    # -- names -------------------------------------------------------------------------------------

    def allowed(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self._allow)

    def pseudonym(self, name: str) -> str:
        """``L`` + 10 hex digits of the keyed hash; 16 for the later of two colliding names."""
        found = self._pseudonyms.get(name)
        if found is not None:
            return found
        digest = hmac.digest(self._key, name.encode("utf-8", "surrogatepass"), "sha256").hex()
        with self._lock:
            value = "L" + digest[:10]
            owner = self._owners.setdefault(value, name)
            if owner != name:
                self.collisions += 1
                value = "L" + digest[:16]
                self._owners.setdefault(value, name)
            self._pseudonyms[name] = value
        return value

    def name(self, name: str) -> str:
        """What ``name`` becomes in any output (a label value, an event field, a report cell)."""
        out = self._outputs.get(name)
        if out is None:
            if not name:
                return name
            if self.allowed(name):
                out = name
            elif self.mode == "drop":
                out = DROPPED
            elif self.mode == "structure":
                out = self._structure(name)
            else:
                out = self.pseudonym(name)
            self._outputs[name] = out
        return out

    def _structure(self, name: str) -> str:
        parts = _STRUCTURE_SPLIT.split(name)
        out = []
        for part in parts:
            keep = not part or part.isdigit() or part in OP_WORDS
            if keep or _STRUCTURE_SPLIT.fullmatch(part) or self.allowed(part):
                out.append(part)
            else:
                base, sep, suffix = part.rpartition("_")
                # conv_12 -> L..._12: the index says nothing, the stem might
                out.append(
                    self.pseudonym(base) + sep + suffix
                    if sep and suffix.isdigit() and base
                    else self.pseudonym(part)
                )
        return "".join(out)

    # -- free text ---------------------------------------------------------------------------------

    def learn(self, names: Iterable[str]) -> None:
        """Remember ``names`` (and the members of fused names) so free text is scrubbed of them.
        A name offered again becomes the most recently seen; beyond ``max_learned_names`` the
        least recently seen are forgotten (see docs/redaction.md#learned-names)."""
        with self._lock:
            seen, learned, annotated, pending = self._seen, self._learned, self._annotated, self._pending
            before = len(pending)
            for name in names:
                if not name:
                    continue
                if name in seen:
                    seen.move_to_end(name)
                    continue
                fused = "+" in name or "(" in name or "{" in name
                candidates = [name, *decompose(name).sources] if fused else [name]
                taught: list[str] = []
                for candidate in candidates:
                    candidate = candidate.strip()
                    if not candidate or candidate in taught or self.allowed(candidate):
                        continue
                    taught.append(candidate)
                    # short and numeric names would hit every number: see _ANNOTATED
                    if scrubbable(candidate):
                        count = learned.get(candidate, 0)
                        if not count:
                            pending.append(candidate)
                        learned[candidate] = count + 1
                    else:
                        annotated[candidate] = annotated.get(candidate, 0) + 1
                seen[name] = None if taught == [name] else tuple(taught)
            cap = min((c for c in (self.max_names, self._pressure_cap) if c), default=0)
            if cap and len(seen) > cap:
                self._evict(len(seen) - cap)
            if len(pending) != before:
                self._learned_version += 1

    def _evict(self, count: int) -> None:
        """Forget the ``count`` least recently seen names (under ``_lock``). They stay in the
        automaton generation that holds them until it is rebuilt (still scrubbed until then);
        nothing is rebuilt for them now."""
        seen, learned, annotated = self._seen, self._learned, self._annotated
        for _ in range(count):
            name, taught = seen.popitem(last=False)
            for candidate in (name,) if taught is None else taught:
                target = learned if scrubbable(candidate) else annotated
                left = target.get(candidate, 1) - 1
                if left > 0:
                    target[candidate] = left
                    continue
                target.pop(candidate, None)
                self._forget(candidate)
        self.evicted += count
        limit = 4 * self.max_names + _FIELD_CACHE_SIZE
        if len(self._owners) > limit:  # pseudonyms of paths, structure parts, labels: see _forget
            self._owners.clear()
        for cache in (self._pseudonyms, self._outputs, self._direct):
            if len(cache) > limit:
                cache.clear()
        self._churn += count
        if self._churn > len(seen) // 4 + 1024:
            self._churn = 0
            self._compact_tables()
            release_free_memory()  # the old tables, megabytes each, freed in glibc's heap

    def shrink(self, keep: float = 0.5, floor: int = 1000) -> int:
        """Forget the least recently seen names down to ``keep`` of those held (never below
        ``floor``): the agent's last memory relief step, once the models have nothing left to
        give (``pipeline.Shedder``). Counted as evictions; the automata are rebuilt from the
        names left at the next scrub, which frees them, so a forgotten name that only free text
        mentions is in clear from then until a field names it again (docs/redaction.md#learned-names).
        Until ``relax``, the names held after the step are the cap: new names are still learned
        (a name seen now is the one most likely to be in the next line), the least recently seen
        make room for them. Returns how many names were forgotten."""
        with self._lock:
            count = len(self._seen) - max(floor, int(len(self._seen) * keep))
            if count <= 0:
                return 0
            self._evict(count)
            self._pressure_cap = len(self._seen)
            self._learned_version += 1
        return count

    def relax(self) -> None:
        """Back under the memory limit: ``max_learned_names`` alone bounds the names again."""
        with self._lock:
            self._pressure_cap = 0

    def _forget(self, name: str) -> None:
        """Drop what is cached for a forgotten name, and its claim on its pseudonym: a name with
        the same 10 hex digits seen later gets them (its collision is not counted)."""
        value = self._pseudonyms.pop(name, None)  # first: in pseudonym mode it is _outputs too
        self._outputs.pop(name, None)
        self._direct.pop(name, None)
        if value is not None:
            if self._owners.get(value[:11]) == name:
                del self._owners[value[:11]]
            if len(value) > 11 and self._owners.get(value) == name:
                del self._owners[value]

    def _compact_tables(self) -> None:
        """Copy each per-name table into one sized for what it holds (under ``_lock``). A dict
        never shrinks, and one that names churn through (each new name past the cap evicts
        one) is resized by its insertions to twice the slots a fresh one takes: at 50 k names
        the four largest grew from 9.8 to 18.3 MiB. Done once a quarter of the names held were
        forgotten since the last copy (amortised O(1) a name); meanwhile a fresh table mostly has
        room for the insertions. Readers outside the lock may still hold the old tables: what
        they find there is a name's own pseudonym or a name forgotten a moment ago (scrubbed
        once more), never a name missing."""
        same = self._outputs is self._pseudonyms
        self._seen = OrderedDict(self._seen)
        self._learned = dict(self._learned)
        self._annotated = dict(self._annotated)
        self._pseudonyms = dict(self._pseudonyms)
        self._outputs = self._pseudonyms if same else dict(self._outputs)
        self._direct = dict(self._direct)
        self._owners = dict(self._owners)

    def learned_names(self) -> list[str]:
        """Every name offered to ``learn`` and not forgotten, least recently seen first (the
        model snapshot keeps them: after a restart, free text is scrubbed of names the logs gave
        before it, in the same order of eviction)."""
        with self._lock:
            return list(self._seen)

    @property
    def held_names(self) -> int:
        """How many names the redactor holds (at most ``max_learned_names``)."""
        return len(self._seen)

    def learn_events(self, events: Iterable[Event]) -> None:
        """Learn every name ``events`` hold, as redacting them would, without redacting them: the
        daemon's models see events before the event writer does, and after a restart the events
        replayed to rebuild them are never written again."""
        self.learn(name for event in events for name in learnable_names(event))

    def _matcher(self) -> tuple[tuple[Any, ...], int]:
        """The automata of every name learned before this call (generations: see
        ``_Generations``). A caller that finds them stale while another thread builds waits for
        that build (then builds again if names came in meanwhile): returning the old ones would
        let a name learned a moment ago through clear."""
        generations = self._generations
        while True:
            built = self._built  # the one checked is the one returned (a build may empty it)
            if built[1] == self._learned_version and not generations.due(len(self._learned)):
                return built
            del built  # not kept alive through the build (see below)
            with self._build_lock:
                if self._built[1] == self._learned_version and not generations.due(len(self._learned)):
                    continue
                # Readers wait for this build (no version is -1), so nothing but a scan under
                # way holds the automata it replaces: those are freed as they are merged or
                # compacted, not after the new ones are built (old and new at once raised the
                # peak by a whole automaton, ~0.5 KiB a name, and pymalloc keeps the arenas
                # that peak touched: a daemon at its 50 k names crept to 150 MiB)
                self._built = ((), -1)
                self._field_cache = (None, {})  # keyed by the automata: it held them too
                with self._lock:
                    pending, self._pending = self._pending, []
                    version = self._learned_version
                live = self._learned
                if pending:
                    generations.add([n for n in pending if n in live], live)
                if generations.due(len(live)):
                    generations.compact(live)
                    # the old automata were freed: glibc keeps such memory unless asked (a
                    # daemon that learned 100 k names crept from 128 to 155 MiB without this)
                    release_free_memory()
                # swapped whole: readers never see a half-built one
                self._built = (generations.automata(), version)

    def text(self, text: str) -> str:
        """``text`` with every learned name (and, with ``scrub_paths``, every path) replaced."""
        text = self._scrub(text, self._matcher()[0])
        if self._annotated and " [" in text:
            text = _ANNOTATED.sub(self._annotated_name, text)
        return text

    def _annotated_name(self, match: re.Match[str]) -> str:
        value = match.group()
        return self.name(value) if value in self._annotated else value

    def _scrub(self, text: str, automata: tuple[Any, ...]) -> str:
        if automata and text:
            if len(automata) > 1:
                self._generations.extra += len(text) * (len(automata) - 1)
            found = _leftmost_longest(text, automata)
            pieces: list[str] = []
            last = 0
            outputs = self._outputs
            for start, end in found:
                name = text[start:end]
                pieces += (text[last:start], outputs.get(name) or self.name(name))
                last = end
            if pieces:
                pieces.append(text[last:])
                text = "".join(pieces)
        if "--" in text:
            text = self._scrub_flags(text)
        return self._scrub_paths(text)

    def _path(self, match: re.Match[str]) -> str:
        path = match.group()
        if PSEUDONYM.fullmatch(path.strip("/")) or self.allowed(path):
            return path
        return "P" + self.pseudonym(path)[1:]

    # -- events ------------------------------------------------------------------------------------

    def events(self, events: list[Event]) -> list[Event]:
        """Redacted copies of a batch, in order (see ``_events``).

        An event equal, but for its ``source``, to one redacted before with the same automata (a
        log read again, a line repeated word for word) gets that one's redacted copy again,
        with its own ``source``: the result depends on nothing else (callers only read the
        copies: the kept ones are shared). If the batch's other events
        teach new names, every event of the batch is redacted afresh: a repeated message may
        hold a name learned only now."""
        owner, cache = self._event_cache
        if owner != self._built[1] or owner != self._learned_version or not cache:
            return self._events(events)
        out: list[Event | None] = []
        missed: list[Event] = []
        for event in events:
            msg = event.get("msg")
            hit = cache.get(msg) if msg.__class__ is str else None
            if hit is not None:
                source = event.get("source")
                if source.__class__ is not dict or "pattern" not in source:
                    stripped = event.copy()
                    stripped.pop("source", None)
                    for before, redacted in hit:  # the events of one line (a perf summary's stats)
                        if stripped == before:
                            copy = redacted.copy()
                            if source is not None:
                                copy["source"] = source
                            out.append(copy)
                            break
                    else:
                        out.append(None)
                        missed.append(event)
                    continue
            out.append(None)
            missed.append(event)
        if not missed:
            return out  # type: ignore[return-value]
        fresh = self._events(missed)
        if self._learned_version != owner:
            # names were learned: the hits may hold them, and are redacted afresh as well
            hits = [event for event, copy in zip(events, out, strict=True) if copy is not None]
            again = iter(self._events(hits))
            out = [None if copy is None else next(again) for copy in out]
        rest = iter(fresh)
        return [copy if copy is not None else next(rest) for copy in out]

    def _remember(self, version: int, events: list[Event], copies: list[Event]) -> None:
        """Keep the redacted copies of ``events`` (those with a msg, not from a user pattern),
        scrubbed with the automata of every name learned up to ``version``. Merging generations
        or forgetting names does not make them stale: a forgotten name they hide stays hidden."""
        owner, cache = self._event_cache
        if owner != version:
            owner, cache = version, {}
            self._event_cache = (owner, cache)
        for event, copy in zip(events, copies, strict=True):
            msg = event.get("msg")
            source = event.get("source")
            if msg.__class__ is str and (source.__class__ is not dict or "pattern" not in source):
                stripped = event.copy()
                stripped.pop("source", None)
                same = cache.get(msg)
                if same is None:
                    if len(cache) < _EVENT_CACHE_SIZE:
                        cache[msg] = [(stripped, copy)]
                elif len(same) < _EVENTS_PER_MESSAGE:
                    same.append((stripped, copy))

    def _events(self, events: list[Event]) -> list[Event]:
        """Redacted copies of a batch, in order.

        Fields are replaced at once. Every msg is free text: it waits until all names of the
        batch are learned and is then scrubbed by the automaton, whatever its type, so a line
        the grammar recognised but that says more than the grammar read (``Latency: ...
        (slowest layer: X)``) cannot carry a learned name out (fail closed). What the grammar did
        find is used on top of that: a layer line's names are replaced where they stand, and an
        event's own names too short or numeric to search for are replaced as whole words."""
        out: list[Event] = []
        # copies whose msg needs the automaton, with their short names, their layer line's spans
        # and their keys holding other text a rule captured
        deferred: list[tuple[Event, list[str], list[tuple[int, int]], list[str]]] = []
        fields: list[tuple[Event, str]] = []  # the copies (and keys) of such text to scrub
        seen, outputs, name_of = self._seen, self._outputs, self.name
        new: set[str] = set()
        for event in events:
            kind = event["type"]
            msg = event.get("msg")
            source = event.get("source")
            # A user pattern's line is no TensorRT message: whatever its type, its msg may hold
            # any name, and it may carry name keys its type does not define.
            user_line = source.__class__ is dict and "pattern" in source
            key = None if user_line else _ONE_NAME.get(kind)
            copy = event.copy()
            if user_line:
                # its fields are whatever the user's groups captured: no closed vocabulary
                texts = [
                    k
                    for k, v in event.items()
                    if v.__class__ is str and k not in _ENVELOPE_KEYS and k not in NAME_FIELDS
                ]
            else:
                texts = [k for k in _TEXT_KEYS.get(kind, ()) if event.get(k).__class__ is str]
            if texts and not msg:
                fields.extend((copy, k) for k in texts)
            if key is not None and event.get(key).__class__ is str:
                # ONNX nodes, profile rows, placements: one name
                value = event[key]
                if value not in seen:
                    new.add(value)
                copy[key] = outputs.get(value) or name_of(value)
                if msg:
                    deferred.append((copy, [] if scrubbable(value) else [value], [], texts))
                out.append(copy)
                continue
            singles, lists = _ANY_KEYS if user_line else _NAME_KEYS.get(kind, _ANY_KEYS)
            own: list[str] = []
            for key in singles:
                value = event.get(key)
                if value.__class__ is str:
                    own.append(value)
                    copy[key] = outputs.get(value) or name_of(value)
            for key in lists:
                value = event.get(key)
                if value.__class__ is list:
                    own.extend(v for v in value if v.__class__ is str)
                    copy[key] = [(outputs.get(v) or name_of(v)) if v.__class__ is str else v for v in value]
            if own:
                new.update(n for n in own if n not in seen)
            if msg:
                # the automaton, after the batch is learned; a layer line's names where they
                # stand; own names too short to search everywhere then replaced as whole words
                spans = layer_name_spans(msg) if kind in _LAYER_LINES else []
                if spans:
                    new.update(n for n in (msg[a:b] for a, b in spans) if n not in seen)
                short = [n for n in own if n and (len(n) < _MIN_LEARNED or n.isdigit())] if own else own
                deferred.append((copy, short, spans, texts))
            out.append(copy)
        if new:
            self.learn(new)
        if deferred:
            automata, scrubbed_with = self._matcher()
            for copy, short, spans, texts in deferred:
                msg = copy["msg"]
                scrubbed = self._scrub_around(msg, spans, automata) if spans else self._scrub(msg, automata)
                if texts:
                    # captured from this msg: where the msg held no learned name, neither do they
                    clean = scrubbed is msg
                    fields.extend((copy, k) for k in texts if not clean or copy[k] not in msg)
                copy["msg"] = self._replace_own(scrubbed, short) if short else scrubbed
            del automata  # not held through a rebuild the next _matcher call may do
        if fields:
            automata = self._matcher()[0]
            owner, cache = self._field_cache
            if owner is not automata:
                owner, cache = automata, {}
                self._field_cache = (owner, cache)
            for copy, text_key in fields:
                value = copy[text_key]
                text = cache.get(value)
                if text is None:
                    text = self._scrub(value, automata)
                    if len(cache) < _FIELD_CACHE_SIZE:
                        cache[value] = text
                if text is not value:
                    copy[text_key] = text
        if deferred:
            self._remember(scrubbed_with, events, out)
        return out

    def _scrub_around(self, text: str, spans: list[tuple[int, int]], automata: tuple[Any, ...]) -> str:
        """A layer line: its layer and tensor names (``spans``) replaced where they stand, whatever
        their length, and the rest scrubbed. Searching for a tensor name instead would miss short
        and numeric ones and could hit the inside of a longer one. The spans wait as placeholders
        while the line is scrubbed, so the automaton cannot hit the inside of a pseudonym."""
        if "\x00" in text:  # the placeholders' marker: a NUL from the log must not pose as one
            text = text.replace("\x00", "\ufffd")
        pieces: list[str] = []
        last = 0
        for index, (start, end) in enumerate(spans):
            pieces += (text[last:start], f"\x00{index}\x00")
            last = end
        pieces.append(text[last:])
        names = [self.name(text[start:end]) for start, end in spans]
        return _PLACEHOLDER.sub(lambda m: names[int(m.group(1))], self._scrub("".join(pieces), automata))

    def _replace_own(self, msg: str, names: list[str]) -> str:
        """Replace an event's own names in its msg, longest first, in one pass: placeholders
        first, so a short name cannot hit the inside of a pseudonym already put in. Names too
        short (or numeric) to search anywhere else are replaced here as whole words only."""
        ordered = sorted(set(names), key=len, reverse=True) if len(names) > 1 else names
        direct = self._direct
        simple = True
        for value in ordered:
            ok = direct.get(value)
            if ok is None:
                ok = self._is_direct(value)
            if not ok:
                simple = False
                break
        if simple:
            # The usual case: names that cannot occur inside a pseudonym, replaced in place.
            for value in ordered:
                if value in msg:
                    msg = msg.replace(value, self._outputs.get(value) or self.name(value))
            return msg
        placed: list[str] = []
        if "\x00" in msg:  # the placeholders' marker: a NUL from the log must not pose as one
            msg = msg.replace("\x00", "\ufffd")
        for value in ordered:
            if not value:
                continue
            token = f"\x00{len(placed)}\x00"
            if scrubbable(value):
                if value not in msg:
                    continue
                msg = msg.replace(value, token)
            else:
                msg, count = re.subn(rf"(?<![\w.]){re.escape(value)}(?![\w.])", token, msg)
                if not count:
                    continue
            placed.append(value)
        for index, value in enumerate(placed):
            msg = msg.replace(f"\x00{index}\x00", self._outputs.get(value) or self.name(value))
        return msg

    def _is_direct(self, value: str) -> bool:
        """Whether ``value`` can be replaced with str.replace: searchable, and not made only of
        the characters of a pseudonym (``L`` and hex digits), so it cannot hit one."""
        ok = scrubbable(value) and _PSEUDONYM_CHARS.fullmatch(value) is None
        self._direct[value] = ok
        return ok

    def _scrub_flags(self, text: str) -> str:
        """trtexec command lines name tensors and layers in flag values (``--shapes=input:1x3``,
        ``--layerPrecisions=conv1:fp16``): those names are replaced whether known or not."""
        return _NAME_FLAGS.sub(lambda m: m.group(1) + self._flag_value(m.group(2)), text)

    def _flag_value(self, value: str) -> str:
        items = []
        for item in value.split(","):
            name, sep, rest = item.rpartition(":")
            items.append(self.name(name) + sep + rest if sep and name else item)
        return ",".join(items)

    def _scrub_paths(self, text: str) -> str:
        if not self.scrub_paths:
            return text
        slashes = text.count("/")
        # The two slashes of a TensorRT timestamp ("[11/26/2026-...") are not a path.
        timestamp_only = slashes == 2 and text[3:4] == "/" and text[6:7] == "/"
        if (slashes and not timestamp_only and _has_path_start(text)) or (
            "." in text and _FILE_EXTENSION.search(text)
        ):
            return _PATH.sub(self._path, text)
        return text


def _leftmost_longest(text: str, automata: tuple[Any, ...]) -> list[tuple[int, int]]:
    """The leftmost-longest matches of the names of every automaton in ``text``, as ``(start,
    end)`` (end excluded): at each position the longest
    name starting there, then on after it; where none starts, the next position. Built from every
    match (``iter``): ``iter_long`` can miss a name that starts inside a longer one it tried and
    failed to finish (names ``xabab`` and ``aba`` in ``xaba``), and a name of one generation can
    start inside another generation's match."""
    # automata store each name's length: (index of its last character, length)
    # (start, -end): sorted, the longest of those starting at one position comes first
    found = [
        (last + 1 - length, -last - 1) for automaton in automata for last, length in automaton.iter(text)
    ]
    if not found:
        return []
    found.sort()
    out: list[tuple[int, int]] = []
    pos = 0
    for start, end in found:
        if start >= pos:
            out.append((start, -end))
            pos = -end
    return out


class _Generations:
    """The automata free text is scrubbed with, in generations, so a new name costs what its
    own length does (amortised) instead of a rebuild from every name (pyahocorasick cannot add a
    word to a finished automaton). Each batch of new names becomes a generation of its own; the
    youngest two are merged while the older holds at most ``_MERGE_FACTOR`` times the younger's
    names, so sizes fall geometrically (a few generations; each name rebuilt O(log n) times).
    Scanning a text with k generations costs k passes: once the extra passes have scanned
    ``_COMPACT_AFTER`` times the characters a rebuild of all names would add, everything is
    merged into one generation (a steady state has one). Forgotten names stay in their
    generation (still scrubbed) until it is rebuilt; all are rebuilt from the live names once
    they are more than a fifth of what the automata hold. Only ``Redactor._matcher`` changes it,
    under the build lock."""

    def __init__(self) -> None:
        self.generations: list[
            tuple[Any, list[str], int]
        ] = []  # (automaton, its names, their characters), oldest first
        self.held = 0  # names the automata hold, forgotten ones included
        self.chars = 0  # and their characters
        self.extra = 0  # characters scanned by generations beyond the first since the last compaction

    def automata(self) -> tuple[Any, ...]:
        return tuple(automaton for automaton, _, _ in self.generations)

    def due(self, live: int) -> bool:
        """Whether merging everything is due: the extra passes cost more than it would, or
        forgotten names are more than a fifth of what the automata hold."""
        return (len(self.generations) > 1 and self.extra > _COMPACT_AFTER * self.chars) or (
            self.held > live + live // 4 + 1024
        )

    def add(self, names: list[str], live: dict[str, int]) -> None:
        if not names:
            return
        generations = self.generations
        self._push(list(dict.fromkeys(names)))
        while len(generations) > 1 and len(generations[-2][1]) <= _MERGE_FACTOR * len(generations[-1][1]):
            (_, older, _), (_, younger, _) = generations[-2:]
            self._pop()
            self._pop()
            self._push([n for n in dict.fromkeys(older + younger) if n in live])

    def compact(self, live: dict[str, int]) -> None:
        names = list(dict.fromkeys(n for _, held, _ in self.generations for n in held if n in live))
        self.generations.clear()
        self.held = self.chars = self.extra = 0
        if names:
            self._push(names)

    def _push(self, names: list[str]) -> None:
        if not names:
            return
        # Each name's value is its length (an int Python keeps once, below 257: no object per
        # name); the replacement is looked up by the text matched, in the redactor's outputs.
        automaton = ahocorasick.Automaton()
        chars = 0
        for name in names:
            automaton.add_word(name, len(name))
            chars += len(name)
        automaton.make_automaton()
        self.generations.append((automaton, names, chars))
        self.held += len(names)
        self.chars += chars

    def _pop(self) -> None:
        _, names, chars = self.generations.pop()
        self.held -= len(names)
        self.chars -= chars


def learnable_names(event: Event) -> list[str]:
    """The names redacting ``event`` would learn: its name fields (those its type has) and, for a
    layer line, the tensors it reads and writes."""
    kind = event["type"]
    if kind in _NOTHING_TO_HIDE or kind in _PATHS_ONLY:
        return []
    key = _ONE_NAME.get(kind)
    if key is not None and event.get(key).__class__ is str:
        return [event[key]]
    singles, lists = _NAME_KEYS.get(kind, _ANY_KEYS)
    names = [v for v in (event.get(k) for k in singles) if v.__class__ is str]
    for key in lists:
        value = event.get(key)
        if value.__class__ is list:
            names.extend(v for v in value if v.__class__ is str)
    msg = event.get("msg")
    if kind in _LAYER_LINES and msg:
        names.extend(msg[a:b] for a, b in layer_name_spans(msg))
    return names


def load_redactor(config: Config) -> Redactor | None:
    """The redactor ``[redaction]`` asks for, or None when it is off. Refuses to run redaction
    without a key; the key is read here and kept only inside the redactor."""
    settings = config.redaction
    if not settings.enabled:
        return None
    if settings.key_file:
        try:
            with open(settings.key_file, "rb") as fh:
                check_secret_fd(fh.fileno(), f"redaction.key_file {settings.key_file}")
                key = fh.read().strip()
        except OSError as exc:
            raise ConfigError(f"redaction.key_file {settings.key_file}: {exc.strerror}") from None
        where = f"redaction.key_file {settings.key_file}"
    elif settings.key_env:
        key = os.environ.get(settings.key_env, "").encode()
        where = f"redaction.key_env ${settings.key_env}"
    else:
        raise ConfigError("redaction is enabled but neither redaction.key_file nor redaction.key_env is set")
    if len(key) < 16:
        raise ConfigError(f"{where}: the redaction key must be at least 16 bytes (got {len(key)})")
    return Redactor(settings, key)


class NullRedactor(Redactor):
    """The redactor of ``[redaction] enabled = false``: every name and text stays as it is.

    Each public method of :class:`Redactor` is the identity or does nothing, so the offline
    commands and the reports always hold a redactor and never ask whether there is one. It has
    no key and learns nothing (none of a Redactor's state: ``__init__`` does not call it)."""

    mode = "off"
    scrub_paths = False
    collisions = 0
    evicted = 0
    max_names = 0

    @property
    def held_names(self) -> int:
        return 0

    def __init__(self) -> None:
        pass

    def __repr__(self) -> str:
        return "NullRedactor()"

    def allowed(self, name: str) -> bool:
        return True

    def pseudonym(self, name: str) -> str:
        return name

    def name(self, name: str) -> str:
        return name

    def learn(self, names: Iterable[str]) -> None:
        pass

    def shrink(self, keep: float = 0.5, floor: int = 1000) -> int:
        return 0

    def relax(self) -> None:
        pass

    def learned_names(self) -> list[str]:
        return []

    def learn_events(self, events: Iterable[Event]) -> None:
        pass

    def text(self, text: str) -> str:
        return text

    def events(self, events: list[Event]) -> list[Event]:
        return events


NULL_REDACTOR: Final = NullRedactor()  # it holds no state: one serves every caller
