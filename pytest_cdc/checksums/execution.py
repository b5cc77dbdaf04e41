"""Where a comparison's SQL meets a connection: one :class:`Executor` per side (and lane).

Every statement goes through :meth:`Executor.run`, which records it (so a report lists every
statement sent), bounds how long it may take, and turns a driver error into a one-line
:class:`~pytest_cdc.errors.QueryFailed` naming the side and what the statement was for.
Nothing here builds SQL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_cdc.checksums.report import QueryRecord
from pytest_cdc.errors import QueryFailed, QueryTimeout, first_line

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect

#: The server enforces the statement timeout itself; the client gives up this much later,
#: for a backend that no longer answers at all (stopped, or a network that drops packets).
WATCHDOG_GRACE = 2.0
#: SQLSTATEs of a cancelled statement and of a lock not granted in time (PostgreSQL, ODBC).
_TIMEOUT_STATES = ("57014", "HYT00", "HYT01")
_LOCK_STATES = ("55P03",)


class _Watchdog:
    """Shuts the connection's socket when a statement outlives its bound.

    A backend that stops answering (SIGSTOP, a dead network path) never sends the server-side
    timeout's error, and libpq waits on the socket forever.  Shutting the socket down from
    another thread ends that wait with an error; closing the connection cannot, because the
    driver holds its lock for the whole call.
    """

    def __init__(self, raw: Any, seconds: float) -> None:
        self.fired = False
        self._raw = raw
        self._lock = threading.Lock()
        self._armed = True
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self.fired = True
            with contextlib.suppress(OSError):
                dup = os.dup(self._raw.fileno())
                sock = socket.socket(fileno=dup)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()

    def disarm(self) -> None:
        with self._lock:
            self._armed = False
        self._timer.cancel()


@dataclass
class Executor:
    """One connection of one side: sends statements and records them.

    ``label`` is the side ("source"/"target"); ``timeout`` the most seconds a statement may
    take (None: no bound).  The lock serialises statements when both sides share one
    connection.
    """

    label: str
    raw: Any
    dialect: Dialect
    paramstyle: str
    timeout: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    queries: list[QueryRecord] = field(default_factory=list)

    def run(self, purpose: str, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        """Run one statement; its rows (none for a statement without a result)."""
        started = time.perf_counter()
        with self.lock:
            watchdog = self._watchdog()
            cur = None
            try:
                cur = self.raw.cursor()
                if params is None:
                    cur.execute(sql)
                else:
                    cur.execute(sql, tuple(params))
                rows = list(cur.fetchall()) if cur.description is not None else []
            except Exception as exc:
                fired = watchdog is not None and watchdog.fired
                raise self.failure(purpose, exc, hung=fired) from exc
            finally:
                if watchdog is not None:
                    watchdog.disarm()
                if cur is not None:
                    with contextlib.suppress(Exception):
                        cur.close()
        seconds = time.perf_counter() - started
        self.queries.append(QueryRecord(self.label, purpose, sql, round(seconds, 6), len(rows)))
        return rows

    def _watchdog(self) -> _Watchdog | None:
        if self.timeout is None or not hasattr(self.raw, "fileno"):
            return None  # pyodbc: the driver's own query timeout (see bound_odbc_timeout)
        return _Watchdog(self.raw, self.timeout + max(WATCHDOG_GRACE, self.timeout / 10))

    def failure(self, purpose: str, exc: BaseException, *, hung: bool = False) -> QueryFailed:
        """The one-line error for ``exc`` raised by the ``purpose`` statement."""
        reason = first_line(exc)
        state = _sqlstate(exc)
        where = f"the {self.label} database"
        if hung:
            return QueryTimeout(
                f"{where} did not answer within {self.timeout:g} s on the {purpose} query, so"
                " its connection was closed: check the server, or raise the timeout",
                side=self.label,
                purpose=purpose,
            )
        if state in _LOCK_STATES or "lock timeout" in reason.lower():
            return QueryTimeout(
                f"{where} could not lock the table in time on the {purpose} query ({reason}):"
                " something holds a conflicting lock; retry, or raise the lock timeout",
                side=self.label,
                purpose=purpose,
            )
        if state in _TIMEOUT_STATES or "statement timeout" in reason.lower():
            return QueryTimeout(
                f"{where} did not finish the {purpose} query within {self.timeout or 0:g} s"
                f" ({reason}): raise the timeout, or compare a smaller range with a where",
                side=self.label,
                purpose=purpose,
            )
        return QueryFailed(
            f"{where} failed on the {purpose} query: {reason}", side=self.label, purpose=purpose
        )


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "pgcode", None)
    if code:
        return str(code)
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], str) and len(args[0]) == 5:
        return args[0]  # pyodbc: (SQLSTATE, message)
    return None
