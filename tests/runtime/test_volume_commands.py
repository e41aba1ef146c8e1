"""``freight volume create|ls|inspect|rm|prune`` with real containers using the volumes."""

from __future__ import annotations

import json
import os

from testlib import du_bytes

from freight.cli.format import human_size
from freight.store import Store


def test_volume_lifecycle(runtime_store: Store, cli) -> None:
    assert cli("volume", "create", "--label", "team=a", "data", check=True).stdout == "data\n"
    generated = cli("volume", "create", check=True).stdout.strip()
    assert len(generated) == 64
    listing = cli("volume", "ls", check=True).stdout.splitlines()
    assert listing[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert sorted(line.split() for line in listing[1:]) == sorted([["local", "data"], ["local", generated]])
    info = json.loads(cli("volume", "inspect", "data", check=True).stdout)[0]
    assert (info["Name"], info["Driver"], info["Labels"], info["Scope"]) == ("data", "local", {"team": "a"}, "local")
    assert info["Mountpoint"] == f"{runtime_store.root}/volumes/data/_data"
    cli("run", "--name", "writer", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f", check=True)
    assert open(os.path.join(info["Mountpoint"], "f")).read() == "kept\n"
    assert cli("volume", "ls", "-q", "--filter", "dangling=true", check=True).stdout == generated + "\n"
    assert cli("volume", "ls", "-q", "--filter", "label=team=a", check=True).stdout == "data\n"
    in_use = cli("volume", "rm", "data")
    assert in_use.returncode == 1 and "volume is in use" in in_use.stderr
    cli("rm", "writer", check=True)
    assert cli("volume", "rm", "data", generated, check=True).stdout == f"data\n{generated}\n"
    assert not os.path.exists(info["Mountpoint"])
    missing = cli("volume", "inspect", "data")
    assert missing.returncode == 1 and "no such volume" in missing.stderr
    assert cli("volume", "rm", "-f", "data").returncode == 0


def test_volume_prune_removes_only_unused_anonymous_volumes_unless_all(runtime_store: Store, cli) -> None:
    cli("volume", "create", "named", check=True)
    cli("run", "--name", "anon", "-v", "/scratch", "busybox", "sh", "-c", "head -c 3000 /dev/zero > /scratch/z",
        check=True)
    anonymous = json.loads(cli("inspect", "anon", check=True).stdout)[0]["Mounts"][0]["Name"]
    cli("run", "-d", "--name", "user", "-v", "/busy", "busybox", "sleep", "60", check=True)
    busy = json.loads(cli("inspect", "user", check=True).stdout)[0]["Mounts"][0]["Name"]
    labels = json.loads(cli("volume", "inspect", anonymous, check=True).stdout)[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    assert cli("volume", "prune", "-f", check=True).stdout == "Total reclaimed space: 0B\n"  # still used
    cli("rm", "anon", check=True)
    freed = du_bytes(runtime_store.root / "volumes" / anonymous)  # the 3000 bytes and the directories
    result = cli("volume", "prune", "-f", check=True)
    assert result.stdout == f"Deleted Volumes:\n{anonymous}\n\nTotal reclaimed space: {human_size(freed)}\n"
    remaining = set(cli("volume", "ls", "-q", check=True).stdout.split())
    assert remaining == {"named", busy}
    everything = cli("volume", "prune", "-f", "-a", check=True)
    assert everything.stdout.splitlines()[:2] == ["Deleted Volumes:", "named"]
    assert set(cli("volume", "ls", "-q", check=True).stdout.split()) == {busy}
