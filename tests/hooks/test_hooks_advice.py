"""cdc-sql-lint says what is true and advises what can work (issue 17).

No false positives on MERGE branches or partial-index predicates; no CONCURRENTLY advice where
PostgreSQL refuses it; CDC110 where CONCURRENTLY shares a file with other statements; names as
written; one finding per expression; an expression index where one would serve; warnings, not
errors, where the finding rests on DDL that was not understood.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_cdc_hooks.sql_lint import main


def lint(
    isolated: Path, capsys: pytest.CaptureFixture[str], sql: str, dialect: str = "postgres"
) -> list[str]:
    f = isolated / "q.sql"
    f.write_text(sql, encoding="utf-8")
    main(["--no-cache", "--dialect", dialect, str(f)])
    return [line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()]


def test_merge_branches_are_not_updates_without_where(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merge = (
        "MERGE dbo.customers AS t USING staging.customers AS s ON t.id = s.id\n"
        "WHEN MATCHED THEN UPDATE SET t.email = s.email\n"
        "WHEN NOT MATCHED BY SOURCE THEN DELETE\n"
        "WHEN NOT MATCHED THEN INSERT (id, email) VALUES (s.id, s.email);\n"
    )
    assert lint(isolated, capsys, merge, "mssql") == []
    # a plain UPDATE without WHERE is still reported
    assert [f.split()[0] for f in lint(isolated, capsys, "UPDATE dbo.t SET a = 1\n", "mssql")] == [
        "CDC102"
    ]


def test_a_partial_index_predicate_is_not_a_query_predicate(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE INDEX CONCURRENTLY ix_devices_name ON devices (friendly_name) "
        "WHERE trim(friendly_name) <> '';\n"
    )
    assert lint(isolated, capsys, sql) == []


def test_no_concurrently_advice_inside_a_do_block(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "DO $$\nBEGIN\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'ix_o_s') THEN\n"
        "    CREATE INDEX ix_o_s ON orders (status);\n"
        "  END IF;\n"
        "  DROP INDEX IF EXISTS ix_o_old;\n"
        "END $$;\n"
    )
    found = lint(isolated, capsys, sql)
    assert [f.split()[0] for f in found] == ["CDC106", "CDC106"]
    for finding in found:
        assert "use CREATE INDEX CONCURRENTLY" not in finding
        assert "use DROP INDEX CONCURRENTLY" not in finding
        assert "cannot run inside a DO block (a function): move it out of the block" in finding


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_o_r ON orders (region);",
        "DROP INDEX CONCURRENTLY IF EXISTS ix_o_r;",
        "REINDEX INDEX CONCURRENTLY ix_o_r;",
    ],
)
def test_concurrently_in_a_file_with_other_statements(
    isolated: Path, capsys: pytest.CaptureFixture[str], statement: str
) -> None:
    sql = f"ALTER TABLE orders ADD COLUMN region text;\n{statement}\n"
    found = lint(isolated, capsys, sql)
    assert [f.split()[0] for f in found] == ["CDC110"]
    assert found[0].startswith(f"CDC110 {' '.join(statement.split()[:2])} ... CONCURRENTLY")
    assert "this file has 1 other statement: under psql -1" in found[0]
    # alone (session settings and psql commands aside) it is fine, and T-SQL has no such rule
    alone = f"SET lock_timeout = '2s';\n\\set ON_ERROR_STOP on\n{statement}\n"
    assert lint(isolated, capsys, alone) == []


def test_functions_are_named_as_written(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT id FROM events WHERE date_trunc('day', created_at) = $1;\n"
    (found,) = lint(isolated, capsys, sql)
    assert found.startswith("CDC103 function date_trunc() on a column")
    assert "TIMESTAMP_TRUNC" not in found
    # not IMMUTABLE for every column type: no DDL PostgreSQL could refuse
    assert found.endswith("or index the expression (PostgreSQL needs it IMMUTABLE)")


def test_one_checksum_finding_per_expression(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = lint(isolated, capsys, "SELECT CHECKSUM_AGG(BINARY_CHECKSUM(*)) FROM dbo.t;\n", "tsql")
    assert len(found) == 1
    assert found[0].startswith("CDC108 CHECKSUM_AGG() collides easily")


def test_function_on_column_proposes_the_expression_index(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT c.id FROM crm.customers AS c WHERE lower(c.email) = $1;\n"
    (found,) = lint(isolated, capsys, sql)
    ddl = found.split("or index the expression: ", 1)[1]
    assert ddl.startswith('CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_customers_lower_email')
    assert ddl.endswith(' ON "crm"."customers" ((LOWER(email)))')


def test_expression_index_ddl_creates_and_serves_the_query(
    isolated: Path, capsys: pytest.CaptureFixture[str], admin: Any
) -> None:
    """The proposed DDL, run on the real server, makes the query use the index."""
    sql = "SELECT id FROM cdc_expr_customers WHERE lower(email) = 'a@b.c';\n"
    (found,) = lint(isolated, capsys, sql)
    ddl = found.split("or index the expression: ", 1)[1]
    with admin.cursor() as cur:
        cur.execute("CREATE TEMP TABLE cdc_expr_customers (id int, email text)")
        try:
            cur.execute(ddl)
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN " + sql.rstrip(";\n"))
            plan = "\n".join(row[0] for row in cur.fetchall())
        finally:
            cur.execute("RESET enable_seqscan")
            cur.execute("DROP TABLE cdc_expr_customers")
    assert "Index Cond: (lower(email) = " in plan, plan
    assert "ix_cdc_expr_customers_lower_email" in plan, plan


def test_index_on_a_table_whose_create_table_was_not_understood(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE TABLE purchasing.suppliers (\n"
        "  id int PRIMARY KEY,\n"
        "  phone varchar(20) MASKED WITH (FUNCTION = 'default()') NULL\n"
        ");\n"
        "CREATE INDEX ix_suppliers_phone ON purchasing.suppliers (phone);\n"
    )
    f = isolated / "q.sql"
    f.write_text(sql, encoding="utf-8")
    assert main(["--no-cache", "--dialect", "mssql", str(f)]) == 0  # warnings only
    found = [line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert [f.split()[0] for f in found] == ["CDC000", "CDC106"]
    assert found[1].endswith(
        "(uncertain: the CREATE TABLE at line 1 was not understood; if it creates this table, "
        "the index blocks nothing)"
    )


def test_the_plugin_assertion_proposes_the_expression_index_too(cdc_db: Any) -> None:
    """assert_no_table_scan on ``lower(email) = ...`` said "no index can be derived"; it now
    prints the expression index, and that index makes the assertion pass."""
    from _pytest.outcomes import Failed

    from pytest_cdc import assert_no_table_scan

    cdc_db.execute("CREATE TABLE people (id int PRIMARY KEY, email text)")
    cdc_db.execute(
        "INSERT INTO people SELECT g, 'p' || g || '@x.org' FROM generate_series(1, 50) g"
    )
    sql = "SELECT id FROM people WHERE lower(email) = %s"
    with pytest.raises(Failed) as info:
        assert_no_table_scan(cdc_db, sql, ("p1@x.org",))
    text = str(info.value)
    assert "no index can be derived" not in text
    ddl = next(line.strip() for line in text.splitlines() if "CREATE INDEX" in line)
    assert ddl.endswith('ON "people" ((LOWER(email)))')
    cdc_db.execute(ddl.replace("CONCURRENTLY ", ""))  # the test runs in a transaction
    assert_no_table_scan(cdc_db, sql, ("p1@x.org",))
