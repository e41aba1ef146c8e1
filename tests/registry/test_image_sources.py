"""One contract for every image source (``freight.image.source``): the local store, a registry,
an OCI layout (a directory and a tar) and a Docker archive give back an image's manifest,
config and layers, each verified as it is read, and refuse a blob whose bytes were changed."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from imagelib import make_image
from registries import RegistryProcess

from freight.archive.imagesource import ArchiveSource, layout_image
from freight.archive.oci_layout import INDEX
from freight.archive.reader import read_docker_archive, read_oci_layout
from freight.errors import DigestMismatch
from freight.image import reference
from freight.image.copy import Quiet, copy
from freight.image.platform import host_platform
from freight.image.source import ImageSource
from freight.registry.client import Registry
from freight.registry.push import push
from freight.registry.remote import remote_image
from freight.store import Store, open_store
from freight.store.imagesource import StoreDestination, StoreImage

LAYERS = [{"etc/base": b"base\n", "bin/big": os.urandom(512 << 10)}, {"etc/top": b"top\n"}]
KINDS = ["store", "registry", "oci-layout", "oci-archive", "docker-archive"]

def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _flip_file(path: Path) -> None:
    """Change one byte in the middle of a file, keeping its size."""
    offset = path.stat().st_size // 2
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _flip_member(tar_path: Path, digest: str) -> None:
    """Change one byte in the middle of the tar member ``blobs/sha256/<hex>``, in place."""
    with tarfile.open(tar_path) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith(digest[7:])]
    offset = member.offset_data + member.size // 2
    with tar_path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


class Case:
    """A source of one stored image: ``open()`` it (a context), ``corrupt(digest)`` one of its blobs."""

    def __init__(self, kind: str, store: Store, tmp_path: Path, start_registry: Callable[..., RegistryProcess]) -> None:
        self.kind = kind
        self.store = store
        self.image = make_image(store, LAYERS, ["contract/app:v1"], encode=False)
        self.path = tmp_path / "out"
        if kind == "registry":
            self.server = start_registry()
            self.ref = f"{self.server.host}/contract:v1"
            push(store, "contract/app:v1", self.ref)
        elif kind == "oci-layout":
            push(store, "contract/app:v1", f"oci:{self.path}:v1")
        elif kind == "oci-archive":
            push(store, "contract/app:v1", f"oci-archive:{self.path}:v1")
        elif kind == "docker-archive":
            push(store, "contract/app:v1", f"docker-archive:{self.path}")

    @contextmanager
    def open(self) -> Iterator[ImageSource]:
        with ExitStack() as stack:
            if self.kind == "store":
                yield StoreImage(self.store, self.image)
            elif self.kind == "registry":
                registry = stack.enter_context(Registry(self.server.host))
                registry.ping()
                yield remote_image(registry, reference.parse(self.ref), host_platform())[0]
            elif self.kind == "docker-archive":
                archive = stack.enter_context(read_docker_archive(self.path))
                yield ArchiveSource.of(archive.source, archive.images[0])
            else:
                archive = stack.enter_context(read_oci_layout(self.path))
                [entry] = json.loads(archive.source.read(INDEX))["manifests"]
                yield layout_image(archive.source, entry, host_platform())

    def corrupt(self, digest: str) -> None:
        if self.kind == "store":
            _flip_file(self.store.blobs.path(digest))
        elif self.kind == "registry":
            _flip_file(self.server.root / "blobs" / "sha256" / digest[7:])  # the server's blob storage
        elif self.kind == "oci-layout":
            _flip_file(self.path / "blobs" / "sha256" / digest[7:])
        else:
            _flip_member(self.path, digest)


@pytest.fixture(params=KINDS)
def case(request: pytest.FixtureRequest, store: Store, tmp_path: Path,
         start_registry: Callable[..., RegistryProcess]) -> Case:
    return Case(request.param, store, tmp_path, start_registry)


def test_a_source_gives_back_the_image_verified(case: Case) -> None:
    with case.open() as source:
        assert _sha(source.raw_manifest) == source.digest
        assert source.manifest == json.loads(source.raw_manifest)
        assert source.config_descriptor["digest"] == case.image.id
        assert source.config() == json.loads(case.store.blobs.read(case.image.id))
        layers = source.layers()
        assert [layer.diff_id for layer in layers] == case.image.diff_ids
        for layer, stored in zip(layers, case.image.layers):
            with layer.open() as f:
                data = f.read()
            assert (_sha(data), len(data)) == (layer.digest, layer.size)
            if case.kind != "registry":  # a registry has the layers gzipped by push
                assert layer.descriptor["digest"] == stored["digest"]
        other = open_store(case.path.parent / "copied")
        dest = StoreDestination(other, ["copied:1"])
        with other.writing():
            copy(source, dest, Quiet())
    assert dest.image is not None and dest.image.id == case.image.id
    assert (other.layer_dirs(dest.image)[0] / "bin" / "big").read_bytes() == LAYERS[0]["bin/big"]


def test_a_source_refuses_a_corrupted_blob(case: Case) -> None:
    with case.open() as source:
        big = source.layers()[0]
    case.corrupt(big.digest)
    with case.open() as source:
        layer = source.layers()[0]
        if case.kind != "docker-archive":
            with pytest.raises(DigestMismatch), layer.open() as f:
                f.read()
        # else: a Docker archive names layers by path, not digest: its manifest, written over the
        # archive's files, has the digest of what is there, and the config's diff_id refuses it.
        other = open_store(case.path.parent / "copied")
        with pytest.raises(DigestMismatch), other.writing():
            copy(source, StoreDestination(other, ["copied:1"]), Quiet())
    assert other.images.all() == []
    assert not other.blobs.has(layer.digest) or case.kind == "docker-archive"
