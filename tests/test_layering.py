"""The package's shape: no import cycles, no private names imported across modules,
and each layer importing only the layers below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from testlib import REPO

PACKAGE = REPO / "freight"
# Lower layers first; a module may import its own layer and those before it.
LAYERS = [
    ("errors", "record", "pids", "settings"),
    ("image",),
    ("store",),
    ("archive",),
    ("registry",),
    ("runtime",),
    ("builder",),
    ("system",),
    ("api", "cli"),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, str | None]]:
    """(module imported, name imported from it or None) for every import in the file,
    including those inside functions and under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full, None) if full in MODULES else (base, alias.name))
    return [(module, what) for module, what in found if module.split(".")[0] == "freight"]


GRAPH = {name: {module for module, _ in _imports(name, path) if module in MODULES}
         for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} belongs to no layer of LAYERS")


# Being untied by the tidy-up (issue 12); each entry goes when its cycle does.
KNOWN_CYCLES = [
]
KNOWN_PRIVATE = [
]


def test_no_import_cycles() -> None:
    assert [c for c in _cycles() if c not in KNOWN_CYCLES] == []


def test_no_private_names_across_modules() -> None:
    crossings = [f"{name} imports {what} from {module}"
                 for name, path in MODULES.items()
                 for module, what in _imports(name, path)
                 if what is not None and what.startswith("_") and not what.startswith("__") and module != name]
    assert [c for c in crossings if c not in KNOWN_PRIVATE] == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "freight"))
def test_lower_layers_never_import_higher_ones(name: str) -> None:
    higher = sorted(m for m in GRAPH[name] if m != "freight" and _layer(m) > _layer(name))
    assert higher == [], f"{name} imports higher layers"
