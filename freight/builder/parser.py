"""Dockerfile parser with the behaviour of BuildKit's dockerfile frontend.

``parse(text, filename="Dockerfile") -> Dockerfile`` reads a whole Dockerfile:
parser directives (``# syntax=``, ``# escape=``, ``# check=``), line
continuations, comments, JSON (exec) and shell forms, heredocs, instruction
flags, and it validates every instruction the way BuildKit's ``instructions``
package does.  Any problem raises ``DockerfileError`` whose ``str()`` is
``Dockerfile:LINE: message`` and whose exit code is 1 (a failed build).

The result:

* ``Dockerfile.directives``: ``{"syntax": ..., "escape": ..., "check": ...}``
  as written; ``Dockerfile.escape`` is the escape character in force.
* ``Dockerfile.global_args``: the ARG instructions before the first FROM.
* ``Dockerfile.stages``: one ``Stage`` per FROM with ``name`` (lower-cased, or
  ``""``), ``base`` (the FROM image word, not expanded), ``platform`` (the
  ``--platform`` value, not expanded, or ``""``), ``line``, ``from_`` (the FROM
  ``Instruction``) and ``instructions`` (the rest of the stage).

Each ``Instruction`` keeps ``keyword`` (upper case), ``line``/``end_line``
(1-based), ``original`` (the logical line), ``flags`` (validated values per
flag name), ``raw_flags`` (as written), ``args``, ``json_form``,
``heredocs`` and, for ONBUILD, ``trigger`` (the wrapped instruction).  Typed
views for the build engine: ``key_values()`` (ENV/LABEL), ``arg_pairs()``
(ARG), ``copy_spec()`` (ADD/COPY), ``command()`` (RUN/CMD/ENTRYPOINT),
``mounts()``, ``network()``, ``security()`` (RUN), ``healthcheck()``,
``shell()``, ``ports()``, ``onbuild_expression()``.

Nothing is expanded at parse time.  At build time the engine calls
``expand_instruction(instr, env, escape)`` with the ENV and ARG values in
scope: it expands exactly the fields BuildKit expands (ADD, ARG, COPY, ENV,
EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, RUN ``--mount``; never
RUN/CMD/ENTRYPOINT commands, which the shell expands, nor ``COPY --from``).
``instruction_vars(instr, escape)`` lists the variables those fields use, so
a step's cache key can include only the ARGs it uses.

ARG scoping: ``global_scope(df, build_args, platform_args)`` gives the values
visible in FROM lines; ``ArgScope`` applies ARG instructions inside a stage
(a global ARG is visible in a stage only when redeclared there);
``unconsumed_build_args`` names the ``--build-arg``s nothing declares.
``PREDEFINED_ARGS`` lists the proxy and platform ARGs Docker predefines: the
platform ones are set in the global scope without a declaration, the proxy
ones reach RUN environments without one (and stay out of the cache key
unless declared).

``stage_refs(df, index, global_env)`` lists the stages and outside images a
stage depends on (FROM, ``COPY --from``, ``RUN --mount=from=``).

``parse_instructions(text)`` parses instructions without stage rules, for
ONBUILD triggers stored in a base image.  ``dump(df)`` prints the parse in
BuildKit's s-expression style, one instruction a line: ``(run "echo hi")``.

A build engine's loop, in outline::

    df = parse(text, "Dockerfile")
    scope = global_scope(df, build_args, platform_args)
    stage = df.stage(target) if target else df.stages[-1]
    base = expand_instruction(stage.from_, scope, df.escape).args[0]
    args = ArgScope(scope, build_args)
    for instr in stage.instructions:
        env = ChainMap(image_env, args.values)      # ENV wins over ARG
        if instr.keyword == "ARG":
            args.declare(instr, env, df.escape)
            continue
        step = expand_instruction(instr, env, df.escape)
        used = instruction_vars(instr, df.escape) & args.values.keys()
        ...                                         # run / copy / set config
"""

from __future__ import annotations

import json
import re
from collections import ChainMap, namedtuple  # not dataclasses: see docs/architecture.md, "Start-up time"
from collections.abc import Iterable, Mapping

from freight.builder.shellwords import ExpansionError, Lexer, expand_word, expand_words, go_quote
from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ArgScope", "CommandLine", "CopySpec", "Dockerfile", "DockerfileError", "Healthcheck",
    "Heredoc", "Instruction", "InstructionError", "Mount", "PLATFORM_ARGS", "PREDEFINED_ARGS", "PROXY_ARGS",
    "Stage", "dump", "expand_instruction", "global_scope", "instruction_vars", "parse",
    "parse_duration", "parse_instructions", "parse_mount", "StageRefs", "stage_refs",
    "unconsumed_build_args",
]

PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})
PLATFORM_ARGS = frozenset({
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
})
PREDEFINED_ARGS = PROXY_ARGS | PLATFORM_ARGS

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)
_HEREDOC_INSTRUCTIONS = frozenset({"ADD", "COPY", "RUN"})
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)\Z")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


class DockerfileError(FreightError):
    """A Dockerfile that BuildKit would reject; ``str()`` is ``FILE:LINE: message``."""

    exit_code = 1

    def __init__(self, message: str, line: int | None, filename: str = "Dockerfile") -> None:
        self.message = message
        self.line = line
        self.filename = filename
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.filename}: {self.message}"
        return f"{self.filename}:{self.line}: {self.message}"


class InstructionError(FreightError):
    """A problem found without a location (``parse_mount``, ``parse_duration``).

    The parser turns it into a ``DockerfileError`` naming file and line.
    """

    exit_code = 1


class Heredoc(namedtuple("Heredoc", "name content expand chomp fd", defaults=(True, False, 0))):
    """A here-document attached to RUN, COPY or ADD.

    ``content`` is the body as written (every line with its newline);
    ``expand`` is false when the delimiter was quoted; ``chomp`` is ``<<-``
    (leading tabs are stripped, see ``body``); ``fd`` is a leading number
    such as ``3<<EOF`` (0 when absent).
    """

    __slots__ = ()
    name: str
    content: str
    expand: bool
    chomp: bool
    fd: int

    @property
    def body(self) -> str:
        """The content with leading tabs removed when the heredoc is ``<<-``."""
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


class CopySpec(namedtuple("CopySpec", "sources dest contents from_ chown chmod link parents excludes checksum "
                                     "keep_git_dir unpack")):
    """ADD/COPY arguments: context/stage sources, inline (heredoc) sources, flags.

    ``unpack`` is None when ``--unpack`` was not given.
    """

    __slots__ = ()
    sources: list[str]
    dest: str
    contents: list[Heredoc]
    from_: str
    chown: str
    chmod: str
    link: bool
    parents: bool
    excludes: list[str]
    checksum: str
    keep_git_dir: bool
    unpack: bool | None


class CommandLine(namedtuple("CommandLine", "args prepend_shell files")):
    """RUN/CMD/ENTRYPOINT command.

    ``args`` is the exec-form list, or one string for the shell form, where
    ``prepend_shell`` is true and the engine prefixes the SHELL.  ``files``
    are the heredocs.  ``script()`` gives BuildKit's treatment of heredocs.
    """

    __slots__ = ()
    args: list[str]
    prepend_shell: bool
    files: list[Heredoc]

    def script(self) -> tuple[list[str], Heredoc | None]:
        """Command line after heredoc handling, and a heredoc to run as a file.

        A RUN that is only ``<<EOF`` runs the body in the shell, or, when the
        body starts with ``#!``, runs it as a program: BuildKit writes the
        returned heredoc's ``body`` to ``/dev/pipes/<name>`` (mode 0755) and
        runs that path.  A RUN that mentions heredocs inside a longer
        command hands the shell the command followed by each body and its
        delimiter, as a shell would read it.
        """
        if not self.files:
            return list(self.args), None
        first = _heredoc_word(self.args[0]) if len(self.args) == 1 else None
        if first is not None:
            if self.files[0].content.startswith("#!"):
                return [], self.files[0]
            return [self.files[0].body], None
        full = self.args[0] if self.args else ""
        for doc in self.files:
            full += "\n" + doc.content + doc.name
        return [full], None


class Healthcheck(namedtuple("Healthcheck", "test interval timeout start_period start_interval retries",
                             defaults=(0, 0, 0, 0, 0))):
    """HEALTHCHECK as the image config stores it (durations in nanoseconds)."""

    __slots__ = ()
    test: list[str]
    interval: int
    timeout: int
    start_period: int
    start_interval: int
    retries: int


# each field of a RUN --mount and its value when the mount does not name it
_MOUNT_DEFAULTS = {"type": "bind", "source": "", "target": "", "from_": "", "readonly": True, "id": "",
                   "sharing": "", "mode": None, "uid": None, "gid": None, "required": False, "env": None, "size": 0}


class Mount(namedtuple("Mount", _MOUNT_DEFAULTS, defaults=_MOUNT_DEFAULTS.values())):
    """One ``RUN --mount=...`` (BuildKit's mount syntax)."""

    __slots__ = ()
    type: str
    source: str
    target: str
    from_: str
    readonly: bool
    id: str
    sharing: str
    mode: int | None
    uid: int | None
    gid: int | None
    required: bool
    env: str | None
    size: int


class Instruction:
    """One parsed instruction (see the module docstring for the fields)."""

    def __init__(self, keyword: str, line: int, end_line: int, original: str, args: list[str], *,
                 flags: dict[str, list[str]] | None = None, raw_flags: list[str] | None = None,
                 json_form: bool = False, heredocs: list[Heredoc] | None = None,
                 trigger: Instruction | None = None, filename: str = "Dockerfile") -> None:
        self.keyword = keyword
        self.line = line
        self.end_line = end_line
        self.original = original
        self.args = args
        self.flags = {} if flags is None else flags
        self.raw_flags = [] if raw_flags is None else raw_flags
        self.json_form = json_form
        self.heredocs = [] if heredocs is None else heredocs
        self.trigger = trigger
        self.filename = filename

    def __repr__(self) -> str:
        return f"<Instruction {self.filename}:{self.line} {self.original!r}>"

    def replace(self, **changes: Any) -> Instruction:
        """A copy with ``changes`` to its fields (as ``dataclasses.replace``)."""
        return Instruction(**{**vars(self), **changes})

    def error(self, message: str) -> DockerfileError:
        """An error located at this instruction."""
        return DockerfileError(message, self.line, self.filename)

    def flag(self, name: str, default: str = "") -> str:
        """Last value given for a string flag, or ``default``."""
        values = self.flags.get(name)
        return values[-1] if values else default

    def bool_flag(self, name: str) -> bool:
        return self.flag(name, "false") == "true"

    def key_values(self) -> list[tuple[str, str]]:
        """ENV/LABEL pairs in order (values still unexpanded)."""
        return list(zip(self.args[::2], self.args[1::2]))

    def arg_pairs(self) -> list[tuple[str, str | None]]:
        """ARG names with their default (None when no ``=``)."""
        pairs: list[tuple[str, str | None]] = []
        for word in self.args:
            key, eq, value = word.partition("=")
            pairs.append((key, value if eq else None))
        return pairs

    def copy_spec(self) -> CopySpec:
        """ADD/COPY sources, destination, inline sources and flags."""
        docs = {doc.name: doc for doc in self.heredocs}
        sources: list[str] = []
        contents: list[Heredoc] = []
        for src in self.args[:-1]:
            word = _heredoc_word(src)
            if word is None:
                sources.append(src)
            else:
                contents.append(docs.get(word.name, word))
        unpack = self.bool_flag("unpack") if "unpack" in self.flags else None
        return CopySpec(
            sources=sources, dest=self.args[-1], contents=contents,
            from_=self.flag("from"), chown=self.flag("chown"), chmod=self.flag("chmod"),
            link=self.bool_flag("link"), parents=self.bool_flag("parents"),
            excludes=list(self.flags.get("exclude", [])), checksum=self.flag("checksum"),
            keep_git_dir=self.bool_flag("keep-git-dir"), unpack=unpack,
        )

    def command(self) -> CommandLine:
        """RUN/CMD/ENTRYPOINT command line (ENTRYPOINT with no args is empty)."""
        args = list(self.args) if self.json_form else [" ".join(self.args)] if self.args else []
        return CommandLine(args, not self.json_form, list(self.heredocs))

    def mounts(self, env: Mapping[str, str] | None = None, escape: str = "\\") -> list[Mount]:
        """RUN ``--mount`` values, each field value expanded with ``env`` if given."""
        try:
            return [parse_mount(value, env, escape) for value in self.flags.get("mount", [])]
        except (InstructionError, ExpansionError) as err:
            raise self.error(str(err)) from None

    def network(self) -> str:
        """RUN ``--network`` mode: ``default``, ``none`` or ``host``."""
        return self.flag("network", "default")

    def security(self) -> str:
        """RUN ``--security`` mode: ``sandbox`` or ``insecure``."""
        return self.flag("security", "sandbox")

    def healthcheck(self) -> Healthcheck:
        """HEALTHCHECK settings; ``test`` is ``["NONE"]``, ``["CMD", ...]`` or ``["CMD-SHELL", cmd]``."""
        try:
            return _healthcheck(self)
        except InstructionError as err:
            raise self.error(str(err)) from None

    def shell(self) -> list[str]:
        """SHELL executable and options."""
        return list(self.args)

    def ports(self) -> list[str]:
        """EXPOSE ports, sorted as BuildKit stores them."""
        return sorted(self.args)

    def onbuild_expression(self) -> str:
        """ONBUILD trigger text as stored in the image config."""
        expr = re.sub(r"(?i)^\s*ONBUILD\s*", "", self.original)
        for doc in self.heredocs:
            expr += "\n" + doc.content + doc.name
        return expr


class Stage:
    """A build stage: its FROM line and the instructions that follow it."""

    def __init__(self, name: str, base: str, platform: str, line: int, from_: Instruction) -> None:
        self.name = name
        self.base = base
        self.platform = platform
        self.line = line
        self.from_ = from_
        self.instructions: list[Instruction] = []


class Dockerfile:
    """A parsed Dockerfile (see the module docstring)."""

    def __init__(self, filename: str, directives: dict[str, str], escape: str, global_args: list[Instruction],
                 stages: list[Stage], warnings: list[str]) -> None:
        self.filename = filename
        self.directives = directives
        self.escape = escape
        self.global_args = global_args
        self.stages = stages
        self.warnings = warnings

    @property
    def syntax(self) -> str:
        return self.directives.get("syntax", "")

    def stage_index(self, ref: str, by_number: bool = False, before: int | None = None) -> int | None:
        """The stage ``ref`` names, as BuildKit finds it: by name (case-insensitive), the last
        stage of that name; with ``by_number`` (``COPY --from``) a number is an index; with
        ``before`` (a FROM) only the stages before that index count."""
        stages = self.stages if before is None else self.stages[:before]
        if by_number and ref.isascii() and ref.isdigit():
            return int(ref) if len(ref) < 10 and int(ref) < len(stages) else None
        named = [i for i, stage in enumerate(stages) if stage.name and stage.name == ref.lower()]
        return named[-1] if named else None

    def target(self, name: str) -> int:
        """The stage ``--target`` names (by name only, the last of duplicates), or the last stage."""
        if not name:
            return len(self.stages) - 1
        index = self.stage_index(name)
        if index is None:
            raise DockerfileError(f"target stage {go_quote(name)} could not be found", None, self.filename)
        return index

    def instructions(self) -> list[Instruction]:
        """Every instruction in file order."""
        out = list(self.global_args)
        for stage in self.stages:
            out.append(stage.from_)
            out.extend(stage.instructions)
        return out


# --------------------------------------------------------------------------
# Lines, directives, continuations


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.done = False
        self.values: dict[str, str] = {}

    def offer(self, line: str) -> None:
        """Look for a parser directive; the first other line ends the search."""
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        match = _DIRECTIVE.match(line[1:].lstrip())
        key = match.group(1).lower() if match else ""
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return
        if key in self.values:
            raise InstructionError(f"only one {key} parser directive can be used")
        value = match.group(2) if match else ""
        if key == "escape" and value not in ("\\", "`"):
            raise InstructionError(f"invalid escape token '{value}' does not match ` or \\")
        if key == "escape":
            self.escape = value
        self.values[key] = value

    def continuation(self) -> re.Pattern[str]:
        e = re.escape(self.escape)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _split_lines(text: str) -> list[str]:
    """Lines with their endings kept (BuildKit keeps them for heredoc bodies)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip().startswith("#")


def _trim_continuation(line: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    if pattern.search(line):
        return pattern.sub(lambda m: m.group(1) or "", line), False
    return line, True


class _Node:
    """A logical line before validation (BuildKit's AST node)."""

    def __init__(self, keyword: str, raw_flags: list[str], args: list[str], json_form: bool, original: str,
                 child: _Node | None = None) -> None:
        self.keyword = keyword
        self.raw_flags = raw_flags
        self.args = args
        self.json_form = json_form
        self.original = original
        self.line = 0
        self.end_line = 0
        self.heredocs: list[Heredoc] = []
        self.child = child


class _Reader:
    """Walks the lines of a Dockerfile and produces nodes."""

    def __init__(self, text: str, filename: str) -> None:
        self.lines = _split_lines(text)
        self.filename = filename
        self.pos = 0
        self.d = _Directives()
        self.warnings: list[str] = []

    def fail(self, message: str, line: int) -> DockerfileError:
        return DockerfileError(message, max(line, 1), self.filename)

    def process(self, raw: str, strip_left: bool) -> str:
        token = raw.rstrip("\r\n")
        if strip_left:
            token = token.lstrip()
        try:
            self.d.offer(token)
        except InstructionError as err:
            raise self.fail(str(err), self.pos) from None
        return "" if token.startswith("#") else token

    def nodes(self) -> list[_Node]:
        out: list[_Node] = []
        while self.pos < len(self.lines):
            node = self._next_node()
            if node is not None:
                out.append(node)
        if not out:
            raise self.fail("file with no instructions", len(self.lines))
        return out

    def _next_node(self) -> _Node | None:
        self.pos += 1
        start = self.pos
        pattern = self.d.continuation()
        line, eol = _trim_continuation(self.process(self.lines[start - 1], True), pattern)
        if eol and line == "":
            return None
        empty_seen = False
        while not eol and self.pos < len(self.lines):
            raw = self.lines[self.pos]
            self.pos += 1
            token = self.process(raw, False)
            if _is_comment(raw):
                continue
            if not token.strip():
                empty_seen = True
                continue
            cont, eol = _trim_continuation(token, pattern)
            line += cont
        if empty_seen:
            self.warnings.append(f"{self.filename}:{start}: empty continuation line found in: {line}")
        try:
            node = _node_from_line(line, self.d.escape)
        except (InstructionError, ExpansionError) as err:
            raise self.fail(str(err), start) from None
        node.line = start
        if _can_contain_heredoc(node):
            node.heredocs = self._read_heredocs(line, start)
            if node.child is not None:
                node.child.heredocs = node.heredocs
        node.end_line = self.pos
        return node

    def _read_heredocs(self, line: str, start: int) -> list[Heredoc]:
        try:
            docs = _heredocs_from_line(line)
        except (InstructionError, ExpansionError) as err:
            raise self.fail(str(err), start) from None
        out: list[Heredoc] = []
        for doc in docs:
            body: list[str] = []
            while True:
                if self.pos >= len(self.lines):
                    raise self.fail("unterminated heredoc", start)
                raw = self.lines[self.pos]
                self.pos += 1
                candidate = raw.rstrip("\r\n")
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                body.append(raw)
            out.append(doc._replace(content="".join(body)))
        return out


# --------------------------------------------------------------------------
# One logical line -> node


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--flag[=value]`` words (quotes and backslashes removed)."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        word, pos, quoted = _flag_word(line, pos)
        if word == "--":
            return line[pos:], words
        if quoted or word:
            words.append(word)


def _flag_word(line: str, pos: int) -> tuple[str, int, bool]:
    out: list[str] = []
    quote = ""
    quoted = False
    n = len(line)
    while pos < n:
        ch = line[pos]
        if not quote and ch.isspace():
            break
        if not quote and ch in "'\"":
            quote, quoted = ch, True
        elif quote and ch == quote:
            quote = ""
        elif ch == "\\":
            if pos + 1 < n:
                pos += 1
                out.append(line[pos])
            elif quote:
                quote = ""
        else:
            out.append(ch)
        pos += 1
    return "".join(out), pos, quoted


def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (BuildKit's
    parseWords). Runs of ordinary characters are taken whole: linear in the length."""
    words: list[str] = []
    buf: list[str] = []
    quote = ""
    blank_ok = False
    runs = _word_runs(escape)
    i, n = 0, len(rest)
    while i < n:
        run = runs[quote].match(rest, i)
        if run is not None:
            buf.append(run.group())
            i = run.end()
            continue
        ch = rest[i]
        if not quote and ch.isspace():
            if blank_ok or buf:
                words.append("".join(buf))
            buf, blank_ok = [], False
            i = _BLANKS.match(rest, i).end()  # type: ignore[union-attr]
        elif ch == escape:  # never inside single quotes: the run took it
            if i + 1 == n:
                break
            buf.append(rest[i: i + 2])
            i += 2
        else:  # a quote opens or closes
            quote, blank_ok = ("", blank_ok) if quote else (ch, True)
            buf.append(ch)
            i += 1
    if blank_ok or buf:
        words.append("".join(buf))
    return words


_BLANKS = re.compile(r"\s+")
_WORD_RUNS: dict[str, dict[str, re.Pattern[str]]] = {}


def _word_runs(escape: str) -> dict[str, re.Pattern[str]]:
    """Per quote state (none, single, double): a run of characters with no meaning there."""
    runs = _WORD_RUNS.get(escape)
    if runs is None:
        e = re.escape(escape)
        runs = _WORD_RUNS[escape] = {"": re.compile(rf"[^\s'\"{e}]+"), "'": re.compile(r"[^']+"),
                                     '"': re.compile(rf'[^"{e}]+')}
    return runs


def _parse_json(rest: str) -> list[str] | None:
    """The JSON array form, None when ``rest`` is not a JSON array."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # nested deeper than json reads: not JSON, as Go's depth limit
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise InstructionError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(name)


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    value = _parse_json(rest)
    return (value, True) if value is not None else ([rest], False)


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    value = _parse_json(rest)
    if value is not None:
        return value, True
    return _whitespace_words(rest), False


def _whitespace_words(rest: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def _name_values(rest: str, keyword: str, escape: str) -> list[str]:
    """ENV/LABEL: ``k v`` (legacy) or ``k=v k2="v 2"``; returns flat pairs."""
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise InstructionError(f"{keyword} must have two arguments")
        return [parts[0], parts[1]]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise InstructionError(f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        out += [key, value]
    return out


_ONBUILD_CHAIN = "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
_ONBUILD_DEPTH = 50


def _node_from_line(line: str, escape: str, depth: int = 0) -> _Node:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    keyword = parts[0]
    rest, flags = _extract_flags(parts[1]) if len(parts) == 2 else ("", [])
    rest = rest.strip()
    upper = keyword.upper()
    child = None
    json_form = False
    if upper in ("ENV", "LABEL"):
        args = _name_values(rest, upper, escape)
    elif upper == "ARG":
        args = _parse_words(rest, escape)
    elif upper in ("ADD", "COPY", "VOLUME"):
        args, json_form = _maybe_json_list(rest)
    elif upper in ("CMD", "ENTRYPOINT", "RUN", "SHELL"):
        args, json_form = _maybe_json(rest)
    elif upper in ("EXPOSE", "FROM"):
        args = _whitespace_words(rest)
    elif upper in ("MAINTAINER", "STOPSIGNAL", "USER", "WORKDIR"):
        args = [rest] if rest else []
    elif upper == "HEALTHCHECK":
        args, json_form = _health_words(rest)
    elif upper == "ONBUILD":
        if depth > _ONBUILD_DEPTH:  # refused anyway, once validated: stop before Python's stack does
            raise InstructionError(_ONBUILD_CHAIN)
        child = _node_from_line(rest, escape, depth + 1) if rest else None
        args = [child.keyword, *child.args] if child else []
    else:
        args = []
    return _Node(keyword, flags, args, json_form, line, child=child)


def _health_words(rest: str) -> tuple[list[str], bool]:
    match = re.match(r"(\S+)\s*(.*)\Z", rest, re.S)
    if not match:
        return [], False
    cmd, json_form = _maybe_json(match.group(2))
    return [match.group(1), *cmd], json_form


def _can_contain_heredoc(node: _Node) -> bool:
    if node.keyword.upper() == "ONBUILD" and node.child is not None:
        node = node.child
    return node.keyword.upper() in _HEREDOC_INSTRUCTIONS and not node.json_form


def _heredoc_word(word: str) -> Heredoc | None:
    """A heredoc introducer such as ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF``."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = Lexer(skip_unset=True).process(rest, {}).words
        raw = Lexer(skip_unset=True, raw_quotes=True).process(rest, {}).words
    except ExpansionError:
        return None
    if len(words) != 1:
        return None
    quotes = sum(words[0].count(q) for q in "'\"")
    raw_quotes = sum(raw[0].count(q) for q in "'\"")
    return Heredoc(
        name=words[0], content="", expand=quotes == raw_quotes,
        chomp=match.group(2) == "-", fd=_go_uint(match.group(1) or "0"),
    )


def _go_uint(digits: str) -> int:
    """``strconv.ParseUint`` of decimal digits, which gives its largest value when out of range."""
    return int(digits) if len(digits.lstrip("0")) <= 20 and int(digits) < 1 << 64 else (1 << 64) - 1


def _heredocs_from_line(line: str) -> list[Heredoc]:
    lexer = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        words = lexer.process(line, {}).words
    except ExpansionError:
        words = []
    return [doc for doc in map(_heredoc_word, words) if doc is not None]


# --------------------------------------------------------------------------
# Flags

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"

_FLAG_SPECS: dict[str, dict[str, str]] = {
    "ADD": {"exclude": _STRINGS, "chown": _STRING, "chmod": _STRING, "link": _BOOL,
            "keep-git-dir": _BOOL, "checksum": _STRING, "unpack": _BOOL},
    "COPY": {"exclude": _STRINGS, "parents": _BOOL, "chown": _STRING, "from": _STRING,
             "chmod": _STRING, "link": _BOOL},
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _STRINGS, "network": _STRING, "security": _STRING},
    "HEALTHCHECK": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                    "start-interval": _STRING, "retries": _STRING},
}
# BuildKit never looks at the flags of these, so it ignores them silently.
_FLAGS_IGNORED = frozenset({"STOPSIGNAL"})


def _parse_flags(raw: list[str], spec: Mapping[str, str]) -> dict[str, list[str]]:
    """BuildKit's BFlags.Parse: validate ``--name[=value]`` words."""
    values: dict[str, list[str]] = {}
    for word in raw:
        if not word.startswith("--"):
            raise InstructionError(f"arg should start with -- : {word}")
        if word == "--":
            break
        name, eq, value = word[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            raise InstructionError(f"unknown flag: {name}")
        if name in values and kind != _STRINGS:
            raise InstructionError(f"duplicate flag specified: {name}")
        if kind == _BOOL:
            if eq and value == "":
                raise InstructionError(f"missing a value on flag: {name}")
            lower = value.lower()
            if lower not in ("", "true", "false"):
                raise InstructionError(f"expecting boolean value for flag {name}, not: {value}")
            values[name] = [lower or "true"]
        elif not eq:
            raise InstructionError(f"missing a value on flag: {name}")
        else:
            values.setdefault(name, []).append(value)
    return values


# --------------------------------------------------------------------------
# Validation of each instruction (BuildKit's instructions package)


def _exactly_one(instr: Instruction) -> None:
    if len(instr.args) != 1:
        raise InstructionError(f"{instr.keyword} requires exactly one argument")


def _at_least_one(instr: Instruction) -> None:
    if not instr.args:
        raise InstructionError(f"{instr.keyword} requires at least one argument")


def _check_kvps(instr: Instruction) -> None:
    _at_least_one(instr)
    if any(key == "" for key in instr.args[::2]):
        raise InstructionError(f"{instr.keyword} names can not be blank")


def _check_copy(instr: Instruction) -> None:
    if len(instr.args) < 2:
        raise InstructionError(
            f"{instr.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )


def _check_copy_dest(instr: Instruction) -> None:
    if _heredoc_word(instr.args[-1]) is not None:
        raise InstructionError(f"{instr.keyword} cannot accept a heredoc as a destination")


def _check_from(instr: Instruction) -> None:
    args = instr.args
    if len(args) == 3 and args[1].lower() == "as":
        if not _STAGE_NAME.match(args[2].lower()):
            raise InstructionError(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise InstructionError("FROM requires either one or three arguments")


def _check_onbuild(instr: Instruction) -> None:
    _at_least_one(instr)
    trigger = instr.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise InstructionError(_ONBUILD_CHAIN)
    if trigger in ("MAINTAINER", "FROM"):
        raise InstructionError(f"{trigger} isn't allowed as an ONBUILD trigger")


def _check_run(instr: Instruction) -> None:
    if not instr.args and not instr.json_form:
        raise InstructionError("RUN requires at least one argument")
    for value in instr.flags.get("mount", []):
        parse_mount(value)
    network = instr.flag("network", "default")
    if network not in ("default", "none", "host"):
        raise InstructionError(f"unsupported network mode {go_quote(network)}")
    security = instr.flag("security", "sandbox")
    if security not in ("sandbox", "insecure"):
        raise InstructionError(f"unsupported security mode {go_quote(security)}")


def _check_volume(instr: Instruction) -> None:
    _at_least_one(instr)
    if any(not v.strip() for v in instr.args):
        raise InstructionError("VOLUME specified can not be an empty string")
    instr.args = [v.strip() for v in instr.args]


def _check_arg(instr: Instruction) -> None:
    _at_least_one(instr)
    if any(key == "" for key, _ in instr.arg_pairs()):
        raise InstructionError("ARG names can not be blank")


def _check_shell(instr: Instruction) -> None:
    if instr.args and not instr.json_form:
        raise InstructionError("SHELL requires the arguments to be in JSON form")
    _at_least_one(instr)


def _check_healthcheck(instr: Instruction) -> None:
    _at_least_one(instr)
    _healthcheck(instr)


# Per keyword: a check before the flags are parsed and one after (BuildKit's order).
_CHECKS = {
    "ADD": (_check_copy, _check_copy_dest),
    "COPY": (_check_copy, _check_copy_dest),
    "ARG": (None, _check_arg),
    "CMD": (None, None),
    "ENTRYPOINT": (None, None),
    "ENV": (None, _check_kvps),
    "LABEL": (None, _check_kvps),
    "EXPOSE": (_at_least_one, None),
    "FROM": (_check_from, None),
    "HEALTHCHECK": (_at_least_one, _check_healthcheck),
    "MAINTAINER": (_exactly_one, None),
    "ONBUILD": (_check_onbuild, None),
    "RUN": (None, _check_run),
    "SHELL": (None, _check_shell),
    "STOPSIGNAL": (_exactly_one, None),
    "USER": (_exactly_one, None),
    "VOLUME": (None, _check_volume),
    "WORKDIR": (_exactly_one, None),
}


def _instruction(node: _Node, filename: str) -> Instruction:
    """Validate a node into an Instruction (BuildKit's ParseInstruction)."""
    keyword = node.keyword.upper()
    instr = Instruction(
        keyword=keyword, line=node.line, end_line=node.end_line, original=node.original,
        args=list(node.args), raw_flags=list(node.raw_flags), json_form=node.json_form,
        heredocs=list(node.heredocs), filename=filename,
    )
    if not node.keyword:
        raise instr.error("unexpected end of file after a line continuation")
    if keyword not in _CHECKS:
        raise instr.error(f"unknown instruction: {keyword}")
    before, after = _CHECKS[keyword]
    try:
        if before:
            before(instr)
        if keyword not in _FLAGS_IGNORED and not _healthcheck_none(instr):
            instr.flags = _parse_flags(node.raw_flags, _FLAG_SPECS.get(keyword, {}))
        if after:
            after(instr)
    except (InstructionError, ExpansionError) as err:
        raise instr.error(str(err)) from None
    if node.child is not None:
        instr.trigger = _structural(node.child, node, filename)
    return instr


def _healthcheck_none(instr: Instruction) -> bool:
    return instr.keyword == "HEALTHCHECK" and bool(instr.args) and instr.args[0].upper() == "NONE"


def _structural(child: _Node, parent: _Node, filename: str) -> Instruction:
    """The instruction an ONBUILD wraps; it is validated only when triggered."""
    return Instruction(
        keyword=child.keyword.upper(), line=parent.line, end_line=parent.end_line,
        original=child.original, args=list(child.args), raw_flags=list(child.raw_flags),
        json_form=child.json_form, heredocs=list(parent.heredocs), filename=filename,
    )


# --------------------------------------------------------------------------
# HEALTHCHECK, durations, mounts

_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_DURATION_PART = r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)"  # compiled on first use


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds (``1m30s``, ``1.5h``, ``250ms``)."""
    bad = InstructionError(f"time: invalid duration {go_quote(text)}")
    s = text
    sign = -1 if s.startswith("-") else 1
    s = s[1:] if s[:1] in ("-", "+") else s
    if s == "0":
        return 0
    if not s:
        raise bad
    total = 0
    while s:
        match = re.match(_DURATION_PART, s)
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise bad
        if not unit:
            raise InstructionError(f"time: missing unit in duration {go_quote(text)}")
        if unit not in _DURATION_UNITS:
            raise InstructionError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        scale = _DURATION_UNITS[unit]
        if len(whole.lstrip("0")) > 19:  # past Go's int64 nanoseconds
            raise bad
        total += int(whole or 0) * scale
        if frac:
            frac = frac[:20]  # digits below a nanosecond's scale change nothing
            total += int(frac) * scale // 10 ** len(frac)
        if total >= 1 << 63:
            raise bad
        s = s[match.end():]
    return sign * total


def _interval(instr: Instruction, name: str) -> int:
    value = instr.flag(name)
    if not value:
        return 0
    duration = parse_duration(value)
    if duration == 0:
        return 0
    if duration < 1_000_000:
        raise InstructionError(f"Interval {go_quote(name)} cannot be less than 1ms")
    return duration


def _healthcheck(instr: Instruction) -> Healthcheck:
    kind = instr.args[0].upper()
    rest = instr.args[1:]
    if kind == "NONE":
        if rest:
            raise InstructionError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(test=["NONE"])
    if kind != "CMD":
        raise InstructionError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    if not rest:
        raise InstructionError("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if instr.json_form else ["CMD-SHELL", " ".join(rest)]
    retries = 0
    if instr.flag("retries"):
        value = instr.flag("retries")
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise InstructionError(f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax")
        if len(value.lstrip("+-").lstrip("0")) > 19 or not -(1 << 63) <= int(value) < 1 << 63:
            raise InstructionError(f"strconv.ParseInt: parsing {go_quote(value)}: value out of range")
        retries = int(value)
        if retries < 0:
            raise InstructionError(f"--retries cannot be negative ({retries})")
    return Healthcheck(
        test=test, interval=_interval(instr, "interval"), timeout=_interval(instr, "timeout"),
        start_period=_interval(instr, "start-period"),
        start_interval=_interval(instr, "start-interval"), retries=retries,
    )


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "readonly",
               "ro", "readwrite", "rw", "required", "id", "sharing", "mode", "uid", "gid",
               "env", "size")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _go_bool(value: str) -> bool:
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InstructionError(f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")


def _ram_bytes(value: str) -> int:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtTpP]?)[iI]?[bB]?", value.strip())
    if not match:
        raise InstructionError(f"invalid size: {go_quote(value)}")
    size = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if size >= 1 << 63:  # Go's int64 (float('inf') for a number past a float's range)
        raise InstructionError(f"strconv.ParseFloat: parsing {go_quote(match.group(1))}: value out of range")
    return int(size)


def _mount_number(value: str, base: int, key: str) -> int:
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if number < 0 or number >= 1 << 32:
        message = f"invalid value {value} for mode" if key == "mode" else f"invalid value for {key}: {value}"
        raise InstructionError(message)
    return number


def parse_mount(value: str, env: Mapping[str, str] | None = None, escape: str = "\\") -> Mount:
    """Parse one ``--mount`` value (CSV ``key=value`` fields), as BuildKit does.

    With ``env`` each field value but ``from`` is expanded first.  Raises
    ``InstructionError`` or ``ExpansionError``; ``Instruction.mounts`` turns
    both into a ``DockerfileError`` at the instruction's line.
    """
    import csv

    fields = next(csv.reader([value]), [])
    opts: dict[str, object] = {"type": "bind"}
    ro_auto = True
    for item in fields:
        key, eq, val = item.partition("=")
        key = key.lower()
        if not eq:
            ro_auto = _mount_switch(opts, key, item) and ro_auto
            continue
        if env is not None and key != "from":
            val = expand_word(val, env, escape)
        ro_auto = _mount_field(opts, key, val, item) and ro_auto
    return _finish_mount(opts, ro_auto)


def _mount_switch(opts: dict[str, object], key: str, item: str) -> bool:
    """A field without ``=``; returns whether read-only is still automatic."""
    if key in ("readonly", "ro", "readwrite", "rw"):
        opts["readonly"] = key in ("readonly", "ro")
        return False
    if key == "required" and opts["type"] in ("secret", "ssh"):
        opts["required"] = True
        return True
    if key == "required":
        raise InstructionError(f"unexpected key '{key}' for mount type '{opts['type']}'")
    raise InstructionError(f"invalid field '{item}' must be a key=value pair")


def _mount_field(opts: dict[str, object], key: str, val: str, item: str) -> bool:
    """A ``key=value`` field; returns whether read-only is still automatic."""
    simple = {"from": "from_", "source": "source", "src": "source", "target": "target",
              "dst": "target", "destination": "target", "id": "id", "env": "env"}
    if key in simple:
        opts[simple[key]] = val
    elif key == "type":
        if val.lower() not in _MOUNT_TYPES:
            raise InstructionError(f"unsupported mount type {go_quote(val)}")
        opts["type"] = val.lower()
    elif key in ("readonly", "ro", "readwrite", "rw"):
        flag = _go_bool(val)
        opts["readonly"] = flag if key in ("readonly", "ro") else not flag
        return False
    elif key == "required" and opts["type"] in ("secret", "ssh"):
        opts["required"] = _go_bool(val)
    elif key == "sharing":
        if val and val.lower() not in ("shared", "private", "locked"):
            raise InstructionError(f"unsupported sharing value {go_quote(val)}")
        opts["sharing"] = val.lower()
    elif key == "mode":
        opts["mode"] = _mount_number(val, 8, key)
    elif key in ("uid", "gid"):
        opts[key] = _mount_number(val, 10, key)
    elif key == "size":
        opts["size"] = _ram_bytes(val)
    else:
        raise InstructionError(f"unexpected key '{key}' in '{item}'")
    return True


def _finish_mount(opts: dict[str, object], ro_auto: bool) -> Mount:
    kind = opts["type"]
    if kind not in ("cache", "secret", "ssh"):
        for key in ("mode", "uid", "gid"):
            if opts.get(key) is not None:
                raise InstructionError(f"{key} not allowed for {go_quote(str(kind))} type mounts")
    if ro_auto:
        opts["readonly"] = kind not in ("cache", "tmpfs")
    if opts.get("sharing") and kind != "cache":
        raise InstructionError(f"invalid cache sharing set for {kind} mount")
    if kind == "secret":
        if opts.get("from_"):
            raise InstructionError("secret mount should not have a from")
        if not (opts.get("source") or opts.get("target") or opts.get("id")):
            raise InstructionError("invalid secret mount. one of source, target required")
        if opts.get("source") and opts.get("id"):
            raise InstructionError("both source and id can't be set")
    return Mount(**opts)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Entry points


def parse_instructions(text: str, filename: str = "Dockerfile") -> list[Instruction]:
    """Parse and validate instructions without the FROM/stage rules.

    Used for ONBUILD triggers read from a base image's config; directives,
    continuations and heredocs work as in a Dockerfile.
    """
    return [_instruction(node, filename) for node in _Reader(text, filename).nodes()]


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a whole Dockerfile into global ARGs and stages (see module docs)."""
    reader = _Reader(text, filename)
    nodes = reader.nodes()
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for node in nodes:
        instr = _instruction(node, filename)
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
    return Dockerfile(filename, dict(reader.d.values), reader.d.escape, global_args, stages,
                      reader.warnings)


def _stage(instr: Instruction, stages: list[Stage], warnings: list[str]) -> Stage:
    """A new stage; duplicate and reserved names are warnings (BuildKit's checks)."""
    name = instr.args[2].lower() if len(instr.args) == 3 else ""
    where = f"{instr.filename}:{instr.line}"
    if name in ("context", "scratch"):
        warnings.append(f"{where}: ReservedStageName: '{name}' is reserved and should not be used as a stage name")
    if name and any(s.name == name for s in stages):
        warnings.append(f"{where}: DuplicateStageName: Duplicate stage name {go_quote(name)}, stage names should be unique")
    return Stage(name, instr.args[0], instr.flag("platform"), instr.line, instr)


# --------------------------------------------------------------------------
# Expansion at build time


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
    return [i for i, a in enumerate(instr.args) if i == len(instr.args) - 1 or _heredoc_word(a) is None]


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
    return instr.replace(args=args, flags=flags, heredocs=heredocs)


def _expand_arg(word: str, env: Mapping[str, str], escape: str) -> str:
    key, eq, value = word.partition("=")
    key = expand_word(key, env, escape)
    return key + "=" + expand_word(value, env, escape) if eq else key


_HEREDOC_LEXER = Lexer(skip_quotes=True)


def _expand_heredoc(doc: Heredoc, env: Mapping[str, str]) -> Heredoc:
    if not doc.expand:
        return doc
    return doc._replace(content=_HEREDOC_LEXER.process(doc.content, env, split=False).word)


def instruction_vars(instr: Instruction, escape: str = "\\") -> set[str]:
    """Variables referenced by the fields ``expand_instruction`` expands.

    RUN commands are not included: the engine passes every ARG in scope to a
    RUN as environment, so all of them belong to a RUN's cache key.
    """
    indexes, flag_names = _expanded_fields(instr)
    lexer = Lexer(escape, skip_unset=True)
    words = [instr.args[i] for i in indexes]
    words += [v for name in flag_names for v in instr.flags.get(name, [])]
    names: set[str] = set()
    try:
        for word in words:
            names |= lexer.process(word, {}, split=False).unmatched
        if instr.keyword in ("ADD", "COPY"):
            for doc in instr.heredocs:
                if doc.expand:
                    names |= Lexer(skip_unset=True, skip_quotes=True).process(doc.content, {}, split=False).unmatched
    except ExpansionError as err:
        raise instr.error(str(err)) from None
    return names


# --------------------------------------------------------------------------
# ARG scoping


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

    def declare(self, instr: Instruction, env: Mapping[str, str], escape: str = "\\") -> dict[str, str | None]:
        declared: dict[str, str | None] = {}
        scope = ChainMap({}, env)  # this ARG's own names first, without copying env
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


def unconsumed_build_args(df: Dockerfile, build_args: Iterable[str]) -> list[str]:
    """Build args no ARG declares (Docker warns that they were not consumed)."""
    declared = {key for instr in df.instructions() if instr.keyword == "ARG" for key, _ in instr.arg_pairs()}
    return sorted(set(build_args) - declared - PREDEFINED_ARGS)


# --------------------------------------------------------------------------
# Stage references


class StageRefs(namedtuple("StageRefs", "stages images")):
    """What a stage needs: earlier or later stages (by index) and outside images."""

    __slots__ = ()
    stages: list[int]
    images: list[str]


def stage_refs(df: Dockerfile, index: int, global_env: Mapping[str, str]) -> StageRefs:
    """Stages and images stage ``index`` uses: its FROM (expanded with the
    global scope; a name matches an earlier stage), ``COPY --from`` and
    ``RUN --mount=from=`` (a stage name or index, else an image).
    """
    stage = df.stages[index]
    stages: list[int] = []
    images: list[str] = []
    base = expand_instruction(stage.from_, global_env, df.escape).args[0]
    earlier = df.stage_index(base, before=index)
    refs = [(str(earlier), True) if earlier is not None else (base, False)]
    for instr in stage.instructions:
        if instr.keyword == "COPY" and instr.flag("from"):
            refs.append((instr.flag("from"), True))
        if instr.keyword == "RUN":
            refs += [(m.from_, True) for m in instr.mounts() if m.from_]
    for ref, may_be_stage in refs:
        found = df.stage_index(ref, by_number=True) if may_be_stage else None
        if found is not None and found not in stages:
            stages.append(found)
        elif found is None and ref != "scratch" and ref not in images:
            images.append(ref)
    return StageRefs(stages, images)


# --------------------------------------------------------------------------
# Dump


def _dump_instruction(instr: Instruction) -> str:
    parts = [instr.keyword.lower()]
    if instr.raw_flags:
        parts.append("[" + " ".join(go_quote(f) for f in instr.raw_flags) + "]")
    if instr.trigger is not None:
        parts.append(_dump_instruction(instr.trigger.replace(heredocs=[])))
    else:
        parts += [go_quote(a) for a in instr.args]
    for doc in instr.heredocs:
        opts = "".join(o for o, on in ((" chomp", doc.chomp), (" noexpand", not doc.expand)) if on)
        parts.append(f"(heredoc{opts} {go_quote(doc.name)} {go_quote(doc.content)})")
    return "(" + " ".join(parts) + ")"


def dump(df: Dockerfile) -> str:
    """One s-expression per instruction, BuildKit style: ``(copy ["--from=a"] "x" "/y")``."""
    return "".join(_dump_instruction(i) + "\n" for i in df.instructions())
