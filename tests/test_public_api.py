from __future__ import annotations

import subprocess
import sys

import pytest

import pytest_cdc


@pytest.mark.parametrize("name", pytest_cdc.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(pytest_cdc, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pytest_cdc.nope  # noqa: B018


def test_import_is_cheap() -> None:
    code = (
        "import sys, pytest_cdc\n"
        "heavy = {'psycopg2', 'pyodbc', 'sqlglot', 'prometheus_client', 'hypothesis'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_installed_top_level_names_are_our_own() -> None:
    """hooks/ installs as pytest_cdc_hooks: no generic top-level 'hooks' in site-packages."""
    import importlib.metadata

    top_level = importlib.metadata.distribution("pytest-cdc").read_text("top_level.txt") or ""
    assert sorted(top_level.split()) == ["pytest_cdc", "pytest_cdc_hooks"]


def test_functions_are_not_shadowed_by_submodules() -> None:
    import types

    import pytest_cdc.checksums

    for name in ("reconcile", "explain", "assert_no_table_scan", "assert_checksums_match"):
        assert not isinstance(getattr(pytest_cdc, name), types.ModuleType), name


def test_the_typing_block_names_every_public_name() -> None:
    # Type checkers see the names through the TYPE_CHECKING imports, the runtime through the
    # lazy table: the two must list the same names, from the same modules.
    import ast
    from pathlib import Path

    tree = ast.parse(Path(pytest_cdc.__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    imported = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == pytest_cdc._LAZY
