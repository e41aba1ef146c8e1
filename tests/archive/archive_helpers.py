"""Small images, tars and store probes shared by the save/load tests."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from imagelib import tar_members

from freight.image.canonical import image_config, layer_descriptor
from freight.store.images import Image
from freight.store.layerwrite import write_layer
from freight.store.store import Store

CREATED = "2024-01-02T03:04:05Z"
CREATED_EPOCH = 1704164645


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A deterministic uncompressed layer tar holding ``files`` (path → content)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
            os.utime(root / name, (CREATED_EPOCH, CREATED_EPOCH))
        out = io.BytesIO()
        write_layer(root, out)
        return out.getvalue()


def make_image(store: Store, layers: list[dict[str, bytes]], tags: list[str] = (),
               cmd: list[str] | None = None) -> Image:
    """Store an image built from one layer per ``files`` dict, the way freight builds do."""
    descriptors, diff_ids = [], []
    with store.writing():
        for files in layers:
            data = layer_tar(files)
            with store.blobs.writer(encode=True) as w:  # as import and build keep an uncompressed layer
                w.write(data)
                diff_id = w.commit()
            diff_ids.append(diff_id)
            descriptors.append(layer_descriptor(diff_id, len(data)))
        history = [{"created": CREATED, "created_by": f"layer {i}"} for i in range(len(layers))]
        config = image_config(diff_ids, history, CREATED, {"Cmd": cmd or ["sh"]})
        return store.write_image(config, descriptors, list(tags))


def tar_json(data: bytes, name: str) -> object:
    return json.loads(tar_members(data)[name])


def image_count(store: Store) -> int:
    return len(store.images.all())


def blob_count(store: Store) -> int:
    return sum(1 for _ in store.blobs.digests())


FREIGHT = str(Path(sys.executable).parent / "freight")


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} (Debian package {package})")
    return path
