"""Health checks with a deadline, so that a server that hangs cannot hang the pool.

A server that is down refuses connections or drops them, and a check fails at once.  One that
hangs (stopped, swapping, behind a dead link that still accepts) never answers, and a check
would wait for as long as the operating system keeps the TCP connection: hours.  Neither
driver has a client-side timeout for a statement (``statement_timeout`` is enforced by the
server, the very thing that hangs), so a check with a deadline runs in a thread of its own
and the pool stops waiting for it when the deadline passes.  The connection is then written
off: when it shows its socket (psycopg2's ``fileno()``) the socket is shut down, so the
blocked call returns at once and its thread closes the connection; otherwise (pyodbc) the
thread is left to finish whenever the call returns, and closes the connection then.
"""

from __future__ import annotations

import enum
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

__all__ = ["Outcome", "interrupt", "run_check"]


class Outcome(enum.Enum):
    OK = "ok"
    FAILED = "failed"  # the caller closes the connection
    ABANDONED = "abandoned"  # no answer in time; the check's own thread closes the connection


def interrupt(conn: Any) -> bool:
    """Make a call blocked on ``conn``'s socket return now; False when the driver hides it.

    Shutting the socket down (through a duplicate of its descriptor, which the driver never
    sees) wakes a blocked read with end-of-file: the driver reports the connection lost.
    """
    fileno = getattr(conn, "fileno", None)
    if fileno is None:
        return False
    try:
        sock = socket.socket(fileno=os.dup(fileno()))
    except Exception:
        return False  # closed already, or not a socket
    with sock, suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return True


class _Check:
    """One check running in its own thread; whoever finishes second closes the connection."""

    def __init__(self, check: Callable[[Any], None], conn: Any, close: Callable[[Any], None]):
        self._check = check
        self._conn = conn
        self._close = close
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self.ok = False
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self._check(self._conn)
            self.ok = True
        except Exception as exc:
            self.error = exc
        finally:
            with self._lock:
                self._done.set()
                abandoned = self._abandoned
            if abandoned:
                self._close(self._conn)

    def wait(self, timeout: float) -> bool:
        """True when the check finished in time; otherwise it is abandoned and interrupted."""
        if self._done.wait(timeout):
            return True
        with self._lock:
            if self._done.is_set():
                return True
            self._abandoned = True
            # Under the lock: the check's thread closes the connection only after this (a
            # driver may not survive fileno() racing with close()).
            interrupt(self._conn)
        return False


def run_check(
    check: Callable[[Any], None],
    conn: Any,
    *,
    timeout: float | None,
    close: Callable[[Any], None],
    thread_name: str,
) -> tuple[Outcome, Exception | None]:
    """Run ``check(conn)``, giving up after ``timeout`` seconds (None: wait for ever).

    On ABANDONED the connection belongs to the check's thread, which closes it with ``close``.
    """
    if not timeout:
        try:
            check(conn)
        except Exception as exc:
            return Outcome.FAILED, exc
        return Outcome.OK, None
    running = _Check(check, conn, close)
    threading.Thread(target=running.run, name=thread_name, daemon=True).start()
    if not running.wait(timeout):
        return Outcome.ABANDONED, None
    if not running.ok:
        return Outcome.FAILED, running.error
    return Outcome.OK, None
