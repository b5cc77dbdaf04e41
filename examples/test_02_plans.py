"""Plan assertions on PostgreSQL: no table scans, index use, cost bounds, query counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_cdc import (
    CdcConnection,
    analyze_postgres_query,
    assert_no_table_scan,
    assert_plan,
    assert_uses_index,
    explain,
)
from pytest_cdc.plans.render import render_plan

Show = Callable[[str, str], None]


def test_lookup_by_key_can_use_an_index(cdc_db: CdcConnection) -> None:
    assert_no_table_scan(cdc_db, "SELECT status FROM orders WHERE order_id = %s", (42,))
    assert_uses_index(
        cdc_db, "SELECT status FROM orders WHERE order_id = %s", (42,), index="orders_pkey"
    )


def test_cost_and_rows_are_bounded(cdc_db: CdcConnection) -> None:
    assert_plan(cdc_db, "SELECT * FROM orders WHERE order_id BETWEEN 1 AND 10", max_rows=50)


def test_what_a_scan_failure_looks_like(cdc_db: CdcConnection, show: Show) -> None:
    """A reconciliation query with no index behind it: the failure names the scan, shows the
    plan, and gives the CREATE INDEX that would serve it."""
    with pytest.raises(pytest.fail.Exception) as failure:
        assert_no_table_scan(
            cdc_db,
            "SELECT order_id FROM orders WHERE status = %s AND updated_at > %s",
            ("paid", "2026-01-03"),
        )
    show("assert_no_table_scan failure", str(failure.value))


def test_explain_and_analysis(cdc_db: CdcConnection, show: Show) -> None:
    plan = explain(cdc_db, "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id")
    show("explain", render_plan(plan, marked=lambda node: node.is_scan))
    analysis = analyze_postgres_query(cdc_db, "SELECT * FROM orders WHERE note LIKE %s", ("%7",))
    show("analyze_postgres_query", str(analysis))


@pytest.mark.cdc_no_table_scan
def test_marker_checks_every_statement(cdc_db: CdcConnection) -> None:
    """Every statement this test runs through cdc connections must be index-servable."""
    cdc_db.fetchall("SELECT * FROM orders WHERE order_id = %s", (7,))
    cdc_db.execute("UPDATE orders SET note = 'x' WHERE order_id = %s", (7,))


def test_query_count(
    cdc_db: CdcConnection, cdc_assert_num_queries: Callable[..., object], show: Show
) -> None:
    with cdc_assert_num_queries(2) as queries:  # type: ignore[attr-defined]
        cdc_db.fetchval("SELECT count(*) FROM orders")
        cdc_db.fetchval("SELECT max(updated_at) FROM orders")
    show("recorded queries", "\n".join(str(q) for q in queries))


def test_plan_snapshots_catch_a_plan_that_got_worse(
    cdc_db: CdcConnection, cdc_plan_snapshot: Any
) -> None:
    """The first run recorded these plans' shapes in __cdc_plans__/test_02_plans.json (committed
    beside this file); every later run compares, and a plan that changes fails the test with
    both trees side by side (--cdc-plan-update accepts the new one)."""
    cdc_plan_snapshot(cdc_db, "SELECT status FROM orders WHERE order_id = %s", (42,))
    cdc_plan_snapshot(cdc_db, "SELECT count(*) FROM orders WHERE customer_id = 7", mode="planner")
