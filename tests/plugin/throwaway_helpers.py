"""What the tests of throwaway databases look at on the running server."""

from __future__ import annotations

import os
from typing import Any

from helpers import connect, server_url

#: The test server (helpers.server_url()): a URL database for the runs under test.
SERVER = server_url()


def server(url: str = SERVER) -> Any:
    """An autocommit connection to the running server (the test skips without one)."""
    return connect(url)


def databases(like: str) -> dict[str, str | None]:
    """Name -> comment of the server's databases whose names match ``like`` (SQL LIKE)."""
    conn = server()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
                " WHERE datname LIKE %s ORDER BY 1",
                (like,),
            )
            return dict(cur.fetchall())
    finally:
        conn.close()


def drop(names: list[str]) -> None:
    conn = server()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def token() -> str:
    """A database name no other test run uses (the suite runs in parallel on one server)."""
    return f"t{os.urandom(4).hex()}"
