"""Help laid out as Docker's CLI lays it out: ``Usage:  freight images [OPTIONS]
[REPOSITORY[:TAG]]``, the description, then ``Options:`` sorted by name with pflag's
type words (``-f, --filter filter``, ``--format string``); the top-level help groups
the commands as Docker's does. Imported only to print help."""

from __future__ import annotations

import argparse

# Docker's groups of top-level commands; a command in none of them is listed under "Commands".
COMMON = ("run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info")
MANAGEMENT = ("builder", "container", "image", "network", "registry", "system", "volume")
_WIDTH = 79  # cobra wraps flag usages at the terminal width (80 where unknown) less one
# Docker's ``Aliases:`` lines: every path to the same command (cobra's aliases and the
# top-level shortcuts), one group per command.
_ALIASES = (
    "container attach, attach", "container commit, commit", "container cp, cp", "container create, create",
    "container diff, diff", "container exec, exec", "container export, export", "container kill, kill",
    "container logs, logs", "container ls, container list, container ps, ps", "container pause, pause",
    "container port, port", "container rename, rename", "container restart, restart",
    "container rm, container remove, rm", "container run, run", "container start, start",
    "container stats, stats", "container stop, stop", "container top, top", "container unpause, unpause",
    "container update, update", "container wait, wait", "system events, events", "system info, info",
    "image build, build, builder build", "image history, history", "image import, import", "image load, load",
    "image ls, image list, images", "image pull, pull", "image push, push", "image rm, image remove, rmi",
    "image save, save", "image tag, tag", "network ls, network list", "network rm, network remove",
    "volume ls, volume list", "volume rm, volume remove",
)


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _positional(action: argparse.Action) -> str:
    name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if action.nargs == argparse.REMAINDER:
        if " " in name:  # a metavar that says it all (``top``'s "[ps OPTIONS]")
            return name
        return f"[{name}] [ARG...]"
    if action.nargs == "?":
        return f"[{name}]"
    if action.nargs == "+":
        return f"{name} [{name}...]"
    if action.nargs == "*":
        return f"[{name}...]"
    return name


def usage(parser: argparse.ArgumentParser) -> str:
    if parser.usage:  # a command with more than one form (``cp``)
        return "Usage:  " + parser.usage % {"prog": parser.prog}
    words = [parser.prog]
    options = [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
               and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]
    if options:
        words.append("[OPTIONS]")
    if _subcommands(parser) is not None:
        words.append("COMMAND")
    words += [_positional(a) for a in parser._actions if not a.option_strings
              and not isinstance(a, argparse._SubParsersAction)]
    return "Usage:  " + " ".join(words)


def _type_word(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if "--filter" in action.option_strings:
        return "filter"
    if isinstance(action, argparse._AppendAction):
        return "list"
    if action.type is int:
        return "int"
    return "string"


def _option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    rows = []
    actions = [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
               and not (isinstance(a, argparse._HelpAction) and parser.prog != "freight")]
    for action in sorted(actions, key=lambda a: max(a.option_strings, key=len).lstrip("-")):
        shorts = [o for o in action.option_strings if not o.startswith("--")]
        longs = [o for o in action.option_strings if o.startswith("--")]
        head = (f"{shorts[0]}, " if shorts else "    ") + (longs[0] if longs else "")
        text = "Print usage" if isinstance(action, argparse._HelpAction) else action.help or ""
        word = _type_word(action)
        rows.append((f"  {head}{' ' + word if word else ''}", text))
    return rows


def _pflag_wrap(text: str, room: int) -> list[str]:
    """The lines pflag wraps a flag's usage into (its ``wrap``/``wrapN``): cut at the last blank
    before ``room - 5`` characters, or at a newline before it, and let a rest that is at most
    5 characters over stay whole."""
    slop = 5
    width = room - slop
    if width + slop < 24:
        return text.split("\n")
    lines: list[str] = []
    while text:
        if width + slop > len(text):
            lines += text.split("\n")
            break
        cut = max(text.rfind(" ", 0, width), text.rfind("\t", 0, width), text.rfind("\n", 0, width))
        if cut <= 0:
            lines += text.split("\n")
            break
        newline = text.rfind("\n", 0, width)
        if 0 < newline < cut:
            cut = newline
        lines.append(text[:cut])
        text = text[cut + 1:]
    return lines or [""]


def _table(rows: list[tuple[str, str]], width: int | None = None) -> str:
    """Flags (``width`` None: as wide as the longest, their usage wrapped as pflag wraps it),
    or commands (``width`` given: one line each, as cobra lists them)."""
    column = width or max(len(left) for left, _ in rows) + 3
    lines = []
    for left, text in rows:
        wrapped = [text] if width else _pflag_wrap(text, _WIDTH - column)
        lines.append(left.ljust(column) + wrapped[0])
        lines += [" " * column + more for more in wrapped[1:]]
    return "\n".join(line.rstrip() for line in lines)


def aliases(prog: str) -> list[str]:
    """Every path to the command ``prog`` names (``freight ps``: ``freight container ls``, ...)."""
    path = prog.removeprefix("freight ")
    for group in _ALIASES:
        paths = group.split(", ")
        if path in paths:
            return [f"freight {p}" for p in paths]
    return []


def command_help(parser: argparse.ArgumentParser) -> str:
    parts = [usage(parser), ""]
    if parser.description:
        parts += [parser.description, ""]
    if paths := aliases(parser.prog):
        parts += ["Aliases:", "  " + ", ".join(paths), ""]
    sub = _subcommands(parser)
    if sub is not None:
        parts += ["Commands:", _table([(f"  {c.dest}", c.help or "") for c in sub._choices_actions], 14), ""]
    rows = _option_rows(parser)
    if rows:
        parts += ["Global Options:" if sub is not None and parser.prog == "freight" else "Options:",
                  _table(rows), ""]
    if sub is not None:
        parts += [f"Run '{parser.prog} COMMAND --help' for more information on a command.", ""]
    return "\n".join(parts)


def top_help(parser: argparse.ArgumentParser) -> str:
    """``freight --help``: the commands in Docker's groups, then the global options."""
    sub = _subcommands(parser)
    helps = {c.dest: c.help or "" for c in sub._choices_actions} if sub is not None else {}
    groups = [("Common Commands:", [n for n in COMMON if n in helps]),
              ("Management Commands:", [n for n in MANAGEMENT if n in helps]),
              ("Commands:", sorted(n for n in helps if n not in COMMON and n not in MANAGEMENT))]
    parts = [usage(parser), "", parser.description or "", ""]
    for title, names in groups:
        if names:
            parts += [title, _table([(f"  {n}", helps[n]) for n in names], 14), ""]
    parts += ["Global Options:", _table(_option_rows(parser)), "",
              f"Run '{parser.prog} COMMAND --help' for more help on a command.", ""]
    return "\n".join(parts)
