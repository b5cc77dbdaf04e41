"""Hostile input: never a traceback, always a finding or a clear error with a location."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_cdc_hooks import index_coverage, sql_lint
from pytest_cdc_hooks.lint import lint_text
from pytest_cdc_hooks.rules import builtin_registry
from pytest_cdc_hooks.source import normalize_newlines

FILES = Path(__file__).resolve().parent / "files"
FINDING = re.compile(r"^.+?:(\d+):(\d+): (CDC\d{3}) .+$")
REGISTRY = builtin_registry()
HOOKS = [sql_lint.main, index_coverage.main]


def run(
    main: object, args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], str]:
    code = main(args)  # type: ignore[operator]
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out.splitlines(), captured.err


def test_empty_file_is_clean(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "empty.sql"
    f.write_bytes(b"")
    assert run(sql_lint.main, [str(f)], capsys)[:2] == (0, [])


def test_whitespace_and_comments_only(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "c.sql"
    f.write_text("\n\n-- nothing\n/* still nothing */\n;;\n", encoding="utf-8")
    assert run(sql_lint.main, [str(f)], capsys)[:2] == (0, [])


def test_binary_file(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "blob.sql"
    f.write_bytes(b"SELECT 1;\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, out, _ = run(sql_lint.main, [str(f)], capsys)
    assert code == 1
    assert out == [f"{f}:4:1: CDC002 file looks binary (NUL byte): it is not SQL text"]


def test_not_utf8(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "latin1.sql"
    f.write_bytes("SELECT a FROM t\nWHERE name = 'Zoë';\n".encode("latin-1"))
    code, out, _ = run(sql_lint.main, [str(f)], capsys)
    assert code == 1
    assert out == [f"{f}:2:17: CDC002 not valid UTF-8 (byte 0xeb): re-save the file as UTF-8"]


def test_utf16_with_bom_is_read(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "ssms.sql"
    f.write_bytes(codecs.BOM_UTF16_LE + "SELECT * FROM dbo.t\r\nGO\r\n".encode("utf-16-le"))
    code, out, _ = run(sql_lint.main, ["--dialect", "mssql", str(f)], capsys)
    assert code == 1
    assert out == [f"{f}:1:8: CDC101 SELECT * in a query: name the columns"]


def test_missing_file(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(sql_lint.main, ["nope.sql"], capsys)
    assert code == 1
    assert out == ["nope.sql:1:1: CDC002 cannot read file: No such file or directory"]


def test_ten_thousand_nested_parentheses(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = isolated / "deep.sql"
    f.write_text("SELECT " + "(" * 10_000 + "1" + ")" * 10_000 + " AS x;\n", encoding="utf-8")
    code, out, _ = run(sql_lint.main, [str(f)], capsys)
    assert code == 0  # valid SQL: a warning, not a failure
    assert len(out) == 1
    assert FINDING.match(out[0])
    assert "CDC000" in out[0]
    assert run(sql_lint.main, ["--strict", "--no-cache", str(f)], capsys)[0] == 1


def test_ten_thousand_unclosed_parentheses(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = isolated / "open.sql"
    f.write_text("SELECT " + "(" * 10_000 + "1;\n", encoding="utf-8")
    code, out, _ = run(sql_lint.main, [str(f)], capsys)
    assert code == 1
    assert out == [f"{f}:1:1: CDC001 10000 unclosed '(' in this statement"]


def test_ten_megabyte_file(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = isolated / "dump.sql"
    row = "INSERT INTO t (id, name) VALUES (1, 'some name that pads the row out');\n"
    f.write_text(row * (10 * 1024 * 1024 // len(row) + 1), encoding="utf-8")
    assert f.stat().st_size > 10 * 1024 * 1024
    for main in HOOKS:
        code, out, _ = run(main, [str(f)], capsys)
        if main is sql_lint.main:
            assert code == 0
            assert len(out) == 1
            assert re.match(rf"{re.escape(str(f))}:1:1: CDC002 file is 10\.0 MB, over the", out[0])
            assert run(main, ["--strict", str(f)], capsys)[0] == 1
        else:
            assert code == 0  # no reconciliation tables configured: nothing to check


@pytest.mark.parametrize("main", HOOKS)
def test_garbage_ddl_and_queries_in_a_project(
    isolated: Path, capsys: pytest.CaptureFixture[str], main: object
) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nddl = ["ddl/*.sql"]\nqueries = ["q/*.sql"]\n'
        '[[tool.pytest-cdc.reconciliation-tables]]\nname = "t"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    (isolated / "ddl").mkdir()
    (isolated / "q").mkdir()
    (isolated / "ddl" / "1.sql").write_bytes(b"CREATE TABLE t (id int PRIMARY KEY);\n")
    (isolated / "ddl" / "2.sql").write_bytes(b"\xff\xfe\x00garbage")
    (isolated / "ddl" / "3.sql").write_bytes(b"CREATE TABLE ((((;\x85\n")
    (isolated / "q" / "1.sql").write_bytes(b"SELECT id FROM t WHERE id = 1;\n\xc3(")
    (isolated / "q" / "2.sql").write_text("SELECT FROM WHERE t id = (;\n", encoding="utf-8")
    code, out, err = run(main, [], capsys)
    assert err == ""
    assert all(FINDING.match(line) for line in out), out
    assert code in (0, 1)


SQL_WORDS = st.sampled_from(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "NULL",
        "IS",
        "IN",
        "LIKE",
        "JOIN",
        "ON",
        "GROUP",
        "BY",
        "ORDER",
        "OFFSET",
        "LIMIT",
        "GO",
        "UPDATE",
        "SET",
        "DELETE",
        "INSERT",
        "INTO",
        "VALUES",
        "CREATE",
        "INDEX",
        "TABLE",
        "DROP",
        "ALTER",
        "BEGIN",
        "END",
        "IF",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "DO",
        "$$",
        "$a$",
        "(",
        ")",
        "(",
        ")",
        ";",
        ";",
        ",",
        ".",
        "*",
        "=",
        "<",
        ">",
        "'",
        "''",
        '"',
        "[",
        "]",
        "--",
        "/*",
        "*/",
        "\n",
        "N'x'",
        "1",
        "2.5",
        "t",
        "a",
        "b",
        "NOLOCK",
        "CONCURRENTLY",
        "WITH",
        "ONLINE",
        "PRIMARY",
        "KEY",
        "UNIQUE",
        "CHECKSUM",
        "lower",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(SQL_WORDS, max_size=60), dialect=st.sampled_from(["postgres", "tsql"]))
def test_generated_sql_never_crashes(words: list[str], dialect: str) -> None:
    text = " ".join(words)
    findings, stats = lint_text(text, "gen.sql", dialect, REGISTRY)
    lines = text.count("\n") + 1
    for f in findings:
        assert 1 <= f.line <= lines
        assert f.col >= 1
    assert stats.statements == stats.ok + stats.skipped + stats.not_understood


EXAMPLES = sorted(FILES.glob("*.sql"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(EXAMPLES) - 1),
    cuts=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 40)), max_size=4),
    junk=st.text(max_size=20),
)
def test_mutated_examples_never_crash(index: int, cuts: list[tuple[int, int]], junk: str) -> None:
    path = EXAMPLES[index]
    text = path.read_text(encoding="utf-8")
    for position, length in cuts:
        position %= max(len(text), 1)
        text = text[:position] + junk + text[position + length :]
    dialect = "tsql" if path.stem.endswith("tsql") else "postgres"
    findings, _ = lint_text(text, path.name, dialect, REGISTRY)
    for f in findings:
        assert 1 <= f.line <= normalize_newlines(text).count("\n") + 1
        assert "crashed" not in f.message


DEEP = {
    "begin": "BEGIN\n" * 5000 + "SELECT a FROM t WHERE id = 1;\n" + "END\n" * 5000,
    "if_exists": "IF EXISTS (SELECT 1 FROM t WHERE id = 1) BEGIN\n" * 1000
    + "SELECT a FROM t WHERE id = 1;\n"
    + "END\n" * 1000,
}


@pytest.mark.parametrize("shape", sorted(DEEP))
@pytest.mark.parametrize("main", HOOKS)
def test_deeply_nested_tsql_blocks_are_not_understood_not_a_traceback(
    isolated: Path, capsys: pytest.CaptureFixture[str], main: object, shape: str
) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\ndefault-dialect = "mssql"\nddl = ["m/*.sql"]\nqueries = ["q/*.sql"]\n'
        '[[tool.pytest-cdc.reconciliation-tables]]\nname = "t"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    for folder in ("m", "q"):
        (isolated / folder).mkdir()
        (isolated / folder / "deep.sql").write_text(DEEP[shape], encoding="utf-8")
    (isolated / "m" / "V0.sql").write_text("CREATE TABLE t (id int PRIMARY KEY, a int);\n")
    code, out, err = run(main, ["q/deep.sql", "m/deep.sql"], capsys)
    assert err == ""
    assert code == 0, out  # a warning: the block is valid T-SQL
    assert any(
        "CDC000 not understood, not checked: IF/WHILE/BEGIN blocks nest deeper than 64 levels"
        in line
        for line in out
    ), out


def test_thousands_of_and_terms_in_a_reconciliation_query(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nddl = ["m/*.sql"]\nqueries = ["q/*.sql"]\n'
        '[[tool.pytest-cdc.reconciliation-tables]]\nname = "t"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    (isolated / "m").mkdir()
    (isolated / "q").mkdir()
    (isolated / "m" / "V1.sql").write_text("CREATE TABLE t (id int PRIMARY KEY, a int);\n")
    where = " AND ".join(f"id = {i}" for i in range(3000))
    (isolated / "q" / "q.sql").write_text(f"SELECT a FROM t WHERE {where};\n")
    code, out, err = run(index_coverage.main, [], capsys)
    assert (code, out, err) == (0, [], "")
