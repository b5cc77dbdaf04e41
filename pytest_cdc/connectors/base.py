"""The connector protocol shared by every driver."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Connector(Protocol):
    """Opens and looks after connections of one driver to one database.

    Connections come back with autocommit on: the fixtures and helpers that need a transaction
    open one explicitly, so a forgotten commit never leaves a transaction open in the pool.
    """

    #: DB-API paramstyle of the driver: "pyformat" (psycopg2) or "qmark" (pyodbc).
    paramstyle: str
    #: Canonical dialect name of the server behind it ("postgresql", "mssql", ...).
    dialect: str

    def connect(self, *, timeout: float | None = None) -> Any:
        """Open a new connection (autocommit on)."""

    def close(self, conn: Any) -> None:
        """Close ``conn``, ignoring errors: it may already be broken."""

    def check(self, conn: Any) -> None:
        """Run ``SELECT 1``; raise if the connection does not work."""

    def is_broken(self, conn: Any) -> bool:
        """True when the driver already knows ``conn`` is unusable (no round trip).

        A connector may also define ``probe(conn) -> bool``: like ``is_broken`` but allowed a
        non-blocking look at the socket.  The pool uses it, when present, before handing out a
        connection that sat idle, so a backend killed meanwhile is replaced, not handed out.
        """

    def in_transaction(self, conn: Any) -> bool:
        """True when ``conn`` has an open transaction (a returned connection must not).

        Also true (or raising) for a connection the driver knows is closed or broken, and when
        autocommit is off: the pool's fast return path asks only this question.
        """

    def rollback(self, conn: Any) -> None:
        """Roll back whatever ``conn`` has open and switch autocommit back on."""

    def describe(self) -> str:
        """Where this connector connects to, with any password masked."""
