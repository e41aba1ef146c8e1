"""A parsed Dockerfile's records: its stages, their instructions, and how they fail.

Each ``Instruction`` keeps ``keyword`` (upper case), ``line``/``end_line``
(1-based), ``original`` (the logical line), ``flags`` (validated values per
flag name), ``raw_flags`` (as written), ``args``, ``json_form``,
``heredocs`` and, for ONBUILD, ``trigger`` (the wrapped instruction). Typed
views for the engine: ``key_values()`` (ENV/LABEL), ``arg_pairs()`` (ARG),
``copy_spec()`` (ADD/COPY), ``command()`` (RUN/CMD/ENTRYPOINT), ``network()``,
``security()`` (RUN), ``shell()``, ``ports()``, ``onbuild_expression()``;
``freight.builder.dockerfile.arguments`` reads RUN ``--mount`` values and
HEALTHCHECK settings.

``DockerfileError`` is any problem BuildKit would reject, located at a line;
``heredoc_word`` tells whether a word introduces a here-document.
"""

from __future__ import annotations

import re

from freight.builder.dockerfile.shellwords import ExpansionError, Lexer, go_quote
from freight.errors import FreightError
from freight.record import Record, field

_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)\Z")
_PLAIN = Lexer(skip_unset=True)
_RAW_QUOTES = Lexer(skip_unset=True, raw_quotes=True)
_RAW_LINE = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True)


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
    """A problem found where the line is not known (a flag's value, a mount, a duration).

    The parser turns it into a ``DockerfileError`` naming file and line.
    """

    exit_code = 1


class Heredoc(Record):
    """A here-document attached to RUN, COPY or ADD.

    ``content`` is the body as written (every line with its newline);
    ``expand`` is false when the delimiter was quoted; ``chomp`` is ``<<-``
    (leading tabs are stripped, see ``body``); ``fd`` is a leading number
    such as ``3<<EOF`` (0 when absent).
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def body(self) -> str:
        """The content with leading tabs removed when the heredoc is ``<<-``."""
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content



def heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a word such as ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` introduces, else None."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = _PLAIN.process(rest, {}).words
        raw = _RAW_QUOTES.process(rest, {}).words
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


def heredocs_in_line(line: str) -> list[Heredoc]:
    """The heredocs a logical line introduces, bodies still empty."""
    try:
        words = _RAW_LINE.process(line, {}).words
    except ExpansionError:
        words = []
    return [doc for doc in map(heredoc_word, words) if doc is not None]


class CopySpec(Record):
    """ADD/COPY arguments: context/stage sources, inline (heredoc) sources, flags.

    ``unpack`` is None when ``--unpack`` was not given.
    """

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


class CommandLine(Record):
    """RUN/CMD/ENTRYPOINT command.

    ``args`` is the exec-form list, or one string for the shell form, where
    ``prepend_shell`` is true and the engine prefixes the SHELL.  ``files``
    are the heredocs.  ``script()`` gives BuildKit's treatment of heredocs.
    """

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
        first = heredoc_word(self.args[0]) if len(self.args) == 1 else None
        if first is not None:
            if self.files[0].content.startswith("#!"):
                return [], self.files[0]
            return [self.files[0].body], None
        full = self.args[0] if self.args else ""
        for doc in self.files:
            full += "\n" + doc.content + doc.name
        return [full], None


class Healthcheck(Record):
    """HEALTHCHECK as the image config stores it (durations in nanoseconds)."""

    test: list[str]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


class Mount(Record):
    """One ``RUN --mount=...`` (BuildKit's mount syntax); each default is the value of a
    field the mount does not name."""

    type: str = "bind"
    source: str = ""
    target: str = ""
    from_: str = ""
    readonly: bool = True
    id: str = ""
    sharing: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    env: str | None = None
    size: int = 0


class Instruction(Record):
    """One parsed instruction (see the module docstring for the fields)."""

    keyword: str
    line: int
    end_line: int
    original: str
    args: list[str]
    flags: dict[str, list[str]] = field(default_factory=dict)
    raw_flags: list[str] = field(default_factory=list)
    json_form: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)
    trigger: Instruction | None = None
    filename: str = "Dockerfile"

    def __repr__(self) -> str:
        return f"<Instruction {self.filename}:{self.line} {self.original!r}>"

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
            word = heredoc_word(src)
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

    def network(self) -> str:
        """RUN ``--network`` mode: ``default``, ``none`` or ``host``."""
        return self.flag("network", "default")

    def security(self) -> str:
        """RUN ``--security`` mode: ``sandbox`` or ``insecure``."""
        return self.flag("security", "sandbox")

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


class Stage(Record):
    """A build stage: its FROM line and the instructions that follow it."""

    name: str
    base: str
    platform: str
    line: int
    from_: Instruction
    instructions: list[Instruction] = field(default_factory=list)


class Dockerfile(Record):
    """A parsed Dockerfile (see the module docstring)."""

    filename: str
    directives: dict[str, str]
    escape: str
    global_args: list[Instruction]
    stages: list[Stage]
    warnings: list[str]

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
