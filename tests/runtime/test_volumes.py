"""Bind mounts, named and anonymous volumes (with copy-up), tmpfs."""

from __future__ import annotations

import os
from pathlib import Path

from freight.runtime import containers
from freight.store import Store


def volume_rows(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT name FROM volumes ORDER BY name")]


def test_bind_mount_survives_rm_and_ro_is_enforced(runtime_store: Store, cli, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in").write_text("from host\n")
    result = cli("run", "--rm", "-v", f"{shared}:/data", "busybox", "sh", "-c",
                 "cat /data/in; echo from container > /data/out", check=True)
    assert result.stdout == "from host\n"
    assert (shared / "out").read_text() == "from container\n"
    ro = cli("run", "--rm", "-v", f"{shared}:/data:ro", "busybox", "touch", "/data/x")
    assert ro.returncode == 1 and "Read-only file system" in ro.stderr
    missing = tmp_path / "created-by-v"
    cli("run", "--rm", "-v", f"{missing}:/m", "busybox", "true", check=True)
    assert missing.is_dir()


def test_mount_flag_bind_requires_existing_source(runtime_store: Store, cli, tmp_path: Path) -> None:
    result = cli("run", "--rm", "--mount", f"type=bind,source={tmp_path}/nope,target=/x", "busybox", "true")
    assert result.returncode == 125
    assert "bind source path does not exist" in result.stderr
    (tmp_path / "f").write_text("file\n")
    ok = cli("run", "--rm", "--mount", f"type=bind,src={tmp_path}/f,dst=/etc/f,readonly", "busybox",
             "sh", "-c", "cat /etc/f; echo x > /etc/f", )
    assert ok.stdout == "file\n" and ok.returncode != 0


def test_named_volume_copy_up_and_persistence(runtime_store: Store, cli) -> None:
    first = cli("run", "--rm", "-v", "confvol:/etc", "busybox", "sh", "-c",
                "cat /etc/passwd | head -1; echo kept > /etc/new", check=True)
    assert first.stdout.startswith("root:x:0:0")
    data = runtime_store.root / "volumes" / "confvol" / "_data"
    assert (data / "passwd").is_file() and (data / "new").read_text() == "kept\n"
    assert "confvol" in volume_rows(runtime_store)
    second = cli("run", "--rm", "-v", "confvol:/mnt", "busybox", "cat", "/mnt/new", check=True)
    assert second.stdout == "kept\n"
    assert "confvol" in volume_rows(runtime_store)  # named volumes outlive --rm


def test_anonymous_volumes_from_image_are_removed_with_rm_v(runtime_store: Store, cli, busybox_image) -> None:
    busybox_image("withvol:1", Volumes={"/var/www": {}}, Cmd=["sh"])
    cid = cli("create", "withvol:1", "ls", "/var/www", check=True).stdout.strip()
    c = containers.get(runtime_store, cid)
    (mount,) = [m for m in c.record["Mounts"] if m["Destination"] == "/var/www"]
    assert mount["Type"] == "volume" and len(mount["Name"]) == 64
    assert mount["Name"] in volume_rows(runtime_store)
    assert cli("rm", "-v", cid).returncode == 0
    assert mount["Name"] not in volume_rows(runtime_store)
    assert not os.path.exists(mount["Source"])
    cli("run", "--rm", "-v", "/anon", "withvol:1", "true", check=True)
    assert volume_rows(runtime_store) == []


def test_tmpfs_mounts(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--read-only", "--tmpfs", "/run:size=1m", "--mount", "type=tmpfs,target=/scratch",
                 "busybox", "sh", "-c", "touch /run/ok /scratch/ok && grep -E ' /(run|scratch) ' /proc/mounts",
                 check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.split()[2] == "tmpfs" for line in lines)
    run_line = next(line for line in lines if " /run " in line)
    assert "noexec" in run_line and "nosuid" in run_line and "size=1024k" in run_line


def test_volume_and_bind_errors(runtime_store: Store, cli) -> None:
    bad = cli("run", "--rm", "-v", "bad name:/x", "busybox", "true")
    assert bad.returncode == 125 and "invalid characters for a local volume name" in bad.stderr
    rel = cli("run", "--rm", "-v", "/tmp:relative", "busybox", "true")
    assert rel.returncode == 125 and "must be absolute" in rel.stderr


def test_image_without_layers_runs_with_a_bind_mounted_binary(runtime_store: Store, cli) -> None:
    from freight.image.canonical import image_config

    config = image_config([], [], "1970-01-01T00:00:00Z", {"Cmd": ["/bin/busybox", "true"]})
    runtime_store.write_image(config, [], tags=["empty:1"])
    assert cli("run", "--rm", "empty:1").returncode == 127  # nothing in it
    result = cli("run", "--rm", "-v", "/bin/busybox:/bin/busybox:ro", "empty:1", "/bin/busybox", "echo", "ok")
    assert result.returncode == 0 and result.stdout == "ok\n"
