"""The catalog statements as text: SQL Server's parse with sqlglot's tsql dialect (they run
for real in the GitHub workflow, test_schema_mssql_live.py), PostgreSQL's with postgres."""

from __future__ import annotations

import pytest

from pytest_cdc.errors import UnsupportedDialect
from pytest_cdc.schema.catalog import flag
from pytest_cdc.schema.readers import reader_for

sqlglot = pytest.importorskip("sqlglot")


def statements(engine: str, paramstyle: str, count: int) -> list[str]:
    reader = reader_for(engine)
    found = [
        reader.session_sql,
        reader.schemas_sql,
        reader.columns_sql(paramstyle, count),
        reader.keys_sql(paramstyle, count),
    ]
    capture = reader.capture_sql(paramstyle, count)
    return found + ([capture] if capture else [])


@pytest.mark.parametrize("count", [1, 3])
def test_sql_server_statements_parse_as_tsql(count: int) -> None:
    found = statements("mssql", "qmark", count)
    assert len(found) == 5
    for sql in found:
        tree = sqlglot.parse_one(sql, read="tsql")
        assert isinstance(tree, sqlglot.exp.Select), sql
    columns = found[2]
    assert columns.count("?") == count
    tables = {
        t.name.lower() for t in sqlglot.parse_one(columns, read="tsql").find_all(sqlglot.exp.Table)
    }
    assert {"objects", "schemas", "columns", "types", "tables", "partitions"} <= tables
    keys = {
        t.name.lower() for t in sqlglot.parse_one(found[3], read="tsql").find_all(sqlglot.exp.Table)
    }
    assert {"indexes", "index_columns"} <= keys
    capture = {
        t.name.lower() for t in sqlglot.parse_one(found[4], read="tsql").find_all(sqlglot.exp.Table)
    }
    assert {"change_tables", "captured_columns"} <= capture


@pytest.mark.parametrize(("paramstyle", "mark"), [("pyformat", "%s"), ("qmark", "?")])
def test_postgres_statements_parse_and_bind_either_way(paramstyle: str, mark: str) -> None:
    found = statements("postgresql", paramstyle, 2)
    assert len(found) == 4  # PostgreSQL has no CDC catalog to read
    for sql in found:
        sqlglot.parse_one(sql.replace("%s", "'x'"), read="postgres")
    assert found[2].count(mark) == 2 and found[3].count(mark) == 2
    # psycopg2 reads every % as a placeholder: none may appear otherwise.
    assert all(sql.replace("%s", "").count("%") == 0 for sql in found)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(UnsupportedDialect, match="unknown dialect 'oracle'"):
        reader_for("oracle")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("1", True), ("0", False), ("t", True), ("f", False), (0, False)],
)
def test_catalog_booleans_from_any_driver(value: object, expected: bool) -> None:
    assert flag(value) is expected
