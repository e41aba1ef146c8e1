"""A fork whose child starts a new PID namespace, leaving the parent's own untouched.

Root forks a container's PID 1 with ``unshare(CLONE_NEWPID)``, ``fork``, then a
``setns`` back to its own namespace for its later children. In a user namespace
that ``setns`` is refused (the host's PID namespace belongs to the initial user
namespace), so rootless freight creates the namespace with the child, as
``clone(CLONE_NEWPID)`` does, wrapped in the interpreter's own before/after-fork
steps just as ``os.fork`` wraps ``fork``.
"""

from __future__ import annotations

import ctypes
import os

_SYS_CLONE = {"x86_64": 56, "aarch64": 220}
_SIGCHLD = 17
CLONE_NEWPID = 0x20000000

_api = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the GIL stays held across the calls, as os.fork keeps it
_api.syscall.restype = ctypes.c_long


def fork_new_pidns() -> int:
    """``os.fork``, with the child as PID 1 of a new PID namespace: its PID (0 in the child)."""
    number = _SYS_CLONE[os.uname().machine]
    _api.PyOS_BeforeFork()
    # x86_64 and arm64 take (flags, stack, parent_tid, child_tid, tls); a NULL stack forks
    pid = _api.syscall(ctypes.c_long(number), ctypes.c_ulong(CLONE_NEWPID | _SIGCHLD), ctypes.c_void_p(0),
                       ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_void_p(0))
    if pid == 0:
        _api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    _api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone: {os.strerror(err)}")
    return int(pid)
