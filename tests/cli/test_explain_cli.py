"""``pytest-cdc explain`` says what the analysis API says, shows ``--buffers``, and explains
statements with ``$1`` parameters (issue 17: on a big sequential scan the API warned and
suggested an index while the CLI printed ``warnings: 0``; ``--buffers`` showed nothing; ``$1``
was "there is no parameter $1")."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from pytest_cdc.analysis import analyze_postgres_query
from pytest_cdc.cli import main


def _url(cdc_databases: dict[str, Any], name: str) -> str:
    if name not in cdc_databases:
        from helpers import other_pg_missing

        pytest.skip(other_pg_missing(name))
    handle = cdc_databases[name].prepare()
    return str(handle.url.raw)


@pytest.fixture(params=["default", "pg18"])
def pg_url(request: pytest.FixtureRequest, cdc_databases: dict[str, Any]) -> str:
    return _url(cdc_databases, request.param)


@pytest.fixture
def big_table(pg_url: str) -> Iterator[str]:
    """A committed, analysed table over the analysis's big-table line (10,000 rows)."""
    name = f"cli_big_{os.getpid()}"
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, customer int, note text)")
    cur.execute(f"INSERT INTO {name} SELECT g, g % 5000, 'n' FROM generate_series(1, 30000) g")
    cur.execute(f"ANALYZE {name}")
    try:
        yield name
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        conn.close()


def _api(url: str, sql: str) -> Any:
    conn = psycopg2.connect(url)
    try:
        return analyze_postgres_query(conn, sql, analyze=False, buffers=False)
    finally:
        conn.close()


def test_text_says_what_the_api_says(
    pg_url: str, big_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = f"SELECT * FROM {big_table} WHERE customer = 42"
    api = _api(pg_url, sql)
    assert api.warnings and api.suggested_indexes  # the API warns and suggests here
    assert main(["explain", "--db", pg_url, sql]) == 0
    out = capsys.readouterr().out
    assert f"warnings: {len(api.warnings)}\n" in out
    for warning in api.warnings:
        assert f"  {warning}\n" in out
    for ddl in api.suggested_indexes:
        assert f"missing index: {ddl}\n" in out
    assert "reads a table of about 30,000 rows" in out


def test_json_says_what_the_api_says(
    pg_url: str, big_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = f"SELECT * FROM {big_table} WHERE customer = 42"
    api = _api(pg_url, sql)
    assert main(["explain", "--db", pg_url, "--format", "json", sql]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["warnings"] == list(api.warnings)
    assert data["index_ddl"] == list(api.suggested_indexes)


def test_buffers_are_shown(pg_url: str, big_table: str, capsys: pytest.CaptureFixture[str]) -> None:
    sql = f"SELECT count(*) FROM {big_table}"
    assert main(["explain", "--db", pg_url, "--analyze", "--buffers", sql]) == 0
    out = capsys.readouterr().out
    scan = out.index(f"Seq Scan on {big_table}")
    assert "buffers: shared hit=" in out[scan:] or "buffers: shared read=" in out[scan:]
    assert "execution " in out
    assert main(["explain", "--db", pg_url, "--format", "json", "--analyze", "--buffers", sql]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]["statements"][0]["plan"]
    assert plan["children"][0]["buffers"]  # the scan's blocks, by kind
    # without --analyze only planning's blocks exist (PostgreSQL 13+)
    assert main(["explain", "--db", pg_url, "--buffers", f"SELECT * FROM {big_table}"]) == 0
    assert "  buffers: " not in capsys.readouterr().out


def test_placeholders_give_the_generic_plan(
    pg_url: str, big_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = f"SELECT * FROM {big_table} WHERE id = $1 AND customer > $2"
    assert main(["explain", "--db", pg_url, sql]) == 0
    out = capsys.readouterr().out
    assert f"Index Scan on {big_table} using {big_table}_pkey" in out
    conn = psycopg2.connect(pg_url)
    version = conn.server_version
    (note,) = [line for line in out.splitlines() if line.startswith("note: ")]
    if version >= 160000:
        assert note == "note: generic plan (EXPLAIN GENERIC_PLAN): $1..$2 unknown to the planner"
    else:  # what older servers get, in one line
        assert note == (
            f"note: generic plan: PostgreSQL {version // 10000} has no EXPLAIN GENERIC_PLAN"
            " (16+), so this is the plan PREPARE makes under plan_cache_mode ="
            " force_generic_plan; $1..$2 unknown to the planner"
        )
    with conn.cursor() as cur:  # nothing prepared is left behind
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cur.fetchone()[0] == 0
    conn.close()


def test_placeholders_with_analyze_is_one_line(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "--db", pg_url, "--analyze", "SELECT $1::int"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "pytest-cdc explain: error: the statement has parameters ($1) and ANALYZE runs it,"
        " which needs values for them: pass them as params, or explain without ANALYZE\n"
    )


def test_a_dollar_in_a_literal_or_name_is_no_parameter(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "--db", pg_url, "SELECT '$1' AS \"a$1\", $$ $2 $$"]) == 0
    assert "note:" not in capsys.readouterr().out
