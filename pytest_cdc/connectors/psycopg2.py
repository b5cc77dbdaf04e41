"""PostgreSQL through psycopg2."""

from __future__ import annotations

import select
from contextlib import suppress
from typing import Any

from pytest_cdc.urls import mask_password

# libpq's PQtransactionStatus: 0 is PQTRANS_IDLE (no transaction open, connection usable).
_TRANS_IDLE = 0


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
        # Closing a broken connection may fail; there is nothing left to do about it.
        with suppress(Exception):
            conn.close()

    def check(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def is_broken(self, conn: Any) -> bool:
        return bool(conn.closed)

    def probe(self, conn: Any) -> bool:
        """True when ``conn`` is broken, learning it without a round trip.

        An idle connection has nothing to read; when its socket is readable the server sent
        something on its own, usually the goodbye of a terminated backend (or a NOTIFY).
        ``poll()`` consumes it and, if the server went away, marks the connection closed.
        """
        if conn.closed:
            return True
        try:
            fd = (conn.fileno(),)
            # The goodbye takes two polls: one reads the FATAL message, the next sees EOF.
            for _ in range(3):
                if not select.select(fd, (), (), 0)[0]:
                    break
                conn.poll()
        except Exception:
            return True
        return bool(conn.closed)

    def in_transaction(self, conn: Any) -> bool:
        # Also true when autocommit was switched off: the pool hands connections out in
        # autocommit mode and rollback() below restores it.
        return conn.get_transaction_status() != _TRANS_IDLE or not conn.autocommit

    def rollback(self, conn: Any) -> None:
        """Roll back whatever is open and put ``conn`` back in autocommit mode."""
        if conn.autocommit:
            # psycopg2's rollback() does nothing in autocommit mode, yet a BEGIN sent by hand
            # leaves the server inside a transaction.
            if conn.get_transaction_status() != _TRANS_IDLE:
                with conn.cursor() as cur:
                    cur.execute("ROLLBACK")
        else:
            conn.rollback()
            conn.autocommit = True

    def describe(self) -> str:
        if self._display:
            return mask_password(self._display)
        shown = {k: v for k, v in self.kwargs.items() if k not in ("password",)}
        return mask_password(" ".join([self.dsn, *(f"{k}={v}" for k, v in shown.items())]).strip())
