"""The container process's identity, and the exec of its command.

Runs inside the container (after the pivot) in the forked child: resolves the
user from the image's own /etc/passwd and /etc/group the way runc does, sets
rlimits, groups, ids and capabilities, and looks the command up in the
container's PATH first so a missing or unrunnable command gives Docker's
message and exit code (127 / 126).
"""

from __future__ import annotations

import os
import signal

from freight.errors import CannotInvoke, CommandNotFound, FreightError
from freight.record import Record
from freight.runtime import caps as capabilities
from freight.runtime import syscalls as sc
from freight.runtime.spec import ContainerSpec
from freight.settings import rootless

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecUser(Record):
    """The resolved identity: ids, home, and every group to set (primary first)."""

    uid: int
    gid: int
    home: str
    groups: list[int]


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def _find(entries: list[list[str]], key: str, fields: int) -> list[str] | None:
    """The entry whose name (or numeric id) is ``key``: the first by name, else by id."""
    entries = [e for e in entries if len(e) >= fields]
    for entry in entries:
        if entry[0] == key:
            return entry
    if key.isdigit():
        for entry in entries:
            if entry[2] == key:
                return entry
    return None


def resolve_user(spec_user: str, group_add: Sequence[str] = (), passwd_file: str = "/etc/passwd",
                 group_file: str = "/etc/group") -> ExecUser:
    """``name|uid[:group|gid]`` against the container's passwd and group files."""
    user_part, _, group_part = (spec_user or "").partition(":")
    passwd = _read_db(passwd_file)
    groups = _read_db(group_file)
    uid, gid, home, name = 0, 0, "/", None
    if user_part:
        entry = _find(passwd, user_part, 7)
        if entry is not None:
            name, uid, gid, home = entry[0], int(entry[2]), int(entry[3]), entry[5]
        elif user_part.isdigit():
            uid = int(user_part)
        else:
            raise FreightError(f"unable to find user {user_part}: no matching entries in passwd file")
    else:
        entry = _find(passwd, "0", 7)
        if entry is not None:
            name, home = entry[0], entry[5]
    supplementary: list[int] = []
    if group_part:
        entry = _find(groups, group_part, 3)
        if entry is not None:
            gid = int(entry[2])
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise FreightError(f"unable to find group {group_part}: no matching entries in group file")
    elif name is not None:
        supplementary = [int(g[2]) for g in groups
                         if len(g) >= 4 and name in g[3].split(",") and g[2].isdigit()]
    for extra in group_add:
        entry = _find(groups, extra, 3)
        if entry is not None:
            supplementary.append(int(entry[2]))
        elif extra.isdigit():
            supplementary.append(int(extra))
        else:
            raise FreightError(f"Unable to find group {extra}: no matching entries in group file")
    # Docker lists the primary group among the supplementary ones too.
    return ExecUser(uid, gid, home or "/", [gid, *supplementary])


def final_env(spec: ContainerSpec, home: str) -> list[str]:
    """Docker's environment: PATH and HOSTNAME first, TERM for -t, the config's, HOME last."""
    env: dict[str, str] = {}
    env["PATH"] = DEFAULT_PATH
    env["HOSTNAME"] = spec.hostname
    if spec.tty:
        env["TERM"] = "xterm"
    for item in spec.env:
        key, sep, value = item.partition("=")
        env[key] = value
    env.setdefault("HOME", home)
    return [f"{k}={v}" for k, v in env.items()]


def lookup(command: str, env: list[str]) -> str:
    """Go's ``exec.LookPath`` inside the container, with runc's error texts."""
    if "/" in command:
        try:
            st = os.stat(command)
        except FileNotFoundError:
            raise CommandNotFound(f'exec: "{command}": stat {command}: no such file or directory') from None
        except OSError as err:
            raise CannotInvoke(f'exec: "{command}": stat {command}: {(err.strerror or str(err)).lower()}') from None
        if os.path.isdir(command):
            raise CannotInvoke(f'exec: "{command}": is a directory')
        if not st.st_mode & 0o111:
            raise CannotInvoke(f'exec: "{command}": permission denied')
        return command
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    for directory in path.split(":"):
        candidate = f"{directory or '.'}/{command}"
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if not os.path.isdir(candidate) and st.st_mode & 0o111:
            return candidate
    raise CommandNotFound(f'exec: "{command}": executable file not found in $PATH')


def capability_masks() -> tuple[int, int]:
    """Our bounding set and permitted set, so we never ask for more than we hold."""
    bounding = permitted = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                bounding = int(line.split()[1], 16)
            elif line.startswith("CapPrm:"):
                permitted = int(line.split()[1], 16)
    return bounding, permitted


def apply_identity(spec: ContainerSpec, user: ExecUser) -> None:
    """rlimits, groups, ids, capabilities and no_new_privs, in the order the kernel needs."""
    if spec.ulimits:
        import resource

        for res, soft, hard in spec.ulimits:
            resource.setrlimit(res, (soft, hard))
    bounding, permitted = capability_masks()
    wanted = capabilities.mask(spec.caps) & permitted
    for cap in range(capabilities.last_cap() + 1):
        if not wanted >> cap & 1 and bounding >> cap & 1:
            sc.prctl(sc.PR_CAPBSET_DROP, cap)
    try:
        os.setgroups(sorted(set(user.groups)))
    except PermissionError:  # a single-ID user namespace denies setgroups: the groups stay as they are
        if not rootless():
            raise
    os.setgid(user.gid)
    os.setuid(user.uid)
    # setuid to a non-root user already emptied permitted and effective; inheritable
    # stays empty (Docker's fix for CVE-2022-24769) and ambient is cleared.
    sc.capset(wanted if user.uid == 0 else 0, wanted if user.uid == 0 else 0, 0)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    if spec.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def enter_workdir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise CannotInvoke(f'chdir to cwd ("{cwd}") set in config.json failed: {reason}') from None


def reset_signals() -> None:
    """Undo what Python changed: exec keeps ignored signals ignored and the mask."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                signal.SIGQUIT, signal.SIGCHLD, signal.SIGWINCH, signal.SIGTTOU, signal.SIGTTIN,
                signal.SIGTSTP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_command(path: str, args: list[str], env: list[str]) -> None:
    try:
        os.execve(path, args, {key: value for key, _, value in (e.partition("=") for e in env)})
    except FileNotFoundError:
        raise CommandNotFound(f'exec: "{args[0]}": no such file or directory') from None
    except PermissionError:
        raise CannotInvoke(f'exec: "{args[0]}": permission denied') from None
    except OSError as err:
        raise CannotInvoke(f'exec: "{args[0]}": {(err.strerror or str(err)).lower()}') from None
