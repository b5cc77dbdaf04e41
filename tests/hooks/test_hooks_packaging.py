"""The hook manifest, the console scripts, the README and the docs agree with the code."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 in the CI matrix
    import tomli as tomllib

from pytest_cdc_hooks.rules import CORE_CODES, builtin_registry

REPO = Path(__file__).resolve().parents[2]
COVERAGE_CODES = ["CDC201", "CDC202", "CDC203", "CDC204", "CDC205", "CDC206"]


def manifest() -> list[dict[str, object]]:
    # PyYAML comes with pre-commit; imported by name so that mypy needs no stubs for it
    yaml = importlib.import_module("yaml")
    data = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_manifest_declares_both_hooks() -> None:
    hooks = {h["id"]: h for h in manifest()}
    assert set(hooks) == {"cdc-sql-lint", "cdc-index-coverage"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types"] == ["sql"]
        assert hook["entry"] == hook["id"]
    # the schema is loaded from every DDL file: one process, not one per batch
    assert hooks["cdc-index-coverage"]["require_serial"] is True


def test_entries_are_console_scripts_with_main() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    for hook in manifest():
        target = scripts[str(hook["entry"])]
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))


def test_readme_lists_every_hook_id() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for hook in manifest():
        assert f"id: {hook['id']}" in readme, f"README.md does not show hook {hook['id']!r}"


def test_docs_list_every_code() -> None:
    docs = (REPO / "docs" / "hooks.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| (CDC\d{3}) \|", docs, re.M))
    codes = {r.code for r in builtin_registry()} | set(CORE_CODES) | set(COVERAGE_CODES)
    assert listed == codes
