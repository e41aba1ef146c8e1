"""``--output``: where a build's result goes besides the image store.

* ``type=docker,dest=F`` / ``type=oci,dest=F``: the image as an archive
  (freight's ``save`` format, which is both a Docker archive and an OCI
  layout); the image is also stored, as ``docker buildx --load`` would.
* ``type=tar,dest=F``: the final filesystem as one tar (``-`` for stdout).
* ``type=local,dest=DIR``: the final filesystem written into DIR.

Imported only by a build that asks for one of these.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from freight.archive.save import save
from freight.errors import InvalidArgument
from freight.image.canonical import canonical_json
from freight.image.digest import sha256_bytes
from freight.store.compression import open_layer
from freight.store.layerapply import apply_layer
from freight.store.layerwrite import write_layer

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store.store import Store


def _flatten(store: Store, layers: list[dict[str, Any]], dest: Path) -> None:
    for desc in layers:
        with store.blobs.open(desc["digest"]) as raw, open_layer(raw) as tar:
            apply_layer(tar, dest, overlay=False)


def export_output(store: Store, config: dict[str, Any], layers: list[dict[str, Any]], tags: list[str],
                  out: dict[str, str]) -> str:
    """Write one ``--output``; return the image ID (stored for image outputs, else the config digest)."""
    kind = out.get("type", "docker")
    dest = out.get("dest", "")
    if not dest:
        raise InvalidArgument(f"output type {kind} needs dest=")
    if kind in ("docker", "image", "oci"):
        img = store.write_image(config, layers, tags)
        with open(dest, "wb") as f:
            save(store, list(tags) or [img.id], f)
        return img.id
    if kind == "local":
        Path(dest).mkdir(parents=True, exist_ok=True)
        _flatten(store, layers, Path(dest))
    elif kind == "tar":
        tmp = Path(tempfile.mkdtemp(prefix="build-output-", dir=store.scratch_dir))
        try:
            _flatten(store, layers, tmp)
            if dest == "-":
                write_layer(tmp, sys.stdout.buffer)
            else:
                with open(dest, "wb") as f:
                    write_layer(tmp, f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        raise InvalidArgument(f"unsupported output type {kind!r}")
    return sha256_bytes(canonical_json(config))
