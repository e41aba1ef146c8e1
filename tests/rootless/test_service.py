"""The API service run by an ordinary user: ``freight system service`` on the user's own
socket, driven by the docker CLI and docker-py as that user; another user cannot reach it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from testlib import freight_process, require_tool, wait_until

TYPE_CHECKING = False
if TYPE_CHECKING:  # conftest modules share one name: import it only for the type checker
    from conftest import Rootless


class UserService:
    """``freight system service`` as ``user``, with a runtime dir of the test's own (so its own
    namespace and socket), and the clients that drive it as that user."""

    def __init__(self, user: Rootless, docker: str, xdg: bool = True) -> None:
        """Without ``xdg``: no XDG_RUNTIME_DIR, as under ``su``, so the private fallback dir."""
        self.user = user
        self.docker_path = docker
        self.runtime = user.home / "xdg"
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, user.uid, user.gid)
        self.xdg = {"XDG_RUNTIME_DIR": str(self.runtime)} if xdg else {}
        self.sock = (self.runtime / "freight" if xdg else Path(f"/tmp/freight-run-{user.uid}")) / "freight.sock"
        self.proc = subprocess.Popen([*user.env(**self.xdg), "freight", "system", "service", "-t", "0"],
                                     cwd=user.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.client(self.user, self.docker_path, *args, check=check)

    def client(self, user: Rootless, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A client program run as ``user`` (the service's user or another) against the socket."""
        env = user.env(DOCKER_HOST=f"unix://{self.sock}", DOCKER_BUILDKIT="0")
        result = subprocess.run([*env, *argv], cwd=user.home, capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} as {user.user} exited {result.returncode}: {result.stderr}")
        return result

    def stop(self) -> None:
        """SIGTERM to the service itself (``runuser`` would report its child killed)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, self.proc.stdout.read() if self.proc.stdout else b""
        pause = self.runtime / "freight" / "userns.pid"
        if pause.exists():  # this runtime dir's own namespace
            os.kill(int(pause.read_text()), signal.SIGKILL)


@pytest.fixture
def user_service(rootless: Rootless, busybox_tar: Path) -> Iterator[UserService]:
    docker = require_tool("docker", "docker-cli")
    service = UserService(rootless, docker)
    rootless("load", "-i", str(busybox_tar), env=service.xdg, check=True)
    assert wait_until(lambda: service.sock.exists() or service.proc.poll() is not None, timeout=30)
    assert service.proc.poll() is None, service.proc.stdout.read() if service.proc.stdout else b""
    try:
        yield service
    finally:
        left = rootless("ps", "-aq", env=service.xdg).stdout.split()
        if left:
            rootless("rm", "-f", *left, env=service.xdg)
        service.stop()
    assert not service.sock.exists()


def test_the_service_listens_on_the_users_own_socket(user_service: UserService, rootless: Rootless) -> None:
    st = os.stat(user_service.sock)
    directory = os.stat(user_service.sock.parent)
    assert (st.st_uid, directory.st_uid, directory.st_mode & 0o777) == (rootless.uid, rootless.uid, 0o700)
    assert user_service.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    assert "name=rootless" in user_service.docker("info", "--format", "{{.SecurityOptions}}").stdout


def test_docker_cli_drives_rootless_freight(user_service: UserService, rootless: Rootless) -> None:
    docker = user_service.docker
    assert docker("run", "--rm", "busybox", "echo", "hi").stdout == "hi\n"
    ctx = rootless.home / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built && chown 33:33 /built\n"
                                    "COPY f /f\nCMD [\"cat\", \"/built\", \"/f\"]\n")
    (ctx / "f").write_text("copied\n")
    rootless.shared(ctx)
    assert "Successfully tagged app:latest" in docker("build", "-t", "app", str(ctx)).stdout
    assert docker("run", "--rm", "app").stdout == "built\ncopied\n"
    assert docker("run", "--rm", "app", "stat", "-c", "%u", "/built").stdout == "33\n"
    assert {"busybox", "app"} <= set(docker("images", "--format", "{{.Repository}}").stdout.split())
    started = docker("run", "-d", "--name", "web", "busybox", "sh", "-c", "echo logged; exec sleep 60")
    tun_for_users = os.stat("/dev/net/tun").st_mode & 0o006 == 0o006
    warned = "WARNING: rootless networking needs /dev/net/tun readable and writable by you"
    assert (warned in started.stderr) == (not tun_for_users), started.stderr  # the create response's Warnings
    assert docker("ps", "--format", "{{.Names}}").stdout == "web\n"
    assert wait_until(lambda: docker("logs", "web").stdout == "logged\n")
    docker("rm", "-f", "web")
    assert docker("ps", "-aq").stdout == ""
    assert rootless("ps", "-aq", env=user_service.xdg, check=True).stdout == ""


def test_docker_py_drives_rootless_freight(user_service: UserService, rootless: Rootless) -> None:
    script = ("import docker\n"
              "client = docker.from_env()\n"
              "print(client.containers.run('busybox', ['echo', 'from docker-py'], remove=True).decode(), end='')\n"
              "print(sorted(t for i in client.images.list() for t in i.tags))\n")
    out = user_service.client(rootless, "python", "-c", script).stdout
    assert out == "from docker-py\n['busybox:latest']\n"


def test_another_user_cannot_reach_the_socket(user_service: UserService, single_id: Rootless) -> None:
    result = user_service.client(single_id, user_service.docker_path, "version", check=False)
    assert result.returncode != 0 and "permission denied" in result.stderr


def test_root_and_the_user_never_share_a_socket(user_service: UserService, rootless: Rootless,
                                                tmp_path: Path) -> None:
    """Root's service listens in root's runtime dir (private), which the user cannot reach."""
    root_sock = Path(os.environ.get("FREIGHT_RUNTIME_DIR") or "/run/freight") / "freight.sock"
    proc = freight_process(tmp_path / "root", "system", "service", "-t", "0", stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: root_sock.exists() or proc.poll() is not None, timeout=30)
        assert root_sock != user_service.sock
        result = user_service.client(rootless, user_service.docker_path, "-H", f"unix://{root_sock}", "version",
                                     check=False)
        assert result.returncode != 0 and "permission denied" in result.stderr
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert not root_sock.exists()


def test_without_xdg_runtime_dir_the_socket_is_in_the_private_fallback(rootless: Rootless) -> None:
    service = UserService(rootless, require_tool("docker", "docker-cli"), xdg=False)
    try:
        assert wait_until(lambda: service.sock.exists() or service.proc.poll() is not None, timeout=30)
        assert service.proc.poll() is None
        assert os.stat(service.sock.parent).st_mode & 0o777 == 0o700
        assert service.docker("version", "--format", "{{.Server.Os}}").stdout == "linux\n"
    finally:
        service.stop()  # the fallback dir's namespace is the user's shared one: it stays
    assert not service.sock.exists()
