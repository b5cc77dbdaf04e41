"""Query analysis and row counts against a real PostgreSQL, and on saved plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cdc.analysis import analyze_plan, analyze_postgres_query, row_count
from pytest_cdc.database import CdcConnection
from pytest_cdc.errors import CdcError
from pytest_cdc.plans.load import load_plan

HERE = Path(__file__).resolve().parent


def test_big_table_scan_warns_and_suggests_an_index(cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE big (id int PRIMARY KEY, grp int, v text)")
    cdc_db.execute("INSERT INTO big SELECT g, g % 50, 'x' FROM generate_series(1, 20000) g")
    cdc_db.execute("ANALYZE big")
    result = analyze_postgres_query(cdc_db, "SELECT * FROM big WHERE grp = %s", (3,))
    assert result.actual_rows == 400
    assert result.execution_time_ms is not None
    assert result.scan_types == ("Seq Scan on big",)
    assert "Seq Scan on big reads a table of about 20,000 rows" in result.warnings
    assert result.suggested_indexes == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_big_grp" ON "big" ("grp")',
    )
    assert "warning: Seq Scan on big" in str(result)
    small = analyze_postgres_query(
        cdc_db, "SELECT * FROM big WHERE grp = %s", (3,), big_table_rows=50_000
    )
    assert small.ok


def test_misestimate_and_disk_sort_are_reported(cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE skew (id int, grp int)")
    cdc_db.execute("INSERT INTO skew SELECT g, g FROM generate_series(1, 100) g")
    cdc_db.execute("ANALYZE skew")
    # rows the statistics have never seen: the planner expects about one of them
    cdc_db.execute("INSERT INTO skew SELECT g, 0 FROM generate_series(1, 20000) g")
    cdc_db.execute("SET LOCAL work_mem = '64kB'")
    result = analyze_postgres_query(cdc_db, "SELECT * FROM skew WHERE grp = 0 ORDER BY id")
    assert any(w.startswith("row estimate off by") for w in result.warnings)
    assert any(w.startswith("sort spilled to disk") for w in result.warnings)
    assert result.to_dict()["actual_rows"] == 20000


def test_join_types_reported(cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    cdc_db.execute("CREATE TABLE b (id int PRIMARY KEY, a_id int)")
    result = analyze_postgres_query(
        cdc_db, "SELECT * FROM a JOIN b ON b.a_id = a.id", analyze=False
    )
    assert result.join_types
    assert result.actual_rows is None


def test_row_count_uses_statistics_and_falls_back_to_exact(cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE counted (id int)")
    cdc_db.execute("INSERT INTO counted SELECT generate_series(1, 120)")
    # never analyzed: reltuples is -1, so the count is exact
    assert row_count(cdc_db, "counted") == 120
    cdc_db.execute("ANALYZE counted")
    cdc_db.execute("INSERT INTO counted SELECT generate_series(1, 80)")
    assert row_count(cdc_db, "counted") == 120  # statistics, now stale
    assert row_count(cdc_db, "counted", exact=True) == 200


def test_row_count_of_partitioned_table_sums_partitions(cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE parted (id int) PARTITION BY RANGE (id)")
    cdc_db.execute("CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (100)")
    cdc_db.execute("CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (100) TO (200)")
    cdc_db.execute("INSERT INTO parted SELECT generate_series(0, 149)")
    cdc_db.execute("ANALYZE parted")
    assert row_count(cdc_db, "parted") == 150
    assert row_count(cdc_db, '"public"."parted"', exact=True) == 150


def test_row_count_unknown_table(cdc_db: CdcConnection) -> None:
    with pytest.raises(CdcError, match="table 'nope' does not exist"):
        row_count(cdc_db, "nope")


def test_saved_showplan_analysis() -> None:
    scan = analyze_plan(load_plan(HERE / "ok_mssql_table_scan.sqlplan"))
    assert "Table Scan on dbo.Change Log reads a table of about 250,000 rows" in scan.warnings
    assert "missing index on dbo.Change Log (98.5% impact)" in scan.warnings
    assert any(w.startswith("implicit conversion") for w in scan.warnings)
    assert scan.suggested_indexes[0].startswith("CREATE NONCLUSTERED INDEX")
    lookup = analyze_plan(load_plan(HERE / "ok_mssql_seek_lookup.sqlplan"))
    assert any(w.startswith("Key Lookup on dbo.Orders") for w in lookup.warnings)
    actual = analyze_plan(load_plan(HERE / "ok_mssql_columnstore_actual.sqlplan"))
    assert actual.execution_time_ms == 42
    assert any("spill to tempdb" in w for w in actual.warnings)
    assert any("Clustered Index Scan (columnstore)" in s for s in actual.scan_types)
