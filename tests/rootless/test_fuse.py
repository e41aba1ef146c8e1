"""Rootless freight on fuse-overlayfs, forced by ``FREIGHT_STORAGE_DRIVER`` (this kernel mounts
overlayfs in a user namespace, so the FUSE path is only taken when forced).

/dev/fuse is mode 0600 on these machines: the user gets a usable one (a 0666 node bound over
it) in a mount namespace of the test's own, where every command of the test runs, with a
runtime dir of the test's own (so a user namespace of its own, made in there)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from testlib import run_freight, wait_until

from freight.settings import kernel_overlay_in_userns

TYPE_CHECKING = False
if TYPE_CHECKING:  # conftest modules share one name: import it only for the type checker
    from conftest import Rootless


class FuseUser:
    """``freight`` as the user, with fuse-overlayfs forced, in the mount namespace held by
    ``holder`` (the user's own /dev/fuse)."""

    def __init__(self, user: Rootless, holder: int) -> None:
        self.user = user
        self.runtime = user.home / "xdg"
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, user.uid, user.gid)
        self.env = {"XDG_RUNTIME_DIR": str(self.runtime)}
        self.prefix = ["nsenter", f"--mount=/proc/{holder}/ns/mnt", "--"]

    def __call__(self, *args: str, check: bool = True,
                 driver: str = "fuse-overlayfs") -> subprocess.CompletedProcess[str]:
        return self.user(*args, env={**self.env, "FREIGHT_STORAGE_DRIVER": driver}, prefix=self.prefix, check=check,
                         timeout=180)

    def pause_pid(self) -> int:
        return int((self.runtime / "freight" / "userns.pid").read_text())


@pytest.fixture
def fuse_user(rootless: Rootless, busybox_tar: Path, tmp_path: Path) -> Iterator[FuseUser]:
    node = tmp_path / "fuse"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(10, 229))
    node.chmod(0o666)
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               f'mount --bind "{node}" /dev/fuse && echo ready && exec sleep 3600'],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
    user = FuseUser(rootless, holder.pid)
    try:
        user("load", "-i", str(busybox_tar))
        yield user
        left = user("ps", "-aq").stdout.split()
        if left:
            user("rm", "-f", *left)
        pause = user.pause_pid()
        assert _fuse_mounts(pause) == [], "fuse-overlayfs mounts left in the user's namespace"
        assert wait_until(lambda: _fuse_servers(rootless.uid) == []), "fuse-overlayfs processes left running"
        os.kill(pause, signal.SIGKILL)
    finally:
        holder.kill()
        holder.wait()


def _fuse_mounts(pid: int) -> list[str]:
    lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    return [line for line in lines if " - fuse.fuse-overlayfs " in line]


def _fuse_servers(uid: int) -> list[int]:
    """The user's running fuse-overlayfs processes (not those that exited, which this machine's
    init may take a moment to reap)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            owner, stat_line = os.stat(f"/proc/{entry}").st_uid, Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, _, rest = stat_line.partition(" (")[2].rpartition(")")
        if owner == uid and name == "fuse-overlayfs" and rest.split()[0] != "Z":
            found.append(int(entry))
    return found


def test_build_run_volume_commit_and_diff_on_fuse_overlayfs(fuse_user: FuseUser, rootless: Rootless) -> None:
    ctx = rootless.home / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN grep -q ' / / .* - fuse.fuse-overlayfs ' /proc/self/mountinfo\n"  # the step's root is FUSE
        "RUN mkdir -p /data/old && echo old > /data/old/f && echo gone > /gone && chown -R 33:33 /data\n"
        "RUN rm -rf /data /gone && mkdir /data && echo new > /data/new\n"  # whiteout and opaque dir
        "COPY app.txt /app/\n")
    (ctx / "app.txt").write_text("copied\n")
    rootless.shared(ctx)
    fuse_user("build", "-q", "-t", "fused", str(ctx))
    out = fuse_user("run", "--rm", "fused", "sh", "-c",
                    "grep -c ' / / .* - fuse.fuse-overlayfs ' /proc/self/mountinfo; ls -A /data; cat /app/app.txt;"
                    " test -e /gone || echo no-gone").stdout
    assert out == "1\nnew\ncopied\nno-gone\n"
    vol = rootless.home / "vol"
    vol.mkdir()
    os.chown(vol, rootless.uid, rootless.gid)
    fuse_user("run", "--rm", "-v", f"{vol}:/out", "fused", "sh", "-c", "echo written > /out/f")
    assert (vol / "f").read_text() == "written\n" and (vol / "f").stat().st_uid == rootless.uid
    cid = fuse_user("run", "-d", "fused", "sleep", "60").stdout.strip()
    # its FUSE server runs outside the container, and the mount is in the container's namespace alone
    assert _fuse_servers(rootless.uid) and _fuse_mounts(fuse_user.pause_pid()) == []
    assert fuse_user("top", cid).stdout.count("\n") == 2  # the header and sleep
    fuse_user("exec", cid, "sh", "-c", "rm -rf /data && mkdir /data && echo mine > /data/mine && rm /app/app.txt")
    diff = fuse_user("diff", cid).stdout.split("\n")
    assert "A /data/mine" in diff and "D /app/app.txt" in diff and not any(".wh." in line for line in diff)
    fuse_user("commit", cid, "committed")
    fuse_user("rm", "-f", cid)
    out = fuse_user("run", "--rm", "committed", "sh", "-c", "ls -A /data /app").stdout
    assert out == "/app:\n\n/data:\nmine\n"
    created = fuse_user("create", "committed").stdout.strip()  # cp and export mount a stopped one's root
    fuse_user("cp", f"{created}:/data/mine", str(vol / "mine"))
    assert (vol / "mine").read_text() == "mine\n"
    names = fuse_user("export", "-o", str(vol / "exported.tar"), created).stdout
    assert names == "" and "data/mine" in subprocess.run(["tar", "-tf", str(vol / "exported.tar")], text=True,
                                                         capture_output=True, check=True).stdout.split()
    assert "Storage Driver: fuse-overlayfs" in fuse_user("info").stdout


def test_a_fuse_overlayfs_build_has_the_kernel_overlay_digest(fuse_user: FuseUser, rootless: Rootless) -> None:
    """fuse-overlayfs marks every directory a step makes opaque, the kernel only one that
    replaces a deleted entry: the layers are the kernel's all the same."""
    ctx = rootless.home / "same"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN mkdir -p /data/old /new/a/b /old/x && echo old > /data/old/f && echo gone > /gone && touch /old/x/f\n"
        "RUN rm -rf /data /gone /old && mkdir /data /gone && echo new > /data/new && echo f > /new/a/f\n")
    rootless.shared(ctx)
    on_fuse = fuse_user("build", "-q", "--no-cache", str(ctx)).stdout.strip()
    on_kernel = fuse_user("build", "-q", "--no-cache", str(ctx), driver="overlay2").stdout.strip()
    assert on_fuse == on_kernel and on_fuse.startswith("sha256:")
    out = fuse_user("run", "--rm", on_fuse, "sh", "-c", "ls -A /data /gone /new/a; test -e /old || echo no-old").stdout
    assert out == "/data:\nnew\n\n/gone:\n\n/new/a:\nb\nf\nno-old\n"


def test_fuse_overlayfs_needs_a_usable_dev_fuse(single_id: Rootless, busybox_tar: Path) -> None:
    """Without the test's own /dev/fuse (0600 here), the one line that says so."""
    single_id("load", "-i", str(busybox_tar), check=True)
    result = single_id("run", "--rm", "busybox", "true", env={"FREIGHT_STORAGE_DRIVER": "fuse-overlayfs"})
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert "/dev/fuse cannot be opened by this user" in result.stderr
    assert single_id("ps", "-aq", check=True).stdout == ""


def test_the_driver_is_detected_and_can_be_forced(rootless: Rootless, tmp_path: Path) -> None:
    """Kernel overlayfs in a user namespace from 5.11 (this machine's kernel is newer); the
    configuration file's ``storage-driver`` (Docker's daemon.json key) forces fuse-overlayfs."""
    assert [kernel_overlay_in_userns(r) for r in ("5.10.0-28-amd64", "5.11.0", "6.18.44-fc")] == [False, True, True]
    assert kernel_overlay_in_userns(os.uname().release)  # so without forcing: the kernel's
    assert "Storage Driver: overlay\n" in rootless("info", check=True).stdout
    config = rootless.home / "daemon.json"
    config.write_text('{"storage-driver": "fuse-overlayfs"}')
    rootless.shared(config)
    forced = rootless("info", env={"FREIGHT_CONFIG": str(config)}, check=True).stdout
    assert "Storage Driver: fuse-overlayfs\n" in forced
    bad = run_freight(tmp_path / "root", "info", env={"FREIGHT_STORAGE_DRIVER": "zfs"})
    assert bad.returncode == 1 and bad.stderr == \
        "Error: storage driver 'zfs' is not supported: use overlay2 or fuse-overlayfs\n"
