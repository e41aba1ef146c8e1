"""The course's seed Dockerfiles (tests/seed-examples) built on stand-in base images.

Docker Hub is out of reach, so ``ubuntu``, ``ubuntu:noble``,
``ubuntu:noble-20240801`` and ``continuumio/miniconda:latest`` are busybox
images made here with freight itself, holding stand-in scripts:

* ``apt-get``: appends its arguments to ``/var/log/apt-get.log`` (so a test
  sees which builds really ran it) and, on ``install``, drops a ``python3``;
* ``python3``: a stand-in, *not* Python: it prints the string of each
  ``print("...")`` line of the script it is given;
* ``conda create -p DIR --file LOCK``: lays out ``DIR/bin/streamlit`` (a
  stand-in that prints what it would serve) and records the lock's packages.

These check the build engine (cache order, CMD vs ENTRYPOINT, multi-stage
copies), not Debian or conda; a test with a real Debian rootfs
(mmdebstrap) is slower and separate.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from testlib import SEEDS

from freight.store import Store
from tests.builder.buildutil import do_build, layer_file, layer_members, write_context

APT_GET = """\
#!/bin/sh
echo "apt-get $*" >> /var/log/apt-get.log
case " $* " in
  *" install "*) cp /usr/share/standin/python3 /usr/bin/python3 ;;
esac
"""
PYTHON3 = """\
#!/bin/sh
# stand-in for python3: prints the string of each print("...") line
sed -n 's/^print("\\(.*\\)")$/\\1/p' "$1"
"""
CONDA = """\
#!/bin/sh
# stand-in for `conda create -p DIR --file LOCK`
[ "$1" = create ] || exit 2
dir=$3; lock=$5
mkdir -p "$dir/bin" "$dir/conda-meta"
grep '^http' "$lock" > "$dir/conda-meta/packages"
printf '#!/bin/sh\\necho "streamlit stand-in serving $2"\\n' > "$dir/bin/streamlit"
chmod 755 "$dir/bin/streamlit"
"""
UBUNTU = """\
FROM busybox
COPY --chmod=755 apt-get /usr/bin/apt-get
COPY --chmod=755 python3 /usr/share/standin/python3
RUN mkdir -p /var/log
"""
MINICONDA = """\
FROM busybox
COPY --chmod=755 conda /opt/conda/bin/conda
ENV PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""
LOCK = """\
# platform: linux-64
@EXPLICIT
https://conda.anaconda.org/conda-forge/noarch/streamlit-1.38.0-pyhd8ed1ab_0.conda#0a2f
https://conda.anaconda.org/conda-forge/linux-64/python-3.12.5-h2ad013b_0_cpython.conda#9c56
"""


@pytest.fixture
def seed_store(busybox_store: Store, tmp_path: Path) -> Store:
    ubuntu = write_context(tmp_path / "ubuntu", {"apt-get": APT_GET, "python3": PYTHON3, "Dockerfile": UBUNTU})
    do_build(busybox_store, ubuntu, tags=["ubuntu:latest", "ubuntu:noble", "ubuntu:noble-20240801"])
    conda = write_context(tmp_path / "conda", {"conda": CONDA, "Dockerfile": MINICONDA})
    do_build(busybox_store, conda, tags=["continuumio/miniconda:latest"])
    return busybox_store


def _example(name: str, tmp_path: Path) -> Path:
    ctx = tmp_path / name
    shutil.copytree(SEEDS / name, ctx)
    if (ctx / "env.yaml").exists() or "conda" in (ctx / "Dockerfile").read_text():
        (ctx / "conda-linux-64.lock").write_text(LOCK)
    return ctx


def _apt_layer(image) -> int:
    """The index of the layer the ``RUN apt-get ...`` step made."""
    history = [h for h in image.config["history"] if not h.get("empty_layer")]
    return next(i for i, h in enumerate(history) if "apt-get" in h.get("created_by", "") and "RUN" in h["created_by"])


def _states(out: str) -> dict[str, str]:
    names = dict(re.findall(r"^#(\d+) (\[.*?\d+/\d+\] .*)$", out, re.M))
    ends = dict(re.findall(r"^#(\d+) (CACHED|DONE)", out, re.M))
    return {name.split("] ", 1)[1].split()[0]: ends[n] for n, name in names.items()}


def test_cache_order_bad_vs_good(seed_store: Store, tmp_path: Path) -> None:
    """04 re-runs apt-get when app.py changes; 05 does not."""
    rerun = {}
    for name in ("04-cache-order-bad", "05-cache-order-good"):
        ctx = _example(name, tmp_path)
        do_build(seed_store, ctx, tags=[name])
        (ctx / "app.py").write_text('print("changed")\n')
        _, out = do_build(seed_store, ctx, tags=[name])
        rerun[name] = _states(out)
    assert rerun["04-cache-order-bad"] == {"FROM": "DONE", "COPY": "DONE", "RUN": "DONE"}
    assert rerun["05-cache-order-good"] == {"FROM": "DONE", "RUN": "CACHED", "COPY": "DONE"}


@pytest.mark.parametrize("name", ["01-from-ubuntu", "02-apt-python", "03-pinned-copy", "04-cache-order-bad",
                                  "05-cache-order-good", "06-cmd", "07-entrypoint", "08-conda", "09-diet"])
def test_every_seed_example_builds_and_runs(seed_store: Store, cli, tmp_path: Path, name: str) -> None:
    ctx = _example(name, tmp_path)
    built = cli("build", "-q", "-t", f"seed-{name}", str(ctx))
    assert built.returncode == 0, built.stderr
    image = seed_store.resolve_image(f"seed-{name}")
    config = image.config["config"]
    if name in ("06-cmd", "07-entrypoint"):
        ran = cli("run", "--rm", f"seed-{name}")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == "hello from the container\n"
    if name == "06-cmd":
        assert config["Cmd"] == ["/bin/sh", "-c", "python3 /app/app.py"]
        other = cli("run", "--rm", f"seed-{name}", "echo", "overridden")
        assert other.stdout == "overridden\n"  # arguments replace CMD
    if name == "07-entrypoint":
        assert config["Entrypoint"] == ["/bin/sh", "-c", "python3 /app/app.py"]
        other = cli("run", "--rm", f"seed-{name}", "echo", "overridden")
        assert other.stdout == "hello from the container\n"  # shell-form ENTRYPOINT ignores them
    if name in ("08-conda", "09-diet"):
        assert config["Env"][0].startswith("PATH=/opt/env/bin:")
        ran = cli("run", "--rm", f"seed-{name}")
        assert ran.stdout == "streamlit stand-in serving /app/app.py\n", ran.stderr
    if name == "09-diet":
        base = seed_store.resolve_image("ubuntu:noble")
        assert image.diff_ids[: len(base.diff_ids)] == base.diff_ids
        assert len(image.diff_ids) == len(base.diff_ids) + 2  # /opt/env and app.py, no builder layer
        assert "opt/conda/bin/conda" not in layer_members(seed_store, image.id, -2)
    if name in ("03-pinned-copy", "04-cache-order-bad", "05-cache-order-good"):
        ran = cli("run", "--rm", f"seed-{name}", "python3", "/app/app.py")
        assert ran.stdout == "hello from the container\n", ran.stderr
    if name.startswith(("02", "03", "04", "05", "06", "07")):
        log = layer_file(seed_store, image.id, "var/log/apt-get.log", _apt_layer(image))
        assert log == b"apt-get update -y\napt-get install -y python3\n"
    if name == "03-pinned-copy":
        names = set(layer_members(seed_store, image.id, -1))
        assert {"app/Dockerfile", "app/app.py"} <= names
