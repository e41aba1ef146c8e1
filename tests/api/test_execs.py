"""Exec instances through the service are rows of the store: they outlive a restart of the
service, their monitors record their exits, and they go with their container."""

from __future__ import annotations

import os
import signal

import docker
import pytest
from apilib import Service, start_service
from testlib import wait_until

from freight.store import open_store


def test_execs_outlive_a_restart_of_the_service_and_go_with_their_container(service: Service) -> None:
    service.docker("run", "-d", "--name", "box", "busybox", "sleep", "60")
    client = docker.APIClient(base_url=f"unix://{service.sock}", timeout=60)
    later = client.exec_create("box", ["sh", "-c", "echo $X; exit 3"], environment={"X": "kept"})["Id"]
    detached = client.exec_create("box", ["sleep", "30"])["Id"]
    client.exec_start(detached, detach=True)
    client.close()
    service.proc.terminate()
    assert service.proc.wait(timeout=20) == 0
    proc = start_service(service.root, service.sock, "--timeout", "0")
    client = docker.APIClient(base_url=f"unix://{service.sock}", timeout=60)
    try:
        info = client.exec_inspect(later)
        assert (info["Running"], info["ExitCode"], info["ProcessConfig"]["entrypoint"]) == (False, None, "sh")
        assert client.exec_start(later) == b"kept\n"
        assert client.exec_inspect(later)["ExitCode"] == 3
        with pytest.raises(docker.errors.APIError) as refused:
            client.exec_start(later)
        assert refused.value.status_code == 409
        running = client.exec_inspect(detached)
        assert running["Running"] is True and running["ExitCode"] is None
        os.kill(running["Pid"], signal.SIGKILL)  # its monitor records the exit, no viewer needed
        assert wait_until(lambda: client.exec_inspect(detached)["ExitCode"] == 137)
        assert service.docker("exec", "box", "true").returncode == 0
        exec_ids = client.inspect_container("box")["ExecIDs"]
        assert len(exec_ids) == 3 and exec_ids[:2] == [later, detached]
        db = open_store(service.root).db
        assert db.execute("SELECT COUNT(*) FROM execs").fetchone()[0] == 3
        service.docker("rm", "-f", "box")
        assert db.execute("SELECT COUNT(*) FROM execs").fetchone()[0] == 0
        with pytest.raises(docker.errors.NotFound):
            client.exec_inspect(later)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=20)
