#!/usr/bin/env python3
"""Save and load an image with a ~100 MB layer: freight against skopeo, side by side.

freight:  ``freight save -o FILE IMAGE`` and ``freight load -i FILE`` into a fresh store
          (load verifies every digest and diff_id and unpacks the layer, as docker load does).
skopeo:   ``skopeo copy oci:DIR:TAG docker-archive:FILE:IMAGE`` and back into a fresh
          ``oci:DIR`` (containers-storage is not available here).

Each run times the whole process (wall clock); the runs of the two tools alternate.
Prints the medians and freight/skopeo ratios (below 1: freight is faster).

Usage: bench/save_load.py [--runs N] [--size-mb M]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FREIGHT = str(Path(sys.executable).parent / "freight")
TAG = "bench/saveload:latest"


def payload_rootfs(work: Path, size_mb: int) -> Path:
    """A directory ``work/rootfs`` holding one file of ``size_mb`` MB, half random, half repetitive text."""
    rootfs = work / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    half = size_mb << 19
    with (rootfs / "data" / "payload").open("wb") as f:
        f.write(os.urandom(half))
        line = b"freight save/load benchmark line of fairly compressible text\n"
        f.write(line * (half // len(line)))
    return rootfs


def make_image(root: Path, work: Path, size_mb: int) -> None:
    """A store holding TAG: one layer (kept encoded, as freight keeps the layers it makes) with
    the file of ``payload_rootfs``."""
    from freight.image.canonical import image_config, layer_descriptor
    from freight.store import open_store
    from freight.store.layerwrite import write_layer

    rootfs = payload_rootfs(work, size_mb)
    store = open_store(root)
    with store.writing(), store.blobs.writer(encode=True) as blob:
        write_layer(rootfs, blob)
        diff_id = blob.commit()
        config = image_config([diff_id], [{"created": "2024-01-01T00:00:00Z", "created_by": "bench"}],
                              "2024-01-01T00:00:00Z", {"Cmd": ["sh"]})
        store.write_image(config, [layer_descriptor(diff_id, blob.size)], [TAG])
    shutil.rmtree(rootfs)


def timed(command: list[str], before: Callable[[], None]) -> float:
    before()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=100)
    args = parser.parse_args()
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        print("skopeo is not installed (Debian package skopeo)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-save-load-"))
    try:
        return run(work, skopeo, args.runs, args.size_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, skopeo: str, runs: int, size_mb: int) -> int:
    from freight.archive import write_oci_layout
    from freight.store import open_store

    root = work / "store"
    make_image(root, work, size_mb)
    layout = work / "layout"
    write_oci_layout(open_store(root), [TAG], layout, ref_name="bench")
    f_tar, s_tar = work / "freight.tar", work / "skopeo.tar"

    def fresh(*paths: Path) -> Callable[[], None]:
        def clear() -> None:
            for path in paths:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            subprocess.run(["sync"], check=True)
        return clear

    cases = {
        "save": (lambda: timed([FREIGHT, "--root", str(root), "save", "-o", str(f_tar), TAG], fresh(f_tar)),
                 lambda: timed([skopeo, "copy", "-q", f"oci:{layout}:bench", f"docker-archive:{s_tar}:{TAG}"],
                               fresh(s_tar))),
        "load": (lambda: timed([FREIGHT, "--root", str(work / "loaded"), "load", "-i", str(f_tar)],
                               fresh(work / "loaded")),
                 lambda: timed([skopeo, "copy", "-q", f"docker-archive:{s_tar}", f"oci:{work / 'oci-back'}:bench"],
                               fresh(work / "oci-back"))),
    }
    print(f"image: one {size_mb} MB layer; {runs} runs each, alternating; medians, wall time")
    print(f"{'':6} {'freight':>9} {'skopeo':>9} {'ratio':>7}")
    for name, (ours, theirs) in cases.items():
        mine, other = [], []
        for _ in range(runs):
            mine.append(ours())
            other.append(theirs())
        m, o = statistics.median(mine), statistics.median(other)
        print(f"{name:6} {m:8.3f}s {o:8.3f}s {m / o:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
