"""Plan assertions against a real PostgreSQL (the cdc_db fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from pytest_cdc.asserts import (
    PlanError,
    assert_no_table_scan,
    assert_plan,
    assert_uses_index,
    explain,
)
from pytest_cdc.database import CdcConnection
from pytest_cdc.errors import ConfigError
from pytest_cdc.indexes import (
    generate_index_ddl,
    index_name,
    recommend_indexes_for_reconciliation,
)

Failed = pytest.fail.Exception


@pytest.fixture
def orders(cdc_db: CdcConnection) -> CdcConnection:
    cdc_db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL,"
        " updated_at timestamptz NOT NULL, amount numeric, note text)"
    )
    cdc_db.execute(
        "INSERT INTO orders SELECT g, CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END,"
        " now() - g * interval '1 minute', g, 'n' FROM generate_series(1, 50) g"
    )
    return cdc_db


@pytest.fixture
def side_conn(cdc_db: CdcConnection) -> Iterator[Any]:
    """A second raw psycopg2 connection to the same database, for transaction-state tests."""
    conn = psycopg2.connect(cdc_db.raw.dsn)
    try:
        yield conn
    finally:
        conn.close()


def _fail_text(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


def test_scan_fails_with_tree_and_derived_index(orders: CdcConnection) -> None:
    sql = "SELECT id FROM orders WHERE updated_at > %s AND status = %s"
    with pytest.raises(Failed) as info:
        assert_no_table_scan(orders, sql, ("2020-01-01", "open"))
    text = _fail_text(info)
    assert text.startswith("table scan: Seq Scan on orders (no index can serve it)")
    assert ">> Seq Scan on orders" in text
    assert "rows=" in text
    assert "cost=" in text
    # equality column first, then the range column
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_orders_status_updated_at"' in text
    assert 'ON "orders" ("status", "updated_at")' in text


def test_primary_key_lookup_passes_even_on_a_tiny_table(orders: CdcConnection) -> None:
    plan = assert_no_table_scan(orders, "SELECT * FROM orders WHERE id = %s", (7,))
    assert "orders_pkey" in plan.indexes()


def test_caller_transaction_and_settings_are_untouched(orders: CdcConnection) -> None:
    orders.execute("SET LOCAL work_mem = '7MB'")
    with pytest.raises(Failed):
        assert_no_table_scan(orders, "SELECT * FROM orders WHERE note = 'n'")
    assert orders.raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    assert orders.fetchval("SHOW enable_seqscan") == "on"
    assert orders.fetchval("SHOW work_mem") == "7MB"
    assert orders.fetchval("SELECT count(*) FROM orders") == 50


def test_not_recorded_by_cdc_queries(orders: CdcConnection, cdc_queries: Any) -> None:
    cdc_queries.clear()
    assert_no_table_scan(orders, "SELECT * FROM orders WHERE id = 1")
    explain(orders, "SELECT * FROM orders")
    assert len(cdc_queries) == 0


def test_tables_and_allow_limit_the_check(orders: CdcConnection) -> None:
    orders.execute("CREATE TABLE statuses (code text PRIMARY KEY, label text)")
    sql = "SELECT * FROM orders o JOIN statuses s ON s.label = o.note WHERE o.id = 3"
    with pytest.raises(Failed, match="Seq Scan on statuses"):
        assert_no_table_scan(orders, sql)
    assert_no_table_scan(orders, sql, allow=["statuses"])
    assert_no_table_scan(orders, sql, tables="orders")
    with pytest.raises(Failed, match="statuses"):
        assert_no_table_scan(orders, sql, tables=["public.statuses"])


def test_planner_mode_reports_what_the_planner_chooses(orders: CdcConnection) -> None:
    orders.execute("CREATE INDEX ix_orders_status ON orders (status)")
    orders.execute("ANALYZE orders")
    sql = "SELECT * FROM orders WHERE status = 'done'"
    assert_no_table_scan(orders, sql)  # an index can serve it...
    with pytest.raises(Failed, match="the planner chose it with current statistics"):
        assert_no_table_scan(orders, sql, mode="planner")  # ...but 90% of 50 rows is a scan


def test_order_by_without_filter_is_a_full_index_scan(orders: CdcConnection) -> None:
    with pytest.raises(Failed) as info:
        assert_no_table_scan(orders, "SELECT * FROM orders ORDER BY id")
    assert "full index scan of 'orders_pkey'" in _fail_text(info)
    assert "no index can be derived" in _fail_text(info)
    assert_no_table_scan(orders, "SELECT * FROM orders ORDER BY id LIMIT 5")


def test_unknown_mode_is_a_config_error(orders: CdcConnection) -> None:
    with pytest.raises(ConfigError, match="unknown plan mode 'fast'"):
        assert_no_table_scan(orders, "SELECT 1", mode="fast")  # type: ignore[arg-type]


def test_partitions_are_reported_as_the_parent(cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE events (id int, kind int, at date) PARTITION BY RANGE (at)")
    cdc_db.execute(
        "CREATE TABLE events_2024 PARTITION OF events"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    )
    cdc_db.execute(
        "CREATE TABLE events_2025 PARTITION OF events"
        " FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
    )
    plan = explain(cdc_db, "SELECT * FROM events WHERE kind = 3")
    assert {(n.relation, n.partition) for n in plan.scans()} == {
        ("events", "events_2024"),
        ("events", "events_2025"),
    }
    with pytest.raises(Failed) as info:
        assert_no_table_scan(cdc_db, "SELECT * FROM events WHERE kind = 3")
    assert "Seq Scan on events (partition events_2024)" in _fail_text(info)
    assert 'ON "events" ("kind")' in _fail_text(info)
    assert_no_table_scan(cdc_db, "SELECT * FROM events WHERE kind = 3", allow="events")
    # pruned to one partition: still named by its parent
    single = explain(cdc_db, "SELECT * FROM events WHERE at = '2024-05-01'")
    assert [n.relation for n in single.scans()] == ["events"]


def test_explain_analyze_of_a_write_is_rolled_back(orders: CdcConnection) -> None:
    plan = explain(orders, "DELETE FROM orders WHERE id <= 10", analyze=True, buffers=True)
    assert plan.actual
    assert plan.statements[0].statement_type == "DELETE"
    assert plan.execution_time_ms is not None
    assert orders.fetchval("SELECT count(*) FROM orders") == 50


def test_autocommit_connection_is_left_idle(side_conn: Any) -> None:
    side_conn.autocommit = True
    cur = side_conn.cursor()
    cur.execute("CREATE TEMP TABLE t_auto (a int, b int)")
    with pytest.raises(Failed, match="Seq Scan on t_auto"):
        assert_no_table_scan(side_conn, "SELECT * FROM t_auto WHERE b = %s", (1,))
    assert side_conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    cur.execute("SHOW enable_seqscan")
    assert cur.fetchone()[0] == "on"


def test_idle_manual_commit_connection_stays_idle(side_conn: Any) -> None:
    side_conn.autocommit = False
    plan = explain(side_conn, "SELECT relname FROM pg_class WHERE oid = %s", (1259,))
    assert plan.root is not None
    assert side_conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    assert side_conn.autocommit is False
    with pytest.raises(Failed, match="Seq Scan on pg_class"):
        assert_no_table_scan(side_conn, "SELECT * FROM pg_class WHERE relpages = 0")
    assert side_conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    cur = side_conn.cursor()
    cur.execute("SHOW enable_seqscan")
    assert cur.fetchone()[0] == "on"
    side_conn.rollback()


def test_explain_analyze_on_idle_connections_rolls_back(side_conn: Any) -> None:
    side_conn.autocommit = True
    cur = side_conn.cursor()
    cur.execute("CREATE TEMP TABLE t_idle (a int)")
    cur.execute("INSERT INTO t_idle SELECT generate_series(1, 5)")
    for autocommit in (True, False):
        side_conn.autocommit = autocommit
        plan = explain(side_conn, "DELETE FROM t_idle", analyze=True)
        assert plan.actual_rows == 0  # ModifyTable returns no rows...
        side_conn.autocommit = True
        cur.execute("SELECT count(*) FROM t_idle")
        assert cur.fetchone()[0] == 5  # ...and what it deleted came back


def test_aborted_transaction_is_reported_not_hidden(side_conn: Any) -> None:
    cur = side_conn.cursor()
    with pytest.raises(psycopg2.Error):
        cur.execute("SELECT 1/0")
    with pytest.raises(PlanError, match="transaction is aborted"):
        explain(side_conn, "SELECT 1")
    side_conn.rollback()


def test_assert_uses_index(orders: CdcConnection) -> None:
    orders.execute("CREATE INDEX ix_orders_updated ON orders (updated_at)")
    assert_uses_index(
        orders, "SELECT id FROM orders WHERE updated_at > now()", index="ix_orders_updated"
    )
    with pytest.raises(Failed) as info:
        assert_uses_index(orders, "SELECT id FROM orders WHERE id = 1", index="ix_orders_updated")
    assert "index 'ix_orders_updated' is not used; indexes in the plan: orders_pkey" in str(
        info.value
    )


def test_assert_plan_limits(orders: CdcConnection) -> None:
    orders.execute("ANALYZE orders")
    assert_plan(orders, "SELECT * FROM orders WHERE id = 1", max_rows=1, max_cost=100)
    with pytest.raises(Failed, match=r"Seq Scan on orders handles 50 estimated rows > max_rows 10"):
        assert_plan(orders, "SELECT * FROM orders", max_rows=10)
    with pytest.raises(Failed, match=r"estimated cost .* > max_cost 0\.001"):
        assert_plan(orders, "SELECT * FROM orders", max_cost=0.001)
    with pytest.raises(Failed, match="actual rows"):
        assert_plan(orders, "SELECT * FROM orders WHERE status = 'done'", max_rows=5, analyze=True)
    with pytest.raises(ConfigError):
        assert_plan(orders, "SELECT 1")


def test_recommended_indexes_turn_failing_assertions_into_passing(cdc_db: CdcConnection) -> None:
    """End to end: the reconciliation queries scan until the recommended indexes exist."""
    cdc_db.execute(
        'CREATE TABLE "Sync Items" (tenant int, item_id bigint, status text, changed_at'
        " timestamptz, payload text, checksum text, deleted boolean NOT NULL DEFAULT false)"
    )
    cdc_db.execute(
        "INSERT INTO \"Sync Items\" SELECT g % 3, g, 'open', now(), 'p', md5(g::text), false"
        " FROM generate_series(1, 200) g"
    )
    queries = [
        ('SELECT * FROM "Sync Items" WHERE tenant = %s AND item_id = %s', (1, 4)),
        ('SELECT item_id FROM "Sync Items" WHERE changed_at > %s', ("2024-01-01",)),
        (
            'SELECT item_id FROM "Sync Items" WHERE status = %s AND changed_at > %s',
            ("open", "2024-01-01"),
        ),
    ]
    for sql, params in queries:
        with pytest.raises(Failed, match="CREATE INDEX"):
            assert_no_table_scan(cdc_db, sql, params)
    recs = recommend_indexes_for_reconciliation(
        "Sync Items",
        ["tenant", "item_id"],
        timestamp_column="changed_at",
        status_column="status",
        checksum_columns=["checksum"],
        active_filter="NOT deleted",
    )
    for rec in recs:
        # CONCURRENTLY cannot run in the test's transaction; the rest of the DDL is the same.
        cdc_db.execute(generate_index_ddl(rec, "postgresql", concurrently=False))
    for sql, params in queries:
        assert_no_table_scan(cdc_db, sql, params)
    partial = recs[-1]
    assert partial.kind == "active_partial"
    assert_uses_index(
        cdc_db,
        'SELECT item_id FROM "Sync Items" WHERE changed_at > now() AND NOT deleted',
        index=index_name(partial, "postgresql"),
    )


def test_pyodbc_connection_to_postgresql(cdc_databases: dict[str, Any]) -> None:
    """The same helpers through psqlODBC: qmark parameters, JSON plans arriving as text."""
    pyodbc = pytest.importorskip("pyodbc")
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        pytest.skip("needs the psqlODBC driver 'PostgreSQL Unicode' (Debian: odbc-postgresql)")
    from pytest_cdc.dialects import get_dialect, parse_url

    url = cdc_databases["default"].prepare().url
    assert url is not None
    odbc_url = parse_url("postgresql+odbc" + url.raw[url.raw.index("://") :])
    conn = get_dialect("postgresql").connect(odbc_url)
    try:
        conn.autocommit = False
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE odbc_items (id int PRIMARY KEY, v text)")
        cur.execute("INSERT INTO odbc_items VALUES (1, 'a')")
        assert_no_table_scan(conn, "SELECT * FROM odbc_items WHERE id = ?", (1,))
        with pytest.raises(Failed, match="Seq Scan on odbc_items"):
            assert_no_table_scan(conn, "SELECT * FROM odbc_items WHERE v = ?", ("a",))
        cur.execute("SHOW enable_seqscan")
        assert cur.fetchone()[0] == "on"
        cur.execute("SELECT count(*) FROM odbc_items")
        assert cur.fetchone()[0] == 1  # the caller's uncommitted insert survived
    finally:
        conn.rollback()
        conn.close()


def test_syntax_error_leaves_the_caller_transaction_usable(orders: CdcConnection) -> None:
    with pytest.raises(psycopg2.errors.SyntaxError):
        assert_no_table_scan(orders, "SELEC * FROM orders")
    with pytest.raises(psycopg2.errors.UndefinedTable):
        explain(orders, "SELECT * FROM no_such_table", analyze=True)
    assert orders.raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    assert orders.fetchval("SELECT count(*) FROM orders") == 50


def test_syntax_error_on_idle_connections(side_conn: Any) -> None:
    for autocommit in (True, False):
        side_conn.autocommit = autocommit
        for analyze in (False, True):
            with pytest.raises(psycopg2.errors.SyntaxError):
                explain(side_conn, "SELEC 1", analyze=analyze)
            assert side_conn.info.transaction_status == (
                psycopg2.extensions.TRANSACTION_STATUS_IDLE
            )
            assert side_conn.autocommit is autocommit
