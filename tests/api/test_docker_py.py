"""docker-py (the ``docker`` package) as a library against ``freight system service``."""

from __future__ import annotations

import io
import socket
import tarfile
from collections.abc import Callable, Iterator

import docker
import pytest
from apilib import Service
from registries import RegistryProcess
from testlib import wait_until


@pytest.fixture
def client(service: Service) -> Iterator[docker.DockerClient]:
    api = docker.DockerClient(base_url=f"unix://{service.sock}", timeout=60)
    yield api
    api.close()


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_version_is_negotiated(client: docker.DockerClient) -> None:
    assert client.version()["ApiVersion"] == "1.51"
    assert client.ping() is True


def test_run_in_the_foreground_with_environment(client: docker.DockerClient) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "echo $GREETING"], environment={"GREETING": "hello"},
                                remove=True)
    assert out == b"hello\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 4"], remove=True)
    assert failed.value.exit_status == 4


def test_run_detached_with_a_published_port_and_a_volume(client: docker.DockerClient) -> None:
    client.volumes.create("site")
    client.containers.run("busybox", ["sh", "-c", "echo served > /www/index.html"], volumes={"site": {"bind": "/www"}},
                          remove=True)
    web = client.containers.run("busybox", ["httpd", "-f", "-p", "80", "-h", "/www"], detach=True,
                                ports={"80/tcp": None}, volumes={"site": {"bind": "/www", "mode": "ro"}})
    web.reload()
    assert web.status == "running"
    port = int(web.ports["80/tcp"][0]["HostPort"])

    def fetch() -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                return b"".join(iter(lambda: conn.recv(4096), b""))
        except OSError:
            return b""

    assert b"served" in wait_until(fetch)
    web.remove(force=True)
    assert [v.name for v in client.volumes.list()] == ["site"]
    client.volumes.get("site").remove()
    assert client.volumes.list() == []


def test_logs_stream_and_exec_run(client: docker.DockerClient) -> None:
    box = client.containers.run("busybox", ["sh", "-c", "echo one; sleep 0.3; echo two; exec sleep 60"], detach=True)
    stream = box.logs(stream=True, follow=True)
    assert [next(stream), next(stream)] == [b"one\n", b"two\n"]
    assert box.exec_run(["sh", "-c", "echo from exec; exit 2"]) == (2, b"from exec\n")
    out = box.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True).output
    assert out == (b"o\n", b"e\n")
    box.remove(force=True)


def test_put_and_get_archive(client: docker.DockerClient) -> None:
    box = client.containers.run("busybox", ["sleep", "60"], detach=True)
    assert box.put_archive("/tmp", _tar("note.txt", b"kept\n"))
    assert box.exec_run(["cat", "/tmp/note.txt"]).output == b"kept\n"
    chunks, stat = box.get_archive("/tmp/note.txt")
    assert stat["name"] == "note.txt" and stat["size"] == 5
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.extractfile("note.txt")
        assert member is not None and member.read() == b"kept\n"
    with pytest.raises(docker.errors.NotFound):
        box.get_archive("/no/such/file")
    box.remove(force=True)


def test_images_build(client: docker.DockerClient) -> None:
    image, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo built > /x\nCMD cat /x\n"),
                                      tag="pybuilt:1")
    assert image.tags == ["pybuilt:1"]
    assert any("Successfully built" in entry.get("stream", "") for entry in logs)
    assert client.containers.run("pybuilt:1", remove=True) == b"built\n"
    with pytest.raises(docker.errors.BuildError):
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"))


def test_images_push_and_pull(client: docker.DockerClient, start_registry: Callable[..., RegistryProcess]) -> None:
    registry = start_registry()
    repo = f"{registry.host}/py/box"
    client.images.get("busybox").tag(repo, "2")
    lines = list(client.images.push(repo, "2", stream=True, decode=True))
    assert not [line for line in lines if "error" in line]
    client.images.remove(f"{repo}:2")
    pulled = client.images.pull(repo, tag="2")
    assert f"{repo}:2" in pulled.tags


def test_prune_calls(client: docker.DockerClient) -> None:
    client.containers.create("busybox", ["true"], name="leftover")
    assert client.containers.prune()["ContainersDeleted"] is not None
    assert client.containers.list(all=True) == []
    assert client.images.prune()["SpaceReclaimed"] == 0
    client.volumes.create("unused")
    assert "unused" in (client.volumes.prune(filters={"all": "true"})["VolumesDeleted"] or [])


def test_missing_things_raise_docker_py_s_errors(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nope")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nope:1")
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("nope")
    assert {n.name for n in client.networks.list()} == {"bridge", "host", "none"}
