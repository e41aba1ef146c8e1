"""``network create/ls/inspect/rm/prune/connect/disconnect`` print what Docker prints: the
same command sequence is run on freight and on a private dockerd (in a namespace of its
own), and the outputs compared with IDs and times masked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from networld import World
from testlib import private_dockerd, require_root

from freight.store import Store

_FULL = re.compile(r"\b[0-9a-f]{64}\b")
_SHORT = re.compile(r"\b[0-9a-f]{12}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?( \+0000 UTC|Z)")

# listings are of custom networks: dockerd here runs without its default bridge
SEQUENCE: list[list[str]] = [
    ["network", "create", "foo"],
    ["network", "create", "foo"],
    ["network", "create", "--subnet", "10.99.0.0/24", "--gateway", "10.99.0.1", "--internal", "--label", "a=b", "bar"],
    ["network", "create", "--subnet", "10.99.0.0/25", "baz"],
    ["network", "create", "--subnet", "10.98.0.0/24", "--gateway", "10.97.0.1", "baz3"],
    ["network", "create", "-d", "nope", "x"],
    ["network", "create", "host"],
    ["network", "ls", "--filter", "type=custom"],
    ["network", "ls", "-q", "--filter", "type=custom"],
    ["network", "ls", "--no-trunc", "--filter", "type=custom"],
    ["network", "ls", "--filter", "name=ba"],
    ["network", "ls", "--filter", "label=a=b", "--format",
     "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Labels}}"],
    ["network", "ls", "--filter", "type=custom", "--format", "{{json .}}"],
    ["network", "inspect", "bar"],
    ["network", "inspect", "nope"],
    ["network", "rm", "nope"],
    ["network", "rm", "host"],
    ["network", "connect", "foo", "nope"],
    ["network", "disconnect", "foo", "nope"],
    ["network", "create", "--subnet", "10.96.0.0/24", "--gateway", "10.96.0.1", "-o", "foo=bar", "-o",
     "com.docker.network.driver.mtu=1400", "--attachable", "opt"],
    ["network", "inspect", "opt"],
    ["network", "rm", "opt"],
    ["network", "create", "--ipv6", "--subnet", "10.95.0.0/24", "--gateway", "10.95.0.1", "--subnet", "fd00:95::/64",
     "--gateway", "fd00:95::1", "six"],
    ["network", "inspect", "six"],
    ["network", "ls", "--filter", "name=six", "--format", "{{.Name}} {{.IPv6}}"],
    ["network", "rm", "six"],
    ["network", "create", "-o", "com.docker.network.driver.mtu=abc", "badmtu"],
    ["network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", "badicc"],
    ["network", "create", "--label", "keep=1", "p1"],
    ["network", "create", "--label", "keep=0", "p2"],
    ["network", "prune", "-f", "--filter", "until=1h"],
    ["network", "prune", "-f", "--filter", "label=keep=0"],
    ["network", "prune", "-f", "--filter", "label!=a", "--filter", "label=keep"],
    ["network", "rm", "foo"],
    ["network", "prune", "-f"],
    ["network", "prune", "-f"],
    ["network", "ls", "--filter", "type=custom"],
]


def _mask(text: str) -> str:
    return _TIME.sub("<time>", _SHORT.sub("<id>", _FULL.sub("<ID>", text)))


def _outputs(run: object) -> list[tuple[str, int, str, str]]:
    out = []
    for argv in SEQUENCE:
        result = run(*argv)  # type: ignore[operator]
        out.append((" ".join(argv), result.returncode, _mask(result.stdout), _mask(result.stderr)))
    return out


@pytest.fixture
def dockerd(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A private dockerd in the world's ``out`` namespace; the docker CLI command to reach it."""
    require_root()
    cli = shutil.which("docker")
    assert cli and shutil.which("dockerd"), "needs dockerd and the docker CLI (scripts/setup.sh installs them)"
    root = tmp_path_factory.mktemp("dockerd")
    sock = f"unix://{root}/docker.sock"
    try:
        with private_dockerd(root, sock, prefix=world.nsenter(world.out)) as answered:
            assert answered, (root / "log").read_text()[-500:]
            yield [cli, "--host", sock]
    finally:
        _unmount_below(root)


def _unmount_below(root: Path) -> None:
    """What dockerd left mounted under its directories (its data root is a mount of its own)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(f"{root}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def test_network_commands_print_what_docker_prints(busybox_store: Store, world: World, dockerd: list[str],
                                                   tmp_path: Path) -> None:
    def docker(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*dockerd, *argv], capture_output=True, text=True, timeout=60)

    theirs = _outputs(docker)
    ours = _outputs(world.freight)
    assert [m for m, r in zip(ours, theirs) if m != r] == [r for m, r in zip(ours, theirs) if m != r]
    assert world.settled() == {}


def test_network_rm_of_a_network_in_use_is_refused(busybox_store: Store, world: World) -> None:
    nid = world.freight("network", "create", "app", check=True).stdout.strip()
    world.freight("run", "-d", "--name", "web", "--network", "app", "busybox", "sleep", "60", check=True)
    refused = world.freight("network", "rm", "app")
    assert refused.returncode == 1
    assert refused.stderr == (f"Error response from daemon: error while removing network: network app id {nid} "
                              "has active endpoints\nexit status 1\n")
    info = json.loads(world.freight("network", "inspect", "app", check=True).stdout)[0]
    cid = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["Id"]
    member = info["Containers"][cid]
    assert member["Name"] == "web" and member["IPv4Address"].endswith("/24") and member["IPv6Address"] == ""
    world.freight("rm", "-f", "web", check=True)
    assert world.freight("network", "rm", "app", check=True).stdout == "app\n"
    assert world.settled() == {}


def test_connect_and_disconnect_a_running_container(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "app", check=True)
    world.freight("run", "-d", "--name", "web", "busybox", "sleep", "60", check=True)
    world.freight("network", "connect", "--alias", "site", "app", "web", check=True)
    links = world.freight("exec", "web", "ip", "-o", "-4", "addr", check=True).stdout
    assert "eth0" in links and "eth1" in links
    again = world.freight("network", "connect", "app", "web")
    assert (again.returncode, again.stderr) == (1, "Error response from daemon: endpoint with name web already "
                                                   "exists in network app\n")
    got = world.freight("run", "--rm", "--network", "app", "busybox", "ping", "-c", "1", "-W", "2", "site")
    assert got.returncode == 0, got.stdout + got.stderr
    world.freight("stop", "-t", "0", "web", check=True)
    networks = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["app", "bridge"] and networks["app"]["Aliases"] == ["site"]
    world.freight("start", "web", check=True)
    assert "eth1" in world.freight("exec", "web", "ip", "-o", "-4", "addr", check=True).stdout
    world.freight("network", "disconnect", "app", "web", check=True)
    assert "eth1" not in world.freight("exec", "web", "ip", "-o", "-4", "addr", check=True).stdout
    gone = world.freight("network", "disconnect", "app", "web")
    cid = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["Id"]
    assert (gone.returncode, gone.stderr) == (1, f"Error response from daemon: container {cid} is not connected "
                                                 "to network app\n")
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_system_prune_removes_unused_networks(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "unused", check=True)
    world.freight("network", "create", "used", check=True)
    world.freight("network", "create", "--label", "keep", "kept", check=True)
    world.freight("run", "-d", "--name", "web", "--network", "used", "busybox", "sleep", "60", check=True)
    out = world.freight("system", "prune", "-f", "--filter", "label!=keep", check=True).stdout
    assert "Deleted Networks:\nunused\n\n" in out
    names = world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    assert names == ["bridge", "host", "kept", "none", "used"]
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def _shape(value: object) -> object:
    """Keys and value types, recursively (addresses and IDs differ between the two)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if not re.fullmatch(r"[0-9a-f]{64}", k)}
    return type(value).__name__


def test_network_settings_have_dockers_shape(busybox_store: Store, world: World, dockerd: list[str],
                                             tmp_path: Path) -> None:
    def docker(*argv: str) -> str:
        return subprocess.run([*dockerd, *argv], capture_output=True, text=True, timeout=60, check=True).stdout

    world.freight("save", "-o", str(tmp_path / "busybox.tar"), "busybox", check=True)
    docker("load", "-i", str(tmp_path / "busybox.tar"))
    shapes = []
    for run, inspect in ((docker, lambda *a: docker(*a)), (world.freight, lambda *a: world.freight(*a).stdout)):
        run("network", "create", "foo")
        run("run", "-d", "--name", "s1", "--network", "foo", "busybox", "sleep", "60")
        # through the client's API types (Docker 28's shape; the daemon here may be older)
        running = json.loads(inspect("inspect", "--format", "{{json .NetworkSettings}}", "s1"))
        members = json.loads(inspect("network", "inspect", "foo"))[0]["Containers"]
        shapes.append((_shape(running), [_shape(m) for m in members.values()]))
        run("rm", "-f", "s1")
    theirs, ours = shapes
    assert ours[1] == theirs[1]
    assert list(ours[0]["Networks"]["foo"]) == list(theirs[0]["Networks"]["foo"])  # type: ignore[index]
    assert list(ours[0]) == list(theirs[0])  # type: ignore[call-overload]
    assert world.settled() == {}


def test_prune_filters(busybox_store: Store, world: World) -> None:
    for name, labels in (("old", ["--label", "tier=a"]), ("plain", []), ("kept", ["--label", "tier=b"])):
        world.freight("network", "create", *labels, name, check=True)

    def prune(*filters: str) -> str:
        return world.freight("network", "prune", "-f", *(f"--filter={f}" for f in filters), check=True).stdout

    assert prune("until=2000-01-01") == prune("until=1h") == prune("label=nope") == ""
    assert prune("label=tier", "label!=tier=b") == "Deleted Networks:\nold\n\n"
    assert prune("label!=tier") == "Deleted Networks:\nplain\n\n"
    bad = world.freight("network", "prune", "-f", "--filter", "until=someday")
    assert (bad.returncode, bad.stderr) == (1, "Error response from daemon: invalid filter 'until=someday'\n")
    assert prune("until=2999-01-01") == "Deleted Networks:\nkept\n\n"


def test_predefined_networks_cannot_be_removed(busybox_store: Store, world: World) -> None:
    for name in ("bridge", "host", "none"):
        refused = world.freight("network", "rm", name)
        assert (refused.returncode, refused.stderr) == (
            1, f"Error response from daemon: {name} is a pre-defined network and cannot be removed\nexit status 1\n")
    host_id = world.freight("network", "inspect", "--format", "{{.Id}}", "host", check=True).stdout.strip()
    assert "host is a pre-defined" in world.freight("network", "rm", host_id[:12]).stderr
    assert world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout == "bridge\nhost\nnone\n"
