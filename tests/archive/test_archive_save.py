"""`freight save`: the Docker 25+ archive layout, byte-for-byte determinism, selection, CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from imagelib import CREATED_EPOCH, layer_tar, make_image, saved, sha256_digest, tar_members
from testlib import FREIGHT, freight_env

from freight.archive import write_oci_layout
from freight.errors import NotFound
from freight.store import open_store
from freight.store.encoded import SUFFIX
from freight.store.store import Store


def tar_json(data: bytes, name: str) -> object:
    return json.loads(tar_members(data)[name])


def test_archive_layout_headers_and_metadata_match_docker(store: Store) -> None:
    image = make_image(store, [{"etc/a": b"a\n"}, {"etc/b": b"b\n"}], ["busybox:latest", "example.com/app:1"])
    data = saved(store, "busybox:latest", "example.com/app:1")
    layers = [layer["digest"] for layer in image.layers]
    blobs = sorted([image.manifest_digest, image.id, *layers])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "blobs", "blobs/sha256", *(f"blobs/sha256/{d[7:]}" for d in blobs),
        "index.json", "manifest.json", "oci-layout", "repositories"]
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)
        stamped = m.name[len("blobs/sha256/"):] in {d[7:] for d in [image.id, *layers]}
        assert m.mtime == (CREATED_EPOCH if stamped else 0), m.name
    assert data[257:265] == b"ustar\x0000"  # USTAR headers as Go writes them, no PAX
    assert len(data) % 512 == 0 and data[-1024:] == b"\0" * 1024

    files = tar_members(data)
    assert files["oci-layout"] == b'{"imageLayoutVersion": "1.0.0"}'
    manifest_size = len(files[f"blobs/sha256/{image.manifest_digest[7:]}"])
    expected_index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
         "size": manifest_size, "annotations": {"io.containerd.image.name": name,
                                                "org.opencontainers.image.ref.name": tag}}
        for name, tag in [("docker.io/library/busybox:latest", "latest"), ("example.com/app:1", "1")]]}
    assert files["index.json"] == json.dumps(expected_index, separators=(",", ":")).encode()
    assert files["manifest.json"] == json.dumps([{
        "Config": f"blobs/sha256/{image.id[7:]}", "RepoTags": ["busybox:latest", "example.com/app:1"],
        "Layers": [f"blobs/sha256/{d[7:]}" for d in layers]}], separators=(",", ":")).encode() + b"\n"
    top = image.diff_ids[-1][7:]
    assert files["repositories"] == (b'{"busybox":{"latest":"%s"},"example.com/app":{"1":"%s"}}\n'
                                     % (top.encode(), top.encode()))


def test_blobs_are_written_as_stored(store: Store) -> None:
    image = make_image(store, [{"x": os.urandom(300_000)}], ["x:1"])
    files = tar_members(saved(store, "x:1"))
    for digest in [image.manifest_digest, image.id, image.layers[0]["digest"]]:
        content = files[f"blobs/sha256/{digest[7:]}"]
        assert content == store.blobs.read(digest)
        assert sha256_digest(content) == digest


def test_saves_are_the_same_whether_layers_are_kept_encoded_or_plain(store: Store, cli, tmp_path: Path) -> None:
    """The store keeps uncompressed layers encoded (stores made before kept them plain): a save,
    to memory, a file (sendfile for plain blobs) or a pipe, and an OCI layout give the same bytes."""
    files = [{"etc/a": b"a line\n" * 300_000}, {"bin/b": os.urandom(1_200_000)}]
    image = make_image(store, files, ["app:1"])
    plain_store = open_store(tmp_path / "plain")
    with plain_store.writing():
        for digest in [image.manifest_digest, image.id, *image.diff_ids]:
            plain_store.blobs.put(store.blobs.read(digest), expected=digest)
        plain_store.add_image(image.manifest_digest, ["app:1"])
    for digest in image.diff_ids:
        assert (store.blobs.dir / (digest[7:] + SUFFIX)).is_file() and plain_store.blobs.path(digest).is_file()
    data = saved(plain_store, "app:1")
    assert saved(store, "app:1") == data
    members = tar_members(data)
    for digest, layer in zip(image.diff_ids, files):
        assert members[f"blobs/sha256/{digest[7:]}"] == layer_tar(layer)
    out = tmp_path / "app.tar"
    cli("save", "-o", str(out), "app:1", check=True)
    assert out.read_bytes() == data
    piped = subprocess.run([FREIGHT, "save", "app:1"], stdout=subprocess.PIPE, check=True,
                           env=freight_env(store.root))
    assert piped.stdout == data
    write_oci_layout(store, ["app:1"], tmp_path / "encoded-layout")
    write_oci_layout(plain_store, ["app:1"], tmp_path / "plain-layout")
    assert _files(tmp_path / "encoded-layout") == _files(tmp_path / "plain-layout")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_two_saves_are_identical(store: Store) -> None:
    make_image(store, [{"a": b"1"}], ["one:latest"])
    make_image(store, [{"a": b"1"}, {"b": b"2"}], ["two:latest"])
    assert saved(store, "one", "two") == saved(store, "one", "two")


def test_several_images_share_blobs(store: Store) -> None:
    one = make_image(store, [{"a": b"shared"}], ["one:latest"])
    two = make_image(store, [{"a": b"shared"}, {"b": b"own"}], ["two:latest"])
    data = saved(store, "one", "two")
    assert one.layers[0]["digest"] == two.layers[0]["digest"]
    blobs = [n for n in tar_members(data) if n.startswith("blobs/")]
    assert len(blobs) == len(set(blobs)) == 6  # 2 manifests, 2 configs, 2 distinct layers
    assert [item["RepoTags"] for item in tar_json(data, "manifest.json")] == [["one:latest"], ["two:latest"]]


def test_name_without_tag_saves_every_tag_of_the_repository(store: Store) -> None:
    first = make_image(store, [{"a": b"1"}], ["app:1", "app:latest", "other:1"])
    second = make_image(store, [{"a": b"2"}], ["app:2"])
    items = tar_json(saved(store, "app"), "manifest.json")
    assert {item["Config"][13:]: sorted(item["RepoTags"]) for item in items} == {
        first.id[7:]: ["app:1", "app:latest"], second.id[7:]: ["app:2"]}


def test_save_by_id_is_untagged(store: Store) -> None:
    image = make_image(store, [{"a": b"1"}], ["app:1"])
    for name in (image.id, image.id[7:19]):
        data = saved(store, name)
        files = tar_members(data)
        assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
        assert "annotations" not in json.loads(files["index.json"])["manifests"][0]
        assert "repositories" not in files


def test_unknown_image_is_refused(store: Store) -> None:
    make_image(store, [{"a": b"1"}], ["app:1"])
    with pytest.raises(NotFound):
        saved(store, "app:1", "nosuch:latest")


def test_cli_save_to_file_and_stdout(store: Store, cli, tmp_path: Path) -> None:
    make_image(store, [{"a": b"1"}], ["app:1"])
    out = tmp_path / "out" / "app.tar"
    out.parent.mkdir()
    assert cli("save", "-o", str(out), "app:1", check=True).stdout == ""
    assert out.read_bytes() == saved(store, "app:1")
    assert [p.name for p in out.parent.iterdir()] == ["app.tar"]  # written through a renamed temp file
    assert cli("save", "--output", "/dev/null", "app:1", check=True).returncode == 0
    assert Path("/dev/null").is_char_device()
    with (tmp_path / "piped.tar").open("wb") as f:
        result = subprocess.run([FREIGHT, "save", "app:1"], stdout=f,
                                env=freight_env(store.root))
    assert result.returncode == 0
    assert (tmp_path / "piped.tar").read_bytes() == out.read_bytes()


def test_cli_refuses_a_terminal(store: Store, cli, tmp_path: Path) -> None:
    make_image(store, [{"a": b"1"}], ["app:1"])
    main, tty = os.openpty()
    try:
        result = subprocess.run([FREIGHT, "save", "app:1"], stdout=tty,
                                stderr=subprocess.PIPE, text=True,
                                env=freight_env(store.root))
    finally:
        os.close(main)
        os.close(tty)
    assert result.returncode == 1
    assert "cowardly refusing to save to a terminal. Use the -o flag or redirect" in result.stderr
    missing = cli("save", "-o", str(tmp_path / "x.tar"), "nosuch")
    assert missing.returncode == 1 and missing.stderr == "Error response from daemon: No such image: nosuch\n"
    assert list(tmp_path.glob("*.tar")) == [] and list(tmp_path.glob(".freight_temp_*")) == []
