"""RUN steps: the command line, the cache key, the ``--mount``s.

A RUN's cache key holds the state below it, the command, the ARGs in scope
(passed to the command as environment), the network mode and each mount's
identity (a bind mount's origin and source checksum). On a miss, after the
``--cache-from`` images, ``freight.builder.runexec`` runs the command in a
container and makes the layer. ``RUN --mount=type=ssh`` and ``RUN
--security=insecure`` (an entitlement) are refused.

Mounts, as BuildKit gives them:

* ``type=cache``: a directory under ``<store>/buildcache-mounts`` named after
  the mount's ``id`` (default: its target), kept between builds (``sharing=``
  is ignored: always shared);
* ``type=bind``: a path of the context, or of another stage or image
  (``from=``), read-only unless ``rw`` (then a throw-away copy);
* ``type=secret``: a ``--secret`` file at ``/run/secrets/<id>`` (or the
  target), or its value in an environment variable (``env=``);
* ``type=tmpfs``: a fresh tmpfs.
"""

from __future__ import annotations

from freight.builder import cache
from freight.builder.changes import DEFAULT_SHELL
from freight.builder.context import Tree
from freight.builder.copystep import source_tree
from freight.builder.dockerfile.arguments import run_mounts
from freight.builder.layers import cached_layer, from_cache_images, hit_created, with_result
from freight.builder.state import BuildError, BuildSession, State

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.dockerfile.expansion import ArgScope
    from freight.builder.dockerfile.instructions import Instruction, Mount


def run_step(session: BuildSession, state: State, instr: Instruction, scope: ArgScope, name: str) -> State:
    env = session.env(state, scope)
    line = instr.command()
    args, script = line.script()
    shell = list(state.config.get("Shell") or DEFAULT_SHELL)
    if script is not None:
        run_args = [f"/dev/pipes/{script.name}"]
    elif line.prepend_shell:
        run_args = shell + args
    else:
        run_args = args
    build_args = {k: v for k, v in scope.values.items() if k not in state.env.values}
    shown = f"|{len(build_args)} " + " ".join(f"{k}={v}" for k, v in sorted(build_args.items())) + " " \
        if build_args else ""
    created_by = f"RUN {shown}{' '.join(run_args)} # buildkit"
    if instr.security() == "insecure":
        raise BuildError("granting entitlement security.insecure is not allowed by build daemon configuration",
                         instr)
    mounts = run_mounts(instr, env, session.df.escape)
    network = instr.network() if instr.network() != "default" else session.opts.network
    binds = [_bind_tree(session, m) if m.type == "bind" else None for m in mounts]
    key = session.step_key({
        "parent": state.key(), "step": "RUN", "args": run_args, "script": script.body if script else None,
        "build_args": sorted(build_args.items()), "network": network,
        "mounts": [_mount_key(m, tree) for m, tree in zip(mounts, binds)]})
    v = session.progress.vertex(name)
    cached = cached_layer(session, state, key, v)
    if cached is None:
        cached = from_cache_images(session, state, created_by, key, v)
    if cached is not None:
        hit = cache.lookup(session.store, key) or {}
        session.history(cached, created_by, bool(hit.get("empty")), hit_created(session, hit))
        return cached
    # Running a step is another module's work, with the container's and the runtime's
    # modules: a fully cached build does without them (tests/cli/test_startup_imports.py).
    from freight.builder.runexec import execute

    result = execute(session, state, instr, run_args, script, build_args, mounts,
                     [b[0] if b else None for b in binds], network, key, v)
    session.steps_run += 1
    v.done()
    state = with_result(state, result)
    session.history(state, created_by, bool(result.get("empty")), result["created"])
    return state


def _bind_tree(session: BuildSession, m: Mount) -> tuple[Tree, str]:
    """The tree a bind mount reads, and what identifies its origin in the cache key."""
    if not m.from_:
        return session.ctx.tree(), "context"
    dep = session.df.stage_index(m.from_, by_number=True)
    if dep is not None:
        state = session.stage_state(dep)
        return Tree(session.rootfs(state)), state.key()
    tree, _ = source_tree(session, None, m.from_)  # no line to show for an image it cannot find
    return tree, m.from_


def _mount_key(m: Mount, bind: tuple[Tree, str] | None) -> dict[str, Any]:
    """What of a mount belongs in the step's cache key (``bind``: a bind mount's tree and origin)."""
    key: dict[str, Any] = {"type": m.type, "target": m.target, "readonly": m.readonly}
    if bind is not None:
        tree, origin = bind
        source = tree.resolve(m.source)
        key.update(origin=origin, source=m.source, checksum=tree.checksum(source))
    elif m.type == "cache":
        key.update(id=m.id or m.target)
    elif m.type == "secret":
        key.update(id=m.id, env=m.env)
    return key


