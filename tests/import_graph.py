"""The product's import graph, read from the code (ast): what tests/test_layers.py
checks and what docs/architecture.md draws.

``python -m tests.import_graph`` prints the picture of the layers (a Mermaid
diagram) that docs/architecture.md holds, ``--write`` puts it there; a test
keeps the two the same.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
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


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
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


def package_edges() -> Counter[tuple[str, str]]:
    """How many module imports run from each package to each other one."""
    edges: Counter[tuple[str, str]] = Counter()
    for module, names in graph().items():
        for name in names:
            pair = (module.split(".")[0], name.split(".")[0])
            if pair[0] != pair[1]:
                edges[pair] += 1
    return edges


def mermaid() -> str:
    """The layers, bottom to top, each with its number of modules, and which
    imports which (no counts: the picture changes only when the shape does)."""
    modules = product_modules()
    lines = ["flowchart BT"]
    for layer in LAYERS:
        count = sum(1 for name in modules if name.split(".")[0] == layer)
        lines.append(f'    {layer}["{layer}/ ({count} modules)"]')
    for source, target in sorted(package_edges()):
        lines.append(f"    {source} --> {target}")
    return "\n".join(lines) + "\n"


DOC = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- import graph: python -m tests.import_graph -->\n```mermaid\n"
END = "```\n<!-- end of import graph -->"


def drawn() -> str:
    """The picture docs/architecture.md holds now."""
    text = DOC.read_text()
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)]


def redraw() -> None:
    """Writes today's picture into docs/architecture.md."""
    text = DOC.read_text()
    DOC.write_text(text.replace(BEGIN + drawn() + END, BEGIN + mermaid() + END))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        redraw()
    else:
        sys.stdout.write(mermaid())
