"""The digests ``push``, ``save`` (both formats) and ``load`` give a fixed set of images.

Written down as literals before the image pipeline (``freight.image.source`` and the copy
routine) replaced the per-command code: whatever moves images, these bytes stay the same.
The images: one layer and three layers made as freight builds them (uncompressed, kept
encoded), and one pulled from an OCI layout (gzipped layer, manifest bytes kept as written).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

from imagelib import make_image, make_oci_layout, saved

from freight.archive import load
from freight.image import reference
from freight.registry.pull import pull
from freight.registry.push import push
from freight.store import Store, open_store

ONE = [{"etc/hello": b"hello\n"}]
THREE = [{"etc/base": b"base\n", "bin/tool": bytes(range(256)) * 300},
         {"etc/middle": b"middle\n"},
         {"etc/top": b"top\n", "etc/base": b"changed\n"}]
PULLED = {"etc/hello": b"hello from a layout\n", "bin/data": bytes(range(256)) * 64}

IDS = {
    "one": "sha256:0e54bcdb4484130dc60e33def7463ce36ed69c325a0ec7be7d75655bfc24184e",
    "three": "sha256:9d12e6b7f2a574b39b763206f103655c2cc28af0076bae109f5ee44956fb4786",
    "pulled": "sha256:a40145e985bf12bcfe8e9660a651243dab9843b0a2bbbdc111132eba4281a212",
}
MANIFESTS = {
    "one": "sha256:6d05ca14a979f531f64af3e100c659b85fd3aa1aeab8a6d7e9cf1c69f0d1896e",
    "three": "sha256:3444ad10aed7027adaf145a0f0f66fb4ca789b6b0fec585c32658bbb0384d897",
    "pulled": "sha256:21d96e111195b2839c98e01136e491082ef39c2808927ff834126521d9bd814a",
}
PUSHED = {
    "one": "sha256:3f52a26358356e7cd10c5c994f3ca7dc5fda126273c60b4f960ce4158f410807",
    "three": "sha256:38c23880b4fd4a746e086df679240d4073681a56eeb7a6196349182ec0535aa5",
    "pulled": "sha256:21d96e111195b2839c98e01136e491082ef39c2808927ff834126521d9bd814a",
}
SAVED = {
    "one": "sha256:5a76582a1ae93d644389566986ee1d95aa4096187bc0d81c79a5d1030081caaf",
    "three": "sha256:8c39aa8ecb62f308fa751798fe8fb858de094ad8ba5f8706a05cd18a130ca81f",
    "pulled": "sha256:91ac552984c06b5da1a5c8fa754ec1b5d6a2ddd15b05e81fd99c66aea7664947",
    "all": "sha256:dd07d2294d504263805ce65ba1ba6b594a9ac6799848e3c829498c323219c821",
    "pushed-back": "sha256:1d64a6834e7e1d8eacfa13d101ef31a92d94ab7449525fc8e91302432c19b2a4",
}
TRANSPORTS = {
    "oci-index": "sha256:4678c8d038b7b793105ce03093bd0dccb5140f8fc73f481f2ef576f27d6ea37b",
    "oci-archive": "sha256:c4237ca0c85c3c4c7608b5dc98ef24374f00b220c07e3e2b39590e2d3bd62c48",
    "docker-archive": "sha256:0eeb8def18d7db1ea8d6611e4052c916e285f5daf762a812544af302f6be460e",
}


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _images(store: Store, tmp_path: Path) -> dict[str, str]:
    """The three images in ``store``, by name: their references."""
    make_image(store, ONE, ["golden/one:1"])
    make_image(store, THREE, ["golden/three:1"])
    make_oci_layout(tmp_path / "layout", PULLED, tag="v1")
    store.images.tag(pull(store, f"oci:{tmp_path / 'layout'}:v1").id, reference.parse("golden/pulled:1"))
    return {"one": "golden/one:1", "three": "golden/three:1", "pulled": "golden/pulled:1"}


def test_store_images_have_the_recorded_ids(store: Store, tmp_path: Path) -> None:
    refs = _images(store, tmp_path)
    assert {name: store.resolve_image(ref).id for name, ref in refs.items()} == IDS
    assert {name: store.resolve_image(ref).manifest_digest for name, ref in refs.items()} == MANIFESTS


def test_save_gives_the_recorded_bytes_and_load_the_recorded_images(store: Store, tmp_path: Path) -> None:
    refs = _images(store, tmp_path)
    archives = {name: saved(store, ref) for name, ref in refs.items()}
    archives["all"] = saved(store, *refs.values())
    archives["pushed-back"] = b""
    got = {name: _sha(data) for name, data in archives.items() if data}
    assert got == {k: v for k, v in SAVED.items() if k != "pushed-back"}
    other = open_store(tmp_path / "loaded")
    loaded = load(other, io.BytesIO(archives["all"]))
    assert sorted((image.id, image.manifest_digest) for image in loaded) == \
        sorted((IDS[name], MANIFESTS[name]) for name in refs)
    for name, ref in refs.items():
        assert other.resolve_image(ref).id == IDS[name]


def test_push_gives_the_recorded_manifests_and_a_pull_gives_them_back(
        store: Store, tmp_path: Path, registry: Callable[[str], str]) -> None:
    host = registry("freight")
    refs = _images(store, tmp_path)
    pushed = {}
    for name, ref in refs.items():
        pushed[name] = push(store, ref, f"{host}/golden/{name}:1")
    assert pushed == PUSHED
    back = open_store(tmp_path / "back")
    for name in refs:
        image = pull(back, f"{host}/golden/{name}:1")
        assert (image.id, image.manifest_digest) == (IDS[name], PUSHED[name])
        assert f"{host}/golden/{name}@{PUSHED[name]}" in image.repo_digests
    by_id = saved(back, *(IDS[name] for name in refs))  # untagged: the registry's port is in no name
    assert _sha(by_id) == SAVED["pushed-back"]


def test_archive_transports_give_the_recorded_bytes(store: Store, tmp_path: Path) -> None:
    _images(store, tmp_path)
    push(store, "golden/three:1", f"oci:{tmp_path / 'out-layout'}:v3")
    push(store, "golden/pulled:1", f"oci:{tmp_path / 'out-layout'}:p1")
    push(store, "golden/three:1", f"oci-archive:{tmp_path / 'out.tar'}:v3")
    push(store, "golden/pulled:1", f"docker-archive:{tmp_path / 'docker.tar'}:example.com/x:v2")
    got = {"oci-index": _sha((tmp_path / "out-layout" / "index.json").read_bytes()),
           "oci-archive": _sha((tmp_path / "out.tar").read_bytes()),
           "docker-archive": _sha((tmp_path / "docker.tar").read_bytes())}
    assert got == TRANSPORTS
    blobs = sorted(p.name for p in (tmp_path / "out-layout" / "blobs" / "sha256").iterdir())
    assert blobs == sorted({d[7:] for name in ("three", "pulled") for d in _blobs(store, name)})


def _blobs(store: Store, name: str) -> list[str]:
    image = store.resolve_image(f"golden/{name}:1")
    return [image.manifest_digest, image.id, *(layer["digest"] for layer in image.layers)]
