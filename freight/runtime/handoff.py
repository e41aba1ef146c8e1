"""What a process that starts another hands it, and how the started one reports back.

``launch`` forks a container's process, which ``child`` sets up: it hands over
the container's standard streams (``Stdio``), the namespaces to make
(``namespace_flags``) and, with OCI hooks that run in the runtime's namespaces,
two pipes to take turns on (``HookSync``). A caller likewise spawns a
container's monitor (``spawn``).

Each started process says how its start went on a pipe the starter reads to its
end: one report, ``<exit code> <text>`` (``report``, ``read_report``). A child
writes one only when its set-up failed (its pipe is close-on-exec, so an empty
end-of-file means the exec happened); a monitor writes ``0 <pid>`` once the
command runs.
"""

from __future__ import annotations

import os

from freight.errors import CannotInvoke, CommandNotFound, FreightError
from freight.record import Record
from freight.runtime import syscalls as sc
from freight.runtime.spec import NETWORK_HOST, NETWORK_JOINED, ContainerSpec

RUNTIME_HOOK_STAGES = ("prestart", "createRuntime")  # OCI hooks run in our namespaces, before the pivot
_ERRORS: dict[int, type[FreightError]] = {126: CannotInvoke, 127: CommandNotFound}


class Stdio(Record, frozen=False):
    """The fds the container gets as 0, 1 and 2 (``tty_socket``: a socket to send a pty master on).

    ``winsize`` (a packed ``struct winsize``) is the caller's terminal size, set on
    the container's terminal before its command starts, so the first ``stty size``
    already sees it. The child replaces the three fds by its terminal's.
    """

    stdin: int
    stdout: int
    stderr: int
    tty_socket: int | None = None
    winsize: bytes | None = None


def namespace_flags(spec: ContainerSpec) -> int:
    """The namespaces a new container gets (its PID namespace is made around the fork)."""
    flags = sc.CLONE_NEWNS | sc.CLONE_NEWCGROUP
    if not spec.uts_host:
        flags |= sc.CLONE_NEWUTS
    if not spec.ipc_host:
        flags |= sc.CLONE_NEWIPC
    if spec.network not in (NETWORK_HOST, NETWORK_JOINED):
        flags |= sc.CLONE_NEWNET
    return flags


def close_fds(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


class HookSync:
    """Two pipes: the child says its mounts are done ("m"), we say the hooks ran ("h")."""

    def __init__(self) -> None:
        self.ready_r, self.ready_w = os.pipe()
        self.go_r, self.go_w = os.pipe()

    def child_side(self) -> None:
        close_fds(self.ready_r, self.go_w)

    def parent_side(self) -> None:
        close_fds(self.ready_w, self.go_r)

    def close(self) -> None:
        """The parent's ends."""
        close_fds(self.ready_r, self.go_w)

    def wait_for_parent(self) -> None:
        """In the child, before its pivot: hand over, and go on only once the hooks passed."""
        os.write(self.ready_w, b"m")
        if os.read(self.go_r, 1) != b"h":
            os._exit(125)  # a hook failed: the parent reports it
        close_fds(self.ready_w, self.go_r)

    def child_ready(self) -> bool:
        """In the parent: whether the child's mounts are done (False: it failed first, and
        its report says why)."""
        return os.read(self.ready_r, 1) == b"m"

    def release_child(self) -> None:
        """In the parent, once the runtime-namespace hooks passed: let the child go on."""
        os.write(self.go_w, b"h")


def report(fd: int, code: int, text: str) -> None:
    """Write the one report ``<code> <text>`` and close ``fd``; a reader already gone is no error."""
    try:
        os.write(fd, f"{code} {text}".encode())
    except OSError:
        pass
    try:
        os.close(fd)
    except OSError:
        pass


def read_report(fd: int) -> tuple[int, str] | None:
    """The report on ``fd``, read once every writer closed it (``fd`` is closed then);
    None when none was written."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        return None
    code, _, text = b"".join(chunks).decode(errors="replace").partition(" ")
    return (int(code) if code.isdigit() else 125), text


def error_for(code: int, text: str) -> FreightError:
    """The error for a failed start's report: 126 and 127 as Docker's, anything else 125."""
    return _ERRORS.get(code, FreightError)(text)
