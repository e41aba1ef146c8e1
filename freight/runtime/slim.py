"""A long-running container's monitor, made small: the same process, re-executed.

A monitor (``supervise``) imports what starting a container takes (the store, sqlite,
cgroups, networks, the launcher): about 9 MiB of a private heap that it never needs
while the container just runs. So once the container has run ``SETTLE`` seconds with no
output in flight to a viewer (``channel.Relay.idle``), a monitor with nothing else to do
than relaying its streams (no port proxy, health checker, slirp4netns or CDI hooks, which
need the full monitor) re-executes itself as a fresh interpreter that imports only this
module, ``channel`` and ``stdio``: about 3 MiB. ``execve`` keeps the PID, the children
(the container stays its child, and its parent-death signal is not sent) and every
inheritable fd: the container's streams, the attach socket, the viewers, the network
namespace. The hand-over is argv (``Handover``), with the log's partial lines. Once the
container exits, this module reaps it and re-executes the full monitor
(``supervise.resume``), which records the exit, removes a ``--rm`` container and applies
the restart policy, as before.
A short-lived container never pays for either ``execve``.
"""

from __future__ import annotations

import os
import sys

from freight.record import Record, fields, replace
from freight.runtime.channel import Hub, Relay
from freight.runtime.signals import exit_code, send_signal
from freight.runtime.stdio import JsonLog

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import NoReturn

SETTLE = 2.0  # seconds a container runs before its monitor is made small
_FLUSH = 2.0  # seconds the viewers get to take their backlog before the full monitor takes over
_SIGKILL = 9
# Run by the re-executed interpreter: the package's folder is all it needs on its path.
_BOOT = "import sys; sys.path.append({root!r}); from {module} import {function}; {function}(sys.argv[1:])"


class Handover(Record):
    """What a monitor hands the process it re-executes as: the container (``pid``, a child),
    its streams, log, viewers and network namespace (inherited fds, -1 for none), and its
    restart manager's state; ``code`` is the exit code once it exited (-1 before)."""

    root: str
    cid: str
    directory: str
    pid: int
    sources: dict[int, str]
    stdin_to: int
    close_stdin: bool
    tty: bool
    stdin_once: bool
    log: str
    max_size: int
    max_file: int
    partial_stdout: bytes
    partial_stderr: bytes
    listener: int
    viewers: list[int]
    feeding: list[int]
    netns: int
    restarts: int
    delay: float
    began: float
    code: int = -1


def to_argv(h: Handover) -> list[str]:
    """``h`` as ``name=value`` arguments (lists joined by commas, ``fd:stream`` pairs, bytes in hex)."""
    out = []
    for name in fields(h):
        value = getattr(h, name)
        if isinstance(value, dict):
            text = ",".join(f"{k}:{v}" for k, v in value.items())
        elif isinstance(value, list):
            text = ",".join(map(str, value))
        elif isinstance(value, bool):
            text = "1" if value else ""
        elif isinstance(value, bytes):
            text = value.hex()
        else:
            text = str(value)
        out.append(f"{name}={text}")
    return out


def from_argv(argv: list[str]) -> Handover:
    """The ``Handover`` that ``to_argv`` wrote."""
    given = dict(arg.split("=", 1) for arg in argv)

    def ints(name: str) -> list[int]:
        return [int(n) for n in given[name].split(",") if n]

    pairs = (pair.partition(":") for pair in given["sources"].split(",") if pair)
    sources = {int(fd): stream for fd, _, stream in pairs}
    return Handover(
        root=given["root"], cid=given["cid"], directory=given["directory"], pid=int(given["pid"]),
        sources=sources, stdin_to=int(given["stdin_to"]), close_stdin=bool(given["close_stdin"]),
        tty=bool(given["tty"]), stdin_once=bool(given["stdin_once"]), log=given["log"],
        max_size=int(given["max_size"]), max_file=int(given["max_file"]),
        partial_stdout=bytes.fromhex(given["partial_stdout"]), partial_stderr=bytes.fromhex(given["partial_stderr"]),
        listener=int(given["listener"]),
        viewers=ints("viewers"), feeding=ints("feeding"), netns=int(given["netns"]),
        restarts=int(given["restarts"]), delay=float(given["delay"]), began=float(given["began"]),
        code=int(given["code"]))


def reexecute(h: Handover, module: str, function: str, small: bool) -> None:
    """Become ``module.function(argv)`` given ``h``, in a fresh interpreter (``small``: with
    neither ``site`` nor the environment's settings, as this module's own); returns only when
    the ``execve`` failed."""
    for fd in [*h.sources, h.stdin_to, h.listener, *h.viewers, h.netns]:
        if fd >= 0:
            os.set_inheritable(fd, True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    boot = _BOOT.format(root=root, module=module, function=function)
    try:
        os.execv(sys.executable, [sys.executable, *(["-I", "-S"] if small else []), "-c", boot, *to_argv(h)])
    except OSError:
        pass


def main(argv: list[str]) -> NoReturn:
    """The small monitor: relay until the container exits, reap it, and hand its exit code to
    the full monitor (``supervise.resume``)."""
    h = from_argv(argv)
    hub = Hub.adopt(h.directory, h.pid, h.tty, h.stdin_once, h.listener, h.viewers, h.feeding)
    log = None
    if h.log:
        log = JsonLog(h.log, h.max_size, h.max_file)
        log.partial.update(stdout=h.partial_stdout, stderr=h.partial_stderr)
    relay = Relay(h.sources, log, h.stdin_to if h.stdin_to >= 0 else None, h.close_stdin, hub)
    try:
        relay.run()
    except BaseException:  # as the full monitor: a container cannot outlive its relay
        send_signal(h.pid, _SIGKILL)
    code = exit_code(os.waitpid(h.pid, 0)[1])
    hub.stop_listening()  # before the exit is recorded, as the full monitor does
    hub.flush(_FLUSH)
    _listener, viewers, _feeding = hub.handed_over()
    reexecute(replace(h, sources={}, stdin_to=-1, listener=-1, viewers=viewers, feeding=[], code=code),
              "freight.runtime.supervise", "resume", small=False)
    os._exit(125)  # the full monitor could not be started: the next look at the container reaps it
