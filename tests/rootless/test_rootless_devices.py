"""``--device`` as an ordinary user: mknod is refused in a user namespace, so the host's node
is bound where the container wants it (as rootless Podman does)."""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # conftest modules share one name: import it only for the type checker
    from conftest import Rootless


def test_device_is_the_hosts_node_bound(rootless: Rootless, busybox_tar: Path) -> None:
    rootless("load", "-i", str(busybox_tar), check=True)
    out = rootless("run", "--rm", "--device", "/dev/zero:/dev/myzero", "--device", "/dev/null:/dev/sub/mynull",
                   "busybox", "sh", "-c",
                   "stat -c '%n %t:%T' /dev/myzero /dev/sub/mynull; head -c 3 /dev/myzero | od -An -tx1;"
                   " echo gone > /dev/sub/mynull && cat /dev/sub/mynull", check=True).stdout
    assert out.split("\n") == ["/dev/myzero 1:5", "/dev/sub/mynull 1:3", " 00 00 00", ""]
    assert rootless("ps", "-aq", check=True).stdout == ""


def test_device_without_a_host_node_fails_clearly(rootless: Rootless, busybox_tar: Path) -> None:
    rootless("load", "-i", str(busybox_tar), check=True)
    result = rootless("run", "--rm", "--device", "/no/such/device", "busybox", "true")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert "/no/such/device" in result.stderr
