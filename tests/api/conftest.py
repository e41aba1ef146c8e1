"""The ``service`` fixture: ``freight system service`` on a socket of the test's, over the
``busybox_store``, with the real docker CLI and docker-py pointed at it.

Containers outlive the service (they belong to their monitors), so the fixture
removes what a test left with the freight CLI once the service is stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apilib import Service, start_service
from testlib import require_tool, run_freight

from freight.store import Store


@pytest.fixture
def service(busybox_store: Store, tmp_path: Path) -> Iterator[Service]:
    docker = require_tool("docker", "docker-cli")
    sock = tmp_path / "freight.sock"
    proc = start_service(busybox_store.root, sock, "--timeout", "0")
    yield Service(busybox_store.root, sock, proc, docker)
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    assert not sock.exists()
    left = run_freight(busybox_store.root, "ps", "-aq", "--no-trunc").stdout.split()
    if left:
        run_freight(busybox_store.root, "rm", "-f", *left)
