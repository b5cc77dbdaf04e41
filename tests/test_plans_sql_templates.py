"""scripts/sql PostgreSQL templates, run for real (psql and the test database); the SQL Server
ones are parsed in test_plans_tsql.py."""

from __future__ import annotations

import os
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
TABLE = f"tpl_orders_{os.getpid()}"  # xdist workers may share one server
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
    cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
    cur.execute(f"CREATE TABLE {TABLE} (id int, updated_at timestamptz, status text,"
                " amount numeric, note text, deleted boolean)")
    try:
        yield cur
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.close()


def test_postgresql_reconciliation_template_runs_in_psql(
        pg_url: str, committed_orders: Any) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("needs the psql client on PATH")
    args = [psql, pg_url, "-v", "ON_ERROR_STOP=1", "-q",
            "-v", "schema=public", "-v", f"table={TABLE}", "-v", "key=id",
            "-v", "ts=updated_at", "-v", "status=status", "-v", "checksum_cols=amount, note",
            "-v", "active=deleted = false",
            "-f", str(SQL_DIR / "postgresql_reconciliation_indexes.sql")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    committed_orders.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", (TABLE,))
    assert [r[0] for r in committed_orders.fetchall()] == [
        f"ix_{TABLE}_id_incl", f"ix_{TABLE}_status_updated_at",
        f"ix_{TABLE}_updated_at", f"ix_{TABLE}_updated_at_active", f"ux_{TABLE}_id"]


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
