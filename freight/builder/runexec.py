"""RUN steps that run: the container's mounts, the container, the layer.

``execute`` lays out the step's directory, gives each ``--mount`` its source
(a cache directory, a copy of a bind source where the step may not see or
change the original, a secret's file), runs the command in a container over
the state's snapshots (``freight.builder.runcontainer``), removes what only
the mounts needed from its overlay upper dir and commits that dir as the
step's layer. Imported only when a step runs: a fully cached build does
without the container's and the runtime's modules (see
tests/cli/test_startup_imports.py).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from pathlib import Path

from freight.builder import cache
from freight.builder.commit import commit_dir, remove
from freight.builder.context import Tree
from freight.builder.copyadd import CopyOptions, LayerDir
from freight.builder.runcontainer import MountSpec, RunRequest, RunSetupError, clean_stubs, run_container
from freight.builder.state import BuildError, BuildSession, RunFailed, State

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.dockerfile.instructions import Heredoc, Instruction, Mount
    from freight.builder.progress import Vertex


def _target(m: Mount, workdir: str) -> str:
    return posixpath.normpath(posixpath.join(workdir or "/", m.target))


def _cache_dir(session: BuildSession, m: Mount) -> str:
    ident = m.id or m.target
    path = cache.cache_mounts_dir(session.store) / hashlib.sha256(ident.encode()).hexdigest()[:16]
    if not path.exists():
        path.mkdir(parents=True, mode=m.mode if m.mode is not None else 0o755)
        os.chown(path, m.uid or 0, m.gid or 0)
    return os.fspath(path)


def _materialise(session: BuildSession, m: Mount, tree: Tree, scratch: Path) -> str:
    """A copy of a bind source (from a stage, an image, or a writable context bind)."""
    source = tree.resolve(m.source)
    if tree.lstat(source) is None:
        raise RunSetupError(f'failed to compute cache key: "/{source}": not found', 1)
    if not m.from_ and m.readonly and not session.ctx.patterns:
        return tree.real(source)  # the context itself: nothing hidden, nothing written
    dest = scratch / f"bind-{len(os.listdir(scratch))}"
    dest.mkdir()
    layer = LayerDir(dest, None, 0)
    if os.path.isdir(tree.real(source)):
        layer.copy(tree, source, "", CopyOptions())
        return os.fspath(dest)
    layer.copy(tree, source, "file", CopyOptions())
    return os.fspath(dest / "file")


def _secret(session: BuildSession, m: Mount, env: list[str], workdir: str, scratch: Path) -> MountSpec | None:
    """A ``--secret`` as a read-only file (``/run/secrets/<id>``) and/or an environment variable."""
    ident = m.id or posixpath.basename(m.target)
    found = session.opts.secrets.get(ident)
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


def _container_mounts(session: BuildSession, mounts: list[Mount], binds: list[Tree | None], env: list[str],
                      workdir: str, scratch: Path) -> list[MountSpec]:
    specs: list[MountSpec] = []
    for m, tree in zip(mounts, binds):
        if m.type == "cache":
            specs.append(MountSpec("bind", _target(m, workdir), _cache_dir(session, m)))
        elif m.type == "bind" and tree is not None:
            specs.append(MountSpec("bind", _target(m, workdir), _materialise(session, m, tree, scratch),
                                   readonly=m.readonly))
        elif m.type == "tmpfs":
            specs.append(MountSpec("tmpfs", _target(m, workdir), data=f"size={m.size}" if m.size else ""))
        elif m.type == "secret":
            spec = _secret(session, m, env, workdir, scratch)
            if spec is not None:
                specs.append(spec)
        else:
            raise RunSetupError(f"mount type {m.type} is not supported by freight", 1)
    return specs


def execute(session: BuildSession, state: State, instr: Instruction, run_args: list[str],
            script: Heredoc | None, build_args: dict[str, str], mounts: list[Mount], binds: list[Tree | None],
            network: str, key: str, v: Vertex) -> dict[str, Any]:
    """Run the step in a container and commit its upper dir as the step's layer. ``binds``
    holds the tree each bind mount reads (None for other mounts)."""
    cdir = session.new_dir("run")
    try:
        fs = session.rootfs(state)
        rootfs = session.store.snapshots.prepare(os.fspath(cdir), state.chains())
        env = list(state.config.get("Env") or [])
        env += [f"{k}={val}" for k, val in build_args.items()]
        workdir = state.config.get("WorkingDir") or "/"
        scratch = cdir / "scratch"
        scratch.mkdir()
        try:
            specs = _container_mounts(session, mounts, binds, env, workdir, scratch)
        except RunSetupError as err:
            v.error(str(err))
            raise BuildError(str(err), instr, v.name) from None
        if script is not None:
            path = scratch / "script"
            path.write_text(script.body)
            path.chmod(0o755)
            specs.append(MountSpec("bind", run_args[0], os.fspath(path), readonly=True))
        req = RunRequest(os.fspath(cdir), rootfs, run_args, env, workdir,
                         state.config.get("User") or "", network, specs, session.opts.runtime)
        try:
            code = run_container(req, lambda line: v.log(line.decode("utf-8", "replace")))
        except RunSetupError as err:
            message = f'process "{" ".join(run_args)}" did not complete successfully: {err}'
            v.error(message)
            raise BuildError(message, instr, v.name) from None
        if code != 0:
            message = f'process "{" ".join(run_args)}" did not complete successfully: exit code: {code}'
            v.error(message)
            raise RunFailed(message, instr, v.name, v.stamped, run_args, code)
        upper = cdir / "upper"
        clean_stubs(os.fspath(upper), fs, [m.target for m in specs] + ["proc", "sys", "dev"])
        empty = not os.listdir(upper)
        return commit_dir(session, state, key, upper, True, True, empty)
    finally:
        remove(cdir)
