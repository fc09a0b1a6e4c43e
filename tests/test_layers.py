"""The packages are layers that only point down, read from the code itself.

Every import of ours, at the top of a module or inside a function, is an
edge of the module graph: a package may import its own modules and the
layers below it, never one above; nothing in the product imports the load
tests or the tests; and no modules import each other in a circle, however
the imports are hidden.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Bottom to top: each may import those before it (and itself).
LAYERS = ("fairdrop", "queue_engine", "buffer", "purchase", "web", "launch")
NOT_PRODUCT = ("loadtests", "tests")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def product_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for layer in LAYERS
        for path in (ROOT / layer).rglob("*.py")
        if "migrations" not in path.parts
    }


def imported(path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """Each import of ours in the module (line, module), functions and
    TYPE_CHECKING blocks included; ``from pkg import mod`` names the module."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in known
                else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name.split(".")[0] in (*LAYERS, *NOT_PRODUCT):
                yield node.lineno, name


def graph() -> dict[str, set[str]]:
    known = product_modules()
    return {
        module: {name for _, name in imported(path, known) if name in known and name != module}
        for module, path in known.items()
    }


def test_each_layer_imports_only_itself_and_the_layers_below() -> None:
    known = product_modules()
    upward = []
    for module, path in known.items():
        own = LAYERS.index(module.split(".")[0])
        for line, name in imported(path, known):
            top = name.split(".")[0]
            if top in NOT_PRODUCT or LAYERS.index(top) > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert upward == []


def test_the_base_imports_no_other_package_of_ours() -> None:
    edges = graph()
    base = {m: {n for n in names if not n.startswith("fairdrop")} for m, names in edges.items()}
    assert {m: names for m, names in base.items() if m.startswith("fairdrop") and names} == {}


def test_no_modules_import_each_other_in_a_circle() -> None:
    edges = graph()
    # The graph is real: the web app reads the settings, the worker's jobs the holds.
    assert "fairdrop.settings" in edges["web.app"] and "purchase.holds" in edges["purchase.jobs"]
    circles = [c for c in _strongly_connected(edges) if len(c) > 1]
    assert circles == []


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components, iteratively (no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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
                found.append(component)
    return found
