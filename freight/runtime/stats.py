"""``freight stats``: a running container's CPU, memory, network, block I/O and PIDs.

Numbers come from its cgroup (``freight.runtime.cgroups``) and, for the
network, ``/proc/<pid>/net/dev`` seen from inside its network namespace. CPU %
is Docker's: the container's share of the host's CPU time between two samples
times the number of CPUs.
"""

from __future__ import annotations

import os
import time

from freight.record import Record
from freight.runtime import cgroups
from freight.runtime.records import Container


class Sample(Record):
    """One container's reading, as ``docker stats`` shows it (bytes, and CPU in percent)."""

    id: str
    name: str
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


def _host_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _net(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def _block_io(cgroup: cgroups.Cgroup) -> tuple[int, int]:
    """Bytes read and written (v1 blkio throttle counters or v2 io.stat)."""
    read = write = 0
    for directory in cgroup.directories():
        for name in ("blkio.throttle.io_service_bytes", "io.stat"):
            try:
                with open(os.path.join(directory, name)) as f:
                    text = f.read()
            except OSError:
                continue
            for line in text.splitlines():
                fields = line.split()
                if name == "io.stat":
                    values = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
                    read += int(values.get("rbytes", 0))
                    write += int(values.get("wbytes", 0))
                elif len(fields) == 3 and fields[1] in ("Read", "Write"):
                    read += int(fields[2]) if fields[1] == "Read" else 0
                    write += int(fields[2]) if fields[1] == "Write" else 0
    return read, write


def sample(containers: list[Container], interval: float = 0.5) -> list[Sample]:
    """One reading per running container; CPU % is measured over ``interval`` seconds."""
    groups = {c.id: cgroups.load(c.id) for c in containers}
    first = {cid: (g.stats().cpu_usage_ns or 0) if g else 0 for cid, g in groups.items()}
    host_first = _host_cpu_ns()
    time.sleep(interval)
    host_delta = max(_host_cpu_ns() - host_first, 1)
    cpus = os.cpu_count() or 1
    out = []
    for c in containers:
        group = groups[c.id]
        if group is None:
            out.append(Sample(c.id, c.name, 0.0, 0, host_memory(), 0, 0, 0, 0, 0))
            continue
        st = group.stats()
        cpu = ((st.cpu_usage_ns or 0) - first[c.id]) / host_delta * cpus * 100.0
        rx, tx = _net(c.pid)
        read, write = _block_io(group)
        out.append(Sample(c.id, c.name, max(cpu, 0.0), st.memory_usage or 0,
                          st.memory_limit or host_memory(), rx, tx, read, write,
                          st.pids_current if st.pids_current is not None else len(group.pids())))
    return out
