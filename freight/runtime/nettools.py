"""Running the network tools (``ip``, ``nft``, ``aardvark-dns``) with their input on stdin.

A small ``posix_spawn`` wrapper instead of ``subprocess``: ``run`` does not import
``subprocess`` otherwise, and each container start runs two or three of these.
``netns`` runs the tool in that network namespace: our calling thread enters it
around the spawn (a network namespace is per thread) and goes back at once.
"""

from __future__ import annotations

import os

from freight.errors import FreightError
from freight.runtime import syscalls as sc

_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/lib/podman", "/usr/libexec/podman")


def find_tool(name: str) -> str:
    """The tool's path: ``ip`` and ``nft`` live in /usr/sbin, off an ordinary user's PATH."""
    for directory in (*os.environ.get("PATH", "").split(os.pathsep), *_SBIN):
        path = os.path.join(directory or ".", name)
        if os.access(path, os.X_OK):
            return path
    raise FreightError(f"container networking needs {name}: it is not installed (see scripts/setup.sh)")


def run_tool(argv: list[str], stdin: str = "", netns: int | None = None, check: bool = True,
             quiet: bool = False) -> str:
    """Run ``argv`` (its first word looked up with ``find_tool``) with ``stdin``; return its
    output. A failure raises FreightError with the tool's first error line. ``quiet`` sends
    the output to /dev/null (a daemon that keeps it open would make us wait for ever)."""
    path = find_tool(argv[0])
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    if quiet:
        os.close(out_w)
        out_w = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, out_w, 2),
               *_inherited()]
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC) if netns is not None else None
    try:
        if netns is not None:
            sc.setns(netns, sc.CLONE_NEWNET)
        try:
            pid = os.posix_spawn(path, [path, *argv[1:]], _ENV, file_actions=actions)
        finally:
            if home is not None:
                sc.setns(home, sc.CLONE_NEWNET)
    finally:
        for fd in (in_r, out_w, home):
            if fd is not None:
                os.close(fd)
    try:
        os.write(in_w, stdin.encode()) if stdin else None
    except BrokenPipeError:
        pass
    finally:
        os.close(in_w)
    chunks = []
    while chunk := os.read(out_r, 65536):
        chunks.append(chunk)
    os.close(out_r)
    _, status = os.waitpid(pid, 0)
    output = b"".join(chunks).decode(errors="replace")
    if check and os.waitstatus_to_exitcode(status) != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        raise FreightError(f"{argv[0]} failed: {lines[0] if lines else f'exit status {status}'}")
    return output


def _inherited() -> list[tuple[int, int]]:
    """Close actions for our inheritable descriptors (a monitor's report pipe): a daemon such as
    aardvark-dns must not hold them, or whoever waits for their end waits for ever."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                found.append((os.POSIX_SPAWN_CLOSE, fd))
        except OSError:
            pass  # the listing's own descriptor
    return found


_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
