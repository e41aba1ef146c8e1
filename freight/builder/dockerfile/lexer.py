"""Reading a Dockerfile's text into logical lines (BuildKit's ``parser`` package).

``Reader(text, filename)`` handles what comes before an instruction is known:
the byte-order mark, parser directives (``# syntax=``, ``# escape=``,
``# check=``), comments, line continuations with the escape character in
force, heredoc bodies, and the splitting of each logical line into its
keyword, its leading ``--flags`` and its arguments in the form the keyword
takes (JSON or shell form, ``key=value`` pairs, words). ``Reader.nodes()``
gives one ``Node`` per logical line, unvalidated; then ``Reader.directives``
holds the parser directives as written, ``Reader.escape`` the escape character
in force and ``Reader.warnings`` BuildKit's warnings (empty continuation lines).
``freight.builder.dockerfile.arguments`` turns nodes into instructions.
"""

from __future__ import annotations

import json
import re

from freight.builder.dockerfile.instructions import DockerfileError, Heredoc, InstructionError, heredocs_in_line
from freight.builder.dockerfile.shellwords import ExpansionError, go_quote
from freight.record import Record, field, replace

ONBUILD_CHAIN = "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
_ONBUILD_DEPTH = 50
_HEREDOC_INSTRUCTIONS = frozenset({"ADD", "COPY", "RUN"})
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


class Node(Record):
    """A logical line before validation (BuildKit's AST node); ``child`` is the line an
    ONBUILD wraps, ``heredocs`` the bodies read after the line."""

    keyword: str
    raw_flags: list[str]
    args: list[str]
    json_form: bool
    original: str
    child: Node | None = None
    line: int = 0
    end_line: int = 0
    heredocs: list[Heredoc] = field(default_factory=list)


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


class Reader:
    """Walks the lines of a Dockerfile and produces nodes (see the module docstring)."""

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

    @property
    def directives(self) -> dict[str, str]:
        return self.d.values

    @property
    def escape(self) -> str:
        return self.d.escape

    def nodes(self) -> list[Node]:
        """The logical lines; a Dockerfile with none is an error."""
        out: list[Node] = []
        while self.pos < len(self.lines):
            node = self._next_node()
            if node is not None:
                out.append(node)
        if not out:
            raise self.fail("file with no instructions", len(self.lines))
        return out

    def _next_node(self) -> Node | None:
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
        heredocs = self._read_heredocs(line, start) if _can_contain_heredoc(node) else []
        return replace(node, line=start, end_line=self.pos, heredocs=heredocs)

    def _read_heredocs(self, line: str, start: int) -> list[Heredoc]:
        out: list[Heredoc] = []
        for doc in heredocs_in_line(line):
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
            out.append(replace(doc, content="".join(body)))
        return out




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
            while i < n and rest[i].isspace():
                i += 1
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


def _node_from_line(line: str, escape: str, depth: int = 0) -> Node:
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
            raise InstructionError(ONBUILD_CHAIN)
        child = _node_from_line(rest, escape, depth + 1) if rest else None
        args = [child.keyword, *child.args] if child else []
    else:
        args = []
    return Node(keyword, flags, args, json_form, line, child=child)


def _health_words(rest: str) -> tuple[list[str], bool]:
    match = re.match(r"(\S+)\s*(.*)\Z", rest, re.S)
    if not match:
        return [], False
    cmd, json_form = _maybe_json(match.group(2))
    return [match.group(1), *cmd], json_form


def _can_contain_heredoc(node: Node) -> bool:
    if node.keyword.upper() == "ONBUILD" and node.child is not None:
        node = node.child
    return node.keyword.upper() in _HEREDOC_INSTRUCTIONS and not node.json_form
