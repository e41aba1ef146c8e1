"""Shared fixtures: a fresh store, the busybox base image, the freight CLI, and registries.

``busybox_store`` holds ``busybox:latest`` made from Debian's busybox-static
by ``scripts/busybox-rootfs.sh`` (the same script the demo uses); ``cli``
runs the real ``freight`` command against that store's root. ``start_registry``
and ``registry`` start registries on 127.0.0.1 (``registries.py``); every test has
a ``docker_config`` of its own, so no credentials leak in or out.
"""

from __future__ import annotations

import functools
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imagelib import import_busybox
from registries import RegistryProcess, cncf_registry, freight_registry
from testlib import CLI, REPO, require_root, require_tool, run_freight, wait_until

from freight.store import Store, open_store


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
        subprocess.run(["mmdebstrap", "--variant=minbase", "--quiet", "bookworm", str(partial)],
                       check=True, stdout=subprocess.DEVNULL)
        partial.rename(cached)
    return cached


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


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A private dockerd (no bridge, no iptables) for the test module; the docker CLI command to reach
    it, to compare freight with Docker."""
    import os
    import shutil
    import signal

    cli = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
    if os.geteuid() != 0 or not shutil.which("dockerd") or not cli:
        pytest.skip("needs root, dockerd and the docker CLI (Debian package docker.io)")
    root = tmp_path_factory.mktemp("dockerd")
    sock = f"/run/freight-archive-{os.getpid()}.sock"
    log = (root / "log").open("wb")
    daemon = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none", "--data-root", str(root / "data"),
                               "--exec-root", str(root / "exec"), "--pidfile", str(root / "pid"),
                               "--host", f"unix://{sock}"], stdout=log, stderr=log)
    command = [cli, "--host", f"unix://{sock}"]
    try:
        answered = wait_until(lambda: subprocess.run([*command, "version"], capture_output=True).returncode == 0
                              or daemon.poll() is not None, timeout=30, interval=0.2)
        if not answered or daemon.poll() is not None:
            pytest.skip(f"dockerd did not start: {(root / 'log').read_text()[-500:]}")
        yield command
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
