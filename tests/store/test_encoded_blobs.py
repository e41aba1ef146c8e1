"""Uncompressed layer tars are kept zstd-encoded: a gzip bomb costs its unpacked size once, and
every reader (open, size, check, GC, system df) still sees the original bytes."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from imagelib import sha256_digest, tar_of
from testlib import du_bytes

from freight.store.blobs import ENCODE_FROM
from freight.store.check import check
from freight.store.encoded import SUFFIX
from freight.store.store import Store

MIB = 1 << 20


def _du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def _gzip_bomb(path: Path, size: int) -> None:
    """A tar of one file of ``size`` zeros, gzipped: one gzip member per MiB of zeros, all the same
    bytes, so it is written in an instant and stays a few hundred KiB."""
    info = tarfile.TarInfo("zeros")
    info.size, info.mode = size, 0o644
    mib = gzip.compress(bytes(MIB), compresslevel=9, mtime=0)
    with path.open("wb") as f:
        f.write(gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT), mtime=0))
        for _ in range(size // MIB):
            f.write(mib)
        f.write(gzip.compress(bytes(1024), mtime=0))  # the tar's end


def test_gzip_bomb_import_grows_the_store_by_its_unpacked_size_once(store: Store, cli, tmp_path: Path) -> None:
    size = 512 * MIB
    bomb = tmp_path / "bomb.tar.gz"
    _gzip_bomb(bomb, size)
    assert bomb.stat().st_size < MIB
    before = _du(store.root)
    try:
        cli("import", str(bomb), "bomb:1", check=True)
        grown = _du(store.root) - before
        assert size <= grown < size + 4 * MIB, grown  # the snapshot's file, not a second copy beside it
        image = store.resolve_image("bomb:1")
        [layer] = image.layers
        assert layer["digest"] == image.diff_ids[0] and layer["size"] == size + 1536
        assert store.blobs.size(layer["digest"]) == size + 1536
        assert store.blobs.disk_size(layer["digest"]) < MIB
        assert (store.blobs.dir / (layer["digest"][7:] + SUFFIX)).is_file()
        assert not store.blobs.path(layer["digest"]).exists()
        assert cli("system", "check", check=True).stdout == "store is consistent\n"
        df = cli("system", "df", check=True).stdout.splitlines()
        assert df[1].split()[:4] == ["Images", "1", "0", "537MB"]  # the unpacked size, as Docker says it
    finally:
        bomb.unlink()
        cli("rmi", "bomb:1")
    assert _du(store.root) - before < MIB


@pytest.fixture
def layer_tar(tmp_path: Path) -> tuple[Path, bytes]:
    """A plain layer tar on disk (1.5 MB: a third random, the rest text) and its bytes."""
    data = tar_of({"random": os.urandom(500_000), "text": b"the same line again\n" * 50_000})
    path = tmp_path / "layer.tar"
    path.write_bytes(data)
    return path, data


def test_imported_plain_tar_is_kept_encoded_and_reads_back_as_it_was(store: Store, cli,
                                                                     layer_tar: tuple[Path, bytes]) -> None:
    path, data = layer_tar
    cli("import", str(path), "plain:1", check=True)
    [layer] = store.resolve_image("plain:1").layers
    digest = sha256_digest(data)
    assert layer["digest"] == digest and layer["size"] == len(data)
    assert store.blobs.read(digest) == data
    assert store.blobs.size(digest) == len(data) and store.blobs.disk_size(digest) < len(data) * 0.6
    assert list(store.blobs.digests()).count(digest) == 1
    with store.blobs.open(digest) as f:  # readers that seek (chunked uploads) get the same bytes
        f.seek(1_200_000)
        assert f.read(1000) == data[1_200_000:1_201_000]
        f.seek(10)
        assert f.tell() == 10 and f.read(5) == data[10:15]
    encoded = store.blobs.dir / (digest[7:] + SUFFIX)
    decoded = subprocess.run(["zstd", "-dc", str(encoded)], capture_output=True, check=True).stdout
    assert decoded == data  # a plain zstd stream, for anyone looking into the store
    assert check(store) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_check_finds_a_damaged_encoded_blob(store: Store, cli, layer_tar: tuple[Path, bytes], damage: str) -> None:
    path, data = layer_tar
    cli("import", str(path), "plain:1", check=True)
    digest = sha256_digest(data)
    encoded = store.blobs.dir / (digest[7:] + SUFFIX)
    content = bytearray(encoded.read_bytes())
    if damage == "truncate":
        content = content[: len(content) // 2]
    elif damage == "flip":
        content[len(content) // 2] ^= 0xFF
    else:
        content[0] ^= 0xFF
    encoded.write_bytes(bytes(content))
    assert check(store) == [f"blob {digest} does not match its digest"]
    result = cli("system", "check")
    assert result.returncode == 1 and f"blob {digest} does not match its digest" in result.stdout + result.stderr
    saved = cli("save", "-o", str(path.parent / "out.tar"), "plain:1")
    assert saved.returncode == 1 and saved.stderr.startswith("Error: stored blob ")
    assert saved.stderr.count("\n") == 1


def test_a_blob_kept_in_both_forms_is_one_blob(store: Store, layer_tar: tuple[Path, bytes]) -> None:
    """A plain blob (stores made before layers were encoded) and an encoded one meet: the first stays."""
    _, data = layer_tar
    with store.writing():
        digest = store.blobs.put(data)
        with store.blobs.writer(encode=True) as w:
            w.write(data)
            assert w.commit() == digest
    assert sorted(p.name for p in store.blobs.dir.iterdir()) == [digest[7:]]
    assert store.blobs.read(digest) == data and store.blobs.disk_size(digest) == len(data)
    store.blobs.delete(digest)
    with store.writing(), store.blobs.writer(encode=True) as w:
        w.write(data)
        w.commit()
    with store.writing():
        assert store.blobs.ingest(io.BytesIO(data), digest) == (digest, len(data))
    assert sorted(p.name for p in store.blobs.dir.iterdir()) == [digest[7:] + SUFFIX]


def test_a_small_layer_stays_plain(store: Store, cli, tmp_path: Path) -> None:
    """Under ENCODE_FROM a layer is kept as it is: encoding would save little, and reading it back
    would cost a push or save of a small image the import of zstandard."""
    data = tar_of({"small": b"x" * (ENCODE_FROM - 20_000)})
    assert len(data) < ENCODE_FROM
    path = tmp_path / "small.tar"
    path.write_bytes(data)
    cli("import", str(path), "small:1", check=True)
    digest = sha256_digest(data)
    assert store.blobs.path(digest).read_bytes() == data
    assert not (store.blobs.dir / (digest[7:] + SUFFIX)).exists()


def test_gc_reports_the_space_an_encoded_blob_took(store: Store, cli, layer_tar: tuple[Path, bytes]) -> None:
    path, data = layer_tar
    cli("import", str(path), "plain:1", check=True)
    digest = sha256_digest(data)
    on_disk = store.blobs.disk_size(digest)
    snapshot = du_bytes(store.snapshots.path(store.resolve_image("plain:1").chain_ids[0]))
    store.images.remove("plain:1")
    report = store.gc()
    assert report is not None and digest in report.deleted_blobs
    assert snapshot + on_disk <= report.reclaimed < snapshot + on_disk + 4096  # + config and manifest
    assert not store.blobs.has(digest) and list(store.blobs.dir.iterdir()) == []
