"""Any ODBC data source through pyodbc (SQL Server; PostgreSQL through psqlODBC)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pytest_cdc.urls import mask_password

DEFAULT_MSSQL_DRIVER = "ODBC Driver 18 for SQL Server"


def _disable_odbc_pooling() -> None:
    # The driver manager's own pooling would keep "closed" connections alive behind our pool's
    # back; it must be off before the first connect, which is why this runs on every connect.
    import pyodbc

    if pyodbc.pooling:
        pyodbc.pooling = False


def odbc_value(value: str) -> str:
    """Quote an ODBC connection-string value when it holds ``;``, braces or blanks."""
    if value == "" or any(c in value for c in ";{}= ") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def build_connection_string(params: dict[str, str]) -> str:
    return ";".join(f"{key}={odbc_value(val)}" for key, val in params.items() if val is not None)


class OdbcConnector:
    """Connections through one ODBC connection string."""

    paramstyle = "qmark"

    def __init__(self, connection_string: str, *, dialect: str = "mssql") -> None:
        self.connection_string = connection_string
        self.dialect = dialect

    def connect(self, *, timeout: float | None = None) -> Any:
        _disable_odbc_pooling()
        import pyodbc

        kwargs: dict[str, Any] = {"autocommit": True}
        if timeout is not None:
            kwargs["timeout"] = max(1, round(timeout))
        return pyodbc.connect(self.connection_string, **kwargs)

    def close(self, conn: Any) -> None:
        # Closing a broken connection may fail; there is nothing left to do about it.
        with suppress(Exception):
            conn.close()

    def check(self, conn: Any) -> None:
        cur = conn.cursor()
        try:
            cur.execute("SELECT 1")
            cur.fetchone()
        finally:
            cur.close()

    def is_broken(self, conn: Any) -> bool:
        # pyodbc has no cheap "closed" flag; a closed connection raises on attribute access.
        try:
            _ = conn.autocommit
        except Exception:
            return True
        return False

    def in_transaction(self, conn: Any) -> bool:
        # With autocommit off, pyodbc always has an implicit transaction open.
        return not bool(conn.autocommit)

    def rollback(self, conn: Any) -> None:
        """Roll back whatever is open and put ``conn`` back in autocommit mode."""
        conn.rollback()
        conn.autocommit = True

    def describe(self) -> str:
        return mask_password(self.connection_string)
