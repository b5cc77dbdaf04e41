"""PostgreSQL through psycopg2."""

from __future__ import annotations

from typing import Any

from pytest_cdc.urls import mask_password


class Psycopg2Connector:
    """Connections to one PostgreSQL database through psycopg2 (libpq)."""

    paramstyle = "pyformat"
    dialect = "postgresql"

    def __init__(self, dsn: str = "", *, display: str | None = None, **kwargs: Any) -> None:
        # ``dsn`` may be a libpq URI or key=value string; kwargs override it (host, port, ...).
        self.dsn = dsn
        self.kwargs = kwargs
        self._display = display

    def connect(self, *, timeout: float | None = None) -> Any:
        import psycopg2

        kwargs = dict(self.kwargs)
        if timeout is not None and "connect_timeout" not in kwargs:
            # libpq only takes whole seconds, and 1 is its minimum useful value.
            kwargs["connect_timeout"] = max(1, round(timeout))
        conn = psycopg2.connect(self.dsn, **kwargs)
        conn.autocommit = True
        return conn

    def close(self, conn: Any) -> None:
        try:
            conn.close()
        except Exception:  # noqa: S110 - closing a broken connection may fail; nothing to do
            pass

    def check(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def is_broken(self, conn: Any) -> bool:
        return bool(conn.closed)

    def in_transaction(self, conn: Any) -> bool:
        import psycopg2.extensions as ext

        status = conn.info.transaction_status
        return bool(status != ext.TRANSACTION_STATUS_IDLE)

    def rollback(self, conn: Any) -> None:
        conn.rollback()

    def describe(self) -> str:
        if self._display:
            return mask_password(self._display)
        shown = {k: v for k, v in self.kwargs.items() if k not in ("password",)}
        return mask_password(" ".join([self.dsn, *(f"{k}={v}" for k, v in shown.items())]).strip())
