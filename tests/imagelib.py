"""What the tests make images of, by hand (importable from any test folder as ``imagelib``):
digests, tars, layers and images in a store."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Mapping


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


def tar_of(files: Mapping[str, bytes], links: Mapping[str, str] | None = None, **attrs: object) -> bytes:
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
