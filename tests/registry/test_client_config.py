"""Which registries the client reaches how: insecure registries, HTTPS first, docker.io's endpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from imagelib import make_image

from freight.registry.hosts import endpoint, is_insecure
from freight.registry.pull import pull
from freight.registry.push import push
from freight.store import Store, open_store


def test_loopback_is_always_insecure() -> None:
    for host in ("localhost:5000", "localhost", "127.0.0.1:5000", "127.8.9.10", "[::1]:5000"):
        assert is_insecure(host), host
    assert not is_insecure("registry.example.com")
    assert not is_insecure("10.1.2.3:5000")


def test_insecure_registries_from_config() -> None:
    config = Path(os.environ["FREIGHT_CONFIG"])  # a path of the test's own (the docker_config fixture)
    config.write_text(json.dumps({"insecure-registries": ["myregistry.lan:5000", "10.0.0.0/8"]}))
    assert is_insecure("myregistry.lan:5000")
    assert not is_insecure("myregistry.lan:5001")
    assert is_insecure("10.1.2.3:5000")
    assert not is_insecure("192.168.1.1:5000")


def test_docker_hub_endpoint() -> None:
    assert endpoint("docker.io") == "https://registry-1.docker.io"
    assert endpoint("ghcr.io") == "https://ghcr.io"


def test_tls_registry_on_loopback_is_reached_over_https(start_registry, store: Store,
                                                        tmp_path: Path) -> None:
    """An insecure registry is tried over HTTPS (certificate unchecked) before plain HTTP."""
    server = start_registry(tls=True)
    if not server.url.startswith("https://"):
        pytest.skip("the registry fixture did not start with TLS")
    ref = f"{server.host}/secure:v1"
    image = make_image(store, [{"f": b"tls"}], [ref])
    push(store, ref)
    got = pull(open_store(tmp_path / "other"), ref)
    assert got.id == image.id
