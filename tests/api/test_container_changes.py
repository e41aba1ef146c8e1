"""pause/unpause, rename, update, diff, export and commit through ``freight system service``:
the real docker CLI and docker-py, Docker's statuses for what is refused, and what they do
is what the freight CLI sees."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import docker
import pytest
from apilib import Service
from testlib import CGROUP_ROOT, wait_until

_CHANGES = "echo hi > /tmp/x; rm /etc/passwd; mkdir /new; sleep 1000"


def _state(service: Service, name: str) -> str:
    return service.freight("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def test_pause_and_unpause(service: Service) -> None:
    cid = service.docker("run", "-d", "--name", "box", "busybox", "sleep", "60").stdout.strip()
    assert service.docker("pause", "box").stdout == "box\n"
    assert _state(service, "box") == "paused"
    again = service.docker("pause", "box", check=False)
    assert (again.returncode, again.stderr) == (1, f"Error response from daemon: Container {cid} is already paused\n")
    assert service.request("POST", "/v1.51/containers/box/pause") == \
        (409, {"message": f"Container {cid} is already paused"})
    assert service.docker("unpause", "box").stdout == "box\n"
    assert _state(service, "box") == "running"
    assert service.request("POST", "/containers/box/unpause")[0] == 409
    service.freight("pause", "box")  # the CLI's pause is the service's
    assert service.docker("inspect", "-f", "{{.State.Status}}", "box").stdout == "paused\n"
    service.docker("unpause", "box")
    service.docker("kill", "box")
    assert service.request("POST", "/containers/box/pause") == (409, {"message": f"Container {cid} is not running"})
    assert service.request("POST", "/containers/nope/pause") == (404, {"message": "No such container: nope"})
    missing = service.docker("unpause", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (1, "Error response from daemon: No such container: nope\n")


def test_rename(service: Service) -> None:
    cid = service.docker("create", "--name", "before", "busybox", "true").stdout.strip()
    service.docker("create", "--name", "other", "busybox", "true")
    assert service.docker("rename", "before", "after").stdout == ""
    assert service.freight("inspect", "-f", "{{.Name}} {{.Id}}", "after").stdout == f"/after {cid}\n"
    taken = service.docker("rename", "after", "other", check=False)
    assert taken.returncode == 1 and 'The container name "/other" is already in use' in taken.stderr
    assert service.request("POST", "/containers/after/rename?name=other")[0] == 409
    assert service.request("POST", "/containers/after/rename?name=after")[0] == 400
    assert service.request("POST", "/containers/nope/rename?name=x")[0] == 404


def _limit(cid: str, v1: str, v2: str) -> str:
    path = CGROUP_ROOT / v1
    return (path if path.exists() else CGROUP_ROOT / v2).read_text().strip()


def test_update(service: Service) -> None:
    cid = service.docker("run", "-d", "--name", "limited", "-m", "64m", "busybox", "sleep", "60").stdout.strip()
    assert service.docker("update", "-m", "100m", "--memory-swap", "200m", "--pids-limit", "50",
                          "--restart", "on-failure:3", "limited").stdout == "limited\n"
    host = json.loads(service.freight("inspect", "-f", "{{json .HostConfig}}", "limited").stdout)
    assert (host["Memory"], host["MemorySwap"], host["PidsLimit"], host["RestartPolicy"]) == \
        (100 * 2**20, 200 * 2**20, 50, {"Name": "on-failure", "MaximumRetryCount": 3})
    memory = _limit(cid, f"memory/freight/{cid}/memory.limit_in_bytes", f"freight/{cid}/memory.max")
    assert memory == str(100 * 2**20)
    assert _limit(cid, f"pids/freight/{cid}/pids.max", f"freight/{cid}/pids.max") == "50"
    tiny = service.docker("update", "-m", "1m", "limited", check=False)
    assert tiny.returncode == 1 and "Minimum memory limit allowed is 6MB" in tiny.stderr
    status, answer = service.request("POST", "/containers/limited/update", json.dumps({"CpuShares": 512}).encode(),
                                     {"Content-Type": "application/json"})
    assert (status, answer) == (200, {"Warnings": []})
    assert service.freight("inspect", "-f", "{{.HostConfig.CpuShares}} {{.HostConfig.Memory}}",
                           "limited").stdout == f"512 {100 * 2**20}\n"
    bad = json.dumps({"RestartPolicy": {"Name": "sometimes"}}).encode()
    assert service.request("POST", "/containers/limited/update", bad)[0] == 400
    assert service.request("POST", "/containers/nope/update", b"{}")[0] == 404


@pytest.fixture
def changed(service: Service) -> str:
    """A running container that added /tmp/x and /new and deleted /etc/passwd."""
    service.docker("run", "-d", "--name", "changed", "busybox", "sh", "-c", _CHANGES)
    pid = int(service.docker("inspect", "-f", "{{.State.Pid}}", "changed").stdout)
    assert wait_until(lambda: Path(f"/proc/{pid}/root/new").is_dir())
    return "changed"


def test_diff_is_the_cli_s(service: Service, changed: str) -> None:
    out = service.docker("diff", changed).stdout
    assert out.splitlines() == ["C /etc", "D /etc/passwd", "A /new", "C /tmp", "A /tmp/x"]
    assert out == service.freight("diff", changed).stdout
    assert service.request("GET", "/containers/changed/changes")[1][:2] == \
        [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/passwd", "Kind": 2}]
    assert service.request("GET", "/containers/nope/changes")[0] == 404


def test_export_streams_the_filesystem(service: Service, changed: str, tmp_path: Path) -> None:
    since = time.time()
    service.docker("export", "-o", str(tmp_path / "fs.tar"), changed)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        names = set(tar.getnames())
        assert tar.extractfile("tmp/x").read() == b"hi\n"  # type: ignore[union-attr]
    assert {"bin/busybox", "tmp/x", "new"} <= names and "etc/passwd" not in names
    assert service.request("GET", "/containers/nope/export")[0] == 404
    events = service.docker("events", "--since", f"{since:.3f}", "--until", f"{time.time() + 0.2:.3f}",
                            "--format", "{{.Type}} {{.Action}}").stdout
    assert events == "container export\n"


def test_commit_with_changes(service: Service, changed: str) -> None:
    image_id = service.docker("commit", "-c", 'CMD ["cat", "/tmp/x"]', "-m", "saved", "-a", "me", changed,
                              "saved:1").stdout.strip()
    assert image_id.startswith("sha256:")
    assert service.docker("run", "--rm", "saved:1").stdout == "hi\n"
    info = json.loads(service.freight("image", "inspect", "saved:1").stdout)[0]
    assert (info["Id"], info["Comment"], info["Author"]) == (image_id, "saved", "me")
    assert _state(service, changed) == "running"  # thawed after
    assert service.request("POST", "/commit?container=nope")[0] == 404


def test_docker_py_pause_rename_update_diff_export_commit(service: Service, changed: str) -> None:
    client = docker.DockerClient(base_url=f"unix://{service.sock}", timeout=60)
    try:
        box = client.containers.get(changed)
        box.pause()
        box.reload()
        assert box.status == "paused"
        box.unpause()
        box.rename("renamed")
        assert client.containers.get("renamed").id == box.id
        assert box.update(mem_limit="80m") == {"Warnings": []}
        assert client.containers.get("renamed").attrs["HostConfig"]["Memory"] == 80 * 2**20
        assert {"Path": "/tmp/x", "Kind": 1} in box.diff()
        with tarfile.open(fileobj=io.BytesIO(b"".join(box.export()))) as tar:
            assert tar.extractfile("tmp/x").read() == b"hi\n"  # type: ignore[union-attr]
        image = box.commit("committed", "v2", conf={"Env": ["FROM_BODY=1"]}, changes=["WORKDIR /tmp"])
        assert image.tags == ["committed:v2"]
        assert (image.attrs["Config"]["WorkingDir"], image.attrs["Config"]["Env"]) == ("/tmp", ["FROM_BODY=1"])
        assert client.containers.run(image.id, ["cat", "x"], remove=True) == b"hi\n"
    finally:
        client.close()
