"""Connections as the fixtures hand them out: a thin wrapper that records statements.

:class:`CdcConnection` is DB-API-shaped (``cursor()``, ``commit()``, ``rollback()``) so code under
test can take it where it takes a driver connection, plus conveniences (``execute``,
``fetchval``) for tests.  Every statement run through it is announced to the listeners
registered with :func:`listen`; that is how ``cdc_queries`` and ``cdc_no_table_scan`` see what a
test ran without patching drivers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect


@dataclass(frozen=True)
class QueryEvent:
    """One statement about to run on a cdc connection."""

    connection: CdcConnection
    sql: str
    params: Any
    many: bool = False


Listener = Callable[[QueryEvent], None]
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


@contextmanager
def listen(callback: Listener) -> Iterator[None]:
    """Call ``callback`` before each statement any :class:`CdcConnection` runs."""
    with _listeners_lock:
        _listeners.append(callback)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(callback)


def _announce(event: QueryEvent) -> None:
    for callback in tuple(_listeners):
        callback(event)


class RecordingCursor:
    """A driver cursor whose ``execute``/``executemany`` are announced first."""

    def __init__(self, connection: CdcConnection, cursor: Any) -> None:
        self._connection = connection
        self._cursor = cursor

    def execute(self, sql: str, params: Any = None) -> RecordingCursor:
        if _listeners:
            _announce(QueryEvent(self._connection, sql, params))
        started = time.perf_counter()
        if params is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, params)
        self._connection.statements += 1
        self._connection.seconds += time.perf_counter() - started
        return self

    def executemany(self, sql: str, seq_of_params: Sequence[Any]) -> RecordingCursor:
        if _listeners:
            _announce(QueryEvent(self._connection, sql, seq_of_params, many=True))
        self._cursor.executemany(sql, seq_of_params)
        self._connection.statements += 1
        return self

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return list(self._cursor.fetchmany())
        return list(self._cursor.fetchmany(size))

    def close(self) -> None:
        self._cursor.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # description, rowcount, arraysize, ... come straight from the driver's cursor.
        return getattr(self._cursor, name)


class CdcConnection:
    """A driver connection with the database name, its dialect, and statement recording."""

    def __init__(
        self,
        raw: Any,
        dialect: Dialect,
        *,
        name: str = "default",
        paramstyle: str = "pyformat",
        on_commit: Callable[[CdcConnection], None] | None = None,
        on_rollback: Callable[[CdcConnection], None] | None = None,
    ) -> None:
        self.raw = raw
        self.dialect = dialect
        self.name = name
        self.paramstyle = paramstyle
        self.statements = 0
        self.seconds = 0.0
        # In ``rollback`` isolation a commit must not end the test's transaction: the fixture
        # installs a hook that turns it into a savepoint release instead.
        self._on_commit = on_commit
        self._on_rollback = on_rollback

    # -- DB-API ---------------------------------------------------------------------------
    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self, self.raw.cursor())

    def raw_cursor(self) -> Any:
        """A driver cursor whose statements are *not* recorded (for the plugin's own queries)."""
        return self.raw.cursor()

    def commit(self) -> None:
        if self._on_commit is not None:
            self._on_commit(self)
        else:
            self.raw.commit()

    def rollback(self) -> None:
        if self._on_rollback is not None:
            self._on_rollback(self)
        else:
            self.raw.rollback()

    def close(self) -> None:
        self.raw.close()

    @property
    def autocommit(self) -> bool:
        return bool(self.raw.autocommit)

    # -- conveniences ---------------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> RecordingCursor:
        return self.cursor().execute(sql, params)

    def fetchall(self, sql: str, params: Any = None) -> list[Any]:
        with self.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def fetchone(self, sql: str, params: Any = None) -> Any:
        with self.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def fetchval(self, sql: str, params: Any = None) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def __repr__(self) -> str:
        return f"<CdcConnection {self.name!r} {self.dialect.name}>"


def dialect_of(conn: Any) -> Dialect:
    """The engine behind a CdcConnection or a driver connection (psycopg2, pyodbc, or any a
    registered dialect claims through :meth:`~pytest_cdc.dialects.base.Dialect.owns`)."""
    from pytest_cdc.dialects import Dialect, default_registry

    if isinstance(conn, CdcConnection):
        return conn.dialect
    for dialect in default_registry().dialects():
        if dialect.owns(conn):
            return dialect
    declared = getattr(conn, "dialect", None)  # stand-ins and wrappers say what they are
    if isinstance(declared, Dialect):
        return declared
    if isinstance(declared, str):
        return default_registry().get(declared)
    raise TypeError(f"cannot tell the database dialect of {conn!r}")


def paramstyle_of(conn: Any) -> str:
    """``"pyformat"`` (``%s``) or ``"qmark"`` (``?``) for a supported connection."""
    if isinstance(conn, CdcConnection):
        return conn.paramstyle
    return "qmark" if type(conn).__module__ == "pyodbc" else "pyformat"
