"""`freight load`: round trips, every archive form Docker and OCI tools write, and refusals."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from imagelib import layer_tar, make_image, saved, sha256_digest, tar_members, tar_of
from testlib import FREIGHT, freight_env

from freight.archive import ArchiveError, load, open_archive
from freight.errors import DigestMismatch, LayerError
from freight.image.canonical import image_config
from freight.image.mediatypes import OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from freight.store import open_store
from freight.store.check import check
from freight.store.encoded import SUFFIX
from freight.store.store import Store


def image_count(store: Store) -> int:
    return len(store.images.all())


def blob_count(store: Store) -> int:
    return sum(1 for _ in store.blobs.digests())


@pytest.fixture
def other(tmp_path: Path) -> Store:
    """A second, empty store to load into."""
    return open_store(tmp_path / "other")


@pytest.fixture(params=["stream", "file"])
def load_bytes(request: pytest.FixtureRequest, tmp_path: Path):
    """Load archive bytes from a stream (spooled in one pass) or from a tar file (indexed, then spooled)."""

    def run(store: Store, data: bytes):
        if request.param == "stream":
            return load(store, io.BytesIO(data))
        path = tmp_path / f"archive-{len(list(tmp_path.glob('archive-*')))}.tar"
        path.write_bytes(data)
        return load(store, path)

    return run


def assert_nothing_stored(store: Store) -> None:
    assert image_count(store) == 0
    assert blob_count(store) == 0
    assert list(store.blobs.tmp_dir.iterdir()) == []


def test_round_trip_is_bit_for_bit(store: Store, other: Store, load_bytes) -> None:
    one = make_image(store, [{"etc/a": b"a"}], ["one:latest"])
    two = make_image(store, [{"etc/a": b"a"}, {"bin/b": b"b" * 100_000}], ["two:1", "example.com/two:2"])
    data = saved(store, "one", "two", "example.com/two:2")
    loaded = load_bytes(other, data)
    assert [(i.id, i.manifest_digest, i.tags) for i in loaded] == [
        (one.id, one.manifest_digest, ["one:latest"]),
        (two.id, two.manifest_digest, ["two:1", "example.com/two:2"])]
    back = other.resolve_image("example.com/two:2")
    assert (back.id, back.manifest_digest, back.size) == (two.id, two.manifest_digest, two.size)
    assert (other.layer_dirs(back)[1] / "bin/b").read_bytes() == b"b" * 100_000
    assert saved(other, "one", "two", "example.com/two:2") == data
    assert list(other.blobs.tmp_dir.iterdir()) == []


def test_plain_layers_are_kept_encoded(store: Store, other: Store, load_bytes) -> None:
    """An uncompressed layer is unpacked into its snapshot, so the store keeps its tar encoded."""
    image = make_image(store, [{"text": b"a line of text\n" * 100_000}, {"x": b"x"}], ["app:1"])
    data = saved(store, "app:1")
    load_bytes(other, data)
    big, small = image.diff_ids
    assert (other.blobs.dir / (big[7:] + SUFFIX)).is_file() and not other.blobs.path(big).exists()
    assert other.blobs.disk_size(big) < other.blobs.size(big) // 20
    assert other.blobs.path(small).is_file()  # too small to be worth encoding
    for digest in image.diff_ids:
        assert other.blobs.read(digest) == store.blobs.read(digest)
    assert check(other) == [] and saved(other, "app:1") == data
    assert list(other.blobs.tmp_dir.iterdir()) == []


def test_loading_twice_and_moving_a_tag(store: Store, other: Store) -> None:
    old = make_image(store, [{"a": b"old"}], ["app:latest"])
    data_old = saved(store, "app:latest")
    new = make_image(store, [{"a": b"new"}], ["app:latest"])
    load(other, io.BytesIO(data_old))
    assert load(other, io.BytesIO(data_old))[0].replaced == []
    moved = load(other, io.BytesIO(saved(store, "app:latest")))
    assert moved[0].replaced == [("app:latest", old.id)]
    assert other.resolve_image("app:latest").id == new.id


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress], ids=["gzip", "zstd"])
def test_compressed_archive(store: Store, other: Store, compress) -> None:
    image = make_image(store, [{"a": b"x" * 50_000}], ["app:1"])
    loaded = load(other, io.BytesIO(compress(saved(store, "app:1"))))
    assert (loaded[0].id, loaded[0].manifest_digest) == (image.id, image.manifest_digest)


def test_oci_layout_directory_and_tar_without_manifest_json(store: Store, other: Store, tmp_path: Path) -> None:
    image = make_image(store, [{"a": b"1"}], ["app:1"])
    data = saved(store, "app:1")
    layout = tmp_path / "layout"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(layout, filter="data")
    (layout / "manifest.json").unlink()
    assert [(i.manifest_digest, i.tags) for i in load(other, layout)] == [(image.manifest_digest, ["app:1"])]
    assert (layout / "index.json").exists() and len(list((layout / "blobs/sha256").iterdir())) == 3
    oci_only = tar_of({n: b for n, b in tar_members(data).items() if n not in ("manifest.json", "repositories")})
    third = open_store(tmp_path / "third")
    assert [i.manifest_digest for i in load(third, io.BytesIO(oci_only))] == [image.manifest_digest]


def test_docker_archive_without_index_builds_an_oci_manifest(store: Store, other: Store) -> None:
    image = make_image(store, [{"a": b"1"}, {"b": b"2"}], ["app:1"])
    docker_only = tar_of({n: b for n, b in tar_members(saved(store, "app:1")).items()
                          if n not in ("index.json", "oci-layout")})
    loaded = load(other, io.BytesIO(docker_only))[0]
    assert (loaded.id, loaded.tags) == (image.id, ["app:1"])
    manifest = other.resolve_image("app:1").manifest
    assert manifest["layers"] == image.layers  # uncompressed: blob digest == diff_id


def legacy_archive(config: bytes, layers: list[bytes], tags: list[str], manifest_first: bool) -> bytes:
    """A Docker 1.10-24 archive: <id>/layer.tar, <id>/json, <id>/VERSION, <hex>.json, manifest.json."""
    ids = [hashlib.sha256(b"v1 %d" % i).hexdigest() for i in range(len(layers))]
    members, links = [], {}
    seen: dict[bytes, str] = {}
    for layer_id, data in zip(ids, layers):
        members += [(f"{layer_id}/VERSION", b"1.0"), (f"{layer_id}/json", b'{"id":"%s"}' % layer_id.encode())]
        if data in seen:  # Docker links a repeated layer to its first copy
            links[f"{layer_id}/layer.tar"] = f"../{seen[data]}/layer.tar"
        else:
            seen[data] = layer_id
            members.append((f"{layer_id}/layer.tar", data))
    config_name = sha256_digest(config)[7:] + ".json"
    members.append((config_name, config))
    manifest = json.dumps([{"Config": config_name, "RepoTags": tags,
                            "Layers": [f"{i}/layer.tar" for i in ids]}]).encode()
    repositories = json.dumps({"legacy": {"v1": ids[-1]}}).encode()
    meta = [("manifest.json", manifest), ("repositories", repositories)]
    return tar_of(dict(meta + members if manifest_first else members + meta), links)


@pytest.mark.parametrize("manifest_first", [True, False])
def test_legacy_docker_archive(other: Store, manifest_first: bool, load_bytes) -> None:
    first, second = layer_tar({"etc/a": b"a"}), layer_tar({"etc/b": b"b"})
    layers = [first, second, first]
    config = json.dumps(image_config([sha256_digest(d) for d in layers], [], "2020-01-01T00:00:00Z")).encode()
    loaded = load_bytes(other, legacy_archive(config, layers, ["legacy:v1"], manifest_first))
    assert (loaded[0].id, loaded[0].tags) == (sha256_digest(config), ["legacy:v1"])
    image = other.resolve_image("legacy:v1")
    assert [layer["digest"] for layer in image.layers] == [sha256_digest(d) for d in layers]
    assert (other.layer_dirs(image)[1] / "etc/b").read_bytes() == b"b"


@pytest.mark.parametrize("compress, media_type", [(gzip.compress, OCI_LAYER_GZIP),
                                                  (zstandard.ZstdCompressor().compress, OCI_LAYER_ZSTD)],
                         ids=["gzip", "zstd"])
def test_compressed_layer_in_docker_archive(other: Store, compress, media_type: str) -> None:
    raw = layer_tar({"etc/a": b"a" * 10_000})
    blob = compress(raw)
    config = json.dumps(image_config([sha256_digest(raw)], [], "2020-01-01T00:00:00Z")).encode()
    loaded = load(other, io.BytesIO(legacy_archive(config, [blob], ["c:1"], True)))
    image = other.resolve_image("c:1")
    assert loaded[0].id == sha256_digest(config)
    assert image.layers == [{"mediaType": media_type, "digest": sha256_digest(blob), "size": len(blob)}]
    assert other.blobs.read(sha256_digest(blob)) == blob  # kept as received
    assert other.blobs.path(sha256_digest(blob)).is_file()  # as it is: it is compressed already
    assert (other.layer_dirs(image)[0] / "etc/a").read_bytes() == b"a" * 10_000


def test_untagged_image_loads_by_id(store: Store, other: Store, cli, tmp_path: Path) -> None:
    image = make_image(store, [{"a": b"1"}])
    archive = tmp_path / "untagged.tar"
    archive.write_bytes(saved(store, image.id))
    result = cli("load", "-i", str(archive), check=True)
    assert result.stdout == f"Loaded image ID: {image.id}\n"


def test_cli_load_output(store: Store, cli, tmp_path: Path) -> None:
    source = open_store(tmp_path / "source")
    old = make_image(source, [{"a": b"old"}], ["app:latest"])
    (tmp_path / "old.tar").write_bytes(saved(source, "app:latest"))
    make_image(source, [{"a": b"new"}], ["app:latest", "app:2"])
    (tmp_path / "new.tar.gz").write_bytes(gzip.compress(saved(source, "app")))
    assert cli("load", "-q", "-i", str(tmp_path / "old.tar"), check=True).stdout == "Loaded image: app:latest\n"
    with (tmp_path / "new.tar.gz").open("rb") as f:
        result = subprocess.run([FREIGHT, "load"], stdin=f, capture_output=True, text=True,
                                env=freight_env(store.root))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"The image app:latest already exists, renaming the old one with ID {old.id} "
                             "to empty string\nLoaded image: app:2\nLoaded image: app:latest\n")
    missing = cli("load", "-i", str(tmp_path / "nosuch.tar"))
    assert missing.returncode == 1
    assert missing.stderr == f"Error: open {tmp_path / 'nosuch.tar'}: no such file or directory\n"
    main, tty = os.openpty()
    try:
        result = subprocess.run([FREIGHT, "load"], stdin=tty, capture_output=True, text=True,
                                env=freight_env(store.root))
    finally:
        os.close(main)
        os.close(tty)
    assert (result.returncode, result.stderr) == (1, "Error: requested load from stdin, but stdin is empty\n")


def corrupt_layer(data: bytes, layer: str) -> bytes:
    members = tar_members(data)
    content = bytearray(members[layer])
    content[600] ^= 0xFF
    members[layer] = bytes(content)
    return tar_of(members)


def test_corrupted_layer_is_rejected_and_nothing_stored(store: Store, other: Store, cli, tmp_path: Path,
                                                        load_bytes) -> None:
    image = make_image(store, [{"a": b"1" * 2000}], ["app:1"])
    data = saved(store, "app:1")
    layer = f"blobs/sha256/{image.layers[0]['digest'][7:]}"
    bad = corrupt_layer(data, layer)
    with pytest.raises(DigestMismatch, match="does not match"):
        load_bytes(other, bad)
    assert_nothing_stored(other)
    docker_only = tar_of({n: b for n, b in tar_members(bad).items() if n != "index.json"})
    with pytest.raises(DigestMismatch, match="diff_id"):
        load_bytes(other, docker_only)
    assert_nothing_stored(other)
    (tmp_path / "bad.tar").write_bytes(bad)
    result = cli("load", "-i", str(tmp_path / "bad.tar"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: layer blobs/sha256/") and result.stderr.count("\n") == 1
    assert image_count(open_store(store.root)) == 1  # only the image made above


def test_truncated_archive_is_rejected(store: Store, other: Store, cli, tmp_path: Path, load_bytes) -> None:
    make_image(store, [{"a": b"1" * 100_000}], ["app:1"])
    data = saved(store, "app:1")
    for cut in (len(data) // 2, 700, 0):
        with pytest.raises(ArchiveError, match="invalid archive"):
            load_bytes(other, data[:cut])
        assert_nothing_stored(other)
    with pytest.raises(ArchiveError, match="truncated or corrupt compressed data"):
        compressed = gzip.compress(data)
        load_bytes(other, compressed[: len(compressed) // 2])
    assert_nothing_stored(other)
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    result = cli("load", "-i", str(tmp_path / "cut.tar"))
    assert result.returncode == 1 and result.stderr.startswith("Error: invalid archive:")
    assert result.stderr.count("\n") == 1


def test_nested_index_picks_this_platform(store: Store, other: Store) -> None:
    image = make_image(store, [{"a": b"1"}], ["app:1"])
    members = {n: b for n, b in tar_members(saved(store, "app:1")).items() if n != "manifest.json"}
    config = json.loads(store.blobs.read(image.id))
    platform = {"architecture": config["architecture"], "os": config["os"]}
    missing = "sha256:" + "0" * 64
    nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing, "size": 1,
         "platform": {"architecture": "s390x", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
         "size": len(store.blobs.read(image.manifest_digest)), "platform": platform}]}).encode()
    members[f"blobs/sha256/{sha256_digest(nested)[7:]}"] = nested
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256_digest(nested), "size": len(nested),
         "annotations": {"io.containerd.image.name": "docker.io/library/nested:1"}}]}).encode()
    loaded = load(other, io.BytesIO(tar_of(members)))
    assert [(i.manifest_digest, i.tags) for i in loaded] == [(image.manifest_digest, ["nested:1"])]


def test_oci_manifest_missing_its_layers_falls_back_to_manifest_json(store: Store, other: Store) -> None:
    """Docker 25.0.0 wrote OCI manifests without layers; its manifest.json was right."""
    image = make_image(store, [{"a": b"1"}], ["app:1"])
    members = tar_members(saved(store, "app:1"))
    broken = json.dumps({**image.manifest, "layers": []}).encode()
    members[f"blobs/sha256/{sha256_digest(broken)[7:]}"] = broken
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256_digest(broken),
         "size": len(broken), "annotations": {"io.containerd.image.name": "docker.io/library/app:1"}}]}).encode()
    with open_archive(io.BytesIO(tar_of(members))) as archive:
        assert [i.config_digest for i in archive.images] == [image.id]
        assert archive.images[0].layers == image.layers
    loaded = load(other, io.BytesIO(tar_of(members)))
    assert (loaded[0].id, loaded[0].tags) == (image.id, ["app:1"])


def test_not_an_archive(other: Store) -> None:
    with pytest.raises(ArchiveError, match="no manifest.json or index.json"):
        load(other, io.BytesIO(tar_of({"hello.txt": b"hi"})))
    with pytest.raises(ArchiveError, match="empty input"):
        load(other, io.BytesIO(b""))
    assert_nothing_stored(other)


def test_corrupt_compressed_layer_is_rejected(other: Store, load_bytes) -> None:
    raw = layer_tar({"etc/a": os.urandom(50_000)})
    blob = bytearray(gzip.compress(raw))
    blob[len(blob) // 2:] = b"\0" * (len(blob) - len(blob) // 2)
    config = json.dumps(image_config([sha256_digest(raw)], [], "2020-01-01T00:00:00Z")).encode()
    with pytest.raises(LayerError, match="not valid compressed data"):
        load_bytes(other, legacy_archive(config, [bytes(blob)], ["c:1"], True))
    assert_nothing_stored(other)


@pytest.mark.parametrize("config, message", [(b"not json", "malformed metadata"),
                                             (b'{"rootfs": {}}', "no rootfs.diff_ids")])
def test_malformed_config_is_rejected(other: Store, config: bytes, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        load(other, io.BytesIO(legacy_archive(config, [layer_tar({"a": b"1"})], ["m:1"], False)))
    assert_nothing_stored(other)
