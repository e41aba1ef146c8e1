"""The store is private to its owner: no other user reaches a file in it, so none can run a
setuid-root program found in a layer or in a container's upper dir (Docker's CVE-2021-41091).
Containers and builds work all the same for non-root users inside them."""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from imagelib import import_busybox
from testlib import CLI, require_root, run_freight, wait_until

from freight.runtime import containers, lifecycle
from freight.store import Store, open_store

NOBODY = 65534


@pytest.fixture
def open_parent(busybox_rootfs: Path) -> Iterator[Path]:
    """A directory every user may traverse (as /var/lib is), to hold a store root: only the
    store's own modes keep other users out of it."""
    require_root()
    parent = Path(tempfile.mkdtemp(prefix="freight-perm-", dir="/tmp"))
    os.chmod(parent, 0o755)
    yield parent
    store = open_store(parent / "root")
    for c in containers.list_containers(store, all=True):
        lifecycle.remove(store, c.id, force=True, volumes=True)
    shutil.rmtree(parent)


def _cli(root: Path) -> CLI:
    return functools.partial(run_freight, root, check=True)


def _as_nobody(check: str, paths: list[str]) -> dict[str, list[str]]:
    """Run ``check`` (the source of a function ``probe(paths) -> dict``) as nobody with no
    groups and no capabilities, in a fresh interpreter; its answer."""
    program = f"import json, os, subprocess, sys\n{check}\nprint(json.dumps(probe(json.load(sys.stdin))))\n"
    result = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                             "/usr/bin/python3", "-I", "-c", program],
                            input=json.dumps(paths), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


_PROBE = '''
def probe(paths):
    reached = []
    for path in paths:
        for attempt in (os.lstat, lambda p: os.close(os.open(p, os.O_RDONLY | os.O_NOFOLLOW))):
            try:
                attempt(path)
                reached.append(path)
            except PermissionError:
                pass
        try:
            subprocess.run([path, "id", "-u"], capture_output=True, timeout=10)
            reached.append(path + " (executed)")
        except PermissionError:
            pass
    root = os.path.dirname(paths[0])
    try:
        reached += [os.path.join(root, name) for name in os.listdir(root)]
    except PermissionError:
        pass
    return {"reached": reached, "uid": [str(os.getuid()), str(os.geteuid())],
            "parent": sorted(os.listdir(os.path.dirname(root)))}
'''


def _setuid_files(root: Path) -> list[Path]:
    found = []
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            if path.lstat().st_mode & stat.S_ISUID and stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return found


def test_nobody_reaches_no_file_in_the_store(open_parent: Path, busybox_rootfs: Path, tmp_path: Path) -> None:
    root = open_parent / "root"
    store = open_store(root)
    import_busybox(store, busybox_rootfs)
    cli = _cli(root)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN cp /bin/busybox /bin/suid && chmod u+s /bin/suid\n")
    cli("build", "-q", "-t", "suid:1", str(context))
    cid = cli("run", "-d", "-v", "/vol", "busybox", "sh", "-c",
              "cp /bin/busybox /upper-suid && chmod 4755 /upper-suid && echo x > /vol/v && sleep 300").stdout.strip()
    upper = root / "containers" / cid / "upper" / "upper-suid"
    assert wait_until(upper.exists, timeout=20), f"{upper} never appeared"
    assert wait_until(lambda: upper.stat().st_mode & stat.S_ISUID, timeout=20)
    setuid = _setuid_files(root)
    assert upper in setuid and any(p.name == "suid" and "snapshots" in p.parts for p in setuid)
    every = [os.path.join(top, name) for top, dirs, files in os.walk(root) for name in dirs + files]
    assert len(every) > 300  # images, the build's layers, the container's files, the database

    answer = _as_nobody(_PROBE, every)

    assert answer["uid"] == [str(NOBODY)] * 2
    assert "root" in answer["parent"]  # the store root's parent is open to nobody: only the store keeps it out
    assert answer["reached"] == []
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_an_older_store_is_made_private_when_opened(store: Store, cli) -> None:
    for sub in ("snapshots", "containers", "tmp"):
        (store.root / sub).mkdir(exist_ok=True)
        os.chmod(store.root / sub, 0o755)
    os.chmod(store.root, 0o755)
    cli("images", check=True)
    assert {sub: stat.S_IMODE((store.root / sub).stat().st_mode) for sub in ("", "snapshots", "containers", "tmp")} \
        == {"": 0o700, "snapshots": 0o700, "containers": 0o700, "tmp": 0o700}


def test_non_root_users_in_containers_reach_their_files(runtime_store: Store, cli, tmp_path: Path) -> None:
    """Layers (lower dirs), the upper dir, volumes, bind mounts, tmpfs, exec and cp, as uid 1000,
    with the store's root, snapshots and container directories private to root."""
    host = tmp_path / "private" / "shared"  # below a directory only root may enter
    host.mkdir(parents=True)
    os.chmod(tmp_path / "private", 0o700)
    (host / "from-host").write_text("bound\n")
    cli("volume", "create", "named", check=True)
    cli("run", "--rm", "-v", "named:/named", "busybox", "sh", "-c", "echo in-volume > /named/v", check=True)
    script = ("id -u; cat /etc/group >/dev/null && echo lower; echo upper > /tmp/u && cat /tmp/u; "
              "cat /named/v; cat /bound/from-host; ls -d /anon; echo t > /t/x && cat /t/x; "
              "touch /tmp/ready; sleep 300")
    cli("run", "-d", "--name", "user", "-u", "1000:1000", "-v", "named:/named", "-v", f"{host}:/bound:ro",
        "-v", "/anon", "--tmpfs", "/t", "busybox", "sh", "-c", script, check=True)
    assert wait_until(lambda: cli("exec", "user", "test", "-e", "/tmp/ready").returncode == 0, timeout=20), \
        cli("logs", "user").stderr
    assert cli("logs", "user", check=True).stdout == "1000\nlower\nupper\nin-volume\nbound\n/anon\nt\n"
    assert cli("exec", "-u", "1000", "user", "sh", "-c", "id -u; cat /tmp/u; echo e > /tmp/e; cat /tmp/e",
               check=True).stdout == "1000\nupper\ne\n"
    (tmp_path / "in.txt").write_text("copied in\n")
    cli("cp", str(tmp_path / "in.txt"), "user:/tmp/in.txt", check=True)
    assert cli("exec", "-u", "1000", "user", "cat", "/tmp/in.txt", check=True).stdout == "copied in\n"
    cli("cp", "user:/tmp/e", str(tmp_path / "e"), check=True)
    assert (tmp_path / "e").read_text() == "e\n"
    cli("stop", "-t", "0", "user", check=True)
    cli("cp", "user:/tmp/u", str(tmp_path / "u"), check=True)  # through the stopped container's overlay
    assert (tmp_path / "u").read_text() == "upper\n"


def test_a_build_runs_steps_as_a_non_root_user(busybox_store: Store, cli, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "mine.txt").write_text("mine\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir /home/user && chown 1000:1000 /home/user\n"
        "COPY --chown=1000:1000 mine.txt /home/user/mine.txt\nUSER 1000\nWORKDIR /home/user\n"
        "RUN id -u > who && cat mine.txt /etc/passwd > copy && echo x >> mine.txt\n")
    cli("build", "-q", "-t", "user:1", str(context), check=True)
    result = cli("run", "--rm", "user:1", "sh", "-c", "cat who; head -1 copy; cat mine.txt; stat -c %u who",
                 check=True)
    assert result.stdout == "1000\nmine\nmine\nx\n1000\n"
