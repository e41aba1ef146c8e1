"""Push and pull an image with one big layer through `freight registry serve` and the CNCF
registry under the same client (`skopeo copy`), and print the times side by side.

    .venv/bin/python bench/registry_server.py [--mb 200] [--runs 7]

The layer is random bytes in a gzip stream of stored (level 0) blocks: a real gzip layer
that costs the client no compression work, so the times are the transfer, the hashing and
the disk. Each push goes to a freshly started registry on a fresh storage folder (so no
blob is already there and no mount is possible; the folder goes when the registry stops,
so no run's blobs weigh on the next); each pull goes to an empty OCI layout in
memory (/dev/shm where there is one), so the client's disk writes do not blur the servers'.
Runs alternate between the two registries; the table shows medians.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PIECE = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, folder: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """A registry of ``kind`` on a free port with fresh storage: (process, host:port, storage)."""
    port = free_port()
    storage = folder / f"{kind}-{port}"
    if kind == "freight":
        cmd = [sys.executable, "-m", "freight.registry.server", "--addr", f"127.0.0.1:{port}",
               "--root", str(storage)]
    else:
        config = folder / f"cncf-{port}.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                          f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
                          f"http:\n  addr: 127.0.0.1:{port}\n")
        cmd = ["docker-registry", "serve", str(config)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"127.0.0.1:{port}", storage
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} registry did not start")


def stop(proc: subprocess.Popen[bytes], storage: Path) -> None:
    """Stop the registry and remove its storage: no run's blobs stay behind to slow the next."""
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    shutil.rmtree(storage, ignore_errors=True)


def write_blob(blobs: Path, path: Path) -> tuple[str, int]:
    """Move a file into blobs/ under its digest."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    size = path.stat().st_size
    path.rename(blobs / digest)
    return f"sha256:{digest}", size


def make_layout(folder: Path, megabytes: int) -> None:
    """An OCI layout with one layer: a tar of `megabytes` MB of random bytes, gzip level 0."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    size = megabytes * 1_000_000
    tar_path, gz_path = folder / "layer.tar", folder / "layer.tar.gz"
    with tarfile.open(tar_path, "w") as tar:
        data = folder / "random"
        with data.open("wb") as f:
            for start in range(0, size, PIECE):
                f.write(os.urandom(min(PIECE, size - start)))
        tar.add(data, arcname="random")
        data.unlink()
    with tar_path.open("rb") as src, gzip.open(gz_path, "wb", compresslevel=0) as dst:
        shutil.copyfileobj(src, dst, PIECE)
    with tar_path.open("rb") as f:
        diff_id = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    tar_path.unlink()
    layer_digest, layer_size = write_blob(blobs, gz_path)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    (folder / "config").write_bytes(config)
    config_digest, _ = write_blob(blobs, folder / "config")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}]}).encode()
    (folder / "manifest").write_bytes(manifest)
    manifest_digest, _ = write_blob(blobs, folder / "manifest")
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))


def skopeo_copy(skopeo: str, src: str, dst: str) -> float:
    os.sync()  # earlier runs' dirty pages are not written back during this one
    began = time.perf_counter()
    subprocess.run([skopeo, "--insecure-policy", "copy", "--src-tls-verify=false",
                    "--dest-tls-verify=false", src, dst], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(kind: str, work: Path, pull_dir: Path, layout: Path, skopeo: str,
            run: int) -> dict[str, float]:
    """Wall and server CPU seconds of one push and one pull."""
    proc, host, storage = start(kind, work)
    try:
        cpu = cpu_seconds(proc.pid)
        push = skopeo_copy(skopeo, f"oci:{layout}:latest", f"docker://{host}/bench/app:v1")
        push_cpu, cpu = cpu_seconds(proc.pid) - cpu, cpu_seconds(proc.pid)
        out = pull_dir / f"pulled-{kind}-{run}"
        pull = skopeo_copy(skopeo, f"docker://{host}/bench/app:v1", f"oci:{out}:latest")
        pull_cpu = cpu_seconds(proc.pid) - cpu
        shutil.rmtree(out)
    finally:
        stop(proc, storage)
    return {"push": push, "pull": pull, "push cpu": push_cpu, "pull cpu": pull_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="layer size in MB (default 200)")
    parser.add_argument("--runs", type=int, default=7, help="runs per registry (default 7)")
    args = parser.parse_args()
    skopeo = shutil.which("skopeo")
    if skopeo is None or shutil.which("docker-registry") is None:
        sys.exit("needs skopeo and docker-registry")
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="registry-server-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="registry-server-pulls-", dir=memory) as pulls:
        work, pull_dir = Path(tmp), Path(pulls)
        layout = work / "layout"
        make_layout(layout, args.mb)
        times: dict[str, dict[str, list[float]]] = {"freight": {}, "cncf": {}}
        for run in range(args.runs):
            for kind in ("freight", "cncf"):
                for key, value in one_run(kind, work, pull_dir, layout, skopeo, run).items():
                    times[kind].setdefault(key, []).append(value)
    mb = args.mb
    print(f"skopeo copy of one {mb} MB layer, medians of {args.runs} runs "
          "(server cpu: user+system seconds the registry process used)")
    print(f"{'':6} {'freight':>9} {'cncf':>9} {'ratio':>6} {'freight MB/s':>13} {'cncf MB/s':>10}"
          f" {'freight cpu':>12} {'cncf cpu':>9}")
    for verb in ("push", "pull"):
        ours, theirs = (statistics.median(times[k][verb]) for k in ("freight", "cncf"))
        our_cpu, their_cpu = (statistics.median(times[k][f"{verb} cpu"]) for k in ("freight", "cncf"))
        print(f"{verb:6} {ours:8.3f}s {theirs:8.3f}s {ours / theirs:6.2f} {mb / ours:13.0f}"
              f" {mb / theirs:10.0f} {our_cpu:11.2f}s {their_cpu:8.2f}s")


if __name__ == "__main__":
    main()
