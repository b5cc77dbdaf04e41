"""A thread-safe connection pool over any :class:`~pytest_cdc.connectors.Connector`.

One pool class serves psycopg2 and pyodbc: everything driver-specific (how to connect, check,
roll back) is asked of the connector.  The shape follows psycopg_pool: keyword-only options,
``connection()``/``getconn()``/``putconn()``, named stats, one background worker holding only a
weak reference to the pool, jittered lifetimes and exponential reconnection backoff.

This module is what callers use: lending connections out, taking them back, and the pool's
life (open, wait, resize, drain, check, close).  Beside it: the state and the life of one
connection (:mod:`pytest_cdc.pool_base`), the background worker
(:mod:`pytest_cdc.pool_worker`), the counters (:mod:`pytest_cdc.pool_stats`), the reconnection
backoff (:mod:`pytest_cdc.pool_backoff`), checks with a deadline
(:mod:`pytest_cdc.pool_checks`) and the errors (:mod:`pytest_cdc.errors`).

Hot path: acquiring an idle connection takes the lock once, pops a deque and records the
connection as out; releasing takes the lock once and pushes it back (or hands it straight to
the oldest waiter, so waiters are served in order and never starved by newcomers).  Round trips
to the server happen only in the background worker, or on acquire when a connection sat idle
longer than ``health_check_interval``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from time import monotonic
from typing import Any

from pytest_cdc.errors import (
    ForeignConnection,
    PoolClosed,
    PoolConnectError,
    PoolError,
    PoolTimeout,
    TooManyRequests,
)
from pytest_cdc.pool_base import PROBE_AFTER, Slot, Waiter, first_line, logger
from pytest_cdc.pool_checks import Outcome, interrupt
from pytest_cdc.pool_stats import ACQUIRE_BUCKETS
from pytest_cdc.pool_worker import MaintainedPool, start_worker

__all__ = [
    "ConnectionPool",
    "ForeignConnection",
    "PoolClosed",
    "PoolConnectError",
    "PoolError",
    "PoolTimeout",
    "TooManyRequests",
]

# How long close() gives connections still lent out to close once it closes them itself: a
# driver that cannot be interrupted (pyodbc) blocks in close() while a statement runs.
_FORCED_CLOSE_WAIT = 1.0


class ConnectionPool(MaintainedPool):
    """A pool of connections made by ``connector``.

    Sizes: ``min_size`` connections are kept open (opened in the background); up to
    ``max_size`` (default: ``max(min_size, 1)``) are opened on demand by the requests that
    find no idle connection.  ``timeout`` is how long ``getconn()`` waits; ``max_waiting``
    (0: unlimited) bounds the queue of waiting requests.  ``max_lifetime`` (jittered by up to -5% so
    connections opened together do not expire together) and ``max_idle`` recycle connections;
    ``health_check_interval`` (0: never) is how often idle connections are checked with the
    ``check`` callback (default: the connector's ``SELECT 1``), and a check that gets no answer
    within ``check_timeout`` seconds (None: no limit) writes the connection off.  When
    connecting fails the pool retries with exponential backoff; the worker keeps the pool at
    ``min_size`` for up to ``reconnect_timeout`` seconds after the server went away, and
    requests always retry.  ``configure(conn)`` runs on each new connection, ``reset(conn)`` on
    each returned one.
    """

    def __enter__(self) -> ConnectionPool:
        if not self._opened:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Start the pool: the worker opens ``min_size`` connections in the background."""
        with self._lock:
            if self._opened:
                if self._closed:
                    raise PoolClosed(f"pool {self.name!r} was closed; make a new pool")
                return
            self._opened = True
            self._closed = False
        self._worker = start_worker(self, self._wake)

    # -- acquire -----------------------------------------------------------------------------

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        """Lend a connection for the ``with`` block; it comes back (rolled back) afterwards.

        When the block raises, the connection is checked before it goes back to the pool: some
        drivers (pyodbc) cannot tell that a connection died under a failed query.
        """
        conn = self.getconn(timeout)
        try:
            yield conn
        except BaseException:
            self.putconn(conn, check=True)
            raise
        self.putconn(conn)

    def getconn(self, timeout: float | None = None) -> Any:
        """Take a working connection; give it back with :meth:`putconn`.

        Raises PoolTimeout after ``timeout`` seconds (default: the pool's), TooManyRequests
        when ``max_waiting`` requests already wait, PoolConnectError when the pool has nothing
        to lend and cannot connect, PoolClosed after :meth:`close`.
        """
        start = monotonic()
        slot: Slot | None = None
        stats = self._stats  # looked up before the lock: every instruction under it counts
        with self._lock:
            if self._closed:
                raise self._closed_error()
            stats.requests_num += 1
            if self._idle:
                slot = self._idle.pop()
                self._out[id(slot.conn)] = slot
        # Given back a moment ago and not expiring: nothing to look at (the hot path).
        if slot is not None and start >= slot.fresh_until and not self._usable(slot, start):
            slot = None  # _usable() discarded it
        if slot is None:
            slot = self._getconn_slow(start, self.timeout if timeout is None else timeout)
        slot.taken = start
        times = slot.acquire_times
        if times is not None:
            # Only the thread holding the connection writes its histogram: no lock, and the
            # pool's lock is held no longer with metrics on than off (see pool_stats).
            took = monotonic() - start
            times.bins[bisect_left(ACQUIRE_BUCKETS, took)] += 1
            times.total += took
        return slot.conn

    def _usable(self, slot: Slot, now: float) -> bool:
        """Vet an idle connection just taken out (it is registered as out); drop it if bad."""
        if now >= slot.expires or slot.generation != self._generation:
            self._discard(slot, "expired")
            return False
        if now - slot.returned > PROBE_AFTER and self._probe(slot.conn):
            self._discard(slot, "broken")
            return False
        hc = self.health_check_interval
        if hc and now - slot.checked > hc:
            outcome = self._run_check(slot)
            if outcome is not Outcome.OK:
                self._discard(slot, "broken", close=outcome is Outcome.FAILED)
                return False
            slot.checked = monotonic()
        return True

    def _getconn_slow(self, start: float, timeout: float) -> Slot:
        deadline = start + timeout
        queued = False
        wait_from = start
        stats = self._stats
        backoff = self._backoff
        while True:
            connect = False
            slot: Slot | None = None
            with self._lock:
                while True:
                    if self._closed:
                        raise self._closed_error()
                    if self._idle:
                        slot = self._idle.pop()
                        self._out[id(slot.conn)] = slot
                        break
                    now = monotonic()
                    if self._nconns < self._max_size:
                        if self._may_connect(now):
                            self._nconns += 1
                            self._connecting += 1
                            connect = True
                            break
                        if self._nconns == 0 and backoff.counts_as_down:
                            # Down, nothing lent out that could come back: fail now rather
                            # than make every caller sit out its timeout.
                            stats.requests_errors += 1
                            raise self._connect_error(now)
                    if not queued:
                        if self.max_waiting and len(self._waiters) >= self.max_waiting:
                            stats.requests_errors += 1
                            stats.requests_rejected += 1
                            raise TooManyRequests(
                                f"pool {self.name!r}: {len(self._waiters)} requests already"
                                f" waiting (max_waiting={self.max_waiting}); raise max_waiting"
                                " or max_size, or hold connections for less time"
                            )
                        queued = True
                        wait_from = now
                        stats.requests_queued += 1
                    remaining = deadline - now
                    if remaining <= 0:
                        stats.requests_errors += 1
                        stats.requests_timeouts += 1
                        stats.requests_wait_s += now - wait_from
                        raise self._timeout_error(now - start)
                    if backoff.down and not backoff.due(now):
                        remaining = min(remaining, backoff.wait_left(now))
                    slot = self._wait(remaining)
                    if slot is not None:
                        break
                if queued:
                    stats.requests_wait_s += monotonic() - wait_from
                    queued = False  # a request that must wait again is queued again
            if connect:
                try:
                    return self._connect_for_request()
                except PoolConnectError:
                    with self._lock:
                        down = self._nconns == 0 and backoff.counts_as_down
                        if down or self._closed or monotonic() >= deadline:
                            stats.requests_errors += 1
                            raise
                    # Other connections are open, or this may be a one-off failed login: wait
                    # for a connection or the next attempt rather than fail the request.
                    continue
            assert slot is not None
            now = monotonic()
            if now < slot.fresh_until or self._usable(slot, now):
                return slot

    def _wait(self, timeout: float) -> Slot | None:
        """Queue and sleep (pool lock held, released while asleep) until handed a slot."""
        w = Waiter()
        self._waiters.append(w)
        self._lock.release()
        try:
            w.lock.acquire(timeout=timeout)
        finally:
            self._lock.acquire()
        if w.slot is None and not w.retry:
            # Timed out (or woke for a reconnect attempt): leave the queue.
            with suppress(ValueError):
                self._waiters.remove(w)
        return w.slot

    def _connect_for_request(self) -> Slot:
        slot = self._open_slot()
        with self._lock:
            self._out[id(slot.conn)] = slot
        return slot

    # -- release -----------------------------------------------------------------------------

    def putconn(self, conn: Any, *, check: bool = False) -> None:
        """Give back a connection from :meth:`getconn`.

        A connection inside a transaction (or with autocommit switched off) is rolled back; a
        broken one is closed and replaced; ``check=True`` (use it after an error) runs the
        health check before pooling it again.  Giving back a connection that is not out of
        this pool raises ForeignConnection.
        """
        now = monotonic()
        # Only a question about the connection's state: nothing is done to it before it is
        # known to be ours (in _putconn_slow, or under the lock below).
        try:
            dirty = self._in_transaction(conn)
        except Exception:
            dirty = True  # a connection the driver has closed may refuse even this question
        if dirty or check or self._reset is not None:
            self._putconn_slow(conn, now, check)
            return
        stats = self._stats
        with self._lock:
            # The same take-back as _putconn_slow's, written out again: this is the hot path.
            slot = self._out.pop(id(conn), None)
            if slot is None or slot.conn is not conn:
                if slot is not None:
                    self._out[id(conn)] = slot
                raise self._foreign_error(conn)
            stats.usage_s += now - slot.taken
            if (
                now < slot.expires
                and slot.generation == self._generation
                and not self._closed
                and self._nconns <= self._max_size
            ):
                slot.checked = slot.returned = now
                fresh = now + PROBE_AFTER
                slot.fresh_until = fresh if fresh < slot.expires else slot.expires
                if self._waiters:
                    w = self._waiters.popleft()
                    w.slot = slot
                    self._out[id(conn)] = slot
                    w.lock.release()
                else:
                    self._idle.append(slot)
                    if self._fill_waiters:
                        self._filled.notify_all()
                return
        current = now < slot.expires and slot.generation == self._generation
        # Closed pool, or one resized below its size: "closed"; otherwise it is recycled.
        self._discard(slot, "closed" if self._closed or current else "expired")

    def _putconn_slow(self, conn: Any, now: float, check: bool) -> None:
        """Give back a connection that needs tidying, checking or closing."""
        with self._lock:
            slot = self._out.pop(id(conn), None)
            if slot is None or slot.conn is not conn:
                if slot is not None:
                    self._out[id(conn)] = slot
                raise self._foreign_error(conn)
            self._stats.usage_s += now - slot.taken
        connector = self.connector
        if self._closed:
            self._discard(slot, "closed")
            return
        if connector.is_broken(conn):
            self._discard(slot, "broken", returned=True)
            return
        try:
            if connector.in_transaction(conn):
                connector.rollback(conn)
                with self._lock:
                    self._stats.returns_rolled_back += 1
        except Exception as exc:
            logger.warning("pool %r: rollback on return failed: %s", self.name, first_line(exc))
            self._discard(slot, "broken", returned=True)
            return
        if self._reset is not None:
            try:
                self._reset(conn)
            except Exception as exc:
                logger.warning("pool %r: reset callback failed: %s", self.name, first_line(exc))
                self._discard(slot, "broken", returned=True)
                return
        if check:
            outcome = self._run_check(slot)
            if outcome is not Outcome.OK:
                self._discard(slot, "broken", returned=True, close=outcome is Outcome.FAILED)
                return
        if now >= slot.expires or slot.generation != self._generation:
            self._discard(slot, "expired")
            return
        slot.checked = now
        self._give_back(slot, now)

    # -- public maintenance ------------------------------------------------------------------

    def check(self) -> None:
        """Check every idle connection now, replacing the broken ones."""
        with self._lock:
            if self._closed:
                raise self._closed_error()
            slots = list(self._idle)
            self._idle.clear()
        for slot in slots:
            self._check_idle(slot)
        self._grow()

    def drain(self) -> None:
        """Replace every connection: idle ones now, lent-out ones when they come back."""
        with self._lock:
            self._generation += 1
            slots = list(self._idle)
            self._idle.clear()
        for slot in slots:
            self._discard(slot, "expired")
        self._wake.set()

    def resize(self, min_size: int, max_size: int | None = None) -> None:
        """Change the sizes; growth happens in the background, shrinking as connections idle."""
        min_size, max_size = self._check_sizes(min_size, max_size)
        with self._lock:
            self._min_size = min_size
            self._max_size = max_size
            # Waiters may now be allowed to open connections of their own.
            room = max_size - self._nconns
            while self._waiters and room > 0:
                w = self._waiters.popleft()
                w.retry = True
                w.lock.release()
                room -= 1
        self._wake.set()

    def wait(self, timeout: float = 30.0) -> None:
        """Block until ``min_size`` connections are open and idle-or-lent; PoolTimeout if not."""
        deadline = monotonic() + timeout
        self._wake.set()
        with self._lock:
            self._fill_waiters += 1
            try:
                while self._nconns - self._connecting < self._min_size:
                    if self._closed:
                        raise self._closed_error()
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        last = self._backoff.last_error
                        raise PoolTimeout(
                            f"pool {self.name!r}: {self._nconns - self._connecting} of min_size"
                            f" {self._min_size} connections open after {timeout:.1f} s"
                            + (f"; last error: {last}" if last else "")
                        )
                    self._filled.wait(min(remaining, 0.1))
            finally:
                self._fill_waiters -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Close the pool: requests, waiting or new, fail with PoolClosed from now on.

        Idle connections close at once.  Connections still lent out are waited for, up to
        ``timeout`` seconds, and closed as they come back; those still out then are closed
        under their users (whose next use fails), and giving them back later is harmless.
        The background worker is given the same deadline to finish what it is doing.
        """
        deadline = monotonic() + timeout
        with self._lock:
            if self._closed and self._opened:
                return
            self._closed = True
            self._opened = True
            slots = list(self._idle)
            self._idle.clear()
            while self._waiters:
                w = self._waiters.popleft()
                w.retry = True
                w.lock.release()
            self._filled.notify_all()
        for slot in slots:
            self._discard(slot, "closed")
        self._wake.set()
        with self._lock:
            # Connections being opened or checked close by themselves, in bounded time
            # (connect_timeout, check_timeout); lent ones come back when their users are done.
            while self._nconns > 0 and (remaining := deadline - monotonic()) > 0:
                self._emptied.wait(remaining)
            lent = list(self._out.values())
        if lent:
            self._close_lent([slot.conn for slot in lent], timeout)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(max(0.0, deadline - monotonic()))

    def _close_lent(self, conns: list[Any], waited: float) -> None:
        logger.warning(
            "pool %r: closing %d connection(s) still lent out after waiting %.1f s",
            self.name,
            len(conns),
            waited,
        )

        def close(conn: Any) -> None:
            interrupt(conn)  # a statement blocked on a hung server returns now
            self.connector.close(conn)

        # They stay registered as out, so a late putconn() accounts for them without error.
        # In threads: a driver that cannot be interrupted blocks in close() while its user's
        # statement runs, and that must not hold close() up for longer than it promised.
        closers = [
            threading.Thread(target=close, args=(conn,), name=f"cdc-pool-{self.name}-close")
            for conn in conns
        ]
        for t in closers:
            t.daemon = True
            t.start()
        deadline = monotonic() + _FORCED_CLOSE_WAIT
        for t in closers:
            t.join(max(0.0, deadline - monotonic()))
