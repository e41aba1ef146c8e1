"""Push and pull an image with one big layer through `freight registry serve` and the CNCF
registry, with freight and with `skopeo copy`, and report the medians and their ratios.

    .venv/bin/python bench/registry_transfer.py [--mb 200] [--runs 6]

The layer is half random, half repeated text, so gzip has some work (200 MB of tar gzip
to about 105 MB). Runs alternate between the registries and, within a run, which client
goes first; every push goes to a freshly started registry (so no blob is already there),
every pull into an empty store or OCI layout, and `sync` runs before each timed command.
What is compared:

* push: freight pushing the pulled (already gzipped) image vs skopeo copying the same
  image from an OCI layout: both upload the same compressed blob;
* pull: freight pulling into an empty store (download, verify, and unpack the layer into
  its snapshot, which skopeo does not do) vs skopeo copying to an OCI layout (download
  and verify only);
* freight's push of the freshly built image, which gzips the layer while uploading it
  (its compressed-layer cache emptied before each run), is shown alone.

Medians of 5 runs, 200 MB layer, on a 2-core machine shared with other work (load
average about 2.5 during the runs, so single figures move by 30% from run to run).
"before" is the previous client (a layer downloaded completely and then unpacked, bodies
read through httpx in 64 KiB pieces, a built layer gzipped completely before its upload,
blobs over 8 MiB sent in 64 MiB PATCH chunks), measured with this script right after
the "after" runs (skopeo's figures are from those):

    registry  what          before   after   skopeo   after/skopeo (before/skopeo)
    freight   push           0.92 s  1.04 s  0.88 s   1.17  (0.86)
              pull           2.11 s  1.37 s  1.03 s   1.33  (2.14)
              push (gzip)    1.70 s  1.70 s
    cncf      push           1.29 s  1.41 s  1.50 s   0.94  (1.17)
              pull           1.85 s  1.42 s  1.01 s   1.40  (1.97)
              push (gzip)    1.99 s  1.88 s

The target (at most 1x skopeo) is not met for pull, and only within noise for push. Pull
is CPU-bound here: freight uses about 1.1 CPU seconds (decompressing and hashing 200 MB,
writing the snapshot's files, the compressed blob and its hash) where skopeo, which does
not unpack, uses about 0.5, and two cores are shared with the registry; Python and httpx
start-up is about 0.2 s of each command. Push of an already gzipped blob is bound by the
registry and start-up; the gzip push overlaps compression with the upload, but syncing
the compressed-layer cache (100 MB) to disk competes with the registry for the same disk.

Later, with the unpack stream ended as soon as the blob matched its digest (so the
unpack's tail overlaps the blob's fsync), two samples of 5 runs each (load average
0.5 to 1.7):

    registry  what          freight   skopeo  freight/skopeo
    freight   push           0.90 s   0.72 s  1.25
              pull           1.25 s   0.80 s  1.56
    cncf      push           1.21 s   0.99 s  1.22
              pull           1.17 s   0.83 s  1.40

    freight   push           0.87 s   0.75 s  1.16
              pull           1.10 s   0.82 s  1.34
    cncf      push           1.16 s   0.85 s  1.37
              pull           1.14 s   0.77 s  1.48

With 6 runs (now the default: an even number, so each client goes first as often; with
5, freight went first three times), load average about 1.3:

    freight   push           0.88 s   0.69 s  1.28
              pull           1.10 s   0.88 s  1.26
    cncf      push           1.16 s   0.91 s  1.27
              pull           1.07 s   0.85 s  1.26

Pulled back to back from one long-running `freight registry serve` that already holds
the image (7 interleaved pairs, load average about 0.5), freight's pull took 0.72 s
(0.93 CPU-s) against skopeo's 0.79 s (0.61 CPU-s): 0.91x. What makes this script's
figures slower for freight than that has not been found (each run's registry is fresh
and has just received the blob; its pulls follow the gzip push).

Pulls alone through `freight registry serve`, 7 interleaved pairs, gave 0.87 s with the
early end against 0.92 s without it (about 1.15 CPU seconds either way). Tried and
dropped, since neither moved the wall time: hashing the uncompressed stream on a
thread of its own (0.89 s against 0.88 s, more CPU), and decompressing on the unpacking
thread instead of ISA-L's worker thread (0.83 s against 0.82 s, 0.97 CPU seconds
against 1.10). The pull stays about 1.3x to 1.5x skopeo: the two cores are saturated
by the pull's own work (decompress about 0.25 CPU-s, the two sha256 passes about 0.2,
page-cache writes of blob and files about 0.3 of system time) plus the registry
serving the blob, and start-up before the first request costs about 0.2 s (module
imports 0.07, httpx import 0.09) that skopeo's Go binary does not pay.
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
from pathlib import Path

from registry_server import start, stop  # the server benchmark's launcher, beside this script

FREIGHT = Path(sys.executable).parent / "freight"
KINDS = ("freight", "cncf")
ROWS = ("push", "pull", "push (gzip)")


def timed(*cmd: str) -> float:
    os.sync()  # earlier runs' dirty pages are not written back during this one
    began = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def make_image(root: Path, tag: str, megabytes: int) -> None:
    from freight.image.config import image_config, layer_descriptor
    from freight.store import open_store
    from freight.store.layerwrite import write_layer

    src = root.parent / "layer-src"
    src.mkdir()
    half = megabytes << 19
    (src / "random").write_bytes(os.urandom(half))
    (src / "text").write_bytes((b"freight registry transfer benchmark line\n" * (half // 41 + 1))[:half])
    store = open_store(root)
    with store.writing(), store.blobs.writer() as w:
        write_layer(src, w, source_date_epoch=0)
        digest = w.commit()
        store.write_image(image_config([digest], [], "1970-01-01T00:00:00Z"),
                          [layer_descriptor(digest, w.size)], tags=[tag])
    shutil.rmtree(src)


def freight(root: Path, *args: str) -> float:
    return timed(str(FREIGHT), "--root", str(root), *args)


def skopeo(skopeo_bin: str, src: str, dst: str) -> float:
    return timed(skopeo_bin, "--insecure-policy", "copy", "--src-tls-verify=false",
                 "--dest-tls-verify=false", src, dst)


def one_run(kind: str, work: Path, built: Path, run: int, skopeo_bin: str) -> dict[str, float]:
    """Seconds of each transfer, freight's and skopeo's, through fresh registries of ``kind``."""
    procs = []
    pulled, layout = work / "pulled", work / "layout"

    def registry() -> str:
        proc, host = start(kind, work)
        procs.append(proc)
        return host

    try:
        shutil.rmtree(built / "distribution", ignore_errors=True)  # push (gzip) compresses again
        source = registry()
        times = {"freight push (gzip)": freight(built, "push", "bench:v1", f"{source}/bench:v1")}
        pulls = [("freight pull", lambda: freight(pulled, "pull", f"{source}/bench:v1")),
                 ("skopeo pull", lambda: skopeo(skopeo_bin, f"docker://{source}/bench:v1",
                                                f"oci:{layout}:v1"))]
        pushes = [("freight push", lambda: freight(pulled, "push", f"{source}/bench:v1",
                                                   f"{registry()}/bench:v1")),
                  ("skopeo push", lambda: skopeo(skopeo_bin, f"oci:{layout}:v1",
                                                 f"docker://{registry()}/bench:v1"))]
        order = slice(None, None, 1 if run % 2 == 0 else -1)  # who goes first alternates
        for name, action in pulls[order] + pushes[order]:
            times[name] = action()
        return times
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(pulled, ignore_errors=True)
        shutil.rmtree(layout, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="layer size in MB (default 200)")
    parser.add_argument("--runs", type=int, default=6, help="runs per registry (default 6: even, so each client goes first as often)")
    args = parser.parse_args()
    skopeo_bin = shutil.which("skopeo")
    if skopeo_bin is None or shutil.which("docker-registry") is None:
        sys.exit("needs skopeo and docker-registry")
    times: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        work = Path(tmp)
        built = work / "built"
        make_image(built, "bench:v1", args.mb)
        for run in range(args.runs):
            for kind in KINDS:
                for name, seconds in one_run(kind, work, built, run, skopeo_bin).items():
                    times[kind].setdefault(name, []).append(seconds)
    print(f"{args.mb} MB layer, medians of {args.runs} runs")
    print(f"{'registry':9} {'what':12} {'freight':>8} {'skopeo':>8} {'freight/skopeo':>15}"
          f"  target: at most 1x")
    for kind in KINDS:
        for row in ROWS:
            ours = statistics.median(times[kind][f"freight {row}"])
            line = f"{kind if row == 'push' else '':9} {row:12} {ours:7.2f}s"
            if f"skopeo {row}" in times[kind]:
                theirs = statistics.median(times[kind][f"skopeo {row}"])
                ratio = ours / theirs
                line += f" {theirs:7.2f}s {ratio:15.2f}  {'met' if ratio <= 1 else 'not met'}"
            print(line)


if __name__ == "__main__":
    main()
