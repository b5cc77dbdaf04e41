"""Index recommendations for a reconciliation table, as DDL for both engines, applied live."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_cdc import (
    CdcConnection,
    assert_no_table_scan,
    generate_index_ddl,
    recommend_indexes_for_reconciliation,
)

Show = Callable[[str, str], None]
INCREMENTAL = "SELECT order_id FROM orders WHERE status = %s AND updated_at > %s"


def _recommendations() -> list:  # type: ignore[type-arg]
    return recommend_indexes_for_reconciliation(
        "orders",
        primary_keys=["order_id"],
        timestamp_column="updated_at",
        status_column="status",
        checksum_columns=["amount", "note"],
        active_filter="status <> 'cancelled'",
    )


def test_recommendations_as_ddl(show: Show) -> None:
    lines = []
    for rec in _recommendations():
        lines.append(f"-- {rec.kind}: {rec.reason} ({rec.estimated_impact})")
        lines.append(generate_index_ddl(rec, "postgresql") + ";")
        lines.append(generate_index_ddl(rec, "mssql", fillfactor=90) + ";")
    show("recommend_indexes_for_reconciliation('orders', ...)", "\n".join(lines))


def test_recommended_indexes_turn_the_assertion_green(cdc_db: CdcConnection) -> None:
    params = ("paid", "2026-01-03")
    with pytest.raises(pytest.fail.Exception):
        assert_no_table_scan(cdc_db, INCREMENTAL, params)
    for rec in _recommendations():
        # CONCURRENTLY cannot run inside the test's transaction; production DDL keeps it.
        cdc_db.execute(generate_index_ddl(rec, "postgresql", concurrently=False))
    assert_no_table_scan(cdc_db, INCREMENTAL, params)
