"""``freight run`` pulls an image the store lacks, from a registry on 127.0.0.1."""

from __future__ import annotations

from freight.store import Store


def test_run_pulls_a_missing_image_then_runs_it(runtime_store: Store, cli, registry) -> None:
    host = registry("freight")
    remote = f"{host}/tools/busybox:1"
    cli("tag", "busybox", remote, check=True)
    cli("push", remote, check=True)
    cli("rmi", remote, check=True)
    never = cli("run", "--rm", "--pull", "never", remote, "true")
    assert never.returncode == 125
    unknown = cli("run", "--rm", f"{host}/tools/nothing:1", "true")
    assert unknown.returncode == 125 and "Unable to find image" in unknown.stderr
    result = cli("run", "--rm", remote, "echo", "pulled")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pulled\n"
    assert f"Unable to find image '{remote}' locally" in result.stderr
    again = cli("run", "--rm", remote, "true")
    assert again.returncode == 0 and "Unable to find image" not in again.stderr
