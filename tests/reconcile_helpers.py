"""The old name of helpers.py, kept for test files written against it: new tests import
``from helpers import ...``.  ``ODBC`` is ``helpers.odbc_connection_string()`` with its braces
doubled, as callers ``.format()`` it."""

from __future__ import annotations

from helpers import (
    DEFAULT_SERVER,
    connect,
    insert,
    load,
    odbc_connection_string,
    other_pg_missing,
    postgres_url,
    require_server,
    schemas,
    server_url,
)

__all__ = [
    "DEFAULT_SERVER",
    "connect",
    "insert",
    "load",
    "other_pg_missing",
    "postgres_url",
    "require_server",
    "schemas",
    "server_url",
]


def __getattr__(name: str) -> str:
    # Computed on use: the server comes from the pytest config, read after this import.
    if name == "ODBC":
        return odbc_connection_string().replace("{", "{{").replace("}", "}}")
    raise AttributeError(name)
