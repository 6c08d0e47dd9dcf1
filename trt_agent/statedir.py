"""Files in the agent's ``state_dir`` (the checkpoint store, the model snapshot): each one is
replaced whole (write a temporary copy, fsync it, rename it over the old one, fsync the
directory), so a crash at any moment leaves either the old or the new version, never half.

Nothing here follows a symlink: a temporary copy or a probe is created with ``O_CREAT | O_EXCL |
O_NOFOLLOW``, so a link planted at its name is never opened, and the rename replaces whatever is
at the final name (a link included), never the file a link points to (SECURITY.md)."""

from __future__ import annotations

import contextlib
import os
import tempfile

# A new file that does not exist yet, never through a link (O_EXCL alone refuses a link, even a
# dangling one; O_NOFOLLOW says so twice).
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def make_dirs(path: str, mode: int) -> None:
    """Create ``path`` and any missing parent with ``mode`` (less the umask), unlike
    ``os.makedirs``, which gives the parents it creates the umask's default (0775 under umask 002)."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by someone else: checked later
            os.mkdir(directory, mode)


def _create_new(tmp: str) -> int:
    """Open ``tmp`` as a new file of ours. Something already there (the copy a crash left, or a
    link someone planted) is removed, never opened: unlinking a link removes the link only."""
    try:
        return os.open(tmp, _NEW_FILE, 0o600)
    except FileExistsError:
        os.unlink(tmp)
    return os.open(tmp, _NEW_FILE, 0o600)  # planted again meanwhile: the save fails, nothing is written


def replace_file(path: str, data: bytes) -> None:
    """Replace ``path`` atomically and durably with ``data`` (readable by the agent's user only:
    the state holds file names and, in a snapshot, layer names as the logs wrote them)."""
    directory = os.path.dirname(path) or "."
    make_dirs(directory, 0o700)
    tmp = path + ".tmp"
    created = False
    try:
        fd = _create_new(tmp)
        created = True
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # a half-written copy on a full disk takes the room the next save needs
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def probe_writable(directory: str) -> None:
    """Create and remove a file in ``directory`` (``OSError`` if it cannot be written), under a
    fresh random name: a file or link already in the directory is never opened."""
    fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=directory)
    os.close(fd)
    os.unlink(probe)
