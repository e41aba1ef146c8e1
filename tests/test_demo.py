"""The README's main job: scripts/demo.sh builds and runs the example app end to end."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testlib import REPO, free_port, freight_env, require_root


def test_demo_builds_runs_and_serves_the_example(tmp_path: Path) -> None:
    require_root()
    env = freight_env(tmp_path / "root", DEMO_PORT=str(free_port()))
    result = subprocess.run([str(REPO / "scripts" / "demo.sh")], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("<p>hello from a freight container</p>") == 2
    images = result.stdout.split("== freight images\n")[1].splitlines()
    assert images[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert {line.split()[0] for line in images[1:]} == {"hello-web", "busybox"}
    ps = subprocess.run([str(REPO / ".venv" / "bin" / "freight"), "ps", "-aq"], env=env,
                        capture_output=True, text=True, check=True)
    assert ps.stdout == ""
