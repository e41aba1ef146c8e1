"""Commands start fast: listing commands and ``--version`` import none of the heavy
modules, and ``run``, ``pull``, ``push`` and a cached ``build`` none they do not use.

Start-up time is measured against podman and skopeo in ``bench/``; these tests keep the
reason it is low from quietly regressing (one eager ``import httpx`` or ``pathlib`` in a
module on the path costs more than the rest of the command).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from imagelib import make_image
from testlib import FREIGHT

from freight.store import Store, open_store

# Modules freight uses elsewhere that each cost a listing command a millisecond or more (after
# what ``freight images`` imports; 2-core machine, Python 3.11, byte-code compiled), from
# threading's 1 ms to aiohttp's 230. signal, select and fcntl cost well under one: not listed.
HEAVY = {"typing", "pathlib", "threading", "tempfile", "shutil", "hashlib", "subprocess", "tarfile",
         "httpx", "ssl", "asyncio", "logging", "dataclasses", "inspect", "ipaddress", "urllib.parse",
         "json", "uuid", "socket", "base64", "queue", "concurrent.futures", "http.client", "yaml", "rich",
         "aiohttp", "zstandard"}
# ps decodes every container's record (JSON in the database): json is its own work, not a cost
# of start-up, so its module imports it at the top.
READS_JSON = {"json"}

# What a fully cached build of a Dockerfile without RUN --mount does not need: they are for
# steps that run (csv reads --mount values), and each costs a cached build time (imported
# after what it does import, medians on a 2-core machine: subprocess 2.6 ms, shutil 1.7,
# tempfile 1.6, tarfile 1.4, signal 0.7, csv 0.6; a cached build is about 60 ms of CPU).
UNUSED_BY_A_CACHED_BUILD = {"subprocess", "tarfile", "tempfile", "shutil", "signal", "csv", "typing", "dataclasses",
                            "inspect"}
# modules no run, pull or push uses: annotations only, or other commands' work
UNUSED_BY_RUN_PULL_PUSH = {"typing", "dataclasses", "inspect", "asyncio", "httpx", "tarfile"}

_PROBE = ("import sys\nfrom freight.cli.main import main\ntry:\n    sys.exit(main(sys.argv[1:]))\n"
          "finally:\n    sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n")


@pytest.mark.parametrize("argv", [["--version"], ["images"], ["images", "-q"], ["image", "ls"],
                                  ["ps"], ["ps", "-a"], ["ps", "-a", "--format", "{{.Names}}"],
                                  ["container", "ls"]])
def test_command_imports_no_heavy_module(store: Store, argv: list[str]) -> None:
    _ = store.images  # the store exists, as after any earlier command
    result = subprocess.run([sys.executable, "-c", _PROBE, "--root", str(store.root), *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stderr.rpartition("MODULES ")[2].split())
    assert "freight.cli.main" in loaded
    heavy = HEAVY - READS_JSON if argv[0] in ("ps", "container") else HEAVY
    assert not heavy & loaded, f"freight {' '.join(argv)} imports {sorted(heavy & loaded)}"


@pytest.mark.parametrize("argv, module", [(["image", "ls"], "freight.cli.images"),
                                          (["image", "prune", "-f"], "freight.cli.image_prune")])
def test_the_image_group_imports_only_the_module_of_its_command(store: Store, argv: list[str], module: str) -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE, "--root", str(store.root), *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = {m for m in result.stderr.rpartition("MODULES ")[2].split() if m.startswith("freight.cli.")}
    shared = {"freight.cli.main", "freight.cli.common", "freight.cli.format", "freight.cli.images"}
    assert module in loaded and loaded - shared == {module} - shared


def test_a_fully_cached_build_imports_only_what_it_uses(store: Store, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY app.txt /app.txt\nENV APP=1\nCMD [\"/app\"]\n")
    (context / "app.txt").write_text("app\n")
    argv = ["--root", str(store.root), "build", "-q", "-t", "cached", str(context)]
    first = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "tempfile" in first.stderr.rpartition("MODULES ")[2].split()  # the COPY step ran
    again = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout  # the same image
    loaded = set(again.stderr.rpartition("MODULES ")[2].split())
    assert "freight.builder.engine" in loaded
    assert not UNUSED_BY_A_CACHED_BUILD & loaded, f"a cached build imports {sorted(UNUSED_BY_A_CACHED_BUILD & loaded)}"


# The seccomp binding, imported only in a container's child process and only to compile
# a filter the cache lacks (docs/architecture.md, "Seccomp"): what it imports (typing
# among them) is its own, measured, cost.
CHILD_ONLY_BINDINGS = {"pyseccomp"}


def _imported(store: Store, *argv: str) -> set[str]:
    """Every module ``freight ARGV`` imports, in any of its processes (``-X importtime``; a
    container's monitor, forked from the command, writes to ``FREIGHT_MONITOR_LOG``), except
    those imported only by ``CHILD_ONLY_BINDINGS``."""
    monitor_log = store.root / "monitor.log"
    result = subprocess.run([sys.executable, "-X", "importtime", str(FREIGHT), "--root", str(store.root), *argv],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FREIGHT_MONITOR_LOG": str(monitor_log)})
    assert result.returncode == 0, result.stderr
    said = result.stderr + (monitor_log.read_text() if monitor_log.exists() else "")
    names = [line.rpartition("|")[2] for line in said.splitlines() if line.startswith("import time:")]
    loaded: set[str] = set()
    skip_deeper = None  # importtime lists a module's imports before it, indented deeper
    for name in reversed(names):
        depth = len(name) - len(name.lstrip())
        if skip_deeper is not None and depth > skip_deeper:
            continue
        skip_deeper = depth if name.strip() in CHILD_ONLY_BINDINGS else None
        loaded.add(name.strip())
    return loaded


@pytest.mark.parametrize("flags, module", [(["-p", "127.0.0.1::80"], "freight.runtime.portproxy"),
                                          (["--device", "/dev/null:/dev/xnull"], "freight.runtime.devices")])
def test_run_imports_nothing_it_does_not_use(busybox_store: Store, flags: list[str], module: str) -> None:
    loaded = _imported(busybox_store, "run", "--rm", *flags, "busybox", "true")
    assert {"freight.runtime.launch", "freight.runtime.cgroups", "freight.runtime.seccomp_filter", module} <= loaded
    assert not UNUSED_BY_RUN_PULL_PUSH & loaded, f"run imports {sorted(UNUSED_BY_RUN_PULL_PUSH & loaded)}"


def test_rmi_imports_no_dataclasses(store: Store) -> None:
    make_image(store, [{"etc/hello": b"hello\n"}], ["gone:1"])
    loaded = _imported(store, "rmi", "gone:1")
    assert "freight.store.gc" in loaded  # the image's content was collected
    assert not {"dataclasses", "typing"} & loaded, f"rmi imports {sorted({'dataclasses', 'typing'} & loaded)}"


def test_pull_and_push_import_nothing_they_do_not_use(registry, store: Store, tmp_path: Path) -> None:  # noqa: F811
    ref = f"{registry('freight')}/app:v1"
    make_image(store, [{"etc/hello": b"hello\n"}], [ref])
    pushed = _imported(store, "push", ref)
    assert "freight.registry.push" in pushed and "http.client" in pushed
    assert not UNUSED_BY_RUN_PULL_PUSH & pushed, f"push imports {sorted(UNUSED_BY_RUN_PULL_PUSH & pushed)}"
    other = open_store(tmp_path / "other")
    pulled = _imported(other, "pull", ref)
    assert "freight.store.layerapply" in pulled  # the layer was unpacked
    unused = UNUSED_BY_RUN_PULL_PUSH - {"typing"}  # python-isal's threaded gzip reader imports it
    assert not unused & pulled, f"pull imports {sorted(unused & pulled)}"
