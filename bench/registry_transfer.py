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

Every registry's storage is removed when it stops. Until it was, a 10-run bench left
about 6 GB of stopped registries' blobs behind, and the pulls after them were slower,
freight's most (table below). The likely reason: a pull writes three times the bytes
skopeo's does (blob and snapshot), and on this virtual machine writing into memory not
used before costs several times what reusing freed pages does (see below).

Figures: 200 MB layer, on a 2-core machine, freight/skopeo as the ratio of the medians
of 10 runs. Single figures move by 10% to 30% from run to run, so each column is one
whole run of this script: three on one day with the storage removed, then one as the
script was before, just after them:

    registry  what      storage removed      storage kept
    freight   push      0.92  0.92  0.83     0.94
              pull      1.04  0.76  0.73     1.02
    cncf      push      1.00  0.94  0.99     1.03
              pull      0.84  0.85  0.84     1.16

Each run's own ratio in the third run, median [min-max]: freight push 0.84 [0.70-0.93],
pull 0.78 [0.67-0.89]; CNCF push 1.00 [0.83-1.13], pull 0.83 [0.76-0.95]. In seconds
(second run): freight push 0.72 against skopeo's 0.79, pull 0.75 against 0.99; through
the CNCF registry push 0.95 against 1.00, pull 0.79 against 0.93; freight's push of the
freshly built image (gzip while uploading) 1.55. So the target (at most 1x) was met in
two whole runs of three; the first gave a freight-registry pull of 1.04x and a CNCF
push just over 1.00x. (These figures are from when push gzipped with ISA-L. Push now gzips
with libdeflate, whose output is the same on every CPU (issue 14): on this machine it
compresses such tars at about 65 MB/s against ISA-L's 125 MB/s, so the push of a freshly
built 200 MB layer costs about 1.5 s more; pushes of pulled images, which are not
recompressed, do not change.) Pushing through the CNCF registry sits at skopeo's time (0.94x
to 1.00x): what is left between them is start-up (a push of an image the registry
already holds, which is little more than start-up and exit: freight 0.15 s, skopeo
0.04 s).

What changed, and what each was worth:

* Start-up before the first request went from about 0.3 s to about 0.16 s (skopeo's
  is about 0.035 s): requests go through the standard library's ``http.client``
  (``registry/connections.py``) instead of httpx (about 0.07 s of imports and client
  set-up); an insecure registry's TLS attempt loads no CA bundle (0.05 s); no
  ``dataclasses`` (``inspect``), ``subprocess`` or ``tarfile`` imports on
  the way. A hand-written HTTP/1.1 module (saving ``http.client``'s ``email`` imports,
  about 0.04 s, and sending blobs with ``sendfile(2)``) and a thread pool of our own
  (saving ``concurrent.futures``' ``logging`` import) were tried: they brought the
  CNCF push to 0.96x to 1.08x, no clearer a win than the noise, and were dropped in
  favour of the standard library.
* A downloading blob is synced every 16 MiB and its synced pages are dropped from the
  page cache. The final fsync of a 105 MB blob took 0.15 to 0.2 s (in a virtual
  machine the host persists the data only when the guest flushes); spread over the
  download it costs about 12 ms at the end. Dropping the pages matters more than it
  looks: on this machine writing to page-cache pages never used before costs 5 to 7
  times the system time of reusing freed ones (200 MB: 0.36 to 0.47 s against 0.06),
  and a pull writes 105 MB of blob and 200 MB of snapshot; reusing the blob's pages
  for the snapshot cut a pull's system time from about 0.8 s to about 0.65 s. This is also
  what made this script's pulls slower than pulls repeated into one store (where the
  pages freed by the last run are reused): the cause recorded as not found before.
* The decompressed layer's buffer is 64 KiB so MiB reads go past it (about 5% less CPU
  in the unpack).

Push of an already gzipped blob is bound by the registry: freight's upload phase is
as fast as skopeo's or faster (through the CNCF registry the 105 MB ``PATCH`` takes
about 0.85 s from either client), so the gap left is start-up: the Python interpreter
and freight's own imports, about 0.15 s before the first request against skopeo's
0.035 s; ``http.client`` with the ``email`` and ``ssl`` modules it imports is about
0.07 s of that. The interpreter's teardown at exit took another 40 to 55 ms after a
command that had started threads; it is now skipped once no thread is left running
(exit handlers still run). Pull stays CPU-bound on two cores: it decompresses, hashes
and writes 200 MB that skopeo, which does not unpack, never touches.

Earlier work, kept for the record: unpacking each layer while it downloads (ending the
unpack stream once the blob matched its digest, so the unpack's tail overlaps the
blob's commit) took pull from about 2x skopeo to about 1.3x. Tried and dropped, since
neither moved the wall time: hashing the uncompressed stream on a thread of its own,
and decompressing on the unpacking thread instead of ISA-L's worker thread.
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
    from freight.image.canonical import image_config, layer_descriptor
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
        proc, host, storage = start(kind, work)
        procs.append((proc, storage))
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
        for proc, storage in procs:
            stop(proc, storage)
        shutil.rmtree(pulled, ignore_errors=True)
        shutil.rmtree(layout, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="layer size in MB (default 200)")
    parser.add_argument("--runs", type=int, default=6,
                        help="runs per registry (default 6: even, so each client goes first as often)")
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
    print(f"{args.mb} MB layer, medians of {args.runs} runs; each run's own ratio too, as median [min-max]")
    print(f"{'registry':9} {'what':12} {'freight':>8} {'skopeo':>8} {'freight/skopeo':>15}"
          f"  {'per run':18}  target: at most 1x")
    for kind in KINDS:
        for row in ROWS:
            ours = statistics.median(times[kind][f"freight {row}"])
            line = f"{kind if row == 'push' else '':9} {row:12} {ours:7.2f}s"
            if f"skopeo {row}" in times[kind]:
                theirs = statistics.median(times[kind][f"skopeo {row}"])
                ratio = ours / theirs
                per_run = [a / b for a, b in zip(times[kind][f"freight {row}"], times[kind][f"skopeo {row}"])]
                spread = f"{statistics.median(per_run):.2f} [{min(per_run):.2f}-{max(per_run):.2f}]"
                line += f" {theirs:7.2f}s {ratio:15.2f}  {spread:18}  {'met' if ratio <= 1 else 'not met'}"
            print(line)


if __name__ == "__main__":
    main()
