"""Run a benchmark in a network and mount namespace of its own (as root).

freight's default network makes a bridge, a firewall table and sets forwarding the
first time a container runs: a benchmark must not leave them on the machine. The
script re-executes itself under ``unshare --net --mount``; inside, ``lo`` is brought
up and what freight (and podman) write under /run gets private tmpfs mounts. A
Docker daemon, if one answers, still runs containers in its own namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys

MARK = "FREIGHT_BENCH_NETNS"
PRIVATE_RUN = ("/run/freight", "/run/netns")


def private_network() -> None:
    """Re-execute this script in namespaces of its own, unless this is already that run."""
    if os.environ.get(MARK) == "1":
        return
    os.environ[MARK] = "1"
    try:
        os.execvp("unshare", ["unshare", "--net", "--mount", "--propagation", "private", sys.executable,
                              *sys.orig_argv[1:]])
    finally:
        os.environ.pop(MARK, None)


def prepare(extra: tuple[str, ...] = ()) -> None:
    """Inside: the loopback up, tmpfs over freight's (and ``extra``) directories under /run."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for directory in (*PRIVATE_RUN, *extra):
        if os.path.isdir(directory):
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", directory], check=True)
