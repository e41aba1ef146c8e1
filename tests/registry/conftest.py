"""Registries for the registry tests (``start_registry`` and ``registry`` are in tests/conftest.py).

* ``registry_server`` (session): one shared freight registry server; tests that share it
  use their own repository names.
* ``cncf_registry``: the CNCF registry with filesystem storage and deletes enabled (skips
  without it).
* ``oci_image``: (folder, manifest digest) of an OCI image layout (one gzipped layer,
  tag ``latest``) made by ``imagelib.make_oci_layout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imagelib import make_oci_layout
from registries import RegistryProcess, freight_registry


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    server = freight_registry(tmp_path_factory.mktemp("shared-registry"))
    yield server
    server.stop()


@pytest.fixture
def cncf_registry(start_registry: Callable[..., RegistryProcess]) -> RegistryProcess:
    return start_registry(kind="cncf")


@pytest.fixture
def oci_image(tmp_path: Path) -> tuple[Path, str]:
    """(OCI layout folder, manifest digest) of a small one-layer image tagged latest."""
    folder = tmp_path / "oci-image"
    digest = make_oci_layout(folder, {"etc/hello": b"hello\n", "bin/data": bytes(range(256)) * 64})
    return folder, digest
