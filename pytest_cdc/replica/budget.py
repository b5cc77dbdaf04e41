"""A replica run's connections: at most ``concurrency`` to each side, opened when first
needed and reused by the tables that follow."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from pytest_cdc.checksums.connections import Opened, adapt, connect_url, opened


class Budget:
    """At most ``size`` connections to one side, opened when first needed and reused.

    A URL opens its own connections; a pool or handle is borrowed from (it keeps its own
    limit); a single connection serves one table at a time.  A connection whose table ended
    in an error is closed rather than reused (a cancelled statement may have broken it).
    """

    def __init__(self, obj: Any, side: str, size: int) -> None:
        self.obj, self.side = obj, side
        self.url = isinstance(obj, str)
        pooled = callable(getattr(obj, "connection", None))
        self.size = size if self.url or pooled else 1
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._idle: list[Opened] = []

    @contextlib.contextmanager
    def lease(self) -> Iterator[Opened]:
        with self._slots:
            if not self.url:
                with opened(self.obj, self.side) as conn:
                    yield conn
                return
            with self._lock:
                idle = self._idle.pop() if self._idle else None
            if idle is None:
                raw, label, dialect = connect_url(self.obj, self.side)
                idle = adapt(raw, label, dialect)
            conn = idle
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.raw.close()
                raise
            with self._lock:
                self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.raw.close()
