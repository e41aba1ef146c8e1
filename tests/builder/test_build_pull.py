"""FROM and COPY --from pull missing images from a registry (freight's own, on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from testlib import free_port

from freight.builder.engine import BuildError
from freight.store import Store, open_store
from tests.builder.buildutil import do_build, layer_file, write_context


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path / "registry.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "freight.registry.server", "--addr", f"127.0.0.1:{port}",
                             "--root", str(tmp_path / "registry")], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the registry did not start: " + (tmp_path / "registry.log").read_text())
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def test_from_pulls_a_missing_base(busybox_store: Store, cli, registry: str, tmp_path: Path) -> None:
    name = f"{registry}/base/busybox:1"
    assert cli("tag", "busybox", name).returncode == 0
    pushed = cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    fresh = open_store(tmp_path / "fresh")
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"""\
FROM {name} AS base
RUN echo pulled > /p

FROM busybox
COPY --from={name} /bin/busybox /copied-busybox
COPY --from=base /p /p
"""})
    with pytest.raises(BuildError, match="busybox: failed to resolve source metadata"):
        do_build(fresh, ctx)  # plain `busybox` is on Docker Hub, out of reach here
    (ctx / "Dockerfile").write_text((ctx / "Dockerfile").read_text().replace("FROM busybox\n", f"FROM {name}\n"))
    result, out = do_build(fresh, ctx)
    assert f"load metadata for {name}" in out
    assert layer_file(fresh, result.image_id, "p") == b"pulled\n"
    assert fresh.resolve_image(name).id == busybox_store.resolve_image("busybox").id
    again, _ = do_build(fresh, ctx, pull=True)
    assert again.image_id == result.image_id
