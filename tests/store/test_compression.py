"""Layer compression: sniffing, streaming decompression, deterministic gzip."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard
from layer_helpers import describe, make_tree, needs_root

from freight.errors import LayerError
from freight.store.compression import gzip_compress, media_type_compression, open_layer
from freight.store.layerapply import apply_layer
from freight.store.layerwrite import write_layer

PAYLOAD = os.urandom(1 << 20) + b"compressible " * 200_000


def gz(data: bytes) -> bytes:
    out = io.BytesIO()
    gzip_compress(io.BytesIO(data), out)
    return out.getvalue()


class _Trickle(io.RawIOBase):
    """A stream that gives at most ``step`` bytes per read, as a pipe or socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self.data, self.step = memoryview(data), step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(size, self.step)
        out, self.data = bytes(self.data[:n]), self.data[n:]
        return out


def test_gzip_is_deterministic_and_carries_no_name_or_time() -> None:
    first = gz(PAYLOAD)
    assert first == gz(PAYLOAD)
    assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    assert gzip.decompress(first) == PAYLOAD
    assert len(first) < len(PAYLOAD)


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20])
def test_gzip_output_depends_on_the_bytes_only_not_on_how_they_are_read(size: int) -> None:
    data = (PAYLOAD * 3)[:size]
    whole = gz(data)
    trickled = io.BytesIO()
    gzip_compress(_Trickle(data, 4093), trickled)
    assert trickled.getvalue() == whole
    assert gzip.decompress(whole) == data


def test_gunzip_accepts_it(tmp_path: Path) -> None:
    if shutil.which("gzip") is None:
        pytest.skip("gzip is not installed")
    (tmp_path / "blob.gz").write_bytes(gz(PAYLOAD))
    result = subprocess.run(["gzip", "-t", str(tmp_path / "blob.gz")], capture_output=True)
    assert result.returncode == 0, result.stderr
    out = subprocess.run(["gzip", "-dc", str(tmp_path / "blob.gz")], capture_output=True, check=True).stdout
    assert out == PAYLOAD


@pytest.mark.parametrize("kind", ["gzip", "gzip-multimember", "zstd", "zstd-multiframe", "bzip2", "xz", "plain",
                                  "plain-starting-BZh", "empty"])
def test_open_layer_sniffs_and_streams(kind: str) -> None:
    data = {"empty": b"", "plain-starting-BZh": b"BZh9-named-first-member" + PAYLOAD}.get(kind, PAYLOAD)
    blob = {
        "bzip2": lambda: bz2.compress(data[:1000]) + bz2.compress(data[1000:]),
        "xz": lambda: lzma.compress(data),
        "plain-starting-BZh": lambda: data,
        "gzip": lambda: gz(data),
        "gzip-multimember": lambda: gz(data[:1000]) + gzip.compress(data[1000:]),
        "zstd": lambda: zstandard.ZstdCompressor().compress(data),
        "zstd-multiframe": lambda: (zstandard.ZstdCompressor().compress(data[:5])
                                    + zstandard.ZstdCompressor().compress(data[5:])),
        "plain": lambda: data,
        "empty": lambda: data,
    }[kind]()
    with open_layer(io.BytesIO(blob)) as stream:
        chunks = []
        while chunk := stream.read(65536):
            assert len(chunk) <= 65536
            chunks.append(chunk)
    assert b"".join(chunks) == data


@needs_root
@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_layers_apply(tmp_path: Path, compression: str) -> None:
    make_tree(tmp_path / "src")
    tar = io.BytesIO()
    write_layer(tmp_path / "src", tar)
    tar.seek(0)
    blob = io.BytesIO()
    if compression == "gzip":
        gzip_compress(tar, blob)
    else:
        zstandard.ZstdCompressor().copy_stream(tar, blob)
    blob.seek(0)
    (tmp_path / "dst").mkdir()
    with open_layer(blob) as stream:
        apply_layer(stream, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(tmp_path / "src")


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("application/vnd.oci.image.layer.v1.tar", "none"),
        ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
        ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
        ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"),
        ("application/vnd.docker.image.rootfs.diff.tar", "none"),
    ],
)
def test_media_type_compression(media_type: str, expected: str) -> None:
    assert media_type_compression(media_type) == expected


def test_unknown_media_type_is_refused() -> None:
    with pytest.raises(LayerError, match="unsupported layer media type"):
        media_type_compression("application/vnd.oci.image.config.v1+json")


@pytest.mark.parametrize("kind", ["gzip-truncated", "gzip-garbage", "zstd-garbage", "bzip2-truncated", "xz-garbage"])
def test_corrupt_compressed_data_is_a_layer_error(kind: str) -> None:
    blob = {
        "bzip2-truncated": bz2.compress(PAYLOAD)[:-100],
        "xz-garbage": b"\xfd7zXZ\x00" + b"\xff" * 64,
        "gzip-truncated": gz(PAYLOAD)[:-100],
        "gzip-garbage": b"\x1f\x8b\x08\x00" + b"\xff" * 64,
        "zstd-garbage": b"\x28\xb5\x2f\xfd" + b"\xff" * 64,
    }[kind]
    with open_layer(io.BytesIO(blob)) as stream, pytest.raises(LayerError, match="not valid compressed data"):
        while stream.read(1 << 16):
            pass
