"""The hostile-tar corpus (tests/hostile_tars.py) through every command that unpacks a tar.

``import``, ``load`` of a docker-archive and of an OCI layout, a build that ``ADD``s the tar, a
build whose context is the tar, ``cp -`` of the tar into a container and ``cp`` of what it left
there back out to the host. For each: the canary directory outside (and the file a hard link would take) is
unchanged, and the command either refuses with one ``Error`` line and exit 1, naming an entry of
the tar, or succeeds with every entry kept inside its destination, as the case expects.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_tars import CONFINED, REFUSED, Case, canary_state, hostile_corpus, make_canary
from imagelib import import_busybox, member, oci_layout, sha256_digest, tar_bytes, tar_of
from testlib import require_root, run_freight

from freight.image.canonical import image_config

CASES = sorted(hostile_corpus(Path("/canary")))
PLACES = {  # the command, and how it unpacks the tar (a mode of tests/hostile_tars.py)
    "import": "layer", "load-docker-archive": "layer", "load-oci-layout": "layer",
    "build-add": "root", "build-context": "root", "cp-into-container": "subdir",
}


class Env:
    """One busybox store with a stopped container, the canary, and a runner."""

    def __init__(self, base: Path) -> None:
        self.root, self.files = base / "root", base / "files"
        self.canary = make_canary(base / "canary")
        self.before = canary_state(self.canary)
        self.corpus = hostile_corpus(self.canary)

    def run(self, *args: str, stdin: Path | None = None) -> subprocess.CompletedProcess:
        return run_freight(self.root, *args, stdin=stdin, cwd=self.files)

    def write(self, name: str, data: bytes) -> Path:
        path = self.files / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def images(self) -> list[str]:
        from freight.store import open_store

        return sorted(image.id for image in open_store(self.root).images.all())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Iterator[Env]:
    from freight.store import open_store
    require_root()
    e = Env(tmp_path_factory.mktemp("hostile"))
    e.files.mkdir()
    import_busybox(open_store(e.root), busybox_rootfs)
    for name in CASES:
        (e.files / "work" / name).mkdir(parents=True)
    e.run("create", "--name", "box", "busybox", "true").check_returncode()
    e.run("cp", str(e.files / "work"), "box:/").check_returncode()
    yield e
    assert e.run("system", "check").returncode == 0


def docker_archive(layer: bytes) -> bytes:
    config = json.dumps(image_config([sha256_digest(layer)], [], "2024-01-01T00:00:00Z")).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [], "Layers": ["layer.tar"]}]).encode()
    return tar_bytes([member("layer.tar", data=layer), member("config.json", data=config),
                      member("manifest.json", data=manifest)])


def oci_layout_tar(layer: bytes) -> bytes:
    config = json.dumps(image_config([sha256_digest(layer)], [], "2024-01-01T00:00:00Z")).encode()
    return tar_of(oci_layout(layer, config))


def _command(env: Env, place: str, name: str, case: Case) -> subprocess.CompletedProcess:
    tar = case.tar()
    if place == "import":
        return env.run("import", str(env.write(f"{name}/layer.tar", tar)))
    if place == "load-docker-archive":
        return env.run("load", "-i", str(env.write(f"{name}/docker.tar", docker_archive(tar))))
    if place == "load-oci-layout":
        return env.run("load", "-i", str(env.write(f"{name}/oci.tar", oci_layout_tar(tar))))
    if place == "build-add":
        env.write(f"{name}/add/evil.tar", tar)
        env.write(f"{name}/add/Dockerfile", b"FROM busybox\nADD evil.tar /dest/\n")
        return env.run("build", str(env.files / name / "add"))
    if place == "build-context":
        dockerfile = member("Dockerfile", data=b"FROM busybox\nCOPY . /ctx/\n")
        return env.run("build", "-", stdin=env.write(f"{name}/context.tar", tar_bytes([*case.members, dockerfile])))
    return env.run("cp", "-", f"box:/work/{name}", stdin=env.write(f"{name}/cp.tar", tar))


def _assert_outcome(result: subprocess.CompletedProcess, expected: str, case: Case, place: str) -> None:
    err = result.stderr
    assert "Traceback" not in err, err
    if expected == CONFINED:
        assert result.returncode == 0, err
        return
    assert result.returncode == 1, (result.returncode, err)
    errors = [line for line in err.splitlines() if line.startswith(("Error", "ERROR"))]
    assert len(errors) == 1 and any(f'"{name}"' in errors[0] for name in case.names()), err
    if not place.startswith("build"):  # a build's progress lines come before its error
        assert err.count("\n") == 1, err


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("name", CASES)
def test_hostile_tar_is_refused_or_confined(env: Env, name: str, place: str) -> None:
    case = env.corpus[name]
    expected = case.expect[PLACES[place]]
    images = env.images()
    result = _command(env, place, name, case)
    _assert_outcome(result, expected, case, place)
    assert canary_state(env.canary) == env.before
    if expected == REFUSED and place != "cp-into-container":
        assert env.images() == images  # nothing stored
    if place == "cp-into-container":
        _copy_back_out(env, name)


def _copy_back_out(env: Env, name: str) -> None:
    """What the tar left in the container (all of it, or what came before the refused entry),
    copied back to the host, stays in the directory it is copied to."""
    out = env.files / name / "out"
    result = env.run("cp", f"box:/work/{name}", str(out))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert out.is_dir()
    assert canary_state(env.canary) == env.before
