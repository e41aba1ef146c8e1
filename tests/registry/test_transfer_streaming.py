"""Streaming transfers: pull unpacks a layer while it downloads, push gzips a layer while it uploads.

What must hold: a snapshot becomes visible only once its blob matched its digest; a
download that starts over abandons the streamed unpack and leaves no temporary
directory; a push that gzips while uploading gives the same bytes (and cache entry) as
gzipping first.
"""

from __future__ import annotations

import gzip
import io
import os
import threading
from pathlib import Path
from typing import BinaryIO

import pytest
from imagelib import make_image, sha256_digest, tar_of
from registries import Proxy, StaticRegistry
from testlib import store_temporaries

from freight.errors import DigestMismatch
from freight.image.digest import chain_ids, hex_of
from freight.registry.client import Registry
from freight.registry.pull import pull
from freight.registry.push import cached_blob, push
from freight.store import Store, open_store
from freight.store.blobstream import Abandoned, BlobStream
from freight.store.compression import GZIP_FLAVOUR, gzip_compress


def _unpack_temporaries(store: Store) -> list[str]:
    return store_temporaries(store.root)


@pytest.fixture
def streams_seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(kind of stream, outcome) of every ``Snapshots.unpack_stream`` call during the test."""
    from freight.store.snapshots import Snapshots

    seen: list[tuple[str, str]] = []
    real = Snapshots.unpack_stream

    def recorded(self: Snapshots, chain: str, parent: str | None, diff_id: str, stream: BinaryIO) -> None:
        kind = "download" if isinstance(stream, BlobStream) else "blob"
        try:
            real(self, chain, parent, diff_id, stream)
        except BaseException as err:
            seen.append((kind, type(err).__name__))
            raise
        seen.append((kind, "ok"))

    monkeypatch.setattr(Snapshots, "unpack_stream", recorded)
    return seen


# -- the stream itself ------------------------------------------------------


def test_a_snapshot_waits_for_the_end_of_its_stream(store: Store) -> None:
    tar = tar_of({"hello": b"hi\n"})
    diff_id = sha256_digest(tar)
    for verdict, expect_snapshot in (("abandon", False), ("end", True)):
        stream = BlobStream()
        stream.feed(gzip.compress(tar, mtime=0))
        getattr(stream, verdict)()
        if expect_snapshot:
            store.snapshots.unpack_stream(diff_id, None, diff_id, stream)
        else:
            with pytest.raises(Abandoned):
                store.snapshots.unpack_stream(diff_id, None, diff_id, stream)
        assert store.snapshots.exists(diff_id) is expect_snapshot
        assert _unpack_temporaries(store) == []
    assert (store.snapshots.path(diff_id) / "hello").read_bytes() == b"hi\n"


def test_a_closed_stream_never_holds_up_its_producer() -> None:
    stream = BlobStream()
    stream.feed(b"x")
    assert stream.read(1) == b"x"
    stream.close()
    done = threading.Event()

    def produce() -> None:
        for _ in range(100):  # far more than the stream holds
            stream.feed(b"y" * 1024)
        stream.end()
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    assert done.wait(10), "the producer blocked on a stream whose reader had closed"


def test_an_abandoned_stream_keeps_failing() -> None:
    stream = BlobStream()
    stream.abandon()
    for _ in range(2):
        with pytest.raises(Abandoned):
            stream.read(10)


# -- pull -------------------------------------------------------------------


@pytest.mark.parametrize("server", ["freight", "cncf"])
def test_pull_unpacks_while_downloading_across_a_broken_connection(
        server: str, registry, store: Store, tmp_path: Path, streams_seen: list[tuple[str, str]]) -> None:
    host = registry(server)
    noise = os.urandom(3 << 20)
    image = make_image(store, [{"noise": noise, "etc/motd": b"streamed\n"}], [f"{host}/big:v1"])
    push(store, f"{host}/big:v1")
    proxy = Proxy(host, drop_after=1 << 20, drops=2)
    other = open_store(tmp_path / "other")
    streams_seen.clear()  # making the image unpacked it in the first store
    try:
        got = pull(other, f"{proxy.host}/big:v1")
    finally:
        proxy.close()
    assert proxy.dropped == 2 and proxy.range_requests >= 1
    assert got.id == image.id
    assert streams_seen == [("download", "ok")]  # resumed with Range: the unpack kept streaming
    [layer_dir] = other.layer_dirs(got)
    assert (layer_dir / "noise").read_bytes() == noise
    assert (layer_dir / "etc/motd").read_bytes() == b"streamed\n"
    assert other.snapshots.size(got.chain_ids[0]) > len(noise)
    assert _unpack_temporaries(other) == []


def test_a_download_that_starts_over_abandons_the_streamed_unpack(
        store: Store, streams_seen: list[tuple[str, str]]) -> None:
    # cuts the first GET, then ignores Range
    server = StaticRegistry(tar_of({"payload": os.urandom(256 * 1024)}), cut_first=True)
    try:
        image = pull(store, f"{server.host}/bad:latest")
    finally:
        server.close()
    assert streams_seen == [("download", "Abandoned"), ("blob", "ok")]
    assert store.snapshots.exists(image.chain_ids[0])
    assert (store.layer_dirs(image)[0] / "payload").stat().st_size == 256 * 1024
    assert _unpack_temporaries(store) == []


def test_a_layer_whose_blob_digest_mismatches_leaves_no_snapshot(
        store: Store, streams_seen: list[tuple[str, str]]) -> None:
    # The registry serves a valid gzip of the right tar (so the layer matches its diff_id and the
    # streamed unpack completes) of the descriptor's length, but with another gzip header (another
    # mtime), hence another digest than the manifest names.
    tar = tar_of({"payload": os.urandom(512 * 1024)})
    named = gzip.compress(tar, mtime=0)
    server = StaticRegistry(tar, repo="app", gzipped=True, served=named[:4] + b"\x01\x00\x00\x00" + named[8:])
    chain = chain_ids([sha256_digest(tar)])[0]
    try:
        with pytest.raises(DigestMismatch):
            pull(store, f"{server.host}/app:latest")
    finally:
        server.close()
    assert streams_seen == [("download", "Abandoned")]  # the content was right: only the end refused it
    assert not store.snapshots.exists(chain)
    assert store.snapshots.names_on_disk() == set() and _unpack_temporaries(store) == []
    assert store.images.all() == [] and not store.blobs.has(server.layer_digest)
    assert list(store.blobs.tmp_dir.iterdir()) == []


# -- push -------------------------------------------------------------------


def _gzipped(store: Store, diff_id: str) -> bytes:
    out = io.BytesIO()
    with store.blobs.open(diff_id) as src:
        gzip_compress(src, out)
    return out.getvalue()


@pytest.mark.parametrize("server", ["freight", "cncf"])
def test_push_gzips_while_uploading_and_keeps_the_same_bytes(
        server: str, registry, store: Store, tmp_path: Path) -> None:
    host = registry(server)
    image = make_image(store, [{"noise": os.urandom(3 << 20), "text": b"line\n" * 400_000}], [f"{host}/gz:v1"])
    first = push(store, f"{host}/gz:v1")
    expected = _gzipped(store, image.diff_ids[0])
    assert cached_blob(store, image.diff_ids[0]) == (sha256_digest(expected), len(expected))
    with Registry(host) as reg:
        reg.ping()
        assert reg.has_blob("gz", sha256_digest(expected))
    again = push(store, f"{host}/gz:v1", f"{host}/gz2:v1")  # from the cache, mounted or uploaded
    assert again == first
    got = pull(open_store(tmp_path / "other"), f"{host}/gz2:v1")
    assert got.id == image.id and got.layers[0]["digest"] == sha256_digest(expected)


def test_a_broken_streamed_upload_falls_back_to_the_stored_blob(registry, store: Store,
                                                                 tmp_path: Path) -> None:
    host = registry("freight")
    proxy = Proxy(host, drop_upload_after=1 << 20, drops=1)
    try:
        ref = f"{proxy.host}/up:v1"
        image = make_image(store, [{"noise": os.urandom(3 << 20)}], [ref])
        digest = push(store, ref)
    finally:
        proxy.close()
    assert proxy.dropped == 1
    entry = store.root / "distribution" / GZIP_FLAVOUR / hex_of(image.diff_ids[0])
    assert entry.read_text().split()[0] == sha256_digest(_gzipped(store, image.diff_ids[0]))
    got = pull(open_store(tmp_path / "other"), f"{host}/up:v1")
    assert got.id == image.id and got.manifest_digest == digest


def test_a_refused_streamed_upload_leaves_no_half_written_blob(start_registry, store: Store) -> None:
    from freight.registry.connections import RegistryError

    server = start_registry("--read-only")
    image = make_image(store, [{"noise": os.urandom(1 << 20)}], [f"{server.host}/ro:v1"])
    with pytest.raises(RegistryError):
        push(store, f"{server.host}/ro:v1")
    assert cached_blob(store, image.diff_ids[0]) is None
    assert list(store.blobs.tmp_dir.iterdir()) == []
