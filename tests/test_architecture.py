"""The package's shape, read from its source with ``ast``: layers that hold.

* No import cycle among the package's modules (counting imports made inside functions too,
  except those under ``TYPE_CHECKING``).
* pytest is imported only by the plugin layer (``pytest_cdc/plugin/``); below it a module
  may import pytest lazily, inside a function, only to fail a test (``errors.fail``).
* No branch on an engine's name in the plugin package outside the engine packages
  (``pytest_cdc/dialects/``): code asks the engine object instead.  The pre-commit hooks'
  linter is keyed on sqlglot's dialect names by design (its scanner and rules are the
  per-dialect SQL knowledge of a linter), and resolves every name through the same registry.
* No module over 500 lines without a reason written at its top.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pytest_cdc": ROOT / "pytest_cdc", "pytest_cdc_hooks": ROOT / "hooks"}
ENGINE_NAMES = re.compile(r"^(postgresql|postgres|pg|mssql|sqlserver|tsql)$")


def modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, module: str, *, top_level_only: bool = False) -> Iterator[str]:
    """Modules ``path`` imports (absolute names), skipping TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, depth: int) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            nested = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import) and not (top_level_only and depth):
                for alias in child.names:
                    yield alias.name
            elif isinstance(child, ast.ImportFrom) and not (top_level_only and depth):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                yield base
                for alias in child.names:
                    yield f"{base}.{alias.name}"
            yield from walk(child, nested)

    yield from walk(tree, 0)


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in imports(path, module):
            # "from a.b import c": c may be a module or a name in a.b
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def test_no_import_cycles() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            # A package imports its own submodules to re-export them: not a cycle of layers.
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_pytest_only_in_the_plugin_layer() -> None:
    offenders = []
    for module, path in modules().items():
        if module.startswith("pytest_cdc.plugin"):
            continue
        if any(
            name == "pytest" or name.startswith("pytest.")
            for name in imports(path, module, top_level_only=True)
        ):
            offenders.append(module)
    assert not offenders, f"import pytest at module level outside pytest_cdc/plugin/: {offenders}"


def test_no_branches_on_engine_names_outside_the_engines() -> None:
    offenders = []
    for module, path in modules().items():
        if module.startswith(("pytest_cdc.dialects", "pytest_cdc_hooks")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops
            ):
                for side in [node.left, *node.comparators]:
                    values = (
                        [side]
                        if isinstance(side, ast.Constant)
                        else (
                            list(side.elts)
                            if isinstance(side, (ast.Tuple, ast.List, ast.Set))
                            else []
                        )
                    )
                    if any(
                        isinstance(v, ast.Constant)
                        and isinstance(v.value, str)
                        and ENGINE_NAMES.match(v.value)
                        for v in values
                    ):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "branches on an engine's name:\n" + "\n".join(offenders)


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_stay_readable(module: str) -> None:
    path = modules()[module]
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines <= 500:
        return
    head = path.read_text(encoding="utf-8")[:1500].lower()
    assert "long because" in head or "over 500 lines" in head, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or say at its top why it is"
        " long ('long because ...')"
    )
