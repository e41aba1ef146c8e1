"""Push and pull an image with one big layer through `freight registry serve` and the CNCF
registry, with freight and with `skopeo copy`, and report the times and their ratios.

    .venv/bin/python bench/registry_transfer.py [--mb 200]

The layer is half random, half repeated text, so gzip has some work. Each push goes to a
fresh registry (so no blob is already there). What is compared:

* push: freight pushing the pulled (already gzipped) image vs skopeo copying the same
  image from an OCI layout: both upload the same compressed blobs;
* pull: freight pulling into an empty store (download, verify, then unpack the layer, which
  skopeo does not do) vs skopeo copying to an OCI layout (download and verify only);
* the first freight push of the freshly built image, which gzips the layer, is shown alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from registry_server import start, stop  # the server benchmark's launcher, beside this script

FREIGHT = Path(sys.executable).parent / "freight"


def timed(*cmd: str) -> float:
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


def bench(kind: str, work: Path, megabytes: int, skopeo: str) -> dict[str, float]:
    procs = []
    try:
        proc, first = start(kind, work)
        procs.append(proc)
        built, pulled = work / f"{kind}-built", work / f"{kind}-pulled"
        make_image(built, f"{first}/bench:v1", megabytes)
        times = {"freight push (gzip)": timed(str(FREIGHT), "--root", str(built), "push", f"{first}/bench:v1")}
        times["freight pull"] = timed(str(FREIGHT), "--root", str(pulled), "pull", f"{first}/bench:v1")
        layout = work / f"{kind}-layout"
        times["skopeo pull"] = timed(skopeo, "--insecure-policy", "copy", "--src-tls-verify=false",
                                     f"docker://{first}/bench:v1", f"oci:{layout}:v1")
        proc, second = start(kind, work)
        procs.append(proc)
        times["freight push"] = timed(str(FREIGHT), "--root", str(pulled), "push", f"{first}/bench:v1",
                                      f"{second}/bench:v1")
        proc, third = start(kind, work)
        procs.append(proc)
        times["skopeo push"] = timed(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false",
                                     f"oci:{layout}:v1", f"docker://{third}/bench:v1")
        return times
    finally:
        for proc in procs:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="layer size in MB (default 200)")
    args = parser.parse_args()
    skopeo = shutil.which("skopeo")
    if skopeo is None or shutil.which("docker-registry") is None:
        sys.exit("needs skopeo and docker-registry")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        for kind in ("freight", "cncf"):
            times = bench(kind, Path(tmp), args.mb, skopeo)
            print(f"{kind} registry, {args.mb} MB layer:")
            for name, seconds in times.items():
                print(f"  {name:<22} {seconds:7.2f} s")
            for verb in ("push", "pull"):
                ratio = times[f"freight {verb}"] / times[f"skopeo {verb}"]
                print(f"  {verb} freight/skopeo  {ratio:7.2f}")


if __name__ == "__main__":
    main()
