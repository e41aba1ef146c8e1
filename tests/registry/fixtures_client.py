"""Fixtures and helpers for the registry client tests: registries on 127.0.0.1, test images.

``registry`` starts a registry server and returns its ``host:port``:
``registry("freight")`` runs ``freight registry serve``, ``registry("cncf")`` the CNCF
registry (``/usr/bin/docker-registry``); ``htpasswd=`` turns on Basic auth, ``token=``
(CNCF only) a dict of ``realm``/``service``/``issuer``/``rootcertbundle`` for token auth.
Every test gets its own ``DOCKER_CONFIG`` so no credentials leak in or out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testlib import free_port, wait_for_port

from freight.store import Store, open_store
from tests.registry.conftest import cncf_config

FREIGHT = Path(sys.executable).parent / "freight"
Start = Callable[..., str]


def _cncf_config(root: Path, port: int, htpasswd: Path | None, token: dict[str, str] | None) -> str:
    text = cncf_config(root, port)
    if htpasswd is not None:
        text += f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    if token is not None:
        text += "auth:\n  token:\n" + "".join(f"    {k}: {v}\n" for k, v in token.items())
    return text


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Start]:
    procs: list[subprocess.Popen] = []

    def start(kind: str, htpasswd: Path | None = None, token: dict[str, str] | None = None) -> str:
        port = free_port()
        storage = tmp_path / f"registry-{kind}-{port}"
        if kind == "freight":
            cmd = [str(FREIGHT), "registry", "serve", "--addr", f"127.0.0.1:{port}",
                   "--storage", str(storage)]
            if htpasswd is not None:
                cmd += ["--htpasswd", str(htpasswd)]
        else:
            binary = shutil.which("docker-registry") or pytest.skip("needs docker-registry "
                                                                     "(Debian package docker-registry)")
            config = tmp_path / f"cncf-{port}.yml"
            config.write_text(_cncf_config(storage, port, htpasswd, token))
            cmd = [binary, "serve", str(config)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{kind}-{port}.log", "w"))
        procs.append(proc)
        wait_for_port(port, proc)
        return f"127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DOCKER_CONFIG (and freight registries config) for each test."""
    directory = tmp_path / "docker-config"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.setenv("FREIGHT_CONFIG", str(tmp_path / "freight-registries.json"))
    return directory


def fresh_store(tmp_path: Path, name: str = "other") -> Store:
    return open_store(tmp_path / name)


def run_freight(root: Path, *args: str, input: str | None = None,
                env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(FREIGHT), "--root", str(root), *args], input=input, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    from freight.registry.htpasswd import hash_password

    path.write_text(f"{user}:{hash_password(password)}\n")
    return path


def skopeo() -> str:
    return shutil.which("skopeo") or pytest.skip("needs skopeo (Debian package skopeo)")
