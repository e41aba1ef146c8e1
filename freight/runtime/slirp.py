"""Outbound networking for rootless containers through slirp4netns, as rootless Podman's.

An ordinary user cannot make veths to a bridge on the host, so a rootless container's
namespace gets a tap device (``tap0``) whose frames slirp4netns turns into the user's
own sockets: the container is 10.0.2.100/24 behind the gateway 10.0.2.2, and 10.0.2.3
forwards DNS to the host's resolvers (it goes first in the container's resolv.conf, as
Podman writes it). The host's loopback stays out of reach (``--disable-host-loopback``,
Podman's default): a container must not reach the user's local services by accident.
Published ports stay with the userspace proxy (``portproxy``), as for every rootless
container.

The container's monitor owns the process: it starts it on the namespace it holds
(``netsandbox``), waits for the tap to be configured before the command runs, and stops
it once the container exited. The monitor keeps the write end of slirp4netns'
``--exit-fd`` pipe, so a monitor killed outright takes slirp4netns with it.

slirp4netns opens /dev/net/tun, which an ordinary user can do only where the device is
readable and writable by everyone (0666 on most distributions): ``problem`` says, in one
line, what is missing.
"""

from __future__ import annotations

import os
import select
import signal

from freight.errors import FreightError
from freight.runtime import syscalls
from freight.settings import rootless

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import subprocess
# shutil and subprocess (4 ms of imports) are imported where slirp4netns is looked for or
# started (rootless containers, --network slirp4netns): every ``run`` imports this module.

TUN = "/dev/net/tun"
ADDRESS, GATEWAY, DNS = "10.0.2.100", "10.0.2.2", "10.0.2.3"  # slirp4netns' own (the container's is /24)
MTU = 65520  # slirp4netns' own recommendation for throughput, as Podman passes it
_LOG = "slirp4netns.log"
_READY_TIMEOUT = 10.0


def problem() -> str | None:
    """Why slirp4netns cannot give a container of this user a network, in one line; None when it can."""
    import shutil

    if shutil.which("slirp4netns") is None:
        return "rootless networking needs slirp4netns (Debian package slirp4netns)"
    try:
        fd = os.open(TUN, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return f"rootless networking needs {TUN} (the kernel's tun module)"
    except PermissionError:
        mode = os.stat(TUN).st_mode & 0o777
        return (f"rootless networking needs {TUN} readable and writable by you (it is mode {mode:04o}; "
                "an administrator can make it 0666)")
    os.close(fd)
    return None


def new_namespace() -> int:
    """A new network namespace, held by the returned descriptor, made by a thread of its own
    that ends there: a rootless process that entered another namespace could not come back to
    the user's own (that needs root on the host), and the container's process enters it itself."""
    import threading  # only where slirp4netns serves a container

    made: list[int | OSError] = []

    def make() -> None:
        try:
            syscalls.unshare(syscalls.CLONE_NEWNET)
            made.append(os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC))
        except OSError as err:
            made.append(err)

    thread = threading.Thread(target=make, name="netns")
    thread.start()
    thread.join()
    if isinstance(made[0], OSError):
        raise made[0]
    return made[0]


class Slirp:
    """A slirp4netns process serving one container's namespace."""

    def __init__(self, process: subprocess.Popen[bytes], ready_r: int, exit_w: int, log: str) -> None:
        self.process = process
        self._ready_r = ready_r
        self._exit_w = exit_w
        self._log = log

    @classmethod
    def start(cls, netns_path: str, directory: str) -> Slirp:
        """Start slirp4netns on the namespace at ``netns_path`` (its log in ``directory``);
        ``ready`` waits until the container's tap device is configured."""
        import shutil
        import subprocess

        ready_r, ready_w = os.pipe()
        exit_r, exit_w = os.pipe()
        log = os.path.join(directory, _LOG)
        # Its sandbox (a mount namespace of its own, pivoted into a tmpfs) only inside the user's
        # namespace, whose mounts are private: in root's, the detach of its old root reaches
        # shared mounts of the host (``ip netns``' files) and unmounts them.
        sandbox = ["--enable-sandbox"] if rootless() else []
        argv = [shutil.which("slirp4netns") or "slirp4netns", "--configure", f"--mtu={MTU}", "--disable-host-loopback",
                *sandbox, "--enable-seccomp", f"--ready-fd={ready_w}", f"--exit-fd={exit_r}",
                "--netns-type=path", netns_path, "tap0"]
        try:
            with open(log, "wb") as out:
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                           pass_fds=(ready_w, exit_r), start_new_session=True)
        except BaseException:
            for fd in (ready_r, exit_w):
                os.close(fd)
            raise
        finally:
            os.close(ready_w)
            os.close(exit_r)
        return cls(process, ready_r, exit_w, log)

    def ready(self) -> None:
        """Wait until the tap device is up with its address and route; raise why not."""
        if self._ready_r < 0:
            return
        readable, _, _ = select.select([self._ready_r], [], [], _READY_TIMEOUT)
        said = os.read(self._ready_r, 1) if readable else b""
        os.close(self._ready_r)
        self._ready_r = -1
        if said != b"1":
            raise FreightError(f"slirp4netns failed: {self._reason()}")

    def _reason(self) -> str:
        try:
            with open(self._log, errors="replace") as f:
                lines = [line.strip() for line in f if line.strip()]
        except OSError:
            lines = []
        return lines[-1] if lines else "no network for the container"

    def stop(self) -> None:
        """End slirp4netns and reap it: SIGTERM, as it notices its exit pipe closed only at its
        next poll timeout (about 20 ms later, which every ``run --rm`` would wait)."""
        for fd in (self._ready_r, self._exit_w):
            if fd >= 0:
                os.close(fd)
        self._ready_r = self._exit_w = -1
        self.process.send_signal(signal.SIGTERM)
        self.process.wait()
