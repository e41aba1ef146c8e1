"""A pull fetches only the layers the store lacks: a layer the store holds under the same
uncompressed digest (diff_id), even as another blob, is not downloaded, and Docker's
``Already exists`` is printed for it. The blob GETs are counted in the access log of a
registry the test starts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagelib import make_image
from registries import RegistryProcess
from testlib import run_freight

from freight.registry.client import Registry
from freight.registry.push import push
from freight.store import Store, open_store

BASE = {"etc/base": b"base\n", "bin/big": bytes(range(256)) * 4096}
TOP = {"etc/app": b"app\n"}


def _blob_gets(server: RegistryProcess, repo: str) -> list[str]:
    """The digests of the blob GETs the registry answered so far, in order."""
    return re.findall(rf'"GET /v2/{repo}/blobs/(sha256:[0-9a-f]+)', server.log.read_text())


def test_a_pull_reuses_the_base_layer_the_store_holds(start_registry: Callable[..., RegistryProcess],
                                                      store: Store, tmp_path: Path) -> None:
    server = start_registry()
    ref = f"{server.host}/app:v1"
    elsewhere = open_store(tmp_path / "elsewhere")
    built = make_image(elsewhere, [BASE, TOP], [ref])
    pushed = push(elsewhere, ref)
    remote = elsewhere.resolve_image(ref)  # push recorded the repo digest; layers stay as built

    base = make_image(store, [BASE], ["base:1"])  # the same base layer, kept uncompressed
    assert base.diff_ids[0] == built.diff_ids[0]
    before = len(_blob_gets(server, "app"))
    result = run_freight(store.root, "pull", ref)
    assert result.returncode == 0, result.stderr
    gets = _blob_gets(server, "app")[before:]

    manifest = _registry_manifest(server, pushed)
    base_blob, top_blob = (layer["digest"] for layer in manifest["layers"])
    assert sorted(gets) == sorted([remote.id, top_blob])  # the config and the new layer, not the base
    lines = result.stdout.splitlines()
    assert f"{base_blob[7:19]}: Already exists" in lines
    assert f"{top_blob[7:19]}: Pull complete" in lines
    assert lines[-2:] == [f"Status: Downloaded newer image for {ref}", ref]
    assert f"Digest: {pushed}" in lines

    pulled = store.resolve_image(ref)
    assert pulled.id == built.id
    assert f"{server.host}/app@{pushed}" in pulled.repo_digests
    assert pulled.layers[0] == base.layers[0]  # the held blob serves the image
    assert [p.read_bytes() for p in (store.layer_dirs(pulled)[1] / "etc").iterdir()] == [b"app\n"]
    assert (store.layer_dirs(pulled)[0] / "bin" / "big").read_bytes() == BASE["bin/big"]

    again = run_freight(store.root, "pull", ref)
    assert f"Status: Image is up to date for {ref}" in again.stdout
    assert len(_blob_gets(server, "app")) == before + 2  # nothing fetched the second time
    # Pushed back, it is the image the registry has (its base layer gzipped the same way).
    assert push(store, ref, f"{server.host}/again:v1") == pushed


def _registry_manifest(server: RegistryProcess, digest: str) -> dict[str, Any]:
    with Registry(server.host) as registry:
        registry.ping()
        data, _, got = registry.get_manifest("app", digest)
    assert got == digest
    manifest: dict[str, Any] = json.loads(data)
    return manifest
