"""scripts/sql PostgreSQL templates, run for real (psql and the test database); the SQL Server
ones are parsed in test_plans_tsql.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_cdc.database import CdcConnection

SQL_DIR = Path(__file__).resolve().parents[2] / "scripts" / "sql"
TABLE = f"tpl_orders_{os.getpid()}"  # xdist workers may share one server


@pytest.mark.cdc(isolation="database")
def test_postgresql_reconciliation_template_runs_in_psql(cdc_db: CdcConnection) -> None:
    """In a database of its own: CREATE INDEX CONCURRENTLY waits for every transaction open in
    the same database, and a shared server always has some."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("needs the psql client on PATH")
    cdc_db.execute(
        f"CREATE TABLE {TABLE} (id int, updated_at timestamptz, status text,"
        " amount numeric, note text, deleted boolean)"
    )
    cdc_db.commit()
    args = [
        psql,
        cdc_db.raw.dsn,
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-v",
        "schema=public",
        "-v",
        f"table={TABLE}",
        "-v",
        "key=id",
        "-v",
        "ts=updated_at",
        "-v",
        "status=status",
        "-v",
        "checksum_cols=amount, note",
        "-v",
        "active=deleted = false",
        "-f",
        str(SQL_DIR / "postgresql_reconciliation_indexes.sql"),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    rows = cdc_db.fetchall(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", (TABLE,)
    )
    assert [r[0] for r in rows] == [
        f"ix_{TABLE}_id_incl",
        f"ix_{TABLE}_status_updated_at",
        f"ix_{TABLE}_updated_at",
        f"ix_{TABLE}_updated_at_active",
        f"ux_{TABLE}_id",
    ]


@pytest.mark.parametrize(
    "name", ["postgresql_index_usage.sql", "postgresql_bloat.sql", "postgresql_stats_freshness.sql"]
)
@pytest.mark.cdc(isolation="database")
def test_postgresql_maintenance_queries_run(name: str, cdc_db: CdcConnection) -> None:
    # A database of its own: sizes take a lock on every table of the schema, and on a shared
    # server another session's DDL in an open transaction would make the query wait.
    cdc_db.execute("CREATE TABLE maint (id int PRIMARY KEY, v text)")
    cdc_db.execute("INSERT INTO maint SELECT g, 'x' FROM generate_series(1, 10) g")
    text = (SQL_DIR / name).read_text().replace(":'schema'", "'public'")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [s for s in text.split(";") if re.search(r"^\s*SELECT", s, re.M)]
    assert statements
    for statement in statements:
        cdc_db.fetchall(statement)
