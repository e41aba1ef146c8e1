"""Helpers shared by the test suite (importable from any test folder as ``testlib``): where
things are, the freight CLI, what a test needs of the machine, waiting, free ports, what a
store leaves on the host, and stand-in HTTP servers.

Images, tars and layers a test makes by hand are in ``imagelib``; registries in ``registries``.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
FREIGHT = Path(sys.executable).parent / "freight"
# The course's seed Dockerfiles and journeys, copied from ../shared/seed-examples so that the
# suite needs nothing beside the repository (test_seed_copy.py checks the copy stays the same).
SEEDS = REPO / "tests" / "seed-examples"
BUSYBOX_CONFIG = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                  "Cmd": ["sh"]}

CLI = Callable[..., subprocess.CompletedProcess[str]]
T = TypeVar("T")


def freight_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a freight process on the store at ``root``: this one's, ``FREIGHT_ROOT``
    and ``extra``."""
    return {**os.environ, "FREIGHT_ROOT": str(root), **extra}


def run_freight(root: Path, *args: str, input: str | None = None, stdin: Path | None = None,
                env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 120,
                check: bool = False, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run the real ``freight ARGS...`` on the store at ``root``; its CompletedProcess (text).

    ``input`` is text for stdin, ``stdin`` a file to read stdin from (binary data), else stdin
    is /dev/null; ``env`` adds to the environment; ``prefix`` runs it through a command such as
    ``machine_network.nsenter()``. With ``check`` a failure raises AssertionError showing its output.
    """
    with open(stdin or os.devnull, "rb") as source:
        result = subprocess.run([*prefix, str(FREIGHT), *args], input=input,
                                stdin=None if input is not None else source, capture_output=True, text=True,
                                timeout=timeout, env=freight_env(root, **(env or {})), cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"freight {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def freight_process(root: Path, *args: str, env: Mapping[str, str] | None = None,
                    **popen: Any) -> subprocess.Popen[Any]:
    """Start ``freight ARGS...`` on the store at ``root``; ``env`` adds to the environment,
    ``popen`` are Popen's stdio and options."""
    return subprocess.Popen([str(FREIGHT), *args], env=freight_env(root, **(env or {})), **popen)


class Terminal:
    """``freight ARGS`` on a terminal of its own; ``read_until`` what it shows."""

    def __init__(self, root: Path, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = freight_process(root, *args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def read_until(self, text: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        assert text in self.seen, f"{text!r} never shown; saw {self.seen!r}"

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        code = self.proc.wait(timeout=30)
        os.close(self.master)
        return code


class machine_network:  # noqa: N801 - a namespace for one value, set once by conftest
    """The machine's own network namespace, held open by the session (``conftest.isolate_session``)."""

    fd: int | None = None

    @classmethod
    def nsenter(cls) -> list[str]:
        """The command prefix that runs a program in the machine's network namespace."""
        return ["nsenter", f"--net=/proc/{os.getpid()}/fd/{cls.fd}", "--"] if cls.fd is not None else []


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, mounts and device nodes")


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} (Debian package {package})")
    return path


HUGETLB = "/sys/fs/cgroup/hugetlb"


def runtime_namespace() -> list[str]:
    """A command prefix: run in a private mount namespace where, on a hybrid cgroup host,
    the hugetlb controller is mounted at /sys/fs/cgroup/hugetlb, which crun insists on.
    The mount is the namespace's own; the binding of the controller to a v1 hierarchy
    lasts, machine-wide, while any cgroup is left in it."""
    script = (f'if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q {HUGETLB}; then mkdir -p {HUGETLB} '
              f'&& mount -t cgroup -o hugetlb cgroup {HUGETLB}; fi; exec "$@"')
    return ["unshare", "-m", "sh", "-c", script, "sh"]


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on now (TCP, or ``kind``)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Ask ``condition`` every ``interval`` seconds until it answers something true or ``timeout``
    seconds have passed; its last answer (``assert wait_until(...)`` where it must come true)."""
    deadline = time.monotonic() + timeout
    while not (answer := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return answer


def http_get(port: int, timeout: float = 10.0) -> str:
    """The body of ``GET http://127.0.0.1:PORT/``, asked again while nothing answers there yet
    (a server starting up), for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                body: bytes = response.read()
                return body.decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Until something accepts connections on 127.0.0.1:``port``; fails if ``proc`` (the server
    meant to) exits first, or after ``timeout`` seconds."""
    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    if not wait_until(listening, timeout):
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


CGROUP_ROOT = Path("/sys/fs/cgroup")


def du_bytes(path: Path | str) -> int:
    """``du -sb``: what freight's space accounting (``system df``, prunes) must agree with."""
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def freight_mounts(root: Path) -> list[str]:
    """Mount points on the host below the store root (a stopped container leaves none)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(root))]


def freight_cgroups(container_ids: list[str]) -> list[Path]:
    """The cgroups of these containers still on the host (cgroup v1 hierarchies or v2)."""
    found = []
    for ident in container_ids:
        found += list(CGROUP_ROOT.glob(f"*/freight/{ident}"))
        found += list(CGROUP_ROOT.glob(f"freight/{ident}"))
    return found


def processes_mentioning(text: str) -> list[int]:
    """PIDs but this one whose command line or environment mention ``text`` (a store root,
    a command's arguments)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        if text.encode() in _identity(int(entry)):
            pids.append(int(entry))
    return pids


def _identity(pid: int) -> bytes:
    """The command line and environment of ``pid`` (b"": gone). A process in the middle of an
    ``execve`` (a monitor re-executing itself) shows neither for a moment: it is read again."""
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
            if cmdline or _kernel_thread_or_zombie(pid):
                return cmdline + b"\0" + environ
        except OSError:
            return b""
        time.sleep(0.001)
    return b""


def _kernel_thread_or_zombie(pid: int) -> bool:
    """Whether ``pid`` has no command line of its own to show (a kernel thread, a zombie)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return fields[0] == "Z" or bool(int(fields[6]) & 0x00200000)  # state; flags & PF_KTHREAD


def store_temporaries(root: Path) -> list[str]:
    """What writers left in the store's temporary space: the files in ``tmp/`` (in the
    writers' own directories there too) and ``unpack-*`` in ``snapshots/``."""
    found = [str(p) for p in (root / "snapshots").glob("unpack-*")]
    for entry in (root / "tmp").iterdir() if (root / "tmp").is_dir() else []:
        found += [str(p) for p in entry.iterdir()] if entry.is_dir() else [str(entry)]
    return found


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for the tests' stand-in servers: no access log in the test output."""

    def log_message(self, *args: object) -> None:
        pass


def serve_http(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) running ``handler`` until ``stop_http``;
    HTTPS with ``tls``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def stop_http(httpd: ThreadingHTTPServer) -> None:
    httpd.shutdown()
    httpd.server_close()


@contextmanager
def private_dockerd(root: Path, host: str, prefix: Sequence[str] = ()) -> Iterator[bool]:
    """A dockerd of the test's own (no bridge, no iptables, its data and log under ``root``) on
    ``host``, started through ``prefix`` (e.g. ``nsenter`` into a namespace); yields whether it
    answered, and stops it by its PID afterwards."""
    with (root / "log").open("wb") as log:
        daemon = subprocess.Popen([*prefix, "dockerd", "--iptables=false", "--bridge=none",
                                   "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
                                   "--pidfile", str(root / "pid"), "--host", host], stdout=log, stderr=log)
        try:
            wait_until(lambda: subprocess.run(["docker", "--host", host, "version"],
                                              capture_output=True).returncode == 0 or daemon.poll() is not None,
                       timeout=30, interval=0.2)
            yield daemon.poll() is None
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
