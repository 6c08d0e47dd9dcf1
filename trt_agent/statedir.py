"""Files in the agent's ``state_dir`` (the checkpoint store, the model snapshot): each one is
replaced whole (write a temporary copy, fsync it, rename it over the old one, fsync the
directory), so a crash at any moment leaves either the old or the new version, never half."""

from __future__ import annotations

import contextlib
import os


def replace_file(path: str, data: bytes) -> None:
    """Replace ``path`` atomically and durably with ``data`` (readable by the agent's user only:
    the state holds file names and, in a snapshot, layer names as the logs wrote them)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # a half-written copy on a full disk takes the room the next save needs
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
