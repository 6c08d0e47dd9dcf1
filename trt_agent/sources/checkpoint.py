"""Durable tailing positions: which file (device, inode, fingerprint) was read how far.

A checkpoint names a file by identity, not by path, so a restart finds a log that was renamed
while the agent was down, and an inode reused by a new file is not mistaken for the old one:
the fingerprint (SHA-256 of the first bytes) must match too. The fingerprint also detects a
copytruncate after which the file grew back past the old offset before anyone looked, which
size alone cannot.

The store is one JSON file in ``state_dir``, replaced atomically (``statedir.replace_file``),
so a crash leaves either the old or the new version, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Final

import orjson

from trt_agent.logs import get_logger
from trt_agent.statedir import replace_file

FINGERPRINT_BYTES: Final = 1024
STORE_VERSION: Final = 1

FileKey = tuple[int, int]  # (st_dev, st_ino)


def fingerprint(head: bytes) -> str:
    """The fingerprint of a file whose first bytes are ``head``."""
    return hashlib.sha256(head).hexdigest()


def read_head(fd: int, length: int = FINGERPRINT_BYTES) -> bytes:
    """Up to ``length`` bytes from the start of the open file ``fd`` (its position untouched)."""
    return os.pread(fd, length, 0)


def starts_with(fd: int, length: int, digest: str) -> bool:
    """True when the open file ``fd`` still starts with the ``length`` bytes ``digest`` was taken of."""
    if not length:
        return True
    head = read_head(fd, length)
    return len(head) == length and fingerprint(head) == digest


@dataclass(frozen=True)
class Checkpoint:
    """How far one file was read.

    ``offset`` is the end of the last complete line handed on (a held partial line is re-read
    after a restart); ``line`` is the number of the line that starts there. ``start_offset`` is
    where reading began (after the history skipped by ``read_from = "end"``): a restart re-reads
    ``start_offset..offset`` into the engine model only, so gauges survive the restart while
    the event stream resumes exactly at ``offset``.
    """

    path: str
    dev: int
    ino: int
    offset: int
    line: int
    start_offset: int
    start_line: int
    fingerprint_len: int
    fingerprint: str

    @property
    def key(self) -> FileKey:
        return (self.dev, self.ino)

    def matches(self, fd: int) -> bool:
        """True when the open file ``fd`` still starts with the bytes this checkpoint saw."""
        return starts_with(fd, self.fingerprint_len, self.fingerprint)


class CheckpointStore:
    """The checkpoint file of one agent (``<state_dir>/checkpoints.json``)."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, "checkpoints.json")
        self.state_dir = state_dir

    def load(self) -> dict[FileKey, Checkpoint]:
        """The stored checkpoints; an unreadable store raises ``ValueError`` naming the file."""
        try:
            with open(self.path, "rb") as fh:
                doc = orjson.loads(fh.read())
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ValueError(f"{self.path}: checkpoint store not readable ({exc.strerror})") from None
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: checkpoint store is not valid JSON ({exc})") from None
        if (
            not isinstance(doc, dict)
            or doc.get("version") != STORE_VERSION
            or not isinstance(doc.get("files"), list)
        ):
            raise ValueError(f"{self.path}: unknown checkpoint store version")
        checkpoints = [_checkpoint(self.path, entry) for entry in doc["files"]]
        return {c.key: c for c in checkpoints}

    def save(self, checkpoints: dict[FileKey, Checkpoint]) -> None:
        """Replace the store atomically with ``checkpoints``."""
        doc = {"version": STORE_VERSION, "files": [asdict(c) for c in checkpoints.values()]}
        replace_file(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


_FIELD_TYPES: Final = {
    name: (str if name in ("path", "fingerprint") else int) for name in Checkpoint.__dataclass_fields__
}


def _checkpoint(path: str, entry: object) -> Checkpoint:
    """One stored entry, checked field by field (a hand-edited store must not crash the agent)."""
    if not isinstance(entry, dict) or set(entry) != set(_FIELD_TYPES):
        raise ValueError(f"{path}: malformed checkpoint entry {entry!r}")
    for name, kind in _FIELD_TYPES.items():
        value = entry[name]
        negative = isinstance(value, int) and value < 0
        if not isinstance(value, kind) or isinstance(value, bool) or negative:
            raise ValueError(f"{path}: checkpoint entry field {name} must be {kind.__name__}, got {value!r}")
    return Checkpoint(**entry)


@dataclass(frozen=True)
class Forget:
    """An acknowledgement token: the file ``key`` is gone, its checkpoint goes (in order with the
    marks of its last lines, which travel ahead of it)."""

    key: FileKey


# What the tailer hands the pipeline with a batch and gets back once the batch is written: the
# checkpoints of the lines the batch ends at, or a file to forget.
Ack = dict[FileKey, Checkpoint] | Forget


class CheckpointCommitter:
    """The tailer's durable positions (Vector's acknowledgement model). Marks travel with their
    events through the pipeline; the event stream acknowledges them once the events are written
    (and synced, by ``events.fsync``), and only then are they saved: a checkpoint never claims a
    line whose events are not in the file yet. The delivery side knows nothing of checkpoints."""

    def __init__(
        self,
        store: CheckpointStore | None,
        checkpoints: dict[FileKey, Checkpoint],
        *,
        forgettable: Callable[[FileKey], bool] = lambda key: True,
    ) -> None:
        self.store = store
        self.checkpoints = dict(checkpoints)
        # Whether a closed file may leave the store now (the model snapshot's say: not before a
        # snapshot holding all of its lines is saved); a Forget that may not waits here.
        self._forgettable = forgettable
        self._deferred: list[Forget] = []
        self.errors = 0  # failed saves: trt_agent_checkpoint_errors_total
        self._dirty = False
        self._failing = False
        self._log = get_logger("trt_agent.events")
        # The event writer acknowledges, the tailer registers: one save at a time.
        self._lock = threading.Lock()

    def saved_at_ns(self) -> int | None:
        """When the store was last saved (its modification time), None if it never was."""
        try:
            return None if self.store is None else os.stat(self.store.path).st_mtime_ns
        except OSError:
            return None

    def acknowledge(self, acks: list[Ack]) -> None:
        """The batches these tokens came with are written: apply them, in order, and save (an
        empty list: the event stream's interval passed; a save that failed is tried again)."""
        with self._lock:
            pending, self._deferred = [*self._deferred, *acks], []
            for ack in pending:
                if isinstance(ack, Forget):
                    if self._forgettable(ack.key):
                        self._dirty = self.checkpoints.pop(ack.key, None) is not None or self._dirty
                    else:
                        self._deferred.append(ack)
                else:
                    self.checkpoints.update(ack)
                    self._dirty = True
                    self._cancel_forgets(ack)
            self._save()

    def _cancel_forgets(self, keys: Iterable[FileKey]) -> None:
        """A new file took the inode of one waiting to be forgotten: it must not be forgotten."""
        if self._deferred:
            taken = set(keys)
            self._deferred = [f for f in self._deferred if f.key not in taken]

    def register(self, new: Iterable[Checkpoint], *, replacing: Iterable[Checkpoint] = ()) -> None:
        """Files the tailer just started to follow, saved now rather than with the marks of
        their first lines: a file renamed away while the agent is down is then found again by
        its fingerprint, even if the agent died before any of its lines was acknowledged.

        A ``new`` file the store already knows keeps its position (its marks are newer) unless
        the store's entry holds no fingerprint yet. ``replacing`` entries describe other content
        than the store's entry for their inode (emptied or reused while the agent was down)."""
        with self._lock:
            new, replacing = list(new), list(replacing)
            self._cancel_forgets(c.key for c in (*new, *replacing))
            for c in new:
                known = self.checkpoints.get(c.key)
                if known is None or (not known.fingerprint_len and c.fingerprint_len):
                    self.checkpoints[c.key] = c
                    self._dirty = True
            for c in replacing:
                known = self.checkpoints.get(c.key)
                if known is None or known.fingerprint != c.fingerprint or known.offset < c.offset:
                    self.checkpoints[c.key] = c
                    self._dirty = True
            self._save()

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        if self.store is None or not self._dirty:
            return
        try:
            self.store.save(self.checkpoints)
            self._dirty = False
            self._log.debug("checkpoints saved", path=self.store.path, files=len(self.checkpoints))
        except OSError as exc:
            self.errors += 1
            if not self._failing:  # once per outage; the counter says how long
                self._failing = True
                self._log.error(
                    "cannot save checkpoints",
                    path=self.store.path,
                    error=str(exc),
                    action="retrying; a crash now re-reads the lines since the last save",
                )
            return
        if self._failing:
            self._failing = False
            self._log.info("checkpoints saved again", path=self.store.path)
