"""cgroup v2 delegation for rootless limits: the user's own v2 subtree (the topmost ancestor of
the process's cgroup that the user owns, as a systemd user session delegates
``user@UID.service``) takes the limits when the memory and pids controllers are there.

On these hybrid machines every controller is bound to a v1 hierarchy in use, so the cgroup2
mount has none and cannot get any (see docs/architecture.md, "Rootless"): here the test
delegates a real v2 subtree as an administrator would and checks that freight finds it from
its own cgroup and says in one line why it cannot take limits."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from testlib import wait_until

from freight.runtime.cgroups import detect_layout

TYPE_CHECKING = False
if TYPE_CHECKING:  # conftest modules share one name: import it only for the type checker
    from conftest import Rootless

_DELEGATED = ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads")  # what an administrator chowns


@pytest.fixture
def v2_subtree(rootless: Rootless) -> Iterator[Path]:
    v2_root = detect_layout().v2_root
    assert v2_root is not None, "these machines have a cgroup2 mount"
    subtree = Path(v2_root) / f"freight-test-v2-{rootless.uid}-{os.getpid()}"
    leaf = subtree / "session"
    leaf.mkdir(parents=True)
    for directory in (subtree, leaf):
        for name in _DELEGATED:
            os.chown(directory / name, rootless.uid, rootless.gid)
    try:
        yield leaf
    finally:
        assert wait_until(lambda: (leaf / "cgroup.procs").read_text() == "")
        leaf.rmdir()
        subtree.rmdir()


def test_users_v2_subtree_is_found_and_named_when_it_cannot_take_limits(
        rootless: Rootless, busybox_tar: Path, v2_subtree: Path) -> None:
    runtime = rootless.home / "xdg"  # a namespace of the test's own: its pause process starts in the leaf
    runtime.mkdir(mode=0o700)
    os.chown(runtime, rootless.uid, rootless.gid)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    in_leaf = ["sh", "-c", f'echo $$ > "{v2_subtree}/cgroup.procs" && exec "$@"', "sh"]
    controllers = (v2_subtree.parent / "cgroup.controllers").read_text().split()
    assert "memory" not in controllers  # this machine's: the test shows the refusal
    try:
        rootless("load", "-i", str(busybox_tar), env=env, prefix=in_leaf, check=True)
        result = rootless("run", "--rm", "--memory", "32m", "busybox", "true", env=env, prefix=in_leaf)
        assert result.returncode == 125 and result.stderr.count("\n") == 1
        assert f"nor is this user's cgroup v2 subtree {v2_subtree.parent}: it has no memory or pids controller" \
            in result.stderr
        assert rootless("run", "--rm", "busybox", "echo", "unlimited", env=env, prefix=in_leaf,
                        check=True).stdout == "unlimited\n"
    finally:
        pause = runtime / "freight" / "userns.pid"
        if pause.exists():
            os.kill(int(pause.read_text()), signal.SIGKILL)
