"""FROM and COPY --from pull missing images from a registry (freight's own, on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from freight.builder.state import BuildError
from freight.store import Store, open_store
from tests.builder.buildutil import do_build, layer_file, write_context


def test_from_pulls_a_missing_base(busybox_store: Store, cli, registry, tmp_path: Path) -> None:
    name = f"{registry('freight')}/base/busybox:1"
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
