"""The real docker CLI against ``freight system service``: each command prints what it prints
against Docker, with the same exit status, and what it makes is what the freight CLI sees."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from apilib import Service, UnixConnection, start_service
from registries import RegistryProcess, write_htpasswd
from testlib import require_tool, run_freight, wait_until

from freight.store import Store


def test_version_and_info_name_the_service(service: Service) -> None:
    out = service.docker("version").stdout
    assert "Server: freight" in out
    assert "API version:      1.51 (minimum version 1.40)" in out
    info = service.docker("info", "--format", "{{.ServerVersion}} {{.OSType}} {{.Images}}").stdout
    assert info.split()[1:] == ["linux", "1"]


def test_run_rm_prints_the_output_and_returns_the_exit_code(service: Service) -> None:
    result = service.docker("run", "--rm", "busybox", "echo", "hi")
    assert result.stdout == "hi\n"
    result = service.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (result.returncode, result.stdout) == (3, "out\n")
    assert "err\n" in result.stderr
    assert service.docker("ps", "-aq").stdout == ""


def test_run_a_missing_command_exits_127(service: Service) -> None:
    result = service.docker("run", "--rm", "busybox", "no-such-command", check=False)
    assert result.returncode == 127
    assert "executable file not found" in result.stderr


def test_run_i_passes_stdin_and_its_end(service: Service) -> None:
    result = service.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done", input="hello\n")
    assert result.stdout == "hello\ndone\n"


def test_detached_container_is_the_freight_cli_s(service: Service) -> None:
    cid = service.docker("run", "-d", "--name", "web", "busybox", "sh", "-c",
                         "echo started; exec sleep 60").stdout.strip()
    assert len(cid) == 64
    assert service.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout.startswith("web Up")
    assert "web" in run_freight(service.root, "ps").stdout
    assert wait_until(lambda: service.docker("logs", "web").stdout == "started\n")
    run_freight(service.root, "stop", "-t", "1", "web", check=True)
    state = service.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web").stdout
    assert state.strip() == "exited 137"
    assert service.docker("rm", "web").stdout == "web\n"
    assert run_freight(service.root, "ps", "-aq").stdout == ""
    run_freight(service.root, "run", "-d", "--name", "from-cli", "busybox", "sleep", "60", check=True)
    assert service.docker("ps", "--format", "{{.Names}}").stdout == "from-cli\n"
    service.docker("stop", "-t", "1", "from-cli")
    assert "Exited (137)" in run_freight(service.root, "ps", "-a").stdout


def test_exec_and_its_exit_code(service: Service) -> None:
    service.docker("run", "-d", "--name", "box", "busybox", "sleep", "60")
    assert service.docker("exec", "box", "echo", "inside").stdout == "inside\n"
    assert service.docker("exec", "box", "sh", "-c", "exit 5", check=False).returncode == 5
    missing = service.docker("exec", "box", "no-such-command", check=False)
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    forker = _children(service.proc.pid)  # the one process that forks monitors for the service
    assert len(forker) == 1 and not _children(forker[0])  # and they are not its children either
    assert service.docker("exec", "-e", "X=1", "-w", "/tmp", "box", "sh", "-c", "echo $X $PWD").stdout == "1 /tmp\n"
    service.docker("rm", "-f", "box")


def _children(parent: int) -> list[int]:
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _parent(pid) == parent]


def _parent(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError):
        return 0


def _in_a_pty(service: Service, command: str) -> str:
    """``command`` (a docker command line) run with a terminal, as a user types it."""
    result = subprocess.run(["script", "-qec", command, "/dev/null"], env=service.env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_run_it_and_exec_it_get_a_terminal(service: Service) -> None:
    docker = service.docker_path
    out = _in_a_pty(service, f"stty rows 30 cols 100; {docker} run -it --rm busybox sh -c 'tty; stty size'")
    assert "/dev/pts/0" in out and "30 100" in out
    service.docker("run", "-d", "--name", "term", "busybox", "sleep", "60")
    out = _in_a_pty(service, f"stty rows 20 cols 90; {docker} exec -it term sh -c 'tty; stty size'")
    assert "/dev/pts/" in out and "20 90" in out
    service.docker("rm", "-f", "term")


def test_cp_both_ways(service: Service, tmp_path: Path) -> None:
    service.docker("run", "-d", "--name", "files", "busybox", "sleep", "60")
    (tmp_path / "local.txt").write_text("from the host\n")
    service.docker("cp", str(tmp_path / "local.txt"), "files:/tmp/")
    assert service.docker("exec", "files", "cat", "/tmp/local.txt").stdout == "from the host\n"
    service.docker("exec", "files", "sh", "-c", "mkdir /out && echo made > /out/f")
    service.docker("cp", "files:/out", str(tmp_path / "copied"))
    assert (tmp_path / "copied" / "f").read_text() == "made\n"
    missing = service.docker("cp", "files:/nope", str(tmp_path), check=False)
    assert missing.returncode == 1 and "Could not find the file /nope" in missing.stderr
    service.docker("rm", "-f", "files")


def test_build_tag_images_rmi(service: Service, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text('FROM busybox\nRUN echo built > /hello\nCOPY f /f\n'
                                         'CMD ["cat", "/hello", "/f"]\n')
    (tmp_path / "f").write_text("copied\n")
    result = service.docker("build", "-t", "app:1", str(tmp_path))
    assert "Successfully built " in result.stdout and "Successfully tagged app:1" in result.stdout
    assert service.docker("run", "--rm", "app:1").stdout == "built\ncopied\n"
    service.docker("tag", "app:1", "app:2")
    listed = service.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert {"app:1", "app:2", "busybox:latest"} <= set(listed)
    assert service.docker("rmi", "app:2").stdout == "Untagged: app:2\n"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    failed = service.docker("build", str(tmp_path), check=False)
    assert failed.returncode == 3 and "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in failed.stderr


def test_save_and_load(service: Service, tmp_path: Path) -> None:
    archive = tmp_path / "busybox.tar"
    service.docker("save", "-o", str(archive), "busybox")
    assert archive.stat().st_size > 100_000
    service.docker("rmi", "busybox")
    assert service.docker("load", "-i", str(archive)).stdout == "Loaded image: busybox:latest\n"


def test_push_and_pull_through_a_registry(service: Service,
                                          start_registry: Callable[..., RegistryProcess]) -> None:
    registry = start_registry()
    name = f"{registry.host}/tools/box:1"
    service.docker("tag", "busybox", name)
    pushed = service.docker("push", name).stdout
    assert "digest: sha256:" in pushed
    service.docker("rmi", name)
    pulled = service.docker("pull", name).stdout
    assert f"Status: Downloaded newer image for {name}" in pulled
    assert service.docker("run", "--rm", name, "echo", "pulled").stdout == "pulled\n"


def test_volumes_df_and_prune(service: Service) -> None:
    assert service.docker("volume", "create", "data").stdout == "data\n"
    service.docker("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert service.docker("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f").stdout == "kept\n"
    assert "data" in service.docker("volume", "ls", "-q").stdout.split()
    assert "Local Volumes" in service.docker("system", "df").stdout
    service.docker("volume", "rm", "data")
    service.docker("create", "--name", "idle", "busybox", "true")
    pruned = service.docker("system", "prune", "-f").stdout
    assert "Deleted Containers:" in pruned and "Total reclaimed space:" in pruned
    assert service.docker("ps", "-aq").stdout == ""


def test_bad_requests_get_docker_s_status_and_message(service: Service) -> None:
    assert service.request("GET", "/v1.51/containers/nope/json") == (404, {"message": "No such container: nope"})
    status, answer = service.request("POST", "/containers/create", b"{not json",
                                     {"Content-Type": "application/json"})
    assert status == 400 and "invalid JSON" in answer["message"]
    assert service.request("PATCH", "/containers/json") == (404, {"message": "page not found"})
    status, answer = service.request("POST", "/containers/create", b'{"Image": "missing:1", "Cmd": ["true"]}',
                                     {"Content-Type": "application/json"})
    assert status == 404 and "missing:1" in answer["message"]
    status, answer = service.request("POST", "/containers/create",
                                     b'{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 1}}',
                                     {"Content-Type": "application/json"})
    assert status == 400, answer
    status, answer = service.request("POST", "/containers/create",
                                     b'{"Image": "busybox", "HostConfig": {"Memory": "lots"}}',
                                     {"Content-Type": "application/json"})
    assert (status, answer["message"]) == (400, "json: cannot unmarshal string into Go struct field "
                                                "HostConfig.HostConfig.Memory of type int")
    status, answer = service.request("POST", "/containers/create",
                                     b'{"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": '
                                     b'[{"HostPort": "http"}]}}}', {"Content-Type": "application/json"})
    assert (status, answer["message"]) == (400, 'invalid port specification: "http"')
    assert service.docker("ps", "-aq").stdout == ""
    status, answer = service.request("GET", "/v1.24/version")
    assert status == 400 and "Minimum supported API version is 1.40" in answer["message"]
    result = service.docker("rm", "nope", check=False)
    assert (result.returncode, result.stderr) == (1, "Error response from daemon: No such container: nope\n")


def test_ping_negotiates_the_classic_builder(service: Service) -> None:
    conn_status, _ = service.request("HEAD", "/_ping")
    assert conn_status == 200
    conn = UnixConnection(str(service.sock))
    conn.request("GET", "/_ping")
    response = conn.getresponse()
    assert response.read() == b"OK"
    assert response.getheader("Api-Version") == "1.51"
    assert response.getheader("Builder-Version") == "1"
    assert response.getheader("Ostype") == "linux"
    conn.close()


def test_many_clients_at_once(service: Service) -> None:
    with ThreadPoolExecutor(50) as pool:
        listings = list(pool.map(lambda _: service.docker("ps", check=False).returncode, range(50)))
    assert listings == [0] * 50
    with ThreadPoolExecutor(10) as pool:
        runs = list(pool.map(lambda i: service.docker("run", "--rm", "busybox", "echo", str(i), check=False),
                             range(10)))
    assert [(r.returncode, r.stdout) for r in runs] == [(0, f"{i}\n") for i in range(10)]


def test_clients_that_leave_mid_stream_leave_the_service_up(service: Service, tmp_path: Path) -> None:
    service.docker("run", "-d", "--name", "talker", "busybox", "sh", "-c", "while true; do echo x; sleep 0.1; done")
    follower = subprocess.Popen([service.docker_path, "logs", "-f", "talker"], env=service.env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert follower.stdout is not None and follower.stdout.readline() == b"x\n"
    follower.kill()
    follower.wait()
    attached = subprocess.Popen([service.docker_path, "run", "--rm", "busybox", "sh", "-c",
                                 "while true; do echo y; sleep 0.1; done"], env=service.env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert attached.stdout is not None and attached.stdout.readline() == b"y\n"
    attached.kill()
    attached.wait()
    assert service.docker("ps", "-q").stdout.count("\n") == 2  # the attached one outlived its client
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo step && sleep 2\n")
    builder = subprocess.Popen([service.docker_path, "build", "-t", "left:1", str(tmp_path)], env=service.env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert builder.stdout is not None
    assert wait_until(lambda: b"step" in builder.stdout.readline())
    builder.kill()
    builder.wait()
    time.sleep(3)
    assert service.proc.poll() is None
    assert run_freight(service.root, "system", "check").stdout.endswith("store is consistent\n")
    service.docker("rm", "-f", "talker")


def test_socket_mode_idle_exit_and_containers_outliving_the_service(busybox_store: Store, tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    proc = start_service(busybox_store.root, sock, "--timeout", "2")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    rss = int(next(line.split()[1] for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:")))
    assert rss <= 60 * 1024, f"{rss} KiB resident"
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    docker = require_tool("docker", "docker-cli")
    subprocess.run([docker, "run", "-d", "--name", "stays", "busybox", "sleep", "60"], env=env, check=True,
                   capture_output=True)
    started = time.monotonic()
    assert proc.wait(timeout=20) == 0
    assert time.monotonic() - started >= 1.5
    assert not sock.exists()
    assert run_freight(busybox_store.root, "ps", "--format", "{{.Names}}").stdout == "stays\n"
    run_freight(busybox_store.root, "rm", "-f", "stays", check=True)


def test_debian_s_docker_cli_too(service: Service, tmp_path: Path) -> None:
    """The docker.io client (an older CLI, API 1.41) against the same service."""
    debian = shutil.which("docker", path="/usr/bin")
    if debian is None:
        pytest.skip("needs the docker CLI of Debian's docker.io package")
    older = Service(service.root, service.sock, service.proc, debian)
    assert "API version:      1.51 (minimum version 1.40)" in older.docker("version").stdout
    assert older.docker("run", "--rm", "busybox", "sh", "-c", "echo hi; exit 2", check=False).stdout == "hi\n"
    older.docker("run", "-d", "--name", "old", "busybox", "sleep", "60")
    assert older.docker("ps", "--format", "{{.Names}}").stdout == "old\n"
    assert older.docker("exec", "old", "echo", "in").stdout == "in\n"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    assert "Successfully tagged older:1" in older.docker("build", "-t", "older:1", str(tmp_path)).stdout
    older.docker("rm", "-f", "old")


def test_start_a_and_attach(service: Service) -> None:
    service.docker("create", "--name", "again", "busybox", "sh", "-c", "echo ran; exit 6")
    for _ in range(2):
        result = service.docker("start", "-a", "again", check=False)
        assert (result.returncode, result.stdout) == (6, "ran\n")
    service.docker("run", "-d", "--name", "later", "busybox", "sh", "-c", "sleep 1; echo out; echo err >&2; exit 3")
    result = service.docker("attach", "later", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_attach_relays_input_and_output_as_they_come(service: Service) -> None:
    """docker attach is a viewer of the container's monitor: input goes to the container,
    output comes back unbuffered (a prompt without a newline too), and its end is the exit."""
    service.docker("run", "-d", "-i", "--name", "asker", "busybox", "sh", "-c",
                   "read greeting; printf \"$greeting, name? \"; read name; echo hello $name; exit 4")
    attached = subprocess.Popen([service.docker_path, "attach", "asker"], env=service.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert attached.stdin is not None and attached.stdout is not None
    attached.stdin.write(b"hi\n")
    attached.stdin.flush()
    assert attached.stdout.read(10) == b"hi, name? "  # no line's end: a log would hold it back
    attached.stdin.write(b"ann\n")
    attached.stdin.flush()
    assert attached.stdout.readline() == b"hello ann\n"
    assert attached.wait(timeout=30) == 4


def test_wait_sees_the_exit_code_of_a_container_removed_on_exit(service: Service) -> None:
    cid = service.docker("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 1; exit 3").stdout.strip()
    result = service.docker("wait", cid, check=False)
    assert (result.returncode, result.stdout) == (0, "3\n")
    assert run_freight(service.root, "ps", "-aq").stdout == ""


def test_resize_reaches_the_container_s_terminal_through_its_monitor(service: Service) -> None:
    service.docker("run", "-d", "-t", "--name", "term", "busybox", "sh", "-c",
                   "while true; do stty size; sleep 0.2; done")
    status, _answer = service.request("POST", "/containers/term/resize?h=33&w=101")
    assert status == 200
    assert wait_until(lambda: "33 101" in service.docker("logs", "term").stdout)
    service.docker("rm", "-f", "term")


def test_login_and_push_with_credentials(service: Service, tmp_path: Path,
                                         start_registry: Callable[..., RegistryProcess]) -> None:
    registry = start_registry(htpasswd=write_htpasswd(tmp_path / "htpasswd", "alice", "secret"))
    wrong = service.docker("login", "-u", "alice", "--password-stdin", registry.host, input="nope\n", check=False)
    assert wrong.returncode == 1 and "Error response from daemon:" in wrong.stderr
    assert "Login Succeeded" in service.docker("login", "-u", "alice", "--password-stdin", registry.host,
                                               input="secret\n").stdout
    name = f"{registry.host}/private/box:1"
    service.docker("tag", "busybox", name)
    assert "digest: sha256:" in service.docker("push", name).stdout  # the CLI's X-Registry-Auth
    service.docker("rmi", name)
    service.docker("pull", name)
    service.docker("logout", registry.host)
    denied = service.docker("push", name, check=False)
    assert denied.returncode == 1


def test_top_stats_restart_kill_and_import(service: Service, busybox_rootfs: Path, tmp_path: Path) -> None:
    service.docker("run", "-d", "--name", "busy", "busybox", "sleep", "60")
    assert "sleep 60" in service.docker("top", "busy").stdout
    stats = service.docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "busy").stdout
    assert stats == "busy 1\n"
    first = service.docker("inspect", "--format", "{{.State.StartedAt}}", "busy").stdout
    service.docker("restart", "-t", "0", "busy")
    assert service.docker("inspect", "--format", "{{.State.StartedAt}}", "busy").stdout != first
    service.docker("kill", "busy")
    assert service.docker("inspect", "--format", "{{.State.Status}}", "busy").stdout == "exited\n"
    killed = service.docker("kill", "busy", check=False)
    assert killed.returncode == 1 and "is not running" in killed.stderr
    archive = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(busybox_rootfs), "-cf", str(archive), "."], check=True)
    image_id = service.docker("import", str(archive), "imported:1").stdout.strip()
    assert image_id.startswith("sha256:")
    assert service.docker("run", "--rm", "imported:1", "echo", "from import").stdout == "from import\n"
    assert "Imported from -" in service.docker("history", "imported:1").stdout
