"""Every container start writes an OCI runtime-spec bundle, and the built-in runtime runs
from it: the config validates against the runtime-spec's JSON schema, stands alone (crun
runs it by hand), is the owner's only, and a field the built-in runtime cannot honour
fails the start with its name."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from testlib import CLI, require_tool, runtime_namespace

from freight.store import Store

SCHEMA_DIR = Path("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema")


def _config_path(cli: CLI, name: str) -> Path:
    result = cli("inspect", name)
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)[0]["OCIConfigPath"])


def _validator() -> Any:
    """The runtime-spec's config schema (draft 4, files referring to each other by name)."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    if not SCHEMA_DIR.is_dir():
        pytest.fail("the runtime-spec schema is missing: scripts/setup.sh installs "
                    "golang-github-opencontainers-specs-dev")
    base = SCHEMA_DIR.as_uri() + "/"
    registry = Registry().with_resources(
        (base + p.name, Resource.from_contents(json.loads(p.read_text()), default_specification=DRAFT4))
        for p in SCHEMA_DIR.glob("*.json"))
    schema = {**json.loads((SCHEMA_DIR / "config-schema.json").read_text()), "id": base + "config-schema.json"}
    return jsonschema.Draft4Validator(schema, registry=registry)


def _schema_errors(config: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.path))}: {e.message[:200]}" for e in _validator().iter_errors(config)]


def test_the_schema_catches_a_bad_config() -> None:
    assert _schema_errors({"ociVersion": "1.0.2", "process": {"rlimits": [{"type": 7}]}})


EVERY_FLAG = ["-t", "-i", "--hostname", "box", "--user", "nobody:nogroup", "--group-add", "daemon", "-w", "/bin",
              "-e", "A=1", "--env", "B=two words", "--memory", "64m", "--memory-swap", "128m",
              "--memory-reservation", "32m", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0",
              "--pids-limit", "50", "--ulimit", "nofile=1024:2048", "--cap-add", "NET_ADMIN",
              "--cap-drop", "CHOWN", "--security-opt", "no-new-privileges", "--read-only",
              "--tmpfs", "/scratch:size=8m,mode=1777", "-v", "/data", "--device", "/dev/null:/dev/xnull",
              "--init", "--label", "a=b", "-p", "127.0.0.1::80", "--ipc", "host"]


@pytest.mark.parametrize("flags", [EVERY_FLAG, ["--privileged", "--network", "host", "--pid", "host"]],
                         ids=["every-flag", "privileged-host"])
def test_config_json_validates_against_the_runtime_spec_schema(runtime_store: Store, cli: CLI, tmp_path: Path,
                                                                flags: list[str]) -> None:
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    result = cli("run", "--name", "box", "-v", f"{host_dir}:/bind:ro", *flags, "busybox", "true")
    assert result.returncode == 0, result.stderr
    path = _config_path(cli, "box")
    config = json.loads(path.read_text())
    assert _schema_errors(config) == []
    assert config["ociVersion"] >= "1.0.2"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    destinations = [m["destination"] for m in config["mounts"]]
    assert "/bind" in destinations
    if "--privileged" not in flags:
        assert config["process"]["user"]["uid"] == 65534
        assert config["process"]["args"] == ["/sbin/docker-init", "--", "true"]  # --init: tini, as Docker's
        assert "B=two words" in config["process"]["env"]
        assert config["linux"]["resources"]["memory"]["limit"] == 64 << 20
        assert config["linux"]["resources"]["cpu"]["quota"] == 50000
        assert config["linux"]["resources"]["pids"]["limit"] == 50
        assert "CAP_CHOWN" not in config["process"]["capabilities"]["bounding"]
        assert config["root"]["readonly"] is True
        assert config["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
        assert {"/scratch", "/data", "/dev/shm"} <= set(destinations)
    assert cli("rm", "box").returncode == 0


def test_a_terminal_gets_its_console_size_in_the_config(runtime_store: Store, cli: CLI) -> None:
    from test_stdio import run_in_pty

    code, out = run_in_pty(runtime_store.root, "run", "-t", "--name", "sized", "busybox", "stty", "size")
    assert code == 0 and b"33 97" in out
    process = json.loads(_config_path(cli, "sized").read_text())["process"]
    assert process["terminal"] is True and process["consoleSize"] == {"height": 33, "width": 97}
    assert cli("rm", "sized").returncode == 0


def test_the_built_in_runtime_names_a_field_it_cannot_honour(runtime_store: Store, cli: CLI) -> None:
    from freight.runtime import bundle
    from freight.runtime.ocispec import UnsupportedField

    assert cli("run", "--name", "box", "busybox", "true").returncode == 0
    path = _config_path(cli, "box")
    config = json.loads(path.read_text())
    container_id = json.loads(cli("inspect", "box").stdout)[0]["Id"]
    assert bundle.load(str(path.parent), container_id).spec.args == ["true"]
    changes = [("linux.sysctl", lambda c: c["linux"].__setitem__("sysctl", {"net.ipv4.ip_forward": "1"})),
               ("mounts[2]", lambda c: c["mounts"][2].__setitem__("type", "nfs")),
               ("linux.resources.memory", lambda c: c["linux"]["resources"].__setitem__("memory", {"kernel": 1})),
               ("process.apparmorProfile", lambda c: c["process"].__setitem__("apparmorProfile", "x"))]
    for field, change in changes:
        changed = json.loads(json.dumps(config))
        change(changed)
        path.write_text(json.dumps(changed))
        with pytest.raises(UnsupportedField, match=rf"cannot honour {field.replace('[', '.').replace(']', '.')}"):
            bundle.load(str(path.parent), container_id)
    assert cli("rm", "box").returncode == 0


def test_a_bundle_freight_wrote_runs_with_crun_by_hand(runtime_store: Store, cli: CLI) -> None:
    """The bundle stands alone: mount its root (freight's annotations say how), then
    ``crun run -b BUNDLE``."""
    require_tool("crun", "crun")
    # --network none: a bridge network's namespace is the monitor's, joined by path, and goes with it
    result = cli("run", "--name", "box", "--network", "none", "-e", "WHO=crun", "busybox", "sh", "-c",
                 'echo "by hand: $WHO $(hostname)"')
    assert result.returncode == 0, result.stderr
    bundle_dir = _config_path(cli, "box").parent
    config = json.loads((bundle_dir / "config.json").read_text())
    mounts = " && ".join(f'cd {m["cwd"] or "/"} && mount -t {m["type"]} -o {",".join(m["options"])} {m["source"]} '
                         f'{config["root"]["path"]}' for m in json.loads(config["annotations"]["org.freight.rootfs"]))
    script = f'{mounts} && cd / && exec crun run -b {bundle_dir} freight-by-hand-{os.getpid()}'
    ran = subprocess.run([*runtime_namespace(), "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"by hand: crun {config['hostname']}\n"
    assert cli("rm", "box").returncode == 0
