"""Permission checks on what the agent trusts (SECURITY.md, "What the agent checks").

Secrets (the redaction key, the TLS private key) that other users can read, or that their group
can change, are refused: the agent will not start on them, and says what to run. So are a state
dir or event file directory that another user owns or could write (they could plant links at the
names the agent writes), and state files that are links or another user's. Files that steer
the agent (its config, the web config) being writable by other users, and running as root, are
warned about: they are not secrets, and refusing would break installs that are merely loose.
"""

from __future__ import annotations

import os
import pwd
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


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _user(uid: int) -> str:
    name = _name(uid)
    return f"uid {uid}" if name == str(uid) else f"{name} (uid {uid})"


def private_dir_problem(path: str, what: str) -> str | None:
    """Why the agent must not keep its files in the directory ``path`` (``what`` names the key),
    as one line with the fix, or None.

    Anyone who can write a directory can put a link at a name the agent writes, or a file of
    theirs where it reads. So the directory must belong to the agent's user (or to root, whom
    the agent trusts anyway) and not be writable by its group or by other users, except with the
    sticky bit (like ``/tmp``, or a tmpfs mount's 1777): there others may add names but neither
    remove nor replace the agent's files, and the agent never opens a name it did not create
    (``statedir``). ACLs are not read. The directories above ``path`` are not checked (a
    Kubernetes emptyDir is 0777 but mounted into the agent's container only): they must be
    writable by trusted users only, as for every path the agent is given.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{what} {path}: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {path}: not a directory"
    mode = stat.S_IMODE(st.st_mode)
    me = os.geteuid()
    problems, fixes = [], []
    if st.st_uid not in (me, 0):
        problems.append(f"it belongs to {_user(st.st_uid)}, not to the agent's user {_user(me)}")
        fixes.append(f"chown {_name(me)} {path}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        who = " and ".join(
            w for bit, w in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "other users")) if mode & bit
        )
        problems.append(f"{who} can write it")
        fixes.append(f"chmod go-w {path}")
    if not problems:
        return None
    return (
        f"{what} {path}: {'; '.join(problems)} (mode {mode:04o}, owner {_user(st.st_uid)}): whoever can "
        f"write it can make the agent overwrite or read other files; {' && '.join(fixes)} "
        "(a directory only the agent's user can write, e.g. mode 0700)"
    )


def foreign_state_file_problem(path: str, what: str) -> str | None:
    """Why the agent must not read the state file ``path`` back: a link, something other than a
    regular file, or a file of another user (one could have put it in a sticky directory)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{what} {path}: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        return f"{what} {path} is a symbolic link, which the agent never follows in its state dir; remove it"
    if not stat.S_ISREG(st.st_mode):
        return f"{what} {path} is not a regular file; remove it"
    if st.st_uid not in (os.geteuid(), 0):
        return (
            f"{what} {path} belongs to {_user(st.st_uid)}, not to the agent's user {_user(os.geteuid())}; "
            "remove it (the agent writes it afresh)"
        )
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
