"""cgroups: value parsing, the v2 file writes (on a temp tree), and real kernel limits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from freight.errors import InvalidArgument
from freight.runtime import cgroups, limits
from freight.runtime.cgroups import Layout
from freight.runtime.limits import DeviceRule, Resources

# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1024", 1024), ("512k", 512 << 10), ("32m", 32 << 20), ("1G", 1 << 30),
     ("1.5g", 3 << 29), ("2gb", 2 << 30), ("64MiB", 64 << 20), ("10 m", 10 << 20)],
)
def test_parse_memory(text: str, expected: int) -> None:
    assert limits.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["abc", "-1", "1x", "", "m", "1.2.3g"])
def test_parse_memory_rejects_with_dockers_message(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        limits.parse_memory(text)
    assert str(info.value) == f"invalid argument \"{text}\" for \"-m, --memory\" flag: invalid size: '{text}'"


def test_parse_memory_swap_accepts_unlimited() -> None:
    assert limits.parse_memory_swap("-1") == -1
    assert limits.parse_memory_swap("1g") == 1 << 30
    with pytest.raises(InvalidArgument, match='for "--memory-swap" flag: invalid size'):
        limits.parse_memory_swap("-2")


@pytest.mark.parametrize(("text", "expected"), [("0.5", 0.5), ("2", 2.0), ("3/2", 1.5), ("1e-2", 0.01)])
def test_parse_cpus(text: str, expected: float) -> None:
    assert limits.parse_cpus(text) == expected


def test_parse_cpus_errors() -> None:
    with pytest.raises(InvalidArgument) as info:
        limits.parse_cpus("abc")
    assert str(info.value) == (
        'invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number'
    )
    with pytest.raises(InvalidArgument, match='"--cpus" flag: value is too precise'):
        limits.parse_cpus("0.0000000001")


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (Resources(memory=1 << 20), "Minimum memory limit allowed is 6MB"),
        (Resources(memory_swap=64 << 20),
         "You should always set the Memory limit when using Memoryswap limit, see usage"),
        (Resources(memory=64 << 20, memory_swap=32 << 20),
         "Minimum memoryswap limit should be larger than memory limit, see usage"),
        (Resources(cpus=1000.0),
         f"Range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
         f"{os.cpu_count()} CPUs available"),
        (Resources(cpus=0.5, cpu_period=50000),
         "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (Resources(cpuset_cpus="0-999"), "Requested CPUs are not available - requested 0-999"),
        (Resources(cpuset_cpus="x"), "Invalid value x for cpuset cpus"),
    ],
)
def test_validate_uses_dockers_messages(resources: Resources, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resources.validate()
    assert str(info.value).startswith(message)


def test_swap_defaults_to_twice_memory() -> None:
    assert Resources(memory=100).effective_memory_swap() == 200
    assert Resources(memory=100, memory_swap=-1).effective_memory_swap() == -1
    assert Resources().effective_memory_swap() is None


def test_cfs_quota_from_cpus() -> None:
    assert Resources(cpus=0.29).cfs() == (29000, 100000)  # not 28999 from float error
    assert Resources(cpus=1.5).cfs() == (150000, 100000)
    assert Resources(cpu_quota=50000).cfs() == (50000, 100000)
    assert Resources().cfs() is None


def test_shares_to_weight_matches_runc() -> None:
    assert cgroups.shares_to_weight(2) == 1
    assert cgroups.shares_to_weight(1024) == 39
    assert cgroups.shares_to_weight(262144) == 10000


def test_device_rule_lines() -> None:
    assert DeviceRule("c", 1, 3, "rwm").v1_line() == "c 1:3 rwm"
    assert DeviceRule("a", allow=False).v1_line() == "a *:* rwm"
    assert DeviceRule("c", 136, None).v1_line() == "c 136:* rwm"


# ---------------------------------------------------------------- v2 (file writes on a temp tree)


@pytest.fixture
def v2_tree(tmp_path: Path) -> Layout:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    return Layout("v2", {}, str(tmp_path))


def test_v2_create_writes_limits(v2_tree: Layout) -> None:
    root = Path(v2_tree.v2_root or "")
    resources = Resources(memory=64 << 20, cpus=0.5, cpu_shares=1024, pids_limit=20,
                          cpuset_cpus="0", cpuset_mems="0")
    cg = cgroups.create("c1", resources, v2_tree)
    directory = root / "freight" / "c1"
    assert cg.directories() == [str(directory)]
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory +pids +cpuset"
    assert (root / "freight" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids +cpuset"
    assert (directory / "memory.max").read_text() == str(64 << 20)
    assert (directory / "memory.swap.max").read_text() == str(64 << 20)  # swap alone
    assert (directory / "cpu.max").read_text() == "50000 100000"
    assert (directory / "cpu.weight").read_text() == "39"
    assert (directory / "pids.max").read_text() == "20"
    assert (directory / "cpuset.cpus").read_text() == "0"
    assert not cg.devices_enforced


def test_v2_writes_only_what_is_asked(v2_tree: Layout) -> None:
    cg = cgroups.create("c2", Resources(memory_swap=-1, memory=64 << 20), v2_tree)
    directory = Path(cg.directories()[0])
    assert (directory.parent / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert sorted(p.name for p in directory.iterdir()) == ["memory.max", "memory.swap.max"]
    assert (directory / "memory.swap.max").read_text() == "max"


def test_v2_second_container_reuses_parent(v2_tree: Layout) -> None:
    cgroups.create("a", Resources(), v2_tree)
    control = Path(v2_tree.v2_root or "") / "freight" / "cgroup.subtree_control"
    control.write_text("cpu memory pids\n")  # what the kernel shows once enabled
    cgroups.create("b", Resources(), v2_tree)
    assert control.read_text() == "cpu memory pids\n"  # nothing written again
    cgroups.create("c", Resources(cpuset_cpus="0"), v2_tree)
    assert control.read_text() == "+cpuset"  # only the missing controller


def test_v2_add_events_and_stats(v2_tree: Layout) -> None:
    cg = cgroups.create("c3", Resources(memory=64 << 20), v2_tree)
    directory = Path(cg.directories()[0])
    cg.add(4242)
    assert (directory / "cgroup.procs").read_text() == "4242"
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not cg.oom_killed()
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()
    (directory / "memory.current").write_text("1000000\n")
    (directory / "memory.stat").write_text("anon 800000\nfile 200000\ninactive_file 150000\n")
    (directory / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    (directory / "pids.current").write_text("3\n")
    (directory / "memory.max").write_text("max\n")
    stats = cg.stats()
    assert (stats.memory_usage, stats.memory_limit, stats.cpu_usage_ns, stats.pids_current) == (
        850000, None, 2500000, 3)
    loaded = cgroups.load("c3", v2_tree)
    assert loaded is not None and loaded.directories() == cg.directories()
    assert cgroups.load("nope", v2_tree) is None


def test_create_validates_before_making_directories(v2_tree: Layout) -> None:
    with pytest.raises(InvalidArgument, match="always set the Memory limit"):
        cgroups.create("c4", Resources(memory_swap=1 << 30), v2_tree)
    assert not (Path(v2_tree.v2_root or "") / "freight").exists()


# ---------------------------------------------------------------- real kernel


def _kernel_layout() -> Layout:
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    try:
        return cgroups.detect_layout()
    except Exception as exc:  # noqa: BLE001 - any failure means no usable cgroups here
        pytest.skip(f"no cgroup hierarchy: {exc}")


@pytest.fixture
def make_cgroup() -> Iterator:
    _kernel_layout()
    made: list[cgroups.Cgroup] = []

    def make(resources: Resources) -> cgroups.Cgroup:
        cg = cgroups.create(f"test-{uuid.uuid4().hex[:12]}", resources)
        made.append(cg)
        return cg

    yield make
    for cg in made:
        cg.destroy()


def _run_in(cg: cgroups.Cgroup, code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run Python code in the cgroup: joined between fork and exec, as the core does."""
    return subprocess.run([sys.executable, "-c", code], preexec_fn=lambda: cg.add(os.getpid()),
                          capture_output=True, text=True, timeout=timeout)


def test_memory_limit_oom_kills(make_cgroup) -> None:
    cg = make_cgroup(Resources(memory=32 << 20))
    assert not cg.oom_killed()
    result = _run_in(cg, "b = bytearray(100 << 20); b[::4096] = b'x' * len(b[::4096])")
    assert result.returncode == -signal.SIGKILL
    assert cg.oom_killed()
    assert cg.stats().memory_limit == 32 << 20


def test_memory_within_limit_is_not_oom(make_cgroup) -> None:
    cg = make_cgroup(Resources(memory=64 << 20))
    result = _run_in(cg, "b = bytearray(8 << 20)")
    assert result.returncode == 0, result.stderr
    assert not cg.oom_killed()


BUSY_TWO = """
import os, time
end = time.monotonic() + {seconds}
pid = os.fork()
while time.monotonic() < end:
    pass
if pid:
    os.waitpid(pid, 0)
"""


def test_cpus_quota_limits_cpu_time(make_cgroup) -> None:
    cg = make_cgroup(Resources(cpus=0.5))
    wall = 1.5
    started = time.monotonic()
    result = _run_in(cg, BUSY_TWO.format(seconds=wall))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    used = (cg.stats().cpu_usage_ns or 0) / 1e9
    # two busy processes for 1.5 s would use about 3 CPU-seconds on 2 cores
    assert 0.1 < used <= 0.5 * elapsed * 1.1 + 0.05, (used, elapsed)


def test_pids_limit_stops_forks(make_cgroup) -> None:
    cg = make_cgroup(Resources(pids_limit=4))
    code = """
import os, time
children, refused = [], 0
for _ in range(8):
    try:
        pid = os.fork()
    except BlockingIOError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(0.5)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print(len(children), refused)
"""
    result = _run_in(cg, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "5"]
    assert cg.stats().pids_limit == 4


def test_cpuset_pins_cpus(make_cgroup) -> None:
    cg = make_cgroup(Resources(cpuset_cpus="0"))
    result = _run_in(cg, "import os; print(sorted(os.sched_getaffinity(0)))")
    assert result.stdout.strip() == "[0]"


def test_device_rules_deny_unlisted_devices(make_cgroup) -> None:
    cg = make_cgroup(Resources(devices=[DeviceRule("a", allow=False), DeviceRule("c", 1, 3)]))
    if not cg.devices_enforced:
        pytest.skip("device rules need the v1 devices controller")
    code = """
open('/dev/null', 'rb').close()
try:
    open('/dev/zero', 'rb')
except PermissionError:
    print('denied')
"""
    result = _run_in(cg, code)
    assert result.stdout.strip() == "denied", result.stderr


def test_pids_freeze_kill_and_destroy(make_cgroup) -> None:
    cg = make_cgroup(Resources(memory=64 << 20))
    proc = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: cg.add(os.getpid()))
    assert cg.pids() == [proc.pid]
    loaded = cgroups.load(cg.container_id)
    assert loaded is not None and sorted(loaded.directories()) == sorted(cg.directories())
    cg.freeze()
    cg.thaw()
    stats = cg.stats()
    assert stats.pids_current == 1 and stats.memory_usage is not None
    cg.destroy()
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert not any(os.path.exists(d) for d in cg.directories())
    assert cgroups.load(cg.container_id) is None
    cg.destroy()  # idempotent


def test_create_is_cheap(make_cgroup) -> None:
    started = time.perf_counter()
    make_cgroup(Resources(memory=64 << 20, cpus=1.0, pids_limit=100))
    assert time.perf_counter() - started < 0.05


def test_destroy_handles_cgroups_made_inside(make_cgroup) -> None:
    """A container may create cgroups below its own: pids() and destroy() see them."""
    cg = make_cgroup(Resources())
    proc = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: cg.add(os.getpid()))
    for directory in cg.directories():
        inner = os.path.join(directory, "inner")
        os.mkdir(inner)
        with open(os.path.join(inner, "cgroup.procs"), "w") as f:
            f.write(str(proc.pid))
    assert cg.pids() == [proc.pid]
    cg.destroy()
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert not any(os.path.exists(d) for d in cg.directories())
