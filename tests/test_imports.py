"""The package layers, as the import statements state them.

The folders show the layers (docs/architecture.md): ``datagen.common`` serves every command,
``datagen.store.reader`` is the store's contract and reader and imports nothing from the builder,
``datagen`` never imports ``training``, and no module imports another in a circle, not even
through an import deferred into a function. A name with a leading underscore is private to its
module: no other module (tests and benchmarks included) imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("datagen", "training")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    paths = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "cli.py"]
    return {module_name(p): p for p in paths}


def imports(path: Path) -> Iterator[tuple[str, str]]:
    """(module, name) of every ``from module import name`` and (module, "") of every ``import
    module`` in ``path``, wherever it stands, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            yield from ((base, alias.name) for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (a ``from package import module`` counts as
    importing that module)."""
    modules = package_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for base, imported in imports(path):
            target = f"{base}.{imported}" if f"{base}.{imported}" in modules else base
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    graph = import_graph()
    assert "datagen.store.schema" in graph["datagen.builder.build"]  # the graph sees imports
    assert cycles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("datagen.store.reader", "datagen.builder"),
        ("datagen.common", "datagen.store.reader"),
        ("datagen.common", "datagen.builder"),
        ("datagen", "training"),
    ],
)
def test_layers(importer: str, forbidden: str) -> None:
    graph = import_graph()
    crossing = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module == importer or module.startswith(importer + ".")
        for target in targets
        if target == forbidden or target.startswith(forbidden + ".")
    )
    assert crossing == []


def test_no_private_name_is_imported_from_another_module() -> None:
    files = [
        p for folder in (*PACKAGES, "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py")
    ]
    private = sorted(
        f"{path.relative_to(ROOT)}: {name} from {base}"
        for path in [*files, ROOT / "cli.py"]
        for base, name in imports(path)
        if name.startswith("_") and not name.startswith("__")
    )
    assert private == []
