"""Source and target checksums, computed inside each database; on mismatch, the exact rows.

Both sides are embedded PostgreSQL clusters here (`source` and `target` in pytest.ini). With a
SQL Server source the same call runs the T-SQL shown in the last demo on the source side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_cdc import (
    CdcConnection,
    assert_checksums_match,
    assert_row_counts_match,
    reconcile,
)

Show = Callable[[str, str], None]


def test_replica_matches(cdc_source: CdcConnection, cdc_target: CdcConnection) -> None:
    assert_row_counts_match(cdc_source, cdc_target, table="orders")
    report = assert_checksums_match(cdc_source, cdc_target, table="orders", key="order_id")
    assert report.equal and report.source_rows == 500


def _break_the_replica(target: CdcConnection) -> None:
    target.execute("DELETE FROM orders WHERE order_id = 17")  # a lost delete... of an insert
    target.execute("INSERT INTO orders VALUES (9001, 1, 'new', now(), 1.00, 'ghost')")
    target.execute("UPDATE orders SET amount = amount + 0.01, note = '' WHERE order_id = 250")


def test_what_a_mismatch_report_looks_like(
    cdc_source: CdcConnection, cdc_target: CdcConnection, show: Show, report_dir: Path
) -> None:
    _break_the_replica(cdc_target)
    report = reconcile(cdc_source, cdc_target, table="orders", key="order_id")
    assert (report.missing_count, report.extra_count, report.changed_count) == (1, 1, 1)
    show("reconcile report (text)", report.to_text())
    path = report_dir / "reconcile.json"
    path.write_text(report.to_json())
    show(
        f"reconcile report (JSON, also written to {path.relative_to(Path.cwd())})",
        report.to_json()[:1500] + "\n...",
    )
    with pytest.raises(pytest.fail.Exception) as failure:
        assert_checksums_match(cdc_source, cdc_target, table="orders", key="order_id")
    show("assert_checksums_match failure", str(failure.value))


def test_replication_lag_window_and_column_subset(
    cdc_source: CdcConnection, cdc_target: CdcConnection
) -> None:
    """Rows younger than the replication lag are left out; only some columns are compared."""
    cdc_target.execute("UPDATE orders SET note = 'late' WHERE order_id = 500")
    assert_checksums_match(
        cdc_source,
        cdc_target,
        table="orders",
        key="order_id",
        columns=["status", "amount", "note"],
        where="updated_at < timestamptz '2026-01-06 00:00:00+00'",
    )


def test_the_tsql_a_sql_server_source_runs(show: Show) -> None:
    from pytest_cdc.checksums.encoding import Column, ColumnPair
    from pytest_cdc.checksums.sqlgen import TableRef
    from pytest_cdc.dialects.mssql.checksum import TYPE_CLASSES, TsqlGenerator

    def pair(name: str, data_type: str, key: bool = False) -> ColumnPair:
        col = Column(name, data_type, TYPE_CLASSES[data_type])
        return ColumnPair(col, col, col.type_class, is_key=key)

    keys = [pair("order_id", "bigint", key=True)]
    columns = [
        *keys,
        pair("status", "nvarchar"),
        pair("updated_at", "datetime2"),
        pair("amount", "decimal"),
    ]
    gen, table, bounds = TsqlGenerator(), TableRef("dbo", "orders"), [["100"], ["200"], ["300"]]
    # An indexed bigint key: the ordered aggregation, one MD5 a segment (docs/checksum.md §4).
    show(
        "T-SQL: one pass, row count and MD5 of the rows in key order per segment",
        gen.digest_query(table, keys, columns, "source", bounds),
    )
    # Any other key: the additive sums of per-row hashes.
    show(
        "T-SQL for keys without such an index: row count and exact 64-bit MD5 sum per segment",
        gen.checksum_query(table, keys, columns, "source", bounds),
    )
