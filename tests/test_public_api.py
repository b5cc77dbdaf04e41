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


def test_hooks_package_has_its_own_name() -> None:
    import importlib.util

    assert importlib.util.find_spec("pytest_cdc_hooks") is not None
    assert importlib.util.find_spec("hooks") is None or "pytest_cdc" not in str(
        importlib.util.find_spec("hooks").origin  # type: ignore[union-attr]
    )
