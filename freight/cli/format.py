"""Docker's output formats: aligned tables, human sizes and ages, --format templates, and
``inspect``'s output (``print_inspect``).

``--format`` takes Go-template-like text as Docker does: ``{{.Field}}``,
``{{.A.B}}``, ``{{json .}}``, ``{{json .Field}}``, ``{{index .Labels "k"}}``,
``{{join .List ","}}``, ``{{upper .X}}``, ``{{lower .X}}``, ``{{len .X}}``,
``{{range .List}}...{{end}}``, ``{{if .X}}...{{else}}...{{end}}`` and a
``table`` prefix that adds a header row and aligns columns.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from freight.cli.main import error_prefix
from freight.errors import FreightError, InvalidArgument
from freight.runtime.times import human_duration

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any

# Docker's description of a listing's --format flag.
FORMAT_HELP = ("Format output using a custom template:\n"
               "'table':            Print output in table format with column headers (default)\n"
               "'table TEMPLATE':   Print output in table format using the given Go template\n"
               "'json':             Print in JSON format\n"
               "'TEMPLATE':         Print output using the given Go template.\n"
               "Refer to https://docs.docker.com/go/formatting/ for more information about formatting output "
               "with templates")
_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"]
_BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def human_size(size: float, digits: int = 3) -> str:
    """go-units HumanSizeWithPrecision(size, digits): decimal units (``HumanSize``: 4 digits)."""
    return _scaled(size, 1000.0, _UNITS, digits)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (``docker stats`` memory)."""
    return _scaled(size, 1024.0, _BINARY, 4)


def _scaled(size: float, step: float, units: list[str], digits: int) -> str:
    unit = 0
    while size >= step and unit < len(units) - 1:
        size /= step
        unit += 1
    return f"{size:.{digits}g}{units[unit]}"


def parse_time(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp (nanoseconds are cut to microseconds); None if it is not one."""
    try:
        when = datetime.fromisoformat(text) if "T" in text else None
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def since(text: str) -> str:
    """Docker's "2 weeks ago" for an RFC 3339 timestamp."""
    when = parse_time(text)
    if when is None:
        return "N/A"
    return human_duration((datetime.now(UTC) - when).total_seconds()) + " ago"


def docker_time(text: str) -> str:
    """Go's default time format, as in ``docker images --format '{{.CreatedAt}}'``."""
    when = parse_time(text)
    return when.strftime("%Y-%m-%d %H:%M:%S +0000 UTC") if when else ""


def render_table(rows: Sequence[Sequence[str]], out: Any = None) -> None:
    """Align columns as Docker's tabwriter(minwidth 10, padding 3) does."""
    out = out or sys.stdout
    if not rows:
        return
    ncols = max(len(r) for r in rows)
    widths = [max(10, max(len(r[i]) for r in rows if i < len(r)) + 3) for i in range(ncols)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("".join(cells).rstrip(" ") if not row[-1] else "".join(cells))
    out.write("\n".join(lines) + "\n")


# -- templates ---------------------------------------------------------------

# Patterns are compiled on first use (through ``re``'s cache): a plain table needs none.
_TOKEN = r"(?s){{-?\s*(.*?)\s*-?}}"


class TemplateError(InvalidArgument):
    """A --format template that does not parse or cannot be evaluated."""


class Row(dict[str, str | None]):
    """One row of a listing (``ps``, ``images``): ``{{json .}}`` of it escapes ``<``, ``>`` and
    ``&`` as Go's ``json.Marshal`` of Docker's row does (``"\\u003cnone\\u003e"``); the ``json``
    function on anything else writes them as they are, as Docker's does."""


class _Struct(dict[str, object]):
    """A value Docker's templates see as a Go struct: printed ``{value value ...}``."""


class _Nil:
    """A field Docker holds as a nil slice, map or pointer: empty and false to templates,
    ``null`` to ``json``, and printed as Go prints that kind of nil."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __bool__(self) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0


# Inspect fields that are Go structs, nil maps and nil pointers (any other nil is a slice: "[]").
_STRUCTS = frozenset({"State", "HostConfig", "Config", "NetworkSettings", "GraphDriver", "RestartPolicy",
                      "LogConfig", "Health", "RootFS", "Metadata", "ContainerConfig"})
_NIL_TEXT = {"Labels": "map[]", "Volumes": "map[]", "DriverOpts": "map[]", "ExposedPorts": "map[]",
             "Options": "map[]", "Tmpfs": "map[]", "Sysctls": "map[]", "StorageOpt": "map[]",
             "MemorySwappiness": "<nil>", "PidsLimit": "<nil>", "IPAMConfig": "<nil>",
             "Healthcheck": "<nil>", "OomKillDisable": "<nil>", "Init": "<nil>", "StopTimeout": "<nil>"}
_HTML = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def _json(value: Any) -> str:
    import json  # listing commands load this module, and a plain listing does without json

    if isinstance(value, _Nil):
        return "null"
    text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    return text.translate(_HTML) if isinstance(value, Row) else text


def _join(value: Any, sep: str = ",") -> str:
    return sep.join(str(v) for v in value or [])


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else value[int(key)]
    return value


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json, "join": _join, "index": _index, "len": lambda v: len(v or []),
    "upper": lambda v: str(v).upper(), "lower": lambda v: str(v).lower(),
    "title": lambda v: str(v).title(), "println": lambda *v: " ".join(map(str, v)) + "\n",
    "print": lambda *v: "".join(map(str, v)),
}


def _lookup(data: Any, path: str) -> Any:
    value = data
    for part in path.split(".")[1:]:
        if not part:
            continue
        if isinstance(value, Mapping):
            if part not in value:
                raise TemplateError(f"can't evaluate field {part}")
            value = value[part]
            if value is None:
                value = _Nil(_NIL_TEXT.get(part, "[]"))
            elif part in _STRUCTS and isinstance(value, dict):
                value = _Struct(value)
        else:
            value = getattr(value, part)
    return value


_WORD = r'"(?:\\.|[^"\\])*"|`[^`]*`|[()|]|[^\s()|]+'


def _tokens(expr: str) -> list[str]:
    return re.findall(_WORD, expr)


def _literal(word: str, dot: Any) -> Any:
    if word.startswith("."):
        return _lookup(dot, word)
    if word[0] == '"':
        return word[1:-1].encode().decode("unicode_escape")
    if word[0] == "`":
        return word[1:-1]
    if word.lstrip("-").isdigit():
        return int(word)
    if word in ("true", "false"):
        return word == "true"
    if word in _FUNCS:
        return _FUNCS[word]()
    raise TemplateError(f"function \"{word}\" not defined")


def _pipeline(tokens: list[str], dot: Any) -> Any:
    """Evaluate ``command (| command)*`` from ``tokens``, consuming them up to a ')'."""
    value: Any = None
    first = True
    while tokens and tokens[0] != ")":
        words: list[Any] = []
        while tokens and tokens[0] not in ("|", ")"):
            word = tokens.pop(0)
            if word == "(":
                words.append(("value", _pipeline(tokens, dot)))
                if not tokens or tokens.pop(0) != ")":
                    raise TemplateError("unclosed left paren")
            else:
                words.append(word)
        if not words:
            raise TemplateError("missing value for command")
        value = _command(words, dot, None if first else value, first)
        first = False
        if tokens and tokens[0] == "|":
            tokens.pop(0)
    return value


def _command(words: list[Any], dot: Any, piped: Any, first: bool) -> Any:
    def arg(word: Any) -> Any:
        return word[1] if isinstance(word, tuple) else _literal(word, dot)

    head, rest = words[0], [arg(w) for w in words[1:]]
    if not first:
        rest.append(piped)
    if isinstance(head, str) and head in _FUNCS:
        return _FUNCS[head](*rest)
    if rest:
        raise TemplateError(f"can't give argument to non-function {head}")
    return arg(head)


def _eval(expr: str, dot: Any) -> Any:
    tokens = _tokens(expr)
    value = _pipeline(tokens, dot)
    if tokens:
        raise TemplateError(f"unexpected {tokens[0]!r} in operand")
    return value


def _text(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, _Nil):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return _go_repr(value)
    return str(value)


def _go_repr(value: Any) -> str:
    if isinstance(value, _Struct):
        return "{" + " ".join(_go_repr("" if v is None else v) for v in value.values()) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_repr(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_repr(v) for v in value) + "]"
    return _text(value)


def _parse(template: str) -> list[Any]:
    """Turn a template into a tree of text, expressions, range and if blocks."""
    pos = 0
    stack: list[tuple[Any, ...]] = [("root", [])]  # (kind, body[, expr[, body before else]])
    for match in re.finditer(_TOKEN, template):
        stack[-1][1].append(_between_actions(template[pos:match.start()]))
        pos = match.end()
        action = match.group(1)
        word = action.split(None, 1)
        if action in ("else", "end") and len(stack) == 1:
            raise TemplateError(f"template: :1: unexpected {{{{{action}}}}}")
        if word and word[0] in ("range", "if", "with"):
            stack.append((word[0], [], word[1] if len(word) > 1 else ""))
        elif action == "else":
            kind, body, expr = stack.pop()
            stack.append((kind + "-else", [], expr, body))
        elif action == "end":
            node = stack.pop()
            stack[-1][1].append(node)
        else:
            stack[-1][1].append(("expr", action))
    stack[-1][1].append(_between_actions(template[pos:]))
    if len(stack) != 1:
        raise TemplateError("unexpected EOF")
    nodes: list[Any] = stack[0][1]
    return nodes


def _between_actions(text: str) -> str:
    """Text between actions; a ``{{`` left in it opened an action that never closes."""
    if "{{" in text:
        raise TemplateError("template: :1: unclosed action")
    return text


def _run(nodes: Iterable[Any], dot: Any) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif node[0] == "expr":
            parts.append(_text(_eval(node[1], dot)))
        else:
            parts.append(_block(node, dot))
    return "".join(parts)


def _block(node: tuple[Any, ...], dot: Any) -> str:
    kind, body, expr = node[0], node[1], node[2]
    otherwise = node[3] if kind.endswith("-else") else None
    then = otherwise if otherwise is not None else body
    els = body if otherwise is not None else []
    value = _eval(expr, dot)
    if kind.startswith("range"):
        items = list(value.values() if isinstance(value, Mapping) else value or [])
        return "".join(_run(then, item) for item in items) if items else _run(els, dot)
    if kind.startswith("with"):
        return _run(then, value) if bool(value) else _run(els, dot)
    return _run(then, dot) if bool(value) else _run(els, dot)


class Template:
    """A compiled --format string; ``table`` formats get headers and aligned columns."""

    def __init__(self, text: str, headers: Mapping[str, str] | None = None) -> None:
        text = "{{json .}}" if text == "json" else text  # Docker's shorthand
        self.table = text.startswith("table")
        text = text[5:].lstrip() if self.table else text
        self.text = text.replace("\\t", "\t").replace("\\n", "\n")
        try:
            self.nodes = _parse(self.text)
        except (TemplateError, ValueError) as err:
            raise TemplateError(f"template parsing error: {err}") from None
        self.headers = headers or {}

    def render(self, data: Any) -> str:
        try:
            return _run(self.nodes, data)
        except (TemplateError, AttributeError, KeyError, IndexError, TypeError) as err:
            raise TemplateError(f"template: executing \"\" : {err}") from None

    def header(self) -> str:
        def name(match: re.Match[str]) -> str:
            field = match.group(1).strip().lstrip(".").split(".")[0]
            return self.headers.get(field, field.upper())
        return re.sub(_TOKEN, name, self.text)

    def write(self, items: Iterable[Any], out: Any = None) -> None:
        out = out or sys.stdout
        lines = [self.render(item) for item in items]
        if self.table:
            rows = [self.header().split("\t")] + [line.split("\t") for line in lines]
            render_table(rows, out)
        else:
            out.write("".join(line + "\n" for line in lines))


def inspect_each(names: list[str], inspect_one: Callable[[str], dict[str, Any]], fmt: str | None) -> int:
    """Docker's ``inspect`` of several names: what it found (``[]`` when nothing), then a line on
    stderr for each name it did not find, failing with the last."""
    found, missing = [], []
    for name in names:
        try:
            found.append(inspect_one(name))
        except FreightError as err:
            missing.append(err)
    print_inspect(found, fmt)
    for failure in missing[:-1]:
        sys.stderr.write(f"{error_prefix(failure)}{failure}\n")
    if missing:
        raise missing[-1]
    return 0


def print_inspect(objects: list[dict[str, Any]], fmt: str | None) -> int:
    """Print ``inspect`` output: an indented JSON array, or one template line per object."""
    if fmt:
        Template(fmt).write(objects)
    else:
        import json  # see _json

        print(json.dumps(objects, indent=4))
    return 0
