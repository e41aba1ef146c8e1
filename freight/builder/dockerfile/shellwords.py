"""Variable expansion and word splitting for Dockerfile instructions.

This follows BuildKit's dockerfile ``shell.Lex``: the expansion Docker
applies to the arguments of ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL,
STOPSIGNAL, USER, VOLUME and WORKDIR (RUN, CMD and ENTRYPOINT are left to the
container's shell).

Supported forms: ``$v``, ``${v}``, ``${v:-w}``, ``${v-w}``, ``${v:+w}``,
``${v+w}``, ``${v:?msg}``, ``${v?msg}``, ``${v#pat}``, ``${v##pat}``,
``${v%pat}``, ``${v%%pat}`` (``*`` and ``?`` wildcards), ``${v/pat/rep}``
and ``${v//pat/rep}``.  Single quotes disable expansion, double quotes keep
spaces, the escape character (``\\`` or the backtick chosen by the
``# escape=`` directive) quotes the next character.

Public API:

* ``expand_word(word, env, escape="\\\\") -> str``: one word, quotes removed,
  inner spaces kept (BuildKit ``ProcessWord``).
* ``expand_words(word, env, escape="\\\\") -> list[str]``: expand, then split
  on unquoted whitespace (BuildKit ``ProcessWords``).
* ``Lexer``: the configurable lexer behind those (raw quotes, raw escapes,
  leaving unset variables as written, skipping quote processing);
  ``Lexer.process(word, env, split=True)`` splits words only when asked.

Expansion takes time in proportion to the word and the values it expands to
(runs of plain characters are taken whole), and ``${a:-${b:-...}}`` may nest as
deep as BuildKit allows (its steps run on a list, not on Python's stack).
* ``ExpansionError``: raised for bad substitutions; the Dockerfile parser
  turns it into a ``DockerfileError`` naming the line.
* ``go_quote(text)``: Go's ``%q`` quoting, used in Docker's messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from freight.errors import FreightError
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ExpansionError(FreightError):
    """A variable substitution Docker would reject (a failed build: exit 1)."""

    exit_code = 1


class ExpandResult(Record):
    """Outcome of one expansion: the word and its split form."""

    word: str
    words: list[str]


class _Words:
    """Accumulates the whitespace-split form of the word being expanded.

    A word ends at unquoted whitespace, and only a non-empty one counts (BuildKit's
    wordsStruct). Pieces are kept in a list and joined once per word, so a long value
    costs time in proportion to its length.
    """

    def __init__(self) -> None:
        self.words: list[str] = []
        self.parts: list[str] = []

    def add_text(self, text: str) -> None:
        """Text whose whitespace separates words (unquoted text, expanded values)."""
        first, *rest = _SPACES.split(text)
        self.parts.append(first)
        for piece in rest:
            self._end_word()
            self.parts.append(piece)

    def add_raw(self, text: str) -> None:
        """Text that belongs to the current word whatever it holds (quoted, escaped)."""
        self.parts.append(text)

    def _end_word(self) -> None:
        word = "".join(self.parts)
        if word:
            self.words.append(word)
        self.parts = []

    def finish(self) -> list[str]:
        self._end_word()
        return self.words


class _NoWords(_Words):
    """For callers that want only the expanded word: nothing is split."""

    def add_text(self, text: str) -> None:
        pass

    def add_raw(self, text: str) -> None:
        pass


_SPACES = re.compile(r"\s+")  # \s is exactly str.isspace(), BuildKit's unicode.IsSpace but for U+001C-1F
_NAME_REST = re.compile(r"\w*")  # \w is exactly str.isalnum() or "_"
_RUNS: dict[str, re.Pattern[str]] = {}


def _run_of_other_than(special: str) -> re.Pattern[str]:
    """A pattern for a run of characters none of which is in ``special``."""
    pattern = _RUNS.get(special)
    if pattern is None:
        pattern = _RUNS[special] = re.compile("[^" + "".join(re.escape(c) for c in special) + "]+")
    return pattern


if TYPE_CHECKING:
    Step = Generator[Any, Any, Any]


def _run(step: Step) -> Any:
    """Run a scanner step and the steps it yields (each yield is a call: the step gets its
    result back, or its exception thrown in) on a list instead of Python's stack, so
    ``${a:-${a:-...}}`` nested thousands deep expands as it does in BuildKit."""
    stack = [step]
    value: Any = None
    error: Exception | None = None
    while True:
        top = stack[-1]
        try:
            if error is None:
                called = top.send(value)
            else:
                called, error = top.throw(error), None
        except StopIteration as done:
            stack.pop()
            if not stack:
                return done.value
            value = done.value
            continue
        except Exception as err:  # raised by the step: its caller gets it
            stack.pop()
            if not stack:
                raise
            error = err
            continue
        stack.append(called)
        value = None


class _Scanner:
    """One pass over a word; mirrors BuildKit's shellWord.

    The methods that may nest (``$``, quotes, ``${...}`` bodies) are generators run by
    ``_run``: ``x = yield self.method()`` is a call. Runs of ordinary characters are
    taken whole, so expansion is linear in the length of the word and of the values.
    """

    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str], split: bool = True) -> None:
        self.lex = lexer
        self.words = _Words if split else _NoWords
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process_stop_on(self, stop: str, raw_escapes: bool) -> Step:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return (yield self._stop_on(stop))
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> Step:
        result: list[str] = []
        words = self.words()
        esc = self.lex.escape
        ordinary = _run_of_other_than("$<" + esc + stop + ("" if self.lex.skip_quotes else "'\""))
        text, end = self.text, len(self.text)
        while self.pos < end:
            run = ordinary.match(text, self.pos)
            if run is not None:
                self.pos = run.end()
                result.append(run.group())
                words.add_text(run.group())
                continue
            ch = text[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(result), words.finish()
            if ch == "$":
                tmp = yield self.dollar()
                result.append(tmp)
                words.add_text(tmp)
            elif ch == "<":
                tmp = self.possible_heredoc()
                result.append(tmp)
                words.add_raw(tmp)
            elif ch == "'":
                tmp = self.single_quote()
                result.append(tmp)
                words.add_raw(tmp)
            elif ch == '"':
                tmp = yield self.double_quote()
                result.append(tmp)
                words.add_raw(tmp)
            else:  # the escape character
                self.pos += 1
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if not ch:
                    break
                words.add_raw(ch)
                result.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def possible_heredoc(self) -> str:
        """``<<`` keeps the blanks after it, so ``<< EOF`` stays one word."""
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        start = self.pos
        while self.peek() in (" ", "\t", "\r"):
            self.next()
        return "<<" + self.text[start:self.pos]

    def single_quote(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            self.pos = len(self.text)
            raise ExpansionError("unexpected end of statement while looking for matching single-quote")
        body = self.text[self.pos: end + 1] if self.lex.raw_quotes else self.text[self.pos + 1: end]
        self.pos = end + 1
        return body

    def double_quote(self) -> Step:
        raw = self.lex.raw_quotes
        first = self.next()
        out = [first] if raw else []
        esc = self.lex.escape
        ordinary = _run_of_other_than('"$' + esc)
        text = self.text
        while True:
            run = ordinary.match(text, self.pos)
            if run is not None:
                self.pos = run.end()
                out.append(run.group())
            ch = self.peek()
            if not ch:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if raw:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append((yield self.dollar()))
                continue
            self.next()  # the escape character
            if self.raw_escapes:
                out.append(ch)
            nxt = self.peek()
            if not nxt:
                continue
            if nxt in ('"', "$", esc):
                ch = self.next()
            out.append(ch)

    def name(self) -> str:
        ch = self.peek()
        if ch.isdigit():
            start = self.pos
            while self.peek().isdigit():
                self.pos += 1
            return self.text[start:self.pos]
        if ch and ch in _SPECIAL_PARAMS:
            return self.next()
        found = _NAME_REST.match(self.text, self.pos)
        assert found is not None  # \w* matches the empty string
        self.pos = found.end()
        return found.group()

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> Step:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset:
                return "$" + name
            return value
        self.next()
        if not self.peek():
            raise ExpansionError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset:
                return f"${{{name}}}"
            return value
        if ch == "/":
            return (yield self.replace(name))
        return (yield self.modifier(name, ch))

    def modifier(self, name: str, ch: str) -> Step:
        if not ch:
            raise ExpansionError("syntax error: missing '}'")
        chs = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
        elif ch not in "+-?#%":
            raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
        raw = ch in ("#", "%")
        if null_is_unset and raw:
            raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
        word = yield self._closing_brace(raw)
        value, found = self.get_env(name)
        if self.lex.skip_unset and not found:
            return f"${{{name}{chs}{word}}}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if empty:
                default = "is not allowed to be unset" if not found else "is not allowed to be empty"
                raise ExpansionError(f"{name}: {word or default}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise ExpansionError(f"unsupported modifier ({chs}) in substitution")

    def _closing_brace(self, raw: bool) -> Step:
        try:
            word, _ = yield self.process_stop_on("}", raw)
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        return word

    def replace(self, name: str) -> Step:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = yield self.process_stop_on("/", True)
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        replacement = yield self._closing_brace(True)
        value, found = self.get_env(name)
        if self.lex.skip_unset and not found:
            return f"${{{name}/{pattern}/{replacement}}}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        m = regex.search(value)
        if m is None:
            return value
        return value[: m.start()] + replacement + value[m.end():]


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Shell wildcard pattern (``*``, ``?``, ``\\`` escapes) to a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append("\\" + nxt)
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy, anchored=True).search(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern while keeping each ``\\x`` escape pair in order."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the shortest leftmost match, so reverse both sides.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


class Lexer(Record):
    """BuildKit's ``shell.Lex`` with its switches.

    ``raw_quotes`` keeps quote characters in the output, ``raw_escapes`` keeps
    escape characters, ``skip_unset`` leaves references to unset variables as
    written and ``skip_quotes`` treats quotes as ordinary characters (used for
    heredoc bodies).
    """

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    skip_quotes: bool = False

    def process(self, word: str, env: Mapping[str, str], split: bool = True) -> ExpandResult:
        """Expand ``word``; without ``split`` the result's ``words`` is left empty."""
        if self._literal(word):
            return ExpandResult(word, word.split() if split else [])
        scanner = _Scanner(self, word, env, split)
        try:
            result, words = _run(scanner.process_stop_on("", self.raw_escapes))
        except ExpansionError as err:
            raise ExpansionError(f"failed to process {go_quote(word)}: {err}") from None
        return ExpandResult(result, words)


    def _literal(self, word: str) -> bool:
        """Whether ``word`` holds nothing to expand, unquote or unescape (most words)."""
        return ("$" not in word and "<" not in word and self.escape not in word
                and (self.skip_quotes or ("'" not in word and '"' not in word)))


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` / ``strconv.Quote`` (used in Docker's messages)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand ``word`` as one word (quotes removed, inner spaces kept)."""
    return Lexer(escape).process(word, env, split=False).word


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand ``word`` and split it on unquoted whitespace."""
    return Lexer(escape).process(word, env).words
