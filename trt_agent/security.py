"""Permission checks on what the agent trusts (SECURITY.md, "What the agent checks").

Secrets (the redaction key, the TLS private key) that other users can read, or that their group
can change, are refused: the agent will not start on them, and says what to run. So are a state
dir or event file directory that another user owns, an event file directory that other users can
write without the sticky bit, and state files that are links or another user's (they could plant
links at the names the agent writes). A state dir of the agent's own that others can write is
tightened instead (chmod go-w), with a warning. Files that steer
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


_NO_WRITE_BUT_OWNER = stat.S_IWGRP | stat.S_IWOTH


def _writers(mode: int) -> str:
    return " and ".join(
        w for bit, w in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "other users")) if mode & bit
    )


def _dir_refusal(path: str, what: str, st: os.stat_result, problems: list[str], fixes: list[str]) -> str:
    return (
        f"{what} {path}: {'; '.join(problems)} (mode {stat.S_IMODE(st.st_mode):04o}, owner "
        f"{_user(st.st_uid)}): whoever can write it can make the agent overwrite or read other files; "
        f"{' && '.join(fixes)}"
    )


def prepare_state_dir(path: str, what: str) -> tuple[str | None, str | None]:
    """Make the state dir ``path`` (``what`` names the key) safe to keep the agent's files in:
    ``(problem, change)``: why the agent must refuse it, as one line with the fix, or None; and
    what the agent changed on it (for one warning), or None.

    Anyone who can write a directory can put a link at a name the agent writes, or a file of
    theirs where it reads. A state dir of the agent's user (or of root, the agent running as root)
    that its group or other users can write is tightened in place: their write bits are removed,
    the rest of the mode is kept (a setgid bit only gives new files the directory's group, and
    they are 0600). This is what a Kubernetes ``fsGroup`` leaves at each pod start (2770), or an
    older release under umask 002 (0775). One of another user is refused (root's too, when the
    agent is not root and cannot tighten it): that user could plant links anyway. A sticky one
    (``/tmp``, a tmpfs's 1777) is left as it is: others may add names there but neither remove
    nor replace the agent's files, and the agent never opens a name it did not create
    (``statedir``). ACLs are not read. The directories above ``path`` are not checked (a
    Kubernetes emptyDir is 0777 but mounted into the agent's container only): they must be
    writable by trusted users only, as for every path the agent is given.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        return f"{what} {path}: not a directory", None
    except OSError as exc:
        return f"{what} {path}: {exc.strerror}", None
    try:  # checked and changed through one descriptor: no race with a rename of the path
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        me = os.geteuid()
        loose = bool(mode & _NO_WRITE_BUT_OWNER) and not mode & stat.S_ISVTX
        if st.st_uid != me and (st.st_uid != 0 or loose):
            problems = [f"it belongs to {_user(st.st_uid)}, not to the agent's user {_user(me)}"]
            fixes = [f"chown {_name(me)} {path}"]
            if loose:
                problems.append(f"{_writers(mode)} can write it")
                fixes.append(f"chmod go-w {path}")
            return _dir_refusal(path, what, st, problems, fixes), None
        if not loose:
            return None, None
        tight = mode & ~_NO_WRITE_BUT_OWNER
        try:
            os.fchmod(fd, tight)
        except OSError as exc:
            return (
                _dir_refusal(
                    path,
                    what,
                    st,
                    [f"{_writers(mode)} can write it, and chmod failed ({exc.strerror})"],
                    [f"chmod go-w {path}"],
                ),
                None,
            )
        return None, (
            f"{what} {path}: {_writers(mode)} could write it (mode {mode:04o}); the agent removed "
            f"their write access (now {tight:04o}): whoever can write it could make the agent "
            "overwrite or read other files"
        )
    finally:
        os.close(fd)


def event_dir_problem(path: str, what: str) -> str | None:
    """Why the agent must not write its event file in the directory ``path``, as one line with
    the fix, or None: one of another user than the agent's or root, or one other users can write
    without the sticky bit. A directory its group can write (``/var/log``, root:syslog 0775; a
    volume with a Kubernetes ``fsGroup``) is accepted: the event file is then opened with
    ``O_NOFOLLOW`` and refused if another user's (``EventStream._open``)."""
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
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        problems.append("other users can write it")
        fixes.append(f"chmod o-w {path} (or chmod +t, like /tmp)")
    if not problems:
        return None
    return _dir_refusal(path, what, st, problems, fixes)


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
