"""``pytest-cdc explain | plan | recommend-indexes | row-count`` through ``main([...])``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlglot

from pytest_cdc.cli import main

HERE = Path(__file__).resolve().parents[1] / "plans"
SHOWPLANS = Path(__file__).resolve().parents[2] / ".." / "shared" / "showplans"


@pytest.fixture
def pg_url(cdc_databases: dict[str, Any]) -> str:
    handle = cdc_databases["default"].prepare()
    if handle.url is None or handle.url.scheme != "postgresql":
        pytest.skip("needs the default cdc database to be PostgreSQL")
    return str(handle.url.raw)


@pytest.fixture
def committed_table(pg_url: str) -> Iterator[str]:
    """A table the CLI's own connection can see (the test transaction would hide it)."""
    name = f"cli_items_{os.getpid()}"  # xdist workers may share one server
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, sku text)")
    cur.execute(f"INSERT INTO {name} SELECT g, 's' || g FROM generate_series(1, 300) g")
    try:
        yield name
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        conn.close()


def test_plan_text_lists_scans_seeks_lookups(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            str(HERE / "ok_mssql_seek_lookup.sqlplan"),
            str(HERE / "ok_mssql_table_scan.sqlplan"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "seeks: 1\n  Index Seek on dbo.Orders using IX_Orders_CustomerId" in out
    assert "lookups: 1\n  Key Lookup on dbo.Orders using PK_Orders" in out
    assert ">> Table Scan on dbo.Change Log" in out
    assert "missing index: CREATE NONCLUSTERED INDEX" in out


def test_plan_fail_on_scan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--fail-on-scan", str(HERE / "ok_mssql_seek_lookup.sqlplan")]) == 0
    assert main(["plan", "--fail-on-scan", str(HERE / "ok_pg_seq_scan.json")]) == 1
    capsys.readouterr()


def test_plan_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "plan",
                "--format",
                "json",
                str(HERE / "ok_mssql_table_scan.sqlplan"),
                str(HERE / "ok_pg_parallel_partitions.json"),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [d["dialect"] for d in data] == ["mssql", "postgresql"]
    assert data[0]["scans"] == ["Table Scan on dbo.Change Log"]
    assert data[0]["missing_indexes"][0]["equality"] == ["Status"]
    sqlglot.parse_one(data[0]["index_ddl"][0], read="tsql")
    assert data[1]["scans"] == [
        "Parallel Seq Scan on events_2024 events_1",
        "Parallel Seq Scan on events_2025 events_2",
    ]


@pytest.mark.parametrize("name", ["bad_doctype.sqlplan", "bad_truncated.json", "missing.sqlplan"])
def test_plan_bad_file_one_line_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(HERE / name), str(HERE / "ok_mssql_seek_lookup.sqlplan")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("pytest-cdc plan: error: plan file")
    assert "Traceback" not in captured.err
    assert "Index Seek" in captured.out  # the good file is still reported


def test_plan_on_real_showplans(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SHOWPLANS.glob("*") if p.suffix in (".sqlplan", ".xml"))
    if not files:
        pytest.skip(f"real showplans not present beside the repo ({SHOWPLANS})")
    assert main(["plan", "--format", "json", "--fail-on-scan", *files]) == 1
    data = json.loads(capsys.readouterr().out)
    by_name = {Path(d["file"]).name: d for d in data}
    assert by_name["html-query-plan__KeyLookup.sqlplan"]["scans"] == []
    assert len(by_name["sqltoolsservice__TestShowPlanRecommendations.xml"]["missing_indexes"]) == 3


@pytest.mark.parametrize(("dialect", "read"), [("postgresql", "postgres"), ("mssql", "tsql")])
def test_recommend_indexes_prints_parseable_ddl(
    dialect: str, read: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "recommend-indexes",
            "--table",
            "sales.orders",
            "--key",
            "tenant,id",
            "--timestamp",
            "updated_at",
            "--status",
            "status",
            "--checksum-columns",
            "amount,note",
            "--active-filter",
            "deleted = false",
            "--dialect",
            dialect,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    statements = [line for line in out.splitlines() if line.startswith("CREATE")]
    # --key is the table's primary key: its index is not proposed again (issue 17)
    assert len(statements) == 4
    assert not any(s.startswith("CREATE UNIQUE") for s in statements)
    for statement in statements:
        assert sqlglot.parse_one(statement.rstrip(";"), read=read)
    assert "-- status_timestamp:" in out


def test_recommend_indexes_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "recommend-indexes",
                "--table",
                "t",
                "--key",
                "id",
                "--dialect",
                "postgresql",
                "--format",
                "json",
                "--no-concurrently",
                "--no-primary-key",
            ]
        )
        == 0
    )
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["kind"] == "primary_key"
    assert rec["ddl"] == 'CREATE UNIQUE INDEX IF NOT EXISTS "ux_t_id" ON "t" ("id")'


def test_explain_live(
    pg_url: str, committed_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = f"SELECT * FROM {committed_table} WHERE sku = 's1'"
    assert main(["explain", "--db", pg_url, sql]) == 0
    assert f">> Seq Scan on {committed_table}" in capsys.readouterr().out
    assert main(["explain", "--db", pg_url, "--fail-on-scan", sql]) == 1
    capsys.readouterr()
    assert (
        main(
            [
                "explain",
                "--db",
                pg_url,
                "--format",
                "json",
                "--analyze",
                f"SELECT * FROM {committed_table} WHERE id = 5",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["scans"] == []
    assert data["plan"]["actual"] is True


def test_row_count_live(
    pg_url: str, committed_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["row-count", "--db", pg_url, "--table", committed_table, "--exact"]) == 0
    assert capsys.readouterr().out.strip() == "300"
    assert main(["row-count", "--db", pg_url, "--table", "no_such_table"]) == 2
    assert "table 'no_such_table' does not exist" in capsys.readouterr().err


def test_unreachable_database_one_line_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", "--db", "postgresql://u:secret-placeholder2@127.0.0.1:1/x", "SELECT 1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "is not reachable" in err
    assert "secret-placeholder2" not in err


def test_bad_sql_one_line(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--db", pg_url, "SELEC 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-cdc explain: error: cannot explain the statement: syntax error")
