"""`freight registry serve` from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from registries import RegistryProcess, launch
from testlib import FREIGHT, free_port


def test_cli_serves(tmp_path: Path) -> None:
    port = free_port()
    cmd = [str(FREIGHT), "registry", "serve", "--addr", f"127.0.0.1:{port}",
           "--storage", str(tmp_path / "storage")]
    server: RegistryProcess = launch(cmd, f"http://127.0.0.1:{port}", tmp_path / "storage",
                                      tmp_path / "log")
    try:
        r = httpx.get(f"{server.url}/v2/")
        assert r.status_code == 200 and r.headers["Docker-Distribution-API-Version"]
        assert (tmp_path / "storage" / "blobs").is_dir()
    finally:
        server.stop()
    assert server.proc.returncode == 0  # SIGTERM is a clean stop


def test_cli_errors(tmp_path: Path) -> None:
    cases = [(["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "k")],
              "no such file"),
             (["--addr", "nonsense"], "invalid listen address"),
             (["--idle-timeout", "0"], "--idle-timeout must be more than 0")]
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    cases.append((["--tls-cert", str(cert)], "go together"))
    for extra, message in cases:
        done = subprocess.run([str(FREIGHT), "registry", "serve", "--storage",
                               str(tmp_path / "s"), *extra], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 1, done.stderr  # the docker CLI's status for a failed command
        assert done.stderr.startswith("Error: ") and message in done.stderr
