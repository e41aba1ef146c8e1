"""Benchmark: unpacking gzip layers with freight vs GNU ``tar -xzf`` vs ``umoci unpack``.

Layers: a Debian bookworm minbase rootfs made by mmdebstrap (cached; when
mmdebstrap cannot run, e.g. offline, the host's /usr stands in and the report
says so) and a single 100 MB random file. Each tool unpacks the same
``.tar.gz`` into a fresh directory on the same filesystem, several times;
the median wall and CPU time of each and freight's ratios to the others are
printed (CPU time says more than wall time on a busy machine). A ``freight import``
row times the whole import of the same file into a fresh store: the unpack plus
hashing the tar and keeping it (zstd-encoded) as the layer's blob.

Run as root: ``python bench/unpack.py [--runs N] [--cache DIR] [--scratch DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from freight.store.compression import gzip_compress
from freight.store.layerwrite import write_layer

FREIGHT_APPLY = (
    "import sys; from pathlib import Path;"
    "from freight.store.compression import open_layer; from freight.store.layerapply import apply_layer;"
    "f = open(sys.argv[1], 'rb'); s = open_layer(f); apply_layer(s, Path(sys.argv[2])); s.close()"
)


def minbase_tar(cache: Path) -> tuple[Path, str]:
    """The rootfs tar and a line saying where it came from."""
    tar = cache / "bookworm-minbase.tar"
    if tar.exists():
        return tar, "Debian bookworm minbase (mmdebstrap, cached)"
    partial = cache / "partial-minbase.tar"
    result = subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--format=tar", "bookworm", str(partial)],
        capture_output=True, text=True,
    )
    if result.returncode == 0:
        partial.rename(tar)
        return tar, "Debian bookworm minbase (mmdebstrap)"
    print(f"mmdebstrap failed (offline?), using the host's /usr instead:\n{result.stderr[-500:]}", file=sys.stderr)
    fallback = cache / "host-usr.tar"
    if not fallback.exists():
        subprocess.run(["tar", "--numeric-owner", "-C", "/", "-cf", str(fallback), "usr"], check=True)
    return fallback, "host /usr (mmdebstrap unavailable)"


def random_file_tar(cache: Path) -> Path:
    tar = cache / "random-100m.tar"
    if not tar.exists():
        tree = cache / "random-tree"
        tree.mkdir(exist_ok=True)
        with open(tree / "blob.bin", "wb") as f:
            for _ in range(100):
                f.write(os.urandom(1 << 20))
        with open(tar, "wb") as out:
            write_layer(tree, out)
        shutil.rmtree(tree)
    return tar


def gzipped(tar: Path) -> Path:
    gz = tar.with_suffix(".tar.gz")
    if not gz.exists():
        with open(tar, "rb") as src, open(gz, "wb") as dst:
            gzip_compress(src, dst)
    return gz


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(tar: Path, gz: Path, layout: Path) -> None:
    """A one-layer OCI image layout tagged ``latest``, for umoci."""
    if (layout / "index.json").exists():
        return
    (layout / "blobs/sha256").mkdir(parents=True)
    digest = sha256_file(gz)
    shutil.copyfile(gz, layout / "blobs/sha256" / digest)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{digest}",
             "size": gz.stat().st_size}
    config = {
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha256_file(tar)}"]},
    }
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **write_blob(layout, json.dumps(config).encode())},
        "layers": [layer],
    }
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **write_blob(layout, json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def timed(command: list[str], target: Path, make_target: bool) -> tuple[float, float]:
    """Wall time and CPU time (user + system, all its processes) of one unpack into a new directory.

    Trees stay until the layer's runs are over: deleting one between runs makes
    the filesystem discard blocks while the next run creates files.
    """
    if make_target:
        target.mkdir()
    subprocess.run(["sync"], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([part.replace("{target}", str(target)) for part in command], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_layer(label: str, tar: Path, cache: Path, scratch_root: Path, runs: int) -> None:
    gz = gzipped(tar)
    layout = cache / f"oci-{tar.stem}"
    oci_layout(tar, gz, layout)
    commands = {
        "freight": ([sys.executable, "-c", FREIGHT_APPLY, str(gz), "{target}"], True),
        "freight import": ([str(Path(sys.executable).parent / "freight"), "--root", "{target}", "import", str(gz)],
                           True),
        "tar -xzf": (["tar", "-xzf", str(gz), "-C", "{target}"], True),
        "umoci unpack": (["umoci", "unpack", "--image", f"{layout}:latest", "{target}"], False),
    }
    available = {name: spec for name, spec in commands.items() if shutil.which(spec[0][0])}
    walls: dict[str, list[float]] = {name: [] for name in available}
    cpus: dict[str, list[float]] = {name: [] for name in available}
    with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
        for run in range(runs):  # interleaved, so drift in the machine hits every tool alike
            for number, (name, (command, make_target)) in enumerate(available.items()):
                wall, cpu = timed(command, Path(scratch) / f"{run}-{number}", make_target)
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"\n{label}: {tar.stat().st_size / 1e6:.0f} MB tar, {gz.stat().st_size / 1e6:.0f} MB gzip, {runs} runs")
    wall_med = {name: statistics.median(values) for name, values in walls.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpus.items()}
    for name, values in walls.items():
        print(
            f"  {name:14} wall median {wall_med[name]:6.3f} s (min {min(values):.3f}, max {max(values):.3f})"
            f"  cpu median {cpu_med[name]:6.3f} s"
        )
    for other in ("tar -xzf", "umoci unpack"):
        if other in wall_med:
            print(
                f"  freight / {other}: wall {wall_med['freight'] / wall_med[other]:.2f}x,"
                f" cpu {cpu_med['freight'] / cpu_med[other]:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "freight-bench-cache")
    parser.add_argument("--scratch", type=Path,
                        help="where to unpack (default: the cache dir); a tmpfs takes the disk out")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: unpacking keeps owners and device nodes")
    args.cache.mkdir(parents=True, exist_ok=True)
    rootfs, origin = minbase_tar(args.cache)
    scratch = args.scratch or args.cache
    print(f"unpacking into {scratch}")
    bench_layer(f"rootfs layer: {origin}", rootfs, args.cache, scratch, args.runs)
    bench_layer("single 100 MB random file", random_file_tar(args.cache), args.cache, scratch, args.runs)


if __name__ == "__main__":
    main()
