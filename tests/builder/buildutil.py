"""Helpers for the build tests: write a context, build it, read the image back."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

from testlib import store_temporaries

from freight.builder.engine import BuildOptions, BuildResult, build


def write_context(path: Path, files: dict[str, str | bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def do_build(store: Any, context: Path, **kwargs: Any) -> tuple[BuildResult, str]:
    """Build with plain progress; return the result and the progress text."""
    out = io.StringIO()
    result = build(store, BuildOptions(context=os.fspath(context), progress="plain", out=out, **kwargs))
    return result, out.getvalue()


def config(store: Any, image_id: str) -> dict[str, Any]:
    return store.resolve_image(image_id).config


def layer_members(store: Any, image_id: str, index: int = -1) -> dict[str, tarfile.TarInfo]:
    img = store.resolve_image(image_id)
    digest = img.layers[index]["digest"]
    with tarfile.open(fileobj=io.BytesIO(store.blobs.read(digest))) as tar:
        return {m.name: m for m in tar.getmembers()}


def layer_file(store: Any, image_id: str, name: str, index: int = -1) -> bytes:
    img = store.resolve_image(image_id)
    with tarfile.open(fileobj=io.BytesIO(store.blobs.read(img.layers[index]["digest"]))) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def run_dirs(store: Any) -> list[str]:
    """Container directories a RUN step left behind, and other temporaries (there should be none)."""
    return store_temporaries(store.root)
