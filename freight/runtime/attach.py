"""``freight attach``: the streams of a running container, through its monitor's attach
channel (``channel``), the same one a foreground ``run`` or ``start -a`` views it through.

Output is relayed from the moment of attaching until the container exits; input goes
to the container's stdin (``-i`` containers) or terminal (``-t``), and signals to its
process (``--sig-proxy``). With a terminal the caller's is raw meanwhile and the detach
keys (Ctrl-P Ctrl-Q, or ``--detach-keys``) leave the container running, as in Docker.
"""

from __future__ import annotations

from freight.errors import Conflict, FreightError, NotFound
from freight.runtime import channel
from freight.runtime.containers import get
from freight.runtime.lifecycle import wait_recorded

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store

def attach(store: Store, ref: str, stdin: int | None = 0, stdout: int = 1, stderr: int = 2,
           sig_proxy: bool = True, detach_keys: bytes | None = b"\x10\x11") -> int:
    """Relay until the container exits (or, with a terminal, the caller detaches); its exit code."""
    c = get(store, ref)
    if not c.running:
        raise Conflict("You cannot attach to a stopped container, start it first")
    try:
        sock = channel.connect(c.directory(store))
    except OSError:
        raise FreightError(f"cannot attach to container {c.id[:12]}: its monitor does not answer") from None
    stdin = stdin if c.config.get("OpenStdin") else None
    outcome = channel.view_monitor(sock, int(c.state.get("MonitorPid") or 0), stdin, stdout, stderr,
                                   bool(c.config.get("Tty")), sig_proxy, detach_keys)
    return exit_code_after(store, c.id, outcome)


def exit_code_after(store: Store, cid: str, outcome: int | str) -> int:
    """A viewer's exit code (``channel.viewer_exit``) or, when the monitor went away without
    telling, what the record says (137 when the container is gone)."""
    code = channel.viewer_exit(outcome)
    if code is not None:
        return code
    try:
        return int(wait_recorded(store, cid).state.get("ExitCode") or 0)
    except NotFound:
        return 137
