"""Shared fixtures: a fresh store, the busybox base image, the freight CLI, and registries.

``busybox_store`` holds ``busybox:latest`` made from Debian's busybox-static
by ``scripts/busybox-rootfs.sh`` (the same script the demo uses); ``cli``
runs the real ``freight`` command against that store's root. ``start_registry``
and ``registry`` start registries on 127.0.0.1 (``registries.py``); every test has
a ``docker_config`` of its own, so no credentials leak in or out.

The session runs in a network and mount namespace of its own (``isolate_session``),
so the bridges, firewall table and sysctls freight sets up for containers never reach
the machine; ``world`` gives a networking test two more namespaces of its own
(``networld``): freight's "host" and an "outside" with an HTTP server.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imagelib import import_busybox
from networld import World
from registries import RegistryProcess, cncf_registry, freight_registry
from testlib import CLI, REPO, machine_network, private_dockerd, require_root, require_tool, run_freight

from freight.runtime import syscalls as sc
from freight.runtime.child import loopback_up
from freight.store import Store, open_store


def isolate_session() -> None:
    """Run the whole session in a network and mount namespace of its own (as root).

    Every container freight starts gets a network by default: its bridge, firewall table
    and forwarding settings must never reach the machine. Here they stay in a namespace
    that disappears with the session, even when it fails; registries and servers on
    127.0.0.1 work as before. What freight writes under /run (and ``ip netns``'s files)
    goes to private tmpfs mounts. ``testlib.machine_network`` keeps a way back to the
    machine's network for the few tests that fetch packages from its mirrors.
    """
    if os.geteuid() != 0 or os.environ.get("FREIGHT_TEST_ISOLATED") == str(os.getpid()):
        return
    machine_network.fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    sc.unshare(sc.CLONE_NEWNET | sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    loopback_up()
    for directory in ("/run/netns", "/run/freight"):
        os.makedirs(directory, exist_ok=True)
        sc.mount("tmpfs", directory, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "mode=0755")
    os.environ["FREIGHT_TEST_ISOLATED"] = str(os.getpid())


isolate_session()


def pytest_configure(config: pytest.Config) -> None:
    """Give the suite a SIGINT handler even when it was started with SIGINT ignored (as a
    background job of a non-interactive shell is): an ignored signal stays ignored in every
    process the tests start, so the tests that press Ctrl-C would wait in vain."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox root filesystem directory (read it, don't modify it)."""
    if not Path("/bin/busybox").exists():
        pytest.skip("needs /bin/busybox (Debian package busybox-static)")
    rootfs = tmp_path_factory.mktemp("busybox") / "rootfs"
    subprocess.run([REPO / "scripts" / "busybox-rootfs.sh", rootfs], check=True)
    return rootfs


@pytest.fixture(scope="session")
def debian_rootfs_tar() -> Path:
    """A Debian bookworm minbase rootfs tar (mmdebstrap, from the host's apt sources).

    Made once and kept in the repository's ignored .cache/ folder: about 40 s
    the first time. Used where ``apt-get install`` must really run in a build.
    """
    require_tool("mmdebstrap", "mmdebstrap")
    cached = REPO / ".cache" / "bookworm-minbase.tar"
    if not cached.exists():
        cached.parent.mkdir(exist_ok=True)
        partial = cached.with_suffix(".partial")
        subprocess.run([*machine_network.nsenter(), "mmdebstrap", "--variant=minbase", "--quiet", "bookworm",
                        str(partial)], check=True, stdout=subprocess.DEVNULL)
        partial.rename(cached)
    return cached


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private dockerd (no bridge, no iptables) for the session: the address to give ``docker --host``."""
    import os
    import shutil

    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("docker"):
        pytest.skip("needs root, dockerd and the docker CLI (Debian package docker.io)")
    root = tmp_path_factory.mktemp("dockerd")
    host = f"unix:///run/freight-tests-{os.getpid()}.sock"
    with private_dockerd(root, host) as answered:
        if not answered:
            pytest.skip(f"dockerd did not start: {(root / 'log').read_text()[-500:]}")
        yield host


@pytest.fixture
def docker_busybox(dockerd: str, busybox_rootfs: Path) -> list[str]:
    """The current docker CLI on the private dockerd, which holds ``busybox:latest`` (the same files
    as ``busybox_store``'s; imported again when a test before removed it from the shared daemon)."""
    command = ["docker", "--host", dockerd]
    if subprocess.run([*command, "image", "inspect", "busybox:latest"], capture_output=True).returncode != 0:
        tar = subprocess.Popen(["tar", "-C", str(busybox_rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([*command, "import", "-", "busybox:latest"], stdin=tar.stdout, check=True,
                       capture_output=True)
        tar.wait()
    return command


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty store in a temporary directory."""
    return open_store(tmp_path / "root")


@pytest.fixture
def busybox_store(store: Store, busybox_rootfs: Path) -> Store:
    """A store holding ``busybox:latest``."""
    require_root()
    import_busybox(store, busybox_rootfs)
    return store


@pytest.fixture
def cli(store: Store) -> CLI:
    """Run ``freight ARGS...`` on the fixture store: ``testlib.run_freight`` with its root."""
    return functools.partial(run_freight, store.root)


@pytest.fixture(autouse=True)
def docker_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DOCKER_CONFIG for each test, and a FREIGHT_CONFIG (freight's registries
    configuration, not written) beside it; outside ``tmp_path``, which tests list."""
    directory = tmp_path_factory.mktemp("client-config")
    monkeypatch.setenv("DOCKER_CONFIG", str(directory / "docker"))
    monkeypatch.setenv("FREIGHT_CONFIG", str(directory / "freight-registries.json"))
    (directory / "docker").mkdir()
    return directory / "docker"


@pytest.fixture
def world(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A network world (``networld``): freight's namespace and an outside one with an HTTP server
    on 203.0.113.10; freight runs there on the fixture store (``world.freight``)."""
    require_root()
    world = World(store.root, os.urandom(3).hex(), tmp_path_factory.mktemp("outside"))
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def start_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryProcess]]:
    """``start_registry(*ARGS, kind="freight", root=None, tls=False, htpasswd=None, token=None)``:
    a new registry on 127.0.0.1, stopped when the test ends.

    ``kind="freight"``: freight's server with the options ``ARGS`` (``"--read-only"``,
    ``"--upload-timeout", "1"``...), storing in ``root`` if given (a restart on that storage),
    HTTPS with ``tls``; ``kind="cncf"``: the CNCF registry (skips without it). ``htpasswd``
    turns on Basic auth, ``token`` (CNCF only: ``realm``, ``service``, ``issuer``,
    ``rootcertbundle``) token auth.
    """
    started: list[RegistryProcess] = []

    def start(*extra: str, kind: str = "freight", root: Path | None = None, tls: bool = False,
              htpasswd: Path | None = None, token: dict[str, str] | None = None) -> RegistryProcess:
        folder = tmp_path_factory.mktemp(f"{kind}-registry")
        if kind == "cncf":
            server = cncf_registry(folder, htpasswd, token)
        else:
            auth = ["--htpasswd", str(htpasswd)] if htpasswd is not None else []
            server = freight_registry(folder, *extra, *auth, root=root, tls=tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def registry(start_registry: Callable[..., RegistryProcess]) -> Callable[..., str]:
    """``registry(KIND, htpasswd=None, token=None)``: the ``host:port`` of a new registry,
    freight's (``"freight"``) or the CNCF one (``"cncf"``); see ``start_registry``."""

    def start(kind: str, htpasswd: Path | None = None, token: dict[str, str] | None = None) -> str:
        return start_registry(kind=kind, htpasswd=htpasswd, token=token).host

    return start


@pytest.fixture
def docker(dockerd: str) -> list[str]:
    """The docker CLI (Debian's first, as users of the packaged engine have it) on the private dockerd,
    to compare freight with Docker."""
    import shutil

    cli = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
    assert cli is not None
    return [cli, "--host", dockerd]
