"""Permission checks on what the agent trusts (SECURITY.md, "What the agent checks").

Secrets (the redaction key, the TLS private key) that other users can read, or that their group
can change, are refused: the agent will not start on them, and says what to run. Files that steer
the agent (its config, the web config) being writable by other users, and running as root, are
warned about: they are not secrets, and refusing would break installs that are merely loose.
"""

from __future__ import annotations

import os
import stat

from trt_agent.config import Config, ConfigError

FIX_HINT = "chmod 600 (or 640 with a group the agent is in; a Kubernetes Secret: defaultMode: 0440)"


def secret_problem(mode: int) -> str | None:
    """Why a file with ``mode`` must not hold a secret, or None."""
    if mode & stat.S_IRWXO:
        return "other users can access it"
    if mode & stat.S_IWGRP:
        return "its group can write it"
    return None


def check_secret_fd(fd: int, what: str) -> None:
    """Refuse the open secret file ``fd`` (checked on the open file: no race with a rename)."""
    mode = os.fstat(fd).st_mode
    problem = secret_problem(mode)
    if problem is not None:
        raise ConfigError(f"{what}: {problem} (mode {stat.S_IMODE(mode):04o}); {FIX_HINT}")


def check_secret_path(path: str, what: str) -> None:
    """:func:`check_secret_fd` for a file a library opens by name (the TLS key)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # the library that reads it reports a missing or unreadable file better
    try:
        check_secret_fd(fd, what)
    finally:
        os.close(fd)


def loosely_writable(path: str) -> str | None:
    """Why other users could change ``path`` (world-writable file or directory), or None."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return None
    if st.st_mode & stat.S_IWOTH:
        return f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    if parent.st_mode & stat.S_IWOTH and not parent.st_mode & stat.S_ISVTX:
        return f"{path} is in a directory other users can write (they can replace it)"
    return None


def startup_warnings(config_path: str, config: Config) -> list[str]:
    """What an operator should fix, though the agent runs (logged at start and on reload)."""
    warnings = []
    if os.geteuid() == 0:
        warnings.append("running as root, which the agent never needs (SECURITY.md): run it as its own user")
    for path in (config_path, config.metrics.web_config_file):
        if path:
            problem = loosely_writable(path)
            if problem:
                warnings.append(
                    f"{problem}: anyone who can change it can change what the agent reads and serves"
                )
    return warnings
