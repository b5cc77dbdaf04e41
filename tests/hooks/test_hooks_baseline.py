"""Baselines: record today's findings, then fail only on new ones (both hooks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_cdc_hooks import index_coverage, sql_lint

PROJECTS = Path(__file__).resolve().parent / "files" / "coverage"
OLD = "SELECT * FROM orders;\nUPDATE orders SET a = 1;\n"


def test_lint_fails_only_on_findings_the_baseline_does_not_know(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    q = isolated / "q.sql"
    q.write_text(OLD, encoding="utf-8")
    assert sql_lint.main(["--write-baseline", "cdc-baseline.json", "q.sql"]) == 0
    assert capsys.readouterr().err == "cdc-sql-lint: recorded 2 findings in cdc-baseline.json\n"
    assert sql_lint.main(["--baseline", "cdc-baseline.json", "q.sql"]) == 0
    assert capsys.readouterr().out == ""
    # lines move, the old findings stay known; a new statement is reported
    q.write_text("-- header\n\n" + OLD + "DELETE FROM orders;\n", encoding="utf-8")
    assert sql_lint.main(["--baseline", "cdc-baseline.json", "q.sql"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "q.sql:5:1: CDC102 DELETE without WHERE changes every row: add a WHERE (or use TRUNCATE)"
    ]
    # a known statement that changes is checked afresh
    q.write_text(OLD.replace("a = 1", "a = 2"), encoding="utf-8")
    assert sql_lint.main(["--baseline", "cdc-baseline.json", "q.sql"]) == 1
    assert "q.sql:2:1: CDC102" in capsys.readouterr().out


def test_a_second_identical_finding_in_a_statement_is_new(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    q = isolated / "q.sql"
    q.write_text("SELECT * FROM a JOIN b ON a.id = b.id;\n", encoding="utf-8")
    assert sql_lint.main(["--write-baseline", "b.json", "q.sql"]) == 0
    q.write_text("SELECT *, b.* FROM a JOIN b ON a.id = b.id;\n", encoding="utf-8")
    assert sql_lint.main(["--baseline", "b.json", "q.sql"]) == 1  # the statement changed


def test_both_hooks_share_a_baseline_file_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = tmp_path / "p"
    shutil.copytree(PROJECTS / "bad_postgres", where)
    monkeypatch.chdir(where)
    queries = [str(p.relative_to(where)) for p in sorted((where / "queries").glob("*.sql"))]
    assert index_coverage.main(["--write-baseline", "baseline.json"]) == 0
    assert sql_lint.main(["--write-baseline", "baseline.json", *queries]) == 0
    capsys.readouterr()
    data = json.loads((where / "baseline.json").read_text(encoding="utf-8"))
    assert set(data) == {"version", "cdc-index-coverage", "cdc-sql-lint"}
    pyproject = where / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            "[tool.pytest-cdc]\n", '[tool.pytest-cdc]\nbaseline = "baseline.json"\n'
        ),
        encoding="utf-8",
    )
    assert index_coverage.main([]) == 0
    assert sql_lint.main(queries) == 0
    assert capsys.readouterr().out == ""


def test_a_missing_or_broken_baseline_is_a_usage_error(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "q.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert sql_lint.main(["--baseline", "nope.json", "q.sql"]) == 2
    assert "baseline file 'nope.json' does not exist: create it with --write-baseline" in (
        capsys.readouterr().err
    )
    (isolated / "bad.json").write_text('{"version": 7}', encoding="utf-8")
    assert sql_lint.main(["--baseline", "bad.json", "q.sql"]) == 2
    assert "is not a version 1 baseline" in capsys.readouterr().err
