"""RUN steps for the engine: ``--mount`` types, the container request, the layer.

Mounts, as BuildKit gives them:

* ``type=cache``: a directory under ``<store>/buildcache-mounts`` named after
  the mount's ``id`` (default: its target), kept between builds;
* ``type=bind``: a path of the context, or of another stage or image
  (``from=``), read-only unless ``rw`` (then a throw-away copy);
* ``type=secret``: a ``--secret`` file at ``/run/secrets/<id>`` (or the
  target), or its value in an environment variable (``env=``);
* ``type=tmpfs``: a fresh tmpfs.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
from pathlib import Path

from freight.builder import cache
from freight.builder.context import Tree
from freight.builder.copyadd import CopyOptions, LayerDir
from freight.builder.parser import Heredoc, Instruction, Mount
from freight.builder.runstep import MountSpec, RunRequest, RunSetupError, clean_stubs, run_container

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.engine import Builder, State
    from freight.builder.progress import Vertex


def _target(m: Mount, workdir: str) -> str:
    return posixpath.normpath(posixpath.join(workdir or "/", m.target))


def _bind_tree(builder: Builder, m: Mount) -> tuple[Tree, str]:
    """The tree a bind mount reads, and what identifies its origin in the cache key."""
    if not m.from_:
        return builder.ctx.tree(), "context"
    dep = builder.stage_index(m.from_)
    if dep is not None:
        state = builder.stage_state(dep)
        return Tree(builder.rootfs(state)), state.key()
    tree, _ = builder._copy_trees(Instruction("RUN", 0, 0, "", []), m.from_)
    return tree, m.from_


def mount_key(builder: Builder, m: Mount) -> dict[str, Any]:
    """What of a mount belongs in the step's cache key."""
    key: dict[str, Any] = {"type": m.type, "target": m.target, "readonly": m.readonly}
    if m.type == "bind":
        tree, origin = _bind_tree(builder, m)
        source = tree.resolve(m.source)
        key.update(origin=origin, source=m.source, checksum=tree.checksum(source))
    elif m.type == "cache":
        key.update(id=m.id or m.target)
    elif m.type == "secret":
        key.update(id=m.id, env=m.env)
    return key


def _cache_dir(builder: Builder, m: Mount) -> str:
    ident = m.id or m.target
    path = cache.cache_mounts_dir(builder.store) / hashlib.sha256(ident.encode()).hexdigest()[:16]
    if not path.exists():
        path.mkdir(parents=True, mode=m.mode if m.mode is not None else 0o755)
        os.chown(path, m.uid or 0, m.gid or 0)
    return os.fspath(path)


def _materialise(builder: Builder, m: Mount, scratch: Path) -> str:
    """A copy of a bind source (from a stage, an image, or a writable context bind)."""
    tree, _ = _bind_tree(builder, m)
    source = tree.resolve(m.source)
    if tree.lstat(source) is None:
        raise RunSetupError(f'failed to compute cache key: "/{source}": not found', 1)
    if not m.from_ and m.readonly and not builder.ctx.patterns:
        return tree.real(source)  # the context itself: nothing hidden, nothing written
    dest = scratch / f"bind-{len(os.listdir(scratch))}"
    dest.mkdir()
    layer = LayerDir(dest, None, 0)
    if os.path.isdir(tree.real(source)):
        layer.copy(tree, source, "", CopyOptions())
        return os.fspath(dest)
    layer.copy(tree, source, "file", CopyOptions())
    return os.fspath(dest / "file")


def _secret(builder: Builder, m: Mount, env: list[str], workdir: str, scratch: Path) -> MountSpec | None:
    """A ``--secret`` as a read-only file (``/run/secrets/<id>``) and/or an environment variable."""
    ident = m.id or posixpath.basename(m.target)
    found = builder.opts.secrets.get(ident)
    if found is None or (not found.get("src") and found.get("env", ident) not in os.environ):
        if m.required:
            raise RunSetupError(f"secret {ident}: not found", 1)
        return None
    if found.get("src"):
        path = os.path.abspath(found["src"])
    else:
        path = os.fspath(scratch / f"secret-{len(os.listdir(scratch))}")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400), "w") as f:
            f.write(os.environ[found.get("env", ident)])
    if m.env:
        env.append(f"{m.env}={Path(path).read_text()}")
        if not m.target:
            return None
    target = _target(m, workdir) if m.target else f"/run/secrets/{ident}"
    return MountSpec("bind", target, path, readonly=True)


def container_mounts(builder: Builder, mounts: list[Mount], env: list[str], workdir: str,
                     scratch: Path) -> list[MountSpec]:
    specs: list[MountSpec] = []
    for m in mounts:
        if m.type == "cache":
            specs.append(MountSpec("bind", _target(m, workdir), _cache_dir(builder, m)))
        elif m.type == "bind":
            specs.append(MountSpec("bind", _target(m, workdir), _materialise(builder, m, scratch),
                                   readonly=m.readonly))
        elif m.type == "tmpfs":
            specs.append(MountSpec("tmpfs", _target(m, workdir), data=f"size={m.size}" if m.size else ""))
        elif m.type == "secret":
            spec = _secret(builder, m, env, workdir, scratch)
            if spec is not None:
                specs.append(spec)
        else:
            raise RunSetupError(f"mount type {m.type} is not supported by freight", 1)
    return specs


def execute(builder: Builder, state: State, instr: Instruction, run_args: list[str],
            script: Heredoc | None, build_args: dict[str, str], mounts: list[Mount], network: str,
            key: str, v: Vertex) -> dict[str, Any]:
    """Run the step in a container and commit its upper dir as the step's layer."""
    from freight.builder.engine import BuildError

    cdir = builder.new_dir("run")
    try:
        fs = builder.rootfs(state)
        # Short names relative to the snapshots dir keep the overlay options within a page.
        snapshots = builder.store.snapshots
        lowers = [snapshots.name(c) for c in reversed(state.chains())]
        if not lowers:
            os.mkdir(cdir / "empty")
            lowers = [os.path.relpath(cdir / "empty", snapshots.dir)]
        env = list(state.config.get("Env") or [])
        env += [f"{k}={val}" for k, val in build_args.items()]
        workdir = state.config.get("WorkingDir") or "/"
        scratch = cdir / "scratch"
        scratch.mkdir()
        try:
            specs = container_mounts(builder, mounts, env, workdir, scratch)
        except RunSetupError as err:
            v.error(str(err))
            raise BuildError(str(err), instr, v.name) from None
        if script is not None:
            path = scratch / "script"
            path.write_text(script.body)
            path.chmod(0o755)
            specs.append(MountSpec("bind", run_args[0], os.fspath(path), readonly=True))
        req = RunRequest(os.fspath(cdir), lowers, os.fspath(snapshots.dir), run_args, env, workdir,
                         state.config.get("User") or "", network, specs)
        try:
            code = run_container(req, lambda line: v.log(line.decode("utf-8", "replace")))
        except RunSetupError as err:
            message = f'process "{" ".join(run_args)}" did not complete successfully: {err}'
            v.error(message)
            raise BuildError(message, instr, v.name) from None
        if code != 0:
            message = f'process "{" ".join(run_args)}" did not complete successfully: exit code: {code}'
            v.error(message)
            raise BuildError(message, instr, v.name, v.stamped)
        upper = cdir / "upper"
        clean_stubs(os.fspath(upper), fs, [m.target for m in specs] + ["proc", "sys", "dev"])
        empty = not os.listdir(upper)
        return builder._commit_dir(state, key, upper, True, True, empty)
    finally:
        shutil.rmtree(cdir, ignore_errors=True)

