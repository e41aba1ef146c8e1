"""What the tests make images of, by hand (importable from any test folder as ``imagelib``):
digests, tars, layers and images in a store."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from testlib import BUSYBOX_CONFIG

from freight.archive import save
from freight.image.canonical import image_config, layer_descriptor
from freight.image.mediatypes import OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST
from freight.store.images import Image
from freight.store.importer import import_rootfs
from freight.store.layerwrite import write_layer
from freight.store.store import Store

# When make_image's images were made (their config's created time and their files' mtime).
CREATED = "2024-01-02T03:04:05Z"
CREATED_EPOCH = 1704164645


def sha256_digest(data: bytes) -> str:
    """``sha256:HEX`` of ``data``, as image digests are written."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


Member = tuple[tarfile.TarInfo, bytes | None]


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = None, **attrs: object) -> Member:
    """One tar member: ``kind`` a tarfile type, ``attrs`` TarInfo fields (linkname, mode, uid, ...).

    A regular file holds ``data`` (empty without); every member is dated 2023-11-14 unless ``mtime``
    says otherwise."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 1_700_000_000
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, (data if data is not None else (b"" if kind == tarfile.REGTYPE else None))


def tar_bytes(members: Iterable[Member], format: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of hand-made members, in order, names written exactly as given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=format) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_of(files: Mapping[str, bytes], links: Mapping[str, str] | None = None, **attrs: Any) -> bytes:
    """A tar of regular files (name -> content, in order), then symbolic links (name -> target);
    ``attrs``: TarInfo fields of every file (mtime, uid, mode, ...)."""
    regular = [member(name, data=data, **attrs) for name, data in files.items()]
    symlinks = [member(name, tarfile.SYMTYPE, linkname=target) for name, target in (links or {}).items()]
    return tar_bytes(regular + symlinks)


def tar_members(data: bytes) -> dict[str, bytes]:
    """The regular files of a tar: name -> content."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar:
            source = tar.extractfile(info) if info.isreg() else None
            if source is not None:
                found[info.name] = source.read()
    return found


def layer_tar(files: Mapping[str, bytes], mtime: int = CREATED_EPOCH) -> bytes:
    """An uncompressed layer tar of ``files`` (path -> content) as freight writes one, every entry
    dated ``mtime``: the same files give the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = io.BytesIO()
        write_layer(write_files(Path(tmp), files), out, source_date_epoch=mtime)
        return out.getvalue()


def make_image(store: Store, layers: Sequence[Mapping[str, bytes]], tags: Sequence[str] = (), *,
               cmd: list[str] | None = None, arch: str | None = None, encode: bool = True) -> Image:
    """Store an image of one layer per ``layers`` entry (path -> content), created at ``CREATED``.

    Its layers are uncompressed and kept encoded, as freight's builds and imports keep them
    (``encode=False``: kept plain, as in stores made before); ``arch`` sets the config's
    architecture, ``cmd`` its Cmd (``sh`` without)."""
    descriptors, diff_ids = [], []
    with store.writing():
        for files in layers:
            data = layer_tar(files)
            with store.blobs.writer(encode=encode) as writer:
                writer.write(data)
                diff_id = writer.commit()
            diff_ids.append(diff_id)
            descriptors.append(layer_descriptor(diff_id, len(data)))
        history = [{"created": CREATED, "created_by": f"layer {i}"} for i in range(len(layers))]
        config = image_config(diff_ids, history, CREATED, {"Cmd": cmd or ["sh"]})
        if arch:
            config["architecture"] = arch
        return store.write_image(config, descriptors, list(tags))


def import_busybox(store: Store, rootfs: Path) -> Image:
    """``busybox:latest`` in ``store``, imported from ``rootfs`` (the ``busybox_rootfs`` fixture)
    with busybox's image config."""
    return import_rootfs(store, rootfs, ["busybox:latest"], dict(BUSYBOX_CONFIG))


def write_files(root: Path, files: Mapping[str, bytes]) -> Path:
    """``files`` (path -> content) written below ``root``; ``root``."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def oci_layout(layer: bytes, config: bytes, layer_type: str = OCI_LAYER, tag: str | None = None) -> dict[str, bytes]:
    """The files (path -> content) of an OCI image layout of one image: the blob ``layer`` (of
    media type ``layer_type``), its ``config``, their manifest, and an index naming it ``tag``."""
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": sha256_digest(layer), "size": len(layer)}],
    }).encode()
    entry: dict[str, object] = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(manifest), "size": len(manifest)}
    if tag is not None:
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    return {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
            **{f"blobs/sha256/{sha256_digest(blob)[7:]}": blob for blob in (layer, config, manifest)},
            "index.json": json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()}


def make_oci_layout(folder: Path, files: Mapping[str, bytes], tag: str = "latest") -> str:
    """Write an OCI image layout of one gzipped layer holding ``files`` into ``folder``, tagged ``tag``;
    returns the manifest digest."""
    tar = tar_of(files)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
    }).encode()
    layout = oci_layout(gzip.compress(tar, mtime=0), config, OCI_LAYER_GZIP, tag)
    write_files(folder, layout)
    digest: str = json.loads(layout["index.json"])["manifests"][0]["digest"]
    return digest


def saved(store: Store, *names: str) -> bytes:
    """The archive ``freight save NAMES...`` writes."""
    out = io.BytesIO()
    save(store, list(names), out)
    return out.getvalue()
