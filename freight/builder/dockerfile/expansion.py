"""Variables at build time: BuildKit's expansion of an instruction, and ARG scoping.

Nothing is expanded at parse time. ``expand_instruction(instr, env, escape)``
expands exactly the fields BuildKit expands (ADD, ARG, COPY, ENV, EXPOSE,
FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, RUN ``--mount``; never
RUN/CMD/ENTRYPOINT commands, which the shell expands, nor ``COPY --from``)
with the ENV and ARG values in scope.

``global_scope(df, build_args, platform_args)`` gives the values visible in
FROM lines; ``ArgScope`` applies the ARG instructions of one stage (a global
ARG is visible in a stage only when redeclared there).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping

from freight.builder.dockerfile.instructions import Dockerfile, Heredoc, Instruction, heredoc_word
from freight.builder.dockerfile.shellwords import ExpansionError, Lexer, expand_word, expand_words
from freight.record import replace

_HEREDOC_LEXER = Lexer(skip_quotes=True)


def _expand_flags(instr: Instruction, names: Iterable[str], env: Mapping[str, str],
                  escape: str) -> dict[str, list[str]]:
    flags = {k: list(v) for k, v in instr.flags.items()}
    for name in names:
        if name in flags:
            flags[name] = [expand_word(v, env, escape) for v in flags[name]]
    return flags


def _expanded_fields(instr: Instruction) -> tuple[list[int], tuple[str, ...]]:
    """Indexes of args and names of flags that BuildKit expands for ``instr``."""
    k = instr.keyword
    every = list(range(len(instr.args)))
    if k in ("ENV", "LABEL", "ARG", "VOLUME", "USER", "WORKDIR", "STOPSIGNAL", "EXPOSE"):
        return every, ()
    if k == "FROM":
        return [0], ("platform",)
    if k == "COPY":
        # --from is never expanded: BuildKit resolves stage dependencies first.
        return _non_heredoc(instr), ("chown", "chmod", "exclude")
    if k == "ADD":
        return _non_heredoc(instr), ("chown", "chmod", "exclude", "checksum")
    if k == "RUN":
        return [], ("mount",)
    return [], ()


def _non_heredoc(instr: Instruction) -> list[int]:
    return [i for i, a in enumerate(instr.args) if i == len(instr.args) - 1 or heredoc_word(a) is None]


def expand_instruction(instr: Instruction, env: Mapping[str, str], escape: str = "\\") -> Instruction:
    """A copy of ``instr`` with BuildKit's build-time variable expansion applied.

    EXPOSE words are split after expansion; ARG keys and defaults are expanded
    separately; inline ADD/COPY heredocs that allow expansion are expanded
    with quotes left alone.  Errors become ``DockerfileError`` at the line.
    """
    indexes, flag_names = _expanded_fields(instr)
    try:
        if instr.keyword == "ARG":
            args = [_expand_arg(word, env, escape) for word in instr.args]
        elif instr.keyword == "EXPOSE":
            args = [w for a in instr.args for w in expand_words(a, env, escape)]
        else:
            args = [expand_word(a, env, escape) if i in indexes else a for i, a in enumerate(instr.args)]
        flags = _expand_flags(instr, flag_names, env, escape)
        heredocs = instr.heredocs
        if instr.keyword in ("ADD", "COPY"):
            heredocs = [_expand_heredoc(doc, env) for doc in instr.heredocs]
    except ExpansionError as err:
        raise instr.error(str(err)) from None
    return replace(instr, args=args, flags=flags, heredocs=heredocs)


def _expand_arg(word: str, env: Mapping[str, str], escape: str) -> str:
    key, eq, value = word.partition("=")
    key = expand_word(key, env, escape)
    return key + "=" + expand_word(value, env, escape) if eq else key


def _expand_heredoc(doc: Heredoc, env: Mapping[str, str]) -> Heredoc:
    if not doc.expand:
        return doc
    return replace(doc, content=_HEREDOC_LEXER.process(doc.content, env, split=False).word)


def _arg_default(default: str, env: Mapping[str, str], instr: Instruction, escape: str) -> str:
    try:
        return expand_word(default, env, escape)
    except ExpansionError as err:
        raise instr.error(str(err)) from None


def global_scope(df: Dockerfile, build_args: Mapping[str, str],
                 platform_args: Mapping[str, str]) -> dict[str, str]:
    """Values visible in FROM lines: platform ARGs, then the global ARGs.

    A global ARG takes its ``--build-arg`` value when given, else its default
    expanded with the globals before it; one with neither stays unset.
    """
    env = dict(platform_args)
    for instr in df.global_args:
        for key, default in instr.arg_pairs():
            if key in build_args:
                env[key] = build_args[key]
            elif default is not None:
                env[key] = _arg_default(default, env, instr, df.escape)
    return env


class ArgScope:
    """ARG values visible inside one stage, applied instruction by instruction.

    ``global_env`` is ``global_scope(...)`` (it includes the platform ARGs).
    ``declare`` applies an ARG inside the stage: a ``--build-arg`` value wins,
    then the default (expanded with the stage's current ENV+ARG values ``env``),
    then, for a name declared without default, the global value.  It returns
    each declared name with its value (None: declared but unset) and records
    the set ones in ``values``.
    """

    def __init__(self, global_env: Mapping[str, str], build_args: Mapping[str, str]) -> None:
        self.global_env = dict(global_env)
        self.build_args = dict(build_args)
        self.values: dict[str, str] = {}

    def declare(self, instr: Instruction, env: MutableMapping[str, str], escape: str = "\\") -> dict[str, str | None]:
        declared: dict[str, str | None] = {}
        scope: ChainMap[str, str] = ChainMap({}, env)  # this ARG's own names first, without copying env
        for key, default in instr.arg_pairs():
            value: str | None
            if key in self.build_args:
                value = self.build_args[key]
            elif default is not None:
                value = _arg_default(default, scope, instr, escape)
            else:
                value = self.global_env.get(key)
            declared[key] = value
            if value is not None:
                self.values[key] = scope[key] = value
        return declared
