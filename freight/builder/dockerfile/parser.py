"""Dockerfile parser with the behaviour of BuildKit's dockerfile frontend.

``parse(text, filename="Dockerfile") -> Dockerfile`` reads a whole Dockerfile
and validates every instruction the way BuildKit's ``instructions`` package
does. Any problem raises ``DockerfileError`` whose ``str()`` is
``Dockerfile:LINE: message`` and whose exit code is 1 (a failed build).
``parse_instructions(text)`` parses instructions without the stage rules, for
ONBUILD triggers stored in a base image and ``--change`` values.

The result:

* ``Dockerfile.directives``: ``{"syntax": ..., "escape": ..., "check": ...}``
  as written; ``Dockerfile.escape`` is the escape character in force;
  ``Dockerfile.warnings``: BuildKit's warnings about the text.
* ``Dockerfile.global_args``: the ARG instructions before the first FROM.
* ``Dockerfile.stages``: one ``Stage`` per FROM with ``name`` (lower-cased, or
  ``""``), ``base`` (the FROM image word, not expanded), ``platform`` (the
  ``--platform`` value, not expanded, or ``""``), ``line``, ``from_`` (the FROM
  ``Instruction``) and ``instructions`` (the rest of the stage).

Stages by name, as BuildKit finds them: ``Dockerfile.stage_index`` (the last
stage of a name; a FROM sees only the stages before it) and
``Dockerfile.target`` (``--target``). ``StageGraph(df, global_env)`` tells
what each stage reads (its FROM, ``COPY --from``, ``RUN --mount from=``), which
stages a target needs, and where stages read each other in a circle.

The package, from the text up: ``shellwords`` (BuildKit's variable
expansion), ``instructions`` (the records), ``lexer`` (lines, directives,
continuations, heredocs), ``arguments`` (each instruction's flags and
arguments), this module, and ``expansion`` (expansion at build time, ARG
scoping). The engine uses them so (``freight.builder.engine``, then
``steps`` for each stage)::

    df = parse(text, "Dockerfile")
    global_env = global_scope(df, build_args, platform_args)
    target = df.target(name)
    graph = StageGraph(df, global_env)              # graph.cycle_start(), graph.needed(target)
    # each stage starts from graph.bases[i] (a stage) or graph.words[i] (an image)
    args = ArgScope(global_env, build_args)
    for instr in stage.instructions:
        env = ChainMap(stage_env, args.values)      # ENV wins over ARG
        if instr.keyword == "ARG":
            args.declare(instr, env, df.escape)
        elif instr.keyword == "RUN":                # the command as written, for the shell
            mounts = run_mounts(instr, env, df.escape)
            ...
        else:
            step = expand_instruction(instr, env, df.escape)
            ...                                     # copy, or set config
"""

from __future__ import annotations

from freight.builder.dockerfile.arguments import instruction, run_mounts
from freight.builder.dockerfile.expansion import expand_instruction
from freight.builder.dockerfile.instructions import Dockerfile, DockerfileError, Instruction, Stage
from freight.builder.dockerfile.lexer import Reader
from freight.builder.dockerfile.shellwords import go_quote

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Mapping


def parse_instructions(text: str, filename: str = "Dockerfile") -> list[Instruction]:
    """Parse and validate instructions without the FROM/stage rules.

    Used for ONBUILD triggers read from a base image's config; directives,
    continuations and heredocs work as in a Dockerfile.
    """
    return [instruction(node, filename) for node in Reader(text, filename).nodes()]


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a whole Dockerfile into global ARGs and stages (see module docs)."""
    reader = Reader(text, filename)
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for node in reader.nodes():
        instr = instruction(node, filename)
        if instr.keyword == "FROM":
            stages.append(_stage(instr, stages, reader.warnings))
        elif stages:
            stages[-1].instructions.append(instr)
        elif instr.keyword == "ARG":
            global_args.append(instr)
        else:
            raise instr.error("no build stage in current context")
    if not stages:
        raise DockerfileError("dockerfile contains no stages to build", None, filename)
    return Dockerfile(filename, dict(reader.directives), reader.escape, global_args, stages, reader.warnings)


def _stage(instr: Instruction, stages: list[Stage], warnings: list[str]) -> Stage:
    """A new stage; duplicate and reserved names are warnings (BuildKit's checks)."""
    name = instr.args[2].lower() if len(instr.args) == 3 else ""
    where = f"{instr.filename}:{instr.line}"
    if name in ("context", "scratch"):
        warnings.append(f"{where}: ReservedStageName: '{name}' is reserved and should not be used as a stage name")
    if name and any(s.name == name for s in stages):
        warnings.append(f"{where}: DuplicateStageName: Duplicate stage name {go_quote(name)}, "
                        "stage names should be unique")
    return Stage(name, instr.args[0], instr.flag("platform"), instr.line, instr)


class StageGraph:
    """What the stages of a Dockerfile read, found before anything is built, its FROM lines
    expanded with ``global_env``.

    ``words[i]``: stage i's FROM word, expanded; ``bases[i]``: the stage it is FROM (None:
    an image, or scratch); ``reads[i]``: the stages it reads, its base, ``COPY --from``
    and ``RUN --mount from=`` (itself too, when it names itself). ``--from`` and
    ``from=`` are read as written: BuildKit never expands them.
    """

    def __init__(self, df: Dockerfile, global_env: Mapping[str, str]) -> None:
        self.words = [expand_instruction(stage.from_, global_env, df.escape).args[0] for stage in df.stages]
        self.bases = [df.stage_index(word, before=i) for i, word in enumerate(self.words)]
        self.reads: list[set[int]] = []
        for base, stage in zip(self.bases, df.stages):
            refs = [ref for instr in stage.instructions for ref in _stage_refs(instr)]
            found = {df.stage_index(ref, by_number=True) for ref in refs} | {base}
            self.reads.append({i for i in found if i is not None})

    def images(self, df: Dockerfile) -> list[str]:
        """The images (not stages, not scratch) the Dockerfile names, in order, each once:
        the FROM words, then ``COPY --from`` and ``RUN --mount from=``."""
        found = [word for word, base in zip(self.words, self.bases) if base is None and word != "scratch"]
        found += [ref for stage in df.stages for instr in stage.instructions for ref in _stage_refs(instr)
                  if df.stage_index(ref, by_number=True) is None]
        return list(dict.fromkeys(found))

    def dependencies(self, index: int) -> set[int]:
        """The other stages stage ``index`` waits for."""
        return self.reads[index] - {index}

    def needed(self, target: int) -> list[int]:
        """The stages ``target`` needs, itself included, in Dockerfile order."""
        order: list[int] = []
        todo = [target]
        while todo:
            i = todo.pop()
            if i in order:
                continue
            order.append(i)
            todo += sorted(self.dependencies(i))
        return sorted(order)

    def cycle_start(self) -> int | None:
        """The first stage (in order) from which stages that read each other are reached
        (BuildKit's hasCircularDependency), by a depth-first search kept on a list, not on
        Python's stack."""
        visited: set[int] = set()
        for start in range(len(self.reads)):
            if start in visited:
                continue
            visited.add(start)
            path = {start}
            stack = [(start, iter(sorted(self.reads[start])))]
            while stack:
                node, children = stack[-1]
                child = next(children, None)
                if child is None:
                    stack.pop()
                    path.discard(node)
                elif child in path:
                    return start
                elif child not in visited:
                    visited.add(child)
                    path.add(child)
                    stack.append((child, iter(sorted(self.reads[child]))))
        return None


def _stage_refs(instr: Instruction) -> list[str]:
    """What ``COPY --from`` or ``RUN --mount from=`` name, as written."""
    if instr.keyword == "COPY":
        return instr.flags.get("from", [])
    if instr.keyword == "RUN":
        return [m.from_ for m in run_mounts(instr) if m.from_]
    return []
