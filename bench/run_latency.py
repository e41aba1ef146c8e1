"""``freight run --rm busybox true`` against podman, crun and docker: medians and ratios.

Usage (as root): ``python bench/run_latency.py [--runs N]``

Every engine runs the same busybox root filesystem (``scripts/busybox-rootfs.sh``):

* freight: imported into a temporary store (``FREIGHT_ROOT``).
* unconfined: the same with ``--security-opt seccomp=unconfined``; its ratio to
  freight is what the default seccomp filter costs.
* podman: ``podman import`` of the same tree as ``localhost/freight-bench-busybox``.
  Rootful podman raises the nofile limit to 1048576 by default, which fails without
  CAP_SYS_RESOURCE, so the bench points ``CONTAINERS_CONF`` at a temporary
  containers.conf with ``default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]``
  (the same setting as in /etc/containers/containers.conf; /etc is left alone).
* freight-crun, freight-runsc: freight with ``--runtime crun`` and ``--runtime runsc``
  (the external OCI runtimes, when installed); each one's ratio to podman is printed
  as ``freight-crun / podman`` (podman runs its containers with crun too).
* crun: ``crun run`` of an OCI bundle of the same tree (``crun spec``, args ``true``).
  crun refuses a hybrid cgroup host whose v1 side lacks the hugetlb controller; when
  that is missing the bench mounts it (``mkdir -p /sys/fs/cgroup/hugetlb && mount -t
  cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb``) and unmounts it at the end.
  Nothing else on the host is changed.
* docker: ``docker run --rm`` of the imported image, only when a daemon answers.

The whole run is in a network and mount namespace of its own (``netns.py``), so the
bridge and firewall table freight's default network makes stay off the machine.

Runs are interleaved (one of each engine per round, with a short pause before
each) so load changes hit all alike; the report gives each engine's median and
min and freight's ratio to each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netns import prepare, private_network

REPO = Path(__file__).resolve().parents[1]
FREIGHT = Path(sys.executable).parent / "freight"
IMAGE = "localhost/freight-bench-busybox:latest"
HUGETLB = Path("/sys/fs/cgroup/hugetlb")
# Pause before each run: podman finishes a container with background clean-up
# processes that would otherwise eat into whichever engine runs next.
SETTLE = 0.3


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kwargs)


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed


def make_rootfs(work: Path) -> Path:
    rootfs = work / "rootfs"
    sh(str(REPO / "scripts" / "busybox-rootfs.sh"), str(rootfs))
    return rootfs


def setup_freight(work: Path, rootfs: Path, env: dict[str, str]) -> list[str]:
    from freight.store import open_store
    from freight.store.importer import import_rootfs

    store = open_store(work / "freight-root")
    import_rootfs(store, rootfs, ["busybox:latest"],
                  {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]})
    env["FREIGHT_ROOT"] = str(store.root)
    return [str(FREIGHT), "run", "--rm", "busybox", "true"]


def setup_podman(work: Path, rootfs: Path, env: dict[str, str]) -> list[str] | None:
    if shutil.which("podman") is None:
        return None
    podman_conf(work, env)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-q", "-", IMAGE], stdin=tar.stdout, env=env, check=True,
                   capture_output=True)
    tar.wait()
    return ["podman", "--runtime", "crun", "run", "--rm", IMAGE, "true"]


def podman_conf(work: Path, env: dict[str, str]) -> None:
    """Point podman at a containers.conf whose ulimits fit under this machine's hard limits."""
    conf = work / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
    env["CONTAINERS_CONF"] = str(conf)


def setup_crun(work: Path, rootfs: Path) -> list[str] | None:
    if shutil.which("crun") is None:
        return None
    bundle = work / "bundle"
    bundle.mkdir()
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
    sh("crun", "spec", cwd=bundle)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["true"]
    spec["process"]["terminal"] = False
    spec["root"]["readonly"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    return ["crun", "run", "-b", str(bundle), "freight-bench"]


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


def setup_docker(rootfs: Path) -> list[str] | None:
    if not docker_available():
        return None
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-", IMAGE], stdin=tar.stdout, check=True, capture_output=True)
    tar.wait()
    return ["docker", "run", "--rm", IMAGE, "true"]


def mount_hugetlb() -> bool:
    """crun needs the hugetlb v1 controller on a hybrid host; say whether we mounted it."""
    hybrid = Path("/sys/fs/cgroup/unified").is_dir() and Path("/sys/fs/cgroup/memory").is_dir()
    if not hybrid or os.path.ismount(HUGETLB):
        return False
    HUGETLB.mkdir(exist_ok=True)
    sh("mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", str(HUGETLB))
    return True


def start(doc: str, name: str) -> tuple[argparse.Namespace, dict[str, str]]:
    """Parse ``--runs``, insist on root, and compile freight's byte-code (as ``pip install``
    does, so no run pays for it); the environment the commands run with."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit(f"{name}: needs root")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "freight")], check=True)
    return args, {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main() -> int:
    args, env = start(__doc__, "run_latency")
    private_network()  # freight's default bridge and firewall table stay out of the machine
    prepare()
    mounted_hugetlb = False
    with tempfile.TemporaryDirectory(prefix="freight-bench-") as tmp:
        work = Path(tmp)
        rootfs = make_rootfs(work)
        engines: dict[str, list[str]] = {"freight": setup_freight(work, rootfs, env)}
        engines["unconfined"] = [*engines["freight"][:3], "--security-opt", "seccomp=unconfined",
                                 *engines["freight"][3:]]
        for runtime in ("crun", "runsc"):
            if shutil.which(runtime) is not None:
                engines[f"freight-{runtime}"] = [*engines["freight"][:3], "--runtime", runtime,
                                                 *engines["freight"][3:]]
        podman = setup_podman(work, rootfs, env)
        crun = setup_crun(work, rootfs)
        if podman or crun:
            mounted_hugetlb = mount_hugetlb()
        if podman:
            engines["podman"] = podman
        if crun:
            engines["crun"] = crun
        docker = setup_docker(rootfs)
        if docker:
            engines["docker"] = docker
        try:
            times = measure(engines, env, args.runs)
        finally:
            if mounted_hugetlb:
                subprocess.run(["umount", str(HUGETLB)], capture_output=True)
            if podman:
                subprocess.run(["podman", "rmi", "-f", IMAGE], env=env, capture_output=True)
            if docker:
                subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True)
    report(times, mounted_hugetlb)
    return 0


def measure(engines: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, list[float]]:
    for argv in engines.values():  # warm caches (and freight's byte-code)
        for _ in range(2):
            timed(argv, env)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(runs):
        for name, argv in engines.items():
            time.sleep(SETTLE)
            times[name].append(timed(argv, env))
    return times


def report(times: dict[str, list[float]], mounted_hugetlb: bool) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'engine':13} {'median':>9} {'min':>9} {'runs':>5}")
    for name, values in times.items():
        print(f"{name:13} {medians[name] * 1000:8.1f}ms {min(values) * 1000:8.1f}ms {len(values):5}")
    for name, median in medians.items():
        if not name.startswith("freight"):
            print(f"freight / {name}: {medians['freight'] / median:.2f}")
    for name, median in medians.items():
        if name.startswith("freight-") and "podman" in medians:
            print(f"{name} / podman: {median / medians['podman']:.2f}")
    if mounted_hugetlb:
        print("(mounted the hugetlb cgroup v1 controller for crun, and unmounted it again)")


if __name__ == "__main__":
    sys.exit(main())
