"""The packages are layers that only point down, read from the code itself.

Every import of ours, at the top of a module or inside a function, is an
edge of the module graph: a package may import its own modules and the
layers below it, never one above; nothing in the product imports the load
tests or the tests; and no modules import each other in a circle, however
the imports are hidden.
"""

from __future__ import annotations

from tests.import_graph import (
    LAYERS,
    NOT_PRODUCT,
    ROOT,
    drawn,
    graph,
    imported,
    mermaid,
    product_modules,
    strongly_connected,
)


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
    circles = [c for c in strongly_connected(edges) if len(c) > 1]
    assert circles == []


def test_the_architecture_map_draws_todays_layers() -> None:
    assert "web --> fairdrop" in mermaid()
    # Stale? python -m tests.import_graph --write
    assert drawn() == mermaid()


MAX_LINES = 400


def test_no_module_of_the_product_or_its_pages_is_over_400_lines() -> None:
    pages = [p for p in (ROOT / "static").rglob("*") if p.suffix in {".js", ".html", ".css"}]
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in [*product_modules().values(), *pages]
    }
    assert len(sizes) > 100  # every module and page was read
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
