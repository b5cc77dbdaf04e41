"""``pytest-cdc sql-template [NAME]`` lists and prints the SQL templates the README points to
(issue 17: they were in scripts/sql/ only, not in what pip installs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cdc.cli import main

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "sql"


def test_lists_every_template_with_what_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql-template"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if line and not line.startswith("print")]
    assert names == sorted(path.stem for path in SCRIPTS.glob("*.sql"))
    assert "postgresql_bloat" in out and "Dead rows and size (PostgreSQL)" in out
    assert out.endswith("print one with: pytest-cdc sql-template NAME\n")


@pytest.mark.parametrize("name", ["postgresql_reconciliation_indexes", "mssql_fragmentation.sql"])
def test_prints_one(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql-template", name]) == 0
    expected = (SCRIPTS / f"{name.removesuffix('.sql')}.sql").read_text(encoding="utf-8")
    assert capsys.readouterr().out == expected


def test_unknown_name_is_one_line_with_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql-template", "postgresql_blaot"]) == 2
    assert capsys.readouterr().err == (
        "pytest-cdc sql-template: error: no SQL template named 'postgresql_blaot' (did you mean"
        " 'postgresql_bloat'?); run pytest-cdc sql-template to list them\n"
    )
