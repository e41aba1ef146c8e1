"""Golden digests: a fixed build whose image ID, manifest digests and compressed layer digests
are written here. They must never move by accident: a change that moves them changes what
every user's builds give, so it must be deliberate, update these literals and be named in
CHANGELOG.md (see its "Digest changes" rule)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from testlib import require_tool

from freight.builder.engine import build
from freight.builder.state import BuildOptions
from freight.image.digest import sha256_bytes
from freight.registry.push import push
from freight.store import Store
from freight.store.compression import gzip_compress

CONTEXT = Path(__file__).parent.parent / "golden" / "context"

IMAGE_ID = "sha256:baff2fa9e4fa298d5613dca4dff6368ec9d000e3c9cda730b9444b35ffa6641d"
MANIFEST = "sha256:98f3825892ab227b6fb19223390f30a6fe23b2feb88546eb1984a423b841582b"
DIFF_IDS = [
    "sha256:90844e14705678fec57c78551919a669ddd5929e592fbb92e4c2c76e2647d47f",
    "sha256:4ec2367bbae7b1917239cf52ff3c028e6fb7bba166d12ea3949018f1b7e929e6",
    "sha256:d76130a7ca1a16b7b0dc4918b2f28345476025258f06b8bcc4da6a0055c471ce",
    "sha256:ca1ee68937b2c5772155605d18be7c1485d7cacce4add0cff5b5028c75e21961",
]
GZIP_LAYERS = [
    "sha256:3f93a55e3f67b04f0619797e6984b668509a3ac6849f7b7d9185897f44d3e2ed",
    "sha256:d5e4ec23def295a9b8275e6c2d5cca85ab3ebc95bab831b7c35c67910a053b28",
    "sha256:53d6ff0d5895855aaaa0e606b5bf8200dd0b957d16c0492c1c26963cb0c00831",
    "sha256:d8c99010fe3f3d71615c00ee427dede7555aaa0be1e4000e490c0e042c5ee3ae",
]
PUSHED_MANIFEST = "sha256:4fcb04384baade90994c1ed4173b95ca8428e4711ac786fc5d9ac762e56376e0"
# gzip_compress of golden_stream(): three gzip members
STREAM_GZIP = "sha256:a4a8b1f38741ec2b6f8d9df4f75919b69ceacd409af02df4f98f1189e4b24606"


def golden_stream(size: int = (5 << 20) // 2) -> bytes:
    """Deterministic, partly compressible bytes: sha256 in counter mode, each block repeated."""
    blocks = (hashlib.sha256(b"freight golden %d" % i).digest() * 64 for i in range(size // 2048 + 1))
    return b"".join(blocks)[:size]


def _gzip(data: bytes) -> str:
    out = io.BytesIO()
    gzip_compress(io.BytesIO(data), out)
    return sha256_bytes(out.getvalue())


def _checkout(dest: Path, mode: int, mtime: int) -> Path:
    """The golden context as another checkout may hold it: other permissions, other mtimes."""
    shutil.copytree(CONTEXT, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(mode | (0o111 if path.is_dir() else 0))
        os.utime(path, (mtime, mtime))
    return dest


def test_golden_build_digests(store: Store, registry: Callable[..., str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    context = _checkout(tmp_path / "a" / "context", 0o664, 1_234_567_890)
    result = build(store, BuildOptions(context=str(context), platform="linux/amd64", progress="quiet",
                                       tags=["golden:1"]))
    image = store.resolve_image(result.image_id)
    gzipped = [_gzip(store.blobs.read(d)) for d in image.diff_ids]
    host = registry("freight")
    pushed = push(store, "golden:1", f"{host}/golden:1")
    assert (result.image_id, image.manifest_digest) == (IMAGE_ID, MANIFEST)
    assert image.diff_ids == DIFF_IDS
    assert gzipped == GZIP_LAYERS
    assert pushed == PUSHED_MANIFEST
    other = _checkout(tmp_path / "b" / "context", 0o600, 1_500_000_000)
    again = build(store, BuildOptions(context=str(other), platform="linux/amd64", progress="quiet", no_cache=True))
    assert again.image_id == IMAGE_ID


def test_golden_gzip_stream() -> None:
    data = golden_stream()
    assert _gzip(data) == STREAM_GZIP


# x86-64 CPUs whose features make SIMD code take other paths: no SSE4.2 (ISA-L's gzip gives
# other bytes there), SSE4.2 without AVX (ISA-L's level 3 differs there), AVX2.
@pytest.mark.parametrize("cpu", ["core2duo", "Nehalem", "Haswell"])
def test_gzip_bytes_are_the_same_on_other_cpus(cpu: str) -> None:
    require_tool("qemu-x86_64", "qemu-user")
    code = "from test_golden import golden_stream, _gzip; print(_gzip(golden_stream()))"
    paths = os.pathsep.join([*sys.path, str(Path(__file__).parent)])
    result = subprocess.run(["qemu-x86_64", "-cpu", cpu, os.path.realpath(sys.executable), "-c", code],
                            env={**os.environ, "PYTHONPATH": paths}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [STREAM_GZIP]
