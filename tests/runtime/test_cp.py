"""``freight cp`` both ways, on running and stopped containers, with Docker's path rules."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

from hostile_tars import canary_state, make_canary
from imagelib import member, tar_bytes, tar_of
from testlib import FREIGHT, freight_env, freight_mounts, wait_until

from freight.store import Store


def _tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(tar.getnames())


def _wait_for(cli, container: str, path: str) -> None:
    """Until the detached container's command has made ``path``."""
    assert wait_until(lambda: cli("exec", container, "test", "-e", path).returncode == 0), \
        f"{path} never appeared in {container}"


def test_cp_file_into_a_running_container_and_read_it_back(runtime_store: Store, cli, tmp_path: Path) -> None:
    cli("run", "-d", "--name", "box", "busybox", "sleep", "60", check=True)
    (tmp_path / "hello.txt").write_text("hello from the host\n")
    cli("cp", str(tmp_path / "hello.txt"), "box:/tmp/", check=True)  # into an existing dir
    cli("cp", str(tmp_path / "hello.txt"), "box:/renamed.txt", check=True)  # file to a new file
    assert cli("exec", "box", "cat", "/tmp/hello.txt", "/renamed.txt", check=True).stdout == \
        "hello from the host\n" * 2
    owner = cli("exec", "box", "stat", "-c", "%u", "/tmp/hello.txt", check=True).stdout
    assert owner == "0\n"  # copied files belong to root without -a
    os.chown(tmp_path / "hello.txt", 1234, 1234)
    cli("cp", "-a", str(tmp_path / "hello.txt"), "box:/kept.txt", check=True)
    assert cli("exec", "box", "stat", "-c", "%u:%g", "/kept.txt", check=True).stdout == "1234:1234\n"


def test_cp_out_of_a_stopped_container_leaves_no_mount(runtime_store: Store, cli, tmp_path: Path) -> None:
    cli("run", "--name", "done", "-v", "/vol", "busybox", "sh", "-c",
        "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && echo in-volume > /vol/v",
        check=True)
    cli("cp", "done:/vol/v", str(tmp_path / "v"), check=True)  # the volume, as the container saw it
    assert (tmp_path / "v").read_text() == "in-volume\n"
    cli("cp", "done:/data/a", str(tmp_path / "a.txt"), check=True)
    assert (tmp_path / "a.txt").read_text() == "one\n"
    cli("cp", "done:/data", str(tmp_path / "copy"), check=True)  # a dir to a new path becomes it
    assert (tmp_path / "copy" / "sub" / "b").read_text() == "two\n"
    cli("cp", "done:/data", str(tmp_path / "copy"), check=True)  # into an existing dir: nested
    assert (tmp_path / "copy" / "data" / "sub" / "b").read_text() == "two\n"
    (tmp_path / "flat").mkdir()
    cli("cp", "done:/data/.", str(tmp_path / "flat"), check=True)  # "/." copies the contents
    assert sorted(os.listdir(tmp_path / "flat")) == ["a", "sub"]
    cli("cp", "done:/bin/busybox", str(tmp_path), check=True)  # image content, through the overlay
    assert (tmp_path / "busybox").stat().st_size > 100_000
    assert freight_mounts(runtime_store.root) == []


def test_cp_tar_streams_both_ways(runtime_store: Store, cli, tmp_path: Path) -> None:
    cli("run", "-d", "--name", "box", "busybox", "sh", "-c", "mkdir -p /srv/x; echo y > /srv/x/y; sleep 60",
        check=True)
    _wait_for(cli, "box", "/srv/x/y")
    out = subprocess.run([str(FREIGHT), "cp", "box:/srv/x", "-"], capture_output=True,
                         env=freight_env(runtime_store.root), check=True)
    assert _tar_names(out.stdout) == ["x", "x/y"]
    archive = tmp_path / "in.tar"
    archive.write_bytes(tar_of({"fromtar/note": b"hi\n"}))
    cli("cp", "-", "box:/srv", stdin=archive, check=True)
    assert cli("exec", "box", "cat", "/srv/fromtar/note", check=True).stdout == "hi\n"
    squeezed = tmp_path / "in.tar.gz"  # Docker takes a compressed stream too
    squeezed.write_bytes(gzip.compress(archive.read_bytes()))
    cli("cp", "-", "box:/srv/x", stdin=squeezed, check=True)
    assert cli("exec", "box", "cat", "/srv/x/fromtar/note", check=True).stdout == "hi\n"
    to_file = cli("cp", "-", "box:/srv/x/y", stdin=archive)
    assert to_file.returncode == 1 and "must be a directory" in to_file.stderr


def test_cp_errors(runtime_store: Store, cli, tmp_path: Path) -> None:
    cli("create", "--name", "idle", "busybox", "true", check=True)
    missing = cli("cp", "idle:/nope", str(tmp_path))
    assert missing.returncode == 1
    assert missing.stderr == "Error response from daemon: Could not find the file /nope in container idle\n"
    (tmp_path / "file").write_text("x")
    into_file = cli("cp", "idle:/etc", str(tmp_path / "file"))
    assert into_file.returncode == 1 and "cannot copy a directory to a file" in into_file.stderr
    both = cli("cp", "idle:/etc", "idle:/tmp")
    assert both.returncode == 1 and "copying between containers is not supported" in both.stderr
    no_container = cli("cp", str(tmp_path / "file"), str(tmp_path / "other"))
    assert no_container.returncode == 1 and "must specify at least one container source" in no_container.stderr


def test_cp_resolves_container_symlinks_inside_the_container(runtime_store: Store, cli, tmp_path: Path) -> None:
    cli("run", "-d", "--name", "box", "busybox", "sh", "-c", "ln -s / /escape; ln -s /etc/hostname /link; sleep 60",
        check=True)
    _wait_for(cli, "box", "/link")
    marker = f"freight-cp-{os.getpid()}"
    (tmp_path / marker).write_text("contained\n")
    cli("cp", str(tmp_path / marker), "box:/escape/tmp/", check=True)
    assert not Path("/tmp", marker).exists()  # the absolute symlink meant the container's /
    assert cli("exec", "box", "cat", f"/tmp/{marker}", check=True).stdout == "contained\n"
    cli("cp", "box:/link", str(tmp_path / "asis"), check=True)  # without -L: the link itself
    assert os.readlink(tmp_path / "asis") == "/etc/hostname"
    cli("cp", "-L", "box:/link", str(tmp_path / "followed"), check=True)  # -L: the container's file
    hostname = cli("exec", "box", "cat", "/etc/hostname", check=True).stdout
    assert (tmp_path / "followed").read_text() == hostname


def test_a_running_container_cannot_race_cp_out_to_the_host(runtime_store: Store, cli, tmp_path: Path) -> None:
    """While a tar is unpacked into it, the container keeps swapping the directory being filled for a
    symlink to a host path: the kernel follows that symlink inside the container (cp unpacks in a
    process chrooted there), never to the host."""
    canary = make_canary(tmp_path / "canary")
    before = canary_state(canary)
    swap = f"while :; do rm -rf /race/d; mkdir /race/d; rm -rf /race/d; ln -s {canary} /race/d; done"
    cli("run", "-d", "--name", "racer", "busybox", "sh", "-c", f"mkdir /race; {swap}", check=True)
    archive = tmp_path / "many.tar"
    archive.write_bytes(tar_bytes([member("d/", tarfile.DIRTYPE)]
                                  + [member(f"d/f{i}", data=b"pwned") for i in range(2000)]))
    for _ in range(5):
        result = cli("cp", "-", "racer:/race", stdin=archive)
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == (result.returncode != 0)
    assert canary_state(canary) == before
