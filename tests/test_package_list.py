"""Every package of the source tree is in pyproject.toml's package list: setuptools installs
only the listed ones, and a missing one breaks only the installed wheel (an editable install
still finds it)."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "pytest_cdc").rglob("__init__.py")
    }
    assert found - listed == set()
