"""CRLF and CR-only files give the same findings, on the same lines, as the LF original."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cdc_hooks import index_coverage, sql_lint

# A T-SQL script in the shape of real exports: comments, GO batches, statements that start a
# line without a semicolon.  Read as one long line, its first comment hides everything.
TSQL = """\
-- returns the people as JSON
SELECT * FROM dbo.people
WHERE id = 1
GO
SELECT * FROM dbo.orders -- all of them
GO
/* tidy up */
UPDATE dbo.t SET a = 1
SELECT * FROM dbo.t FOR JSON PATH
"""
ENDINGS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def findings(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    sql_lint.main(["--no-cache", *args, str(path)])
    return [line.split(":", 1)[1] for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("ending", ["crlf", "cr"])
def test_line_endings_do_not_change_findings(
    isolated: Path, capsys: pytest.CaptureFixture[str], ending: str
) -> None:
    lf = isolated / "lf.sql"
    lf.write_bytes(TSQL.encode())
    other = isolated / f"{ending}.sql"
    other.write_bytes(TSQL.replace("\n", ENDINGS[ending]).encode())
    expected = findings(lf, capsys, "--dialect", "mssql")
    assert [f.split()[1] for f in expected] == ["CDC101", "CDC101", "CDC102", "CDC101"]
    assert findings(other, capsys, "--dialect", "mssql") == expected


def test_cr_only_utf16_file(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "ssms.sql"
    f.write_bytes(b"\xff\xfe" + TSQL.replace("\n", "\r").encode("utf-16-le"))
    assert len(findings(f, capsys, "--dialect", "mssql")) == 4


def test_cr_only_places_a_decoding_error_on_its_line(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = isolated / "latin1.sql"
    f.write_bytes("SELECT a FROM t\rWHERE name = 'Zoë';\r".encode("latin-1"))
    assert findings(f, capsys) == [
        "2:17: CDC002 not valid UTF-8 (byte 0xeb): re-save the file as UTF-8"
    ]


def test_cr_only_migrations_build_the_same_schema(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nddl = ["m/*.sql"]\nqueries = ["q/*.sql"]\n'
        '[[tool.pytest-cdc.reconciliation-tables]]\nname = "t"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    (isolated / "m").mkdir()
    (isolated / "q").mkdir()
    # the comment on the first line hid the CREATE TABLE: CDC201, the table is "not created"
    (isolated / "m" / "V1.sql").write_bytes(
        b"-- orders\rCREATE TABLE t (id int PRIMARY KEY, v text)\r"
    )
    (isolated / "q" / "q.sql").write_bytes(b"-- by id\rSELECT v FROM t WHERE id = 1;\r")
    assert index_coverage.main(["--strict"]) == 0
    assert capsys.readouterr().out == ""
