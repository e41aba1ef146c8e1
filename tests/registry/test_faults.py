"""Registry client faults: broken downloads resume, wrong bytes are refused, killed pushes leave nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from imagelib import make_image, sha256_digest, tar_of
from registries import Proxy, StaticRegistry
from testlib import freight_process, run_freight, wait_until

from freight.image import reference
from freight.image.canonical import canonical_json
from freight.registry.pull import pull
from freight.registry.push import push
from freight.store import Store, open_store


@pytest.mark.parametrize("server", ["freight", "cncf"])
def test_broken_download_resumes_with_range(server: str, registry, store: Store, tmp_path: Path) -> None:
    host = registry(server)
    image = make_image(store, [{"noise": os.urandom(3 << 20)}], [f"{host}/big:v1"])
    push(store, f"{host}/big:v1")
    proxy = Proxy(host, drop_after=1 << 20, drops=2)
    try:
        other = open_store(tmp_path / "other")
        got = pull(other, f"{proxy.host}/big:v1")
    finally:
        proxy.close()
    assert proxy.dropped == 2
    assert proxy.range_requests >= 1  # resumed, not restarted
    assert got.id == image.id
    assert other.blobs.verify(got.layers[0]["digest"])
    assert list(other.blobs.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("chunk_size", [0, 1 << 20])
def test_broken_upload_is_retried(chunk_size: int, registry, store: Store, tmp_path: Path) -> None:
    host = registry("freight")
    proxy = Proxy(host, drop_upload_after=1 << 20, drops=1)
    try:
        ref = f"{proxy.host}/up:v1"
        image = make_image(store, [{"noise": os.urandom(3 << 20)}], [ref])
        digest = push(store, ref, chunk_size=chunk_size)
    finally:
        proxy.close()
    assert proxy.dropped == 1
    got = pull(open_store(tmp_path / "other"), f"{host}/up:v1")
    assert got.id == image.id and got.manifest_digest == digest


def test_resume_against_a_server_without_range_starts_over(store: Store) -> None:
    server = StaticRegistry(tar_of({"payload": os.urandom(256 * 1024)}), cut_first=True)
    try:
        image = pull(store, f"{server.host}/bad:latest")
    finally:
        server.close()
    assert server.layer_requests[0] is None and server.layer_requests[1].startswith("bytes=")
    assert len(server.layer_requests) == 2  # the full 200 answer to the ranged GET was used
    assert image.layers[0]["digest"] == server.layer_digest
    assert store.blobs.verify(server.layer_digest)


def test_blob_with_wrong_bytes_is_rejected(store: Store) -> None:
    tar = tar_of({"payload": os.urandom(256 * 1024)})
    server = StaticRegistry(tar, served=os.urandom(len(tar)))
    try:
        result = run_freight(store.root, "pull", f"{server.host}/bad:latest")
    finally:
        server.close()
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "digest mismatch" in line and server.layer_digest in line
    assert store.images.all() == []
    assert not store.blobs.has(server.layer_digest)
    assert list(store.blobs.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("server", ["freight", "cncf"])
def test_push_killed_midway_leaves_no_manifest(server: str, registry, store: Store) -> None:
    host = registry(server)
    proxy = Proxy(host, rate=2 << 20)
    slow_ref = f"{proxy.host}/app:v1"
    image = make_image(store, [{"noise": os.urandom(8 << 20)}], [slow_ref])
    store.images.tag(image.id, reference.parse(f"{host}/app:v1"))
    try:
        proc = freight_process(store.root, "push", slow_ref, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: proxy.upstream_bytes >= (1 << 20) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, "the push finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proxy.close()
    response = httpx.get(f"http://{host}/v2/app/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 404
    retry = run_freight(store.root, "push", f"{host}/app:v1")
    assert retry.returncode == 0, retry.stderr
    digest = retry.stdout.splitlines()[-1].split()[2]
    response = httpx.get(f"http://{host}/v2/app/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 200
    assert sha256_digest(response.content) == digest
    assert json.loads(response.content)["layers"][0]["mediaType"].endswith("+gzip")


def test_layer_that_is_not_its_diff_id_is_refused(registry, store: Store, tmp_path: Path) -> None:
    """A layer whose content differs from the config's diff_id must not become that snapshot."""
    import gzip

    from freight.image.canonical import descriptor
    from freight.image.digest import sha256_bytes
    from freight.registry.client import Registry

    host = registry("freight")
    honest = make_image(store, [{"etc/motd": b"honest\n"}], ["local/honest:v1"])
    evil_tar = store.blobs.read(make_image(store, [{"etc/motd": b"evil\n"}], ["local/evil:v1"]).layers[0]["digest"])
    layer = gzip.compress(evil_tar, mtime=0)
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": honest.diff_ids}})
    manifest = canonical_json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": descriptor("application/vnd.oci.image.config.v1+json",
                                                    sha256_bytes(config), len(config)),
                               "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip",
                                                     sha256_bytes(layer), len(layer))]})
    with Registry(host) as reg:
        reg.ping()
        for blob in (layer, config):
            path = tmp_path / "blob"
            path.write_bytes(blob)
            reg.upload_blob("liar", sha256_bytes(blob), len(blob), lambda path=path: path.open("rb"))
        reg.put_manifest("liar", "v1", manifest, "application/vnd.oci.image.manifest.v1+json")
    other = open_store(tmp_path / "other")
    result = run_freight(other.root, "pull", f"{host}/liar:v1")
    assert result.returncode == 1
    assert "does not match the image configuration" in result.stderr
    assert other.images.all() == []
    assert other.snapshots.names_on_disk() == set()
    assert not other.snapshots.exists(honest.chain_ids[0])
