"""Every journey as an ordinary user: the user namespace, the store owned by mapped IDs,
containers, builds, registries and archives (see conftest.py for how freight runs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

from testlib import free_port, http_get, machine_network, run_freight, wait_until

from freight.runtime.cgroups import detect_layout
from freight.runtime.userns import Ranges

TYPE_CHECKING = False
if TYPE_CHECKING:  # conftest modules share one name: import it only for the type checker
    from conftest import Rootless


def _load_busybox(user: Rootless, busybox_tar: Path) -> None:
    user("load", "-i", str(busybox_tar), check=True)


def _owners_tar(path: Path) -> Path:
    """A layer tar with files owned by 0, 33 and 1000."""
    with tarfile.open(path, "w") as tar:
        for name, owner in (("srv/root", 0), ("srv/www", 33), ("srv/user", 1000)):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = owner
            info.size = len(name)
            tar.addfile(info, BytesIO(name.encode()))
    path.chmod(0o644)
    return path


def test_unshare_maps_the_subordinate_ranges(rootless: Rootless) -> None:
    start, count = Ranges.find("/etc/subuid", rootless.user, rootless.uid) or (0, 0)
    out = rootless("unshare", "sh", "-c", "id -u; cat /proc/self/uid_map", check=True).stdout.split()
    assert out == ["0", "0", str(rootless.uid), "1", "1", str(start), str(count)]


def test_single_id_mapping_without_ranges(single_id: Rootless) -> None:
    out = single_id("unshare", "cat", "/proc/self/uid_map", check=True).stdout.split()
    assert out == ["0", str(single_id.uid), "1"]


def test_runtime_dir_falls_back_to_a_private_dir(rootless: Rootless) -> None:
    rootless("images", check=True)
    st = os.stat(f"/tmp/freight-run-{rootless.uid}")
    assert (st.st_uid, st.st_mode & 0o777) == (rootless.uid, 0o700)
    xdg = rootless.home / "xdg"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, rootless.uid, rootless.gid)
    rootless("unshare", "true", env={"XDG_RUNTIME_DIR": str(xdg)}, check=True)
    pause = int((xdg / "freight" / "userns.pid").read_text())
    os.kill(pause, signal.SIGKILL)  # that runtime dir's own pause process
    assert (rootless.home / "data" / "freight" / "metadata.db").stat().st_uid == rootless.uid


def test_layer_owners_are_kept_and_stored_as_mapped_ids(rootless: Rootless, busybox_tar: Path) -> None:
    _load_busybox(rootless, busybox_tar)
    tar = _owners_tar(rootless.home / "owners.tar")
    rootless("import", str(tar), "owners", check=True)
    rootless("tag", "busybox", "bb", check=True)
    ctx = rootless.home / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM owners\nCOPY --from=bb /bin /bin\n")
    rootless.shared(ctx)
    rootless("build", "-q", "-t", "owned", str(ctx), check=True)
    out = rootless("run", "--rm", "owned", "stat", "-c", "%n %u %g", "/srv/root", "/srv/www", "/srv/user",
                   check=True).stdout.splitlines()
    assert out == ["/srv/root 0 0", "/srv/www 33 33", "/srv/user 1000 1000"]
    start = (Ranges.find("/etc/subuid", rootless.user, rootless.uid) or (0, 0))[0]
    stored = {p.name: p.stat().st_uid for p in (rootless.home / "data" / "freight" / "snapshots").glob("*/srv/*")}
    assert stored == {"root": rootless.uid, "www": start + 32, "user": start + 999}


def test_single_id_names_the_owner_it_cannot_map(single_id: Rootless) -> None:
    tar = _owners_tar(single_id.home / "owners.tar")
    result = single_id("import", str(tar), "owners")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cannot be mapped in the user namespace" in result.stderr and "/etc/subuid" in result.stderr


def test_seed_journey(rootless: Rootless, busybox_tar: Path) -> None:
    _load_busybox(rootless, busybox_tar)
    ctx = rootless.home / "app"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built && chown 33:33 /built\n"
                                    "COPY index.html /www/index.html\n"
                                    'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n')
    (ctx / "index.html").write_text("hello rootless\n")
    rootless.shared(ctx)
    rootless("build", "-t", "app", str(ctx), check=True)
    assert rootless("run", "--rm", "app", "cat", "/built").stdout == "built\n"
    vol = rootless.home / "vol"
    vol.mkdir()
    os.chown(vol, rootless.uid, rootless.gid)
    rootless("run", "--rm", "-v", f"{vol}:/out", "app", "sh", "-c", "echo written > /out/f", check=True)
    assert (vol / "f").read_text() == "written\n" and (vol / "f").stat().st_uid == rootless.uid
    port = free_port()
    rootless("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "app", check=True)
    try:
        assert http_get(port) == "hello rootless\n"
        assert rootless("exec", "web", "cat", "/built", check=True).stdout == "built\n"
        assert rootless("exec", "web", "sh", "-c", "exit 3").returncode == 3
        rootless("exec", "web", "sh", "-c", "echo to-logs > /proc/1/fd/1", check=True)
        assert "to-logs" in rootless("logs", "web", check=True).stdout
        rootless("cp", "web:/www/index.html", str(vol / "copied"), check=True)
        assert (vol / "copied").read_text() == "hello rootless\n"
        assert (vol / "copied").stat().st_uid == rootless.uid
    finally:
        rootless("rm", "-f", "web", check=True)
    assert rootless("ps", "-aq", check=True).stdout == ""


def test_push_pull_save_load(rootless: Rootless, busybox_tar: Path) -> None:
    _load_busybox(rootless, busybox_tar)
    port = free_port()
    storage = rootless.home / "registry"
    registry = rootless.popen("registry", "serve", "--addr", f"127.0.0.1:{port}", "--storage", str(storage),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _get_v2(port))
        name = f"127.0.0.1:{port}/rl/busybox:1"
        rootless("tag", "busybox", name, check=True)
        rootless("push", name, check=True)
        rootless("rmi", name, "busybox", check=True)
        rootless("pull", name, check=True)
        assert rootless("run", "--rm", name, "echo", "pulled", check=True).stdout == "pulled\n"
    finally:
        registry.terminate()
        registry.wait(10)
    saved = rootless.home / "saved.tar"
    rootless("save", "-o", str(saved), name, check=True)
    before = json.loads(rootless("image", "inspect", name, check=True).stdout)[0]["Id"]
    rootless("rmi", name, check=True)
    rootless("load", "-i", str(saved), check=True)
    assert json.loads(rootless("image", "inspect", name, check=True).stdout)[0]["Id"] == before


def _get_v2(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
            return True
    except OSError:
        return False


def test_rootless_build_has_the_root_build_digest(rootless: Rootless, busybox_tar: Path, tmp_path: Path) -> None:
    ctx = rootless.home / "same"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY app.txt /app/\nCOPY --chown=33:33 app.txt /www/\n"
                                    "RUN mkdir /data && echo run > /data/f && chown -R 1000:1000 /data\n"
                                    "WORKDIR /app\nENV MODE=test\n")
    (ctx / "app.txt").write_text("same bytes\n")
    rootless.shared(ctx)
    _load_busybox(rootless, busybox_tar)
    as_user = rootless("build", "-q", str(ctx), check=True).stdout.strip()
    root = tmp_path / "root"
    run_freight(root, "load", "-i", str(busybox_tar), check=True)
    as_root = run_freight(root, "build", "-q", str(ctx), check=True).stdout.strip()
    assert as_user == as_root and as_user.startswith("sha256:")


def test_apt_get_installs_in_a_rootless_build(rootless: Rootless, debian_rootfs_tar: Path) -> None:
    """A Debian bookworm minbase (mmdebstrap) whose RUN step installs a package: apt drops to
    its _apt user (uid 42) and dpkg renames directories on overlayfs (userxattr)."""
    tar = rootless.home / "debian.tar"
    if debian_rootfs_tar.is_dir():  # mmdebstrap made a directory of the cached name
        subprocess.run(["tar", "-C", str(debian_rootfs_tar), "--numeric-owner", "-cf", str(tar), "."], check=True)
    else:
        shutil.copyfile(debian_rootfs_tar, tar)
    rootless.shared(tar)
    rootless("import", "--change", 'CMD ["bash"]', str(tar), "debian:bookworm", check=True, timeout=600)
    ctx = rootless.home / "apt"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM debian:bookworm\n"
                                    "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends hello\n")
    rootless.shared(ctx)
    # RUN steps use the user's own network namespace: the machine's, to reach its mirrors (the
    # session runs in a network namespace of its own, see ``conftest.isolate_session``)
    rootless("build", "-t", "hello", str(ctx), check=True, timeout=600, prefix=machine_network.nsenter())
    assert rootless("run", "--rm", "hello", "hello", check=True).stdout == "Hello, world!\n"


def _delegate(uid: int) -> list[Path]:
    """As an administrator would: the user's cgroup subtree, one per v1 controller freight uses."""
    layout = detect_layout()
    assert layout.mode != "v2", "this machine's test prepares v1 controllers (hybrid)"
    made = []
    for controller in ("memory", "cpu", "cpuacct", "pids", "freezer"):
        path = Path(layout.v1[controller]) / f"freight-user-{uid}"
        path.mkdir(exist_ok=True)
        for p in [path, *path.iterdir()]:
            os.chown(p, uid, -1)
        made.append(path)
    return made


def test_limits_in_a_delegated_subtree(rootless: Rootless, busybox_tar: Path) -> None:
    _load_busybox(rootless, busybox_tar)
    subtrees = _delegate(rootless.uid)
    try:
        cid = rootless("run", "-d", "--memory", "32m", "--pids-limit", "8", "--cpus", "0.5", "busybox",
                       "sleep", "60", check=True).stdout.strip()
        memory, cpu, _, pids, _ = subtrees
        assert (memory / cid / "memory.limit_in_bytes").read_text() == "33554432\n"
        assert (pids / cid / "pids.max").read_text() == "8\n"
        assert (cpu / cid / "cpu.cfs_quota_us").read_text() == "50000\n"
        forks = rootless("exec", cid, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait")
        assert "can't fork" in forks.stderr
        rootless("rm", "-f", cid, check=True)
        assert not (memory / cid).exists()
    finally:
        for path in subtrees:
            path.rmdir()


def test_limits_without_a_delegated_subtree_fail_clearly(single_id: Rootless, busybox_tar: Path) -> None:
    _load_busybox(single_id, busybox_tar)
    result = single_id("run", "--rm", "--memory", "32m", "busybox", "true")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert "rootless: --memory needs a cgroup subtree delegated to this user" in result.stderr
    assert f"freight-user-{single_id.uid}" in result.stderr
    assert single_id("run", "--rm", "busybox", "true").returncode == 0
    assert single_id("ps", "-aq", check=True).stdout == ""


def test_users_cannot_reach_each_others_containers(rootless: Rootless, single_id: Rootless,
                                                   busybox_tar: Path) -> None:
    _load_busybox(rootless, busybox_tar)
    cid = rootless("run", "-d", "--network", "none", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        assert single_id("ps", "-a", "-q", check=True).stdout == ""  # a store of its own
        stopped = single_id("stop", cid)
        assert (stopped.returncode, stopped.stderr) == (1, f"Error response from daemon: No such container: {cid}\n")
        theirs = single_id("--root", str(rootless.home / "data" / "freight"), "stop", cid)
        assert theirs.returncode == 1 and "Permission denied" in theirs.stderr and theirs.stderr.count("\n") == 1
        pid = json.loads(rootless("inspect", cid, check=True).stdout)[0]["State"]["Pid"]
        signalled = subprocess.run(["/usr/sbin/runuser", "-u", single_id.user, "--", "kill", "-9", str(pid)],
                                   capture_output=True, text=True)
        assert pid > 0 and signalled.returncode != 0 and "not permitted" in signalled.stderr  # nor its process
        assert rootless("ps", "-q", check=True).stdout.strip() == cid[:12]
    finally:
        rootless("rm", "-f", cid)
