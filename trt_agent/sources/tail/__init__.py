"""The log tailer of ``trt-agent run``: follows the files and globs of ``[[logs]]``.

Files are tracked by identity (device, inode), not by name, and read with ``pread`` from an
offset the tailer owns, so every rotation style reduces to a few cases:

- *rename rotation* (logrotate's default) and *delete/recreate*: the path now names another
  file or none. The old file stays open and is still read (writers often write a little more
  before they reopen) until it has not grown for ``rotate_wait`` seconds; the new file at the
  path is a new file, read from its beginning.
- *truncation* and *copytruncate*: the file shrank, or its first bytes changed (it was emptied
  and grew back past the old offset before anyone looked: inotify coalesces modify events, so
  size alone cannot tell). The bytes between the old offset and the truncation are looked for
  in a copy beside the file (``app.log.1``, ``app.log-20261126``...) whose first bytes match,
  then the file is read again from its beginning.
- *partial lines* are held until their newline arrives or ``partial_line_timeout`` passes.

Watchdog (inotify on Linux) only says *when* to look; what changed is always read from the
file itself with ``fstat``/``pread``, and a re-scan every ``poll_interval`` catches whatever a
notification missed (``watch = "poll"`` relies on that re-scan alone: network filesystems,
some container overlays). All reading and parsing happens on the one tailer thread.

One job per module (the way Fluent Bit's ``in_tail`` and Vector's file source are split):

- ``tailer``: the :class:`Tailer` thread (start, stop, reload, wake; one turn is ``Tailer.step``);
- ``discovery``: which files the ``[[logs]]`` paths name, the ``max_followed_files`` cap, paths
  that match nothing;
- ``watch``: the watchdog observer that wakes the thread, and the fall back to polling;
- ``files``: :class:`TailedFile`, one followed file: identity, offsets, fingerprint;
- ``reader``: reading a file with ``pread`` within the read budget, logs vs whole-file artifacts;
- ``rotation``: truncation and copytruncate, the rotated copy, files rotated while stopped;
- ``resume``: where a newly followed file starts (checkpoint, ``read_from = "end"``, beginning);
- ``counters``: the self-metric counters and the once-per-path reporting of unreadable files;
- ``ports``: what the tailer needs from outside (:class:`Pipeline`, :class:`Waker`, the clock).
"""

from trt_agent.sources.tail.counters import TAIL_ERROR_REASONS, TailCounters
from trt_agent.sources.tail.files import CHUNK_BYTES, TailedFile
from trt_agent.sources.tail.ports import Clock, Pipeline, Waker
from trt_agent.sources.tail.reader import READ_BUDGET_BYTES
from trt_agent.sources.tail.tailer import Tailer

__all__ = [
    "CHUNK_BYTES",
    "READ_BUDGET_BYTES",
    "TAIL_ERROR_REASONS",
    "Clock",
    "Pipeline",
    "TailCounters",
    "TailedFile",
    "Tailer",
    "Waker",
]
