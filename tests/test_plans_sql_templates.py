"""scripts/sql PostgreSQL templates, run for real (psql and the test database); the SQL Server
ones are parsed in test_plans_tsql.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from pytest_cdc.database import CdcConnection

SQL_DIR = Path(__file__).resolve().parents[1] / "scripts" / "sql"
@pytest.fixture
def pg_url(cdc_databases: dict[str, Any]) -> str:
    url = cdc_databases["default"].prepare().url
    assert url is not None
    return str(url.raw)


@pytest.fixture
def committed_orders(pg_url: str) -> Iterator[Any]:
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS tpl_orders")
    cur.execute("CREATE TABLE tpl_orders (id int, updated_at timestamptz, status text,"
                " amount numeric, note text, deleted boolean)")
    try:
        yield cur
    finally:
        cur.execute("DROP TABLE IF EXISTS tpl_orders")
        conn.close()


def test_postgresql_reconciliation_template_runs_in_psql(
        pg_url: str, committed_orders: Any) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("needs the psql client on PATH")
    args = [psql, pg_url, "-v", "ON_ERROR_STOP=1", "-q",
            "-v", "schema=public", "-v", "table=tpl_orders", "-v", "key=id",
            "-v", "ts=updated_at", "-v", "status=status", "-v", "checksum_cols=amount, note",
            "-v", "active=deleted = false",
            "-f", str(SQL_DIR / "postgresql_reconciliation_indexes.sql")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    committed_orders.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'tpl_orders' ORDER BY 1")
    assert [r[0] for r in committed_orders.fetchall()] == [
        "ix_tpl_orders_id_incl", "ix_tpl_orders_status_updated_at",
        "ix_tpl_orders_updated_at", "ix_tpl_orders_updated_at_active", "ux_tpl_orders_id"]


@pytest.mark.parametrize(
    "name", ["postgresql_index_usage.sql", "postgresql_bloat.sql",
             "postgresql_stats_freshness.sql"])
def test_postgresql_maintenance_queries_run(name: str, cdc_db: CdcConnection) -> None:
    cdc_db.execute("CREATE TABLE maint (id int PRIMARY KEY, v text)")
    cdc_db.execute("INSERT INTO maint SELECT g, 'x' FROM generate_series(1, 10) g")
    text = (SQL_DIR / name).read_text().replace(":'schema'", "'public'")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [s for s in text.split(";") if re.search(r"^\s*SELECT", s, re.M)]
    assert statements
    for statement in statements:
        cdc_db.fetchall(statement)
