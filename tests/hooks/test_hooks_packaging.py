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
COVERAGE_CODES = ["CDC201", "CDC202", "CDC203", "CDC204", "CDC205", "CDC206", "CDC207"]


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
        assert hook["entry"] == hook["id"]
    assert hooks["cdc-sql-lint"]["types"] == ["sql"]
    # the schema is loaded from every DDL file: one process, not one per batch
    assert hooks["cdc-index-coverage"]["require_serial"] is True


def test_index_coverage_runs_when_only_pyproject_changes() -> None:
    """pre-commit's own matching: files regex and types_or (issue 17: the reconciliation
    tables live in pyproject.toml, and a change there alone did not run the hook)."""
    # identify comes with pre-commit and is what it classifies files with
    tags_from_path = importlib.import_module("identify.identify").tags_from_path
    hook = {h["id"]: h for h in manifest()}["cdc-index-coverage"]
    pattern = re.compile(str(hook["files"]))

    def runs_on(path: Path) -> bool:
        tags = tags_from_path(str(path))
        types = set(hook["types_or"])  # type: ignore[call-overload]
        return bool(pattern.search(path.as_posix())) and bool(tags & types)

    assert runs_on(REPO / "pyproject.toml")
    assert runs_on(REPO / "tests" / "hooks" / "files" / "ok_cdc101_postgres.sql")
    assert not runs_on(REPO / "tox.ini")
    assert not runs_on(REPO / "README.md")


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


def test_the_light_code_list_matches_the_rules() -> None:
    """codes.py lists every code without importing the rules (cached runs stay light)."""
    from pytest_cdc_hooks.codes import COVERAGE_CODES as LISTED_COVERAGE
    from pytest_cdc_hooks.codes import LINT_CODES

    assert set(LINT_CODES) == {r.code for r in builtin_registry()} | set(CORE_CODES)
    assert list(LISTED_COVERAGE) == COVERAGE_CODES


def test_the_pre_commit_snippets_are_valid_configs() -> None:
    """The snippets in README.md and docs/hooks.md work as pasted (issue 17: a bare list gave
    "Expected a Config map but got a list")."""
    yaml = importlib.import_module("yaml")
    cfgv = importlib.import_module("cfgv")
    schema = importlib.import_module("pre_commit.clientlib").CONFIG_SCHEMA
    for doc in (REPO / "README.md", REPO / "docs" / "hooks.md"):
        blocks = re.findall(
            r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", doc.read_text(), re.S
        )
        assert blocks, f"{doc.name} shows no .pre-commit-config.yaml"
        for block in blocks:
            config = yaml.safe_load(block)
            cfgv.validate(config, schema)
            hooks = [h["id"] for repo in config["repos"] for h in repo["hooks"]]
            assert hooks == ["cdc-sql-lint", "cdc-index-coverage"]
