"""A stage's instructions, one by one.

``build_stage`` starts from the stage's base (with the ONBUILD triggers it
carries first) and hands each instruction to its step: RUN
(``freight.builder.runstep``), COPY and ADD (``freight.builder.copystep``),
WORKDIR (here: it makes its directory, a layer, unless it exists); ARG and
the config instructions change only the State's config and add an
``empty_layer`` history entry, worded as BuildKit words it.
"""

from __future__ import annotations

import json
import os

from freight.builder.bases import base_image_id, base_state, from_name
from freight.builder.changes import apply_expanded
from freight.builder.copystep import copy_step
from freight.builder.dockerfile.expansion import ArgScope, expand_instruction
from freight.builder.dockerfile.parser import parse_instructions
from freight.builder.layers import cached_layer, with_result
from freight.builder.runstep import run_step
from freight.builder.state import BuildSession, State
from freight.runtime.times import go_duration

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.dockerfile.instructions import Instruction

LAYER_STEPS = ("RUN", "COPY", "ADD", "WORKDIR")


def build_stage(session: BuildSession, index: int) -> State:
    """Build stage ``index`` (its base stage, if any, built already)."""
    df = session.df
    progress = session.progress
    progress.step(index, df.stages[index].from_)
    state = base_state(session, index)
    own = list(df.stages[index].instructions)
    triggers = state.config.pop("OnBuild", None) or []
    instructions = (parse_instructions("\n".join(triggers), df.filename) if triggers else []) + own
    total = sum(1 for i in instructions if i.keyword in LAYER_STEPS) + 1
    label = session.stage_label(index)
    prefix = f"{label} " if label else ""
    progress.vertex(f"[{prefix}1/{total}] FROM {from_name(session, index)}").done()
    image_id = base_image_id(session, index)
    progress.stepped(index, (lambda: image_id) if image_id else state.key)
    scope = ArgScope(session.global_env, session.opts.build_args)
    number = 1
    for position, instr in enumerate(instructions):
        name = ""
        if instr.keyword in LAYER_STEPS:
            number += 1
            name = f"[{prefix}{number}/{total}] {instr.original.strip()}"
        is_own = position >= len(instructions) - len(own)  # not an ONBUILD trigger (part of the FROM)
        if is_own:
            progress.step(index, instr)
        state = _step(session, state, instr, scope, name)
        if is_own:
            progress.stepped(index, state.key)
    progress.stage_built(index)
    return state


def _step(session: BuildSession, state: State, instr: Instruction, scope: ArgScope, name: str) -> State:
    k = instr.keyword
    escape = session.df.escape
    if k == "ARG":
        env = session.env(state, scope)
        shown = expand_instruction(instr, env, escape)
        scope.declare(instr, env, escape)
        session.history(state, "ARG " + " ".join(shown.args), True)
        return state
    if k == "RUN":
        return run_step(session, state, instr, scope, name)
    if k in ("COPY", "ADD"):
        return copy_step(session, state, instr, scope, name)
    if k == "MAINTAINER":
        session.history(state, f"MAINTAINER {' '.join(instr.args)}", True)
        return state
    x = expand_instruction(instr, session.env(state, scope), escape)
    apply_expanded(state.config, x, state.env)
    if k in ("CMD", "ENTRYPOINT") and instr.command().prepend_shell:
        state.config["ArgsEscaped"] = True  # as BuildKit marks a shell-form command
    if k == "WORKDIR":
        return _workdir_step(session, state, name)
    session.history(state, _config_created_by(x, state.config), True)
    return state


def _config_created_by(x: Instruction, config: dict[str, Any]) -> str:
    """The history line of an expanded config instruction ``x``, as BuildKit writes it."""
    k = x.keyword
    if k in ("ENV", "LABEL"):
        return f"{k} " + " ".join(f"{a}={b}" for a, b in x.key_values())
    if k in ("CMD", "ENTRYPOINT"):
        return f"{k} {_go_list(config.get('Cmd' if k == 'CMD' else 'Entrypoint') or [])}"
    if k == "EXPOSE":
        return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(config.get("ExposedPorts") or {})) + "]"
    if k in ("VOLUME", "SHELL"):
        return f"{k} [{' '.join(x.args)}]"
    if k == "HEALTHCHECK":
        check = config["Healthcheck"]
        times = " ".join(f'"{go_duration(check.get(f, 0))}"'
                         for f in ("Interval", "Timeout", "StartPeriod", "StartInterval"))
        retries = check.get("Retries", 0)
        return f"HEALTHCHECK &{{{_go_list(check['Test'])} {times} '\\x{retries:02x}'}}"
    if k == "ONBUILD":
        return f"ONBUILD {x.onbuild_expression()}"
    return f"{k} {' '.join(x.args)}"


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def _workdir_step(session: BuildSession, state: State, name: str) -> State:
    """WORKDIR makes its directory (a layer) unless it exists (an empty step)."""
    wd = state.config["WorkingDir"]
    fs = session.rootfs(state)
    created_by = f"WORKDIR {wd}"
    real = fs.real(fs.resolve(wd))
    exists = real is not None and os.path.isdir(real)
    v = session.progress.vertex(name)
    key = session.step_key({"parent": state.key(), "step": created_by})
    cached = cached_layer(session, state, key, v)
    if cached is not None:
        session.history(cached, created_by, exists)
        return cached
    # Filling and committing a layer is copyadd's and commit's work (shutil among their
    # imports): a fully cached build does without them (tests/cli/test_startup_imports.py).
    from freight.builder.commit import commit_dir, remove
    from freight.builder.copyadd import FIXED_MTIME, LayerDir

    path = session.new_dir("workdir")
    try:
        layer = LayerDir(path, fs, session.epoch if session.epoch is not None else FIXED_MTIME)
        if not exists:
            layer.ensure_dir(layer.resolve(wd, True), (0, 0))
        layer.finish()
        result = commit_dir(session, state, key, path, False, False, exists)
    finally:
        remove(path)
    v.done()
    state = with_result(state, result)
    session.history(state, created_by, exists)
    return state
