#!/usr/bin/env python3
"""What keeping uncompressed layer blobs encoded costs (import, save, push) and saves (store size).

    .venv/bin/python bench/layer_storage.py [--runs 5] [--mb 200 | --layer FILE] [--bomb-mb 1024]
                                           [--baseline DIR]

The freight of this checkout runs each step; with ``--baseline DIR`` (another checkout,
e.g. ``git archive COMMIT | tar -x -C DIR``) that code runs it too, the two alternating
within each run, so drift in a shared machine hits both alike. Per run, in fresh stores:

* import: ``freight import`` of a layer's ``.tar.gz`` (MB megabytes of tar, half random,
  half repeated text, as ``bench/save_load.py`` uses; or ``--layer FILE``, e.g. a gzipped
  rootfs tar); wall time and how much the store grew (``du -sb``);
* save: ``freight save -o FILE`` of that image;
* push: ``freight push`` of it to a freshly started ``freight registry serve`` on
  127.0.0.1 (the layer is gzipped while it is uploaded);
* bomb: ``freight import`` of a gzip of one file of BOMB_MB MiB of zeros; time and growth.

``sync`` runs before each timed command. Prints the median of each, per code: wall time and
CPU time (user + system of the command's processes, which says more on a busy machine).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FREIGHT = str(Path(sys.executable).parent / "freight")
MIB = 1 << 20


def layer_gz(work: Path, size_mb: int) -> Path:
    """A gzipped layer: one file, half random, half repeated text."""
    from save_load import payload_rootfs  # this script's folder is first on sys.path

    from freight.store.compression import gzip_compress
    from freight.store.layerwrite import write_layer

    rootfs = payload_rootfs(work, size_mb)
    tar, gz = work / "layer.tar", work / "layer.tar.gz"
    with tar.open("wb") as out:
        write_layer(rootfs, out)
    with tar.open("rb") as src, gz.open("wb") as dst:
        gzip_compress(src, dst)
    shutil.rmtree(rootfs)
    tar.unlink()
    return gz


def bomb_gz(work: Path, size_mb: int) -> Path:
    """A tar of one file of zeros, as concatenated gzip members (written in an instant)."""
    info = tarfile.TarInfo("zeros")
    info.size, info.mode = size_mb * MIB, 0o644
    mib = gzip.compress(bytes(MIB), compresslevel=9, mtime=0)
    path = work / "bomb.tar.gz"
    with path.open("wb") as f:
        f.write(gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT), mtime=0))
        for _ in range(size_mb):
            f.write(mib)
        f.write(gzip.compress(bytes(1024), mtime=0))
    return path


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def timed(code: Path, *args: str) -> tuple[float, float]:
    """Wall and CPU time of one freight command run by ``code``."""
    subprocess.run(["sync"], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([FREIGHT, *args], check=True, stdout=subprocess.DEVNULL, cwd="/",
                   env={**os.environ, "PYTHONPATH": str(code)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry(storage: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A fresh ``freight registry serve`` (this checkout's); its process and host:port."""
    port = free_port()
    proc = subprocess.Popen([FREIGHT, "registry", "serve", "--addr", f"127.0.0.1:{port}",
                             "--storage", str(storage)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the registry did not start")


def one_run(code: Path, work: Path, layer: Path, bomb: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of each step, and (MB, MB) of each growth."""
    root = work / "store"
    root.mkdir()
    empty = du(root)
    got = {"import": timed(code, "--root", str(root), "import", str(layer), "bench/layer:1")}
    growth = (du(root) - empty) / 1e6
    got["import growth MB"] = (growth, growth)
    got["save"] = timed(code, "--root", str(root), "save", "-o", str(work / "saved.tar"), "bench/layer:1")
    proc, host = registry(work / "registry")
    try:
        timed(code, "--root", str(root), "tag", "bench/layer:1", f"{host}/bench/layer:1")
        got["push"] = timed(code, "--root", str(root), "push", "-q", f"{host}/bench/layer:1")
    finally:
        proc.terminate()
        proc.wait()
    bomb_root = work / "bomb-store"
    bomb_root.mkdir()
    got["bomb import"] = timed(code, "--root", str(bomb_root), "import", str(bomb), "bench/bomb:1")
    growth = (du(bomb_root) - empty) / 1e6
    got["bomb growth MB"] = (growth, growth)
    for path in (root, bomb_root, work / "registry", work / "saved.tar"):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--layer", type=Path, help="a gzipped layer tar to use instead of the made one")
    parser.add_argument("--bomb-mb", type=int, default=1024)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    args = parser.parse_args()
    codes = {"this": REPO, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    work = Path(tempfile.mkdtemp(prefix="bench-layer-storage-"))
    try:
        layer = args.layer.resolve() if args.layer else layer_gz(work, args.mb)
        bomb = bomb_gz(work, args.bomb_mb)
        print(f"layer: {layer.name}, {layer.stat().st_size / 1e6:.0f} MB gzip; "
              f"bomb: {args.bomb_mb} MiB of zeros, {bomb.stat().st_size / 1e6:.1f} MB gzip; {args.runs} runs")
        results: dict[str, list[dict[str, tuple[float, float]]]] = {name: [] for name in codes}
        for run in range(args.runs):
            order = list(codes.items()) if run % 2 == 0 else list(reversed(codes.items()))
            for name, code in order:
                results[name].append(one_run(code, work, layer, bomb))
        print(f"{'median':18}" + "".join(f"{name + ' wall':>16}{name + ' cpu':>16}" for name in codes))
        for key in results["this"][0]:
            line = f"{key:18}"
            for name in codes:
                wall, cpu = (statistics.median(r[key][i] for r in results[name]) for i in (0, 1))
                line += f"{wall:14.1f}  {'':16}" if key.endswith("MB") else f"{wall:14.2f} s{cpu:14.2f} s"
            print(line.rstrip())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
