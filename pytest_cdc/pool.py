"""A thread-safe connection pool over any :class:`~pytest_cdc.connectors.Connector`.

One pool class serves psycopg2 and pyodbc: everything driver-specific (how to connect, check,
roll back) is asked of the connector.  The shape follows psycopg_pool: keyword-only options,
``connection()``/``getconn()``/``putconn()``, named stats, one background worker holding only a
weak reference to the pool, jittered lifetimes and exponential reconnection backoff.

Hot path: acquiring an idle connection takes the lock once, pops a deque and records the
connection as out; releasing takes the lock once and pushes it back (or hands it straight to
the oldest waiter, so waiters are served in order and never starved by newcomers).  Round trips
to the server happen only in the background worker, or on acquire when a connection sat idle
longer than ``health_check_interval``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from random import random
from time import monotonic
from typing import TYPE_CHECKING, Any

from pytest_cdc.connectors.base import Connector
from pytest_cdc.pool_errors import (
    ForeignConnection,
    PoolClosed,
    PoolConnectError,
    PoolError,
    PoolTimeout,
    TooManyRequests,
)
from pytest_cdc.urls import mask_password

if TYPE_CHECKING:
    from pytest_cdc.metrics import BoundMetrics, PoolMetrics

__all__ = [
    "ConnectionPool",
    "ForeignConnection",
    "PoolClosed",
    "PoolConnectError",
    "PoolError",
    "PoolTimeout",
    "TooManyRequests",
]

logger = logging.getLogger("pytest_cdc.pool")

ConnCallback = Callable[[Any], None]

# A connection given back less than this long ago is handed out again without probing its
# socket: it worked a moment ago, and a probe (a syscall) would double the cost of the fast path.
_PROBE_AFTER = 0.002
# First reconnection delay after a failed connect; it doubles (jittered) on each failure.
_RECONNECT_INITIAL = 0.1
# Consecutive failed connects after which the server counts as down: requests that find
# nothing to lend then fail at once instead of waiting out their timeout.  One failure may be
# a fluke (a login killed or refused under load); the retry comes after _RECONNECT_INITIAL.
_DOWN_AFTER = 2
# The worker sleeps at most this long, so it notices a garbage-collected pool quickly.
_MAX_TICK = 1.0


def _jitter(value: float, low: float, high: float) -> float:
    """``value`` changed by a random fraction between ``low`` and ``high`` (e.g. -0.05, 0)."""
    return value * (1.0 + low + (high - low) * random())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return mask_password(text[0] if text else type(exc).__name__)


class _Slot:
    """One pooled connection and its timestamps (monotonic seconds)."""

    __slots__ = (
        "acquire_s",
        "checked",
        "conn",
        "created",
        "expires",
        "fresh_until",
        "generation",
        "returned",
        "taken",
    )

    def __init__(self, conn: Any, now: float, expires: float, generation: int) -> None:
        self.conn = conn
        self.created = now
        self.expires = expires
        self.generation = generation
        self.returned = now  # last time it went back to the idle deque
        # Until then it is handed out without a look (see _PROBE_AFTER); never past expiry.
        self.fresh_until = min(expires, now + _PROBE_AFTER)
        self.checked = now  # last time it was known to work
        self.taken = now  # last time it was handed out
        self.acquire_s = 0.0  # how long that took (for the metrics)


class _Waiter:
    """A request queued for a connection; woken by releasing ``lock``."""

    __slots__ = ("lock", "retry", "slot")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.slot: _Slot | None = None
        # Set when the waiter is woken without a connection: room to connect, or closing.
        self.retry = False


class ConnectionPool:
    """A pool of connections made by ``connector``.

    Sizes: ``min_size`` connections are kept open (opened in the background); up to
    ``max_size`` (default: ``max(min_size, 1)``) are opened on demand by the requests that
    find no idle connection.  ``timeout`` is how long ``getconn()`` waits; ``max_waiting``
    (0: unlimited) bounds the queue of waiting requests.  ``max_lifetime`` (jittered by up to -5% so
    connections opened together do not expire together) and ``max_idle`` recycle connections;
    ``health_check_interval`` (0: never) is how often idle connections are checked with the
    ``check`` callback (default: the connector's ``SELECT 1``).  When connecting fails the pool
    retries with exponential backoff; the worker keeps the pool at ``min_size`` for up to
    ``reconnect_timeout`` seconds after the server went away, and requests always retry.
    ``configure(conn)`` runs on each new connection, ``reset(conn)`` on each returned one.
    """

    _num_pools = 0

    def __init__(
        self,
        connector: Connector,
        *,
        min_size: int = 0,
        max_size: int | None = None,
        timeout: float = 30.0,
        max_waiting: int = 0,
        max_lifetime: float = 3600.0,
        max_idle: float = 600.0,
        health_check_interval: float = 30.0,
        reconnect_timeout: float = 300.0,
        connect_timeout: float | None = 10.0,
        name: str | None = None,
        check: ConnCallback | None = None,
        configure: ConnCallback | None = None,
        reset: ConnCallback | None = None,
        metrics: PoolMetrics | None = None,
        open: bool = True,
    ) -> None:
        min_size, max_size = self._check_sizes(min_size, max_size)
        if timeout < 0 or max_waiting < 0:
            raise ValueError("timeout and max_waiting must not be negative")
        if max_lifetime <= 0 or max_idle <= 0 or reconnect_timeout <= 0:
            raise ValueError("max_lifetime, max_idle and reconnect_timeout must be positive")
        if health_check_interval < 0:
            raise ValueError("health_check_interval must not be negative (0 disables it)")
        if not name:
            ConnectionPool._num_pools += 1
            name = f"pool-{ConnectionPool._num_pools}"
        self.connector = connector
        # The name shows up in errors, logs, thread names and metric labels: never a password.
        self.name = mask_password(name)
        self._min_size = min_size
        self._max_size = max_size
        self.timeout = timeout
        self.max_waiting = max_waiting
        self.max_lifetime = max_lifetime
        self.max_idle = max_idle
        self.health_check_interval = health_check_interval
        self.reconnect_timeout = reconnect_timeout
        self.connect_timeout = connect_timeout
        self._check_cb = check or connector.check
        self._configure = configure
        self._reset = reset
        self._probe: Callable[[Any], bool] = getattr(connector, "probe", connector.is_broken)
        self._in_transaction = connector.in_transaction

        self._lock = threading.Lock()
        # Signalled whenever a connection becomes idle while someone wait()s for min_size.
        self._filled = threading.Condition(self._lock)
        self._idle: deque[_Slot] = deque()
        self._out: dict[int, _Slot] = {}
        self._waiters: deque[_Waiter] = deque()
        self._nconns = 0  # idle + out + being checked + being opened
        self._connecting = 0
        self._generation = 0
        self._opened = False
        self._closed = True
        self._fill_waiters = 0

        # Reconnection state: when the next attempt may start and how long the one after waits.
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._down_since: float | None = None
        self._failures = 0  # consecutive failed connects
        self._last_error: str | None = None
        self._gave_up = False
        # Connections discarded as broken and not replaced yet.
        self._owed = 0

        self._reset_counters()
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._metrics: BoundMetrics | None = metrics.bind(self) if metrics is not None else None
        if open:
            self.open()

    # -- sizes and state ---------------------------------------------------------------------

    @staticmethod
    def _check_sizes(min_size: int, max_size: int | None) -> tuple[int, int]:
        if max_size is None:
            max_size = max(min_size, 1)
        if min_size < 0:
            raise ValueError(f"min_size must not be negative, got {min_size}")
        if max_size < 1 or max_size < min_size:
            raise ValueError(f"max_size must be at least 1 and at least min_size, got {max_size}")
        return min_size, max_size

    @property
    def min_size(self) -> int:
        return self._min_size

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._nconns}/{self._max_size}"
        return f"<ConnectionPool {self.name!r} {state} {self.connector.describe()}>"

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
        self._worker = threading.Thread(
            target=_run_worker,
            args=(weakref.ref(self), self._wake),
            name=f"cdc-pool-{self.name}",
            daemon=True,
        )
        self._worker.start()

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
        slot: _Slot | None = None
        with self._lock:
            if self._closed:
                raise self._closed_error()
            self._requests_num += 1
            if self._idle:
                slot = self._idle.pop()
                self._out[id(slot.conn)] = slot
        # Given back a moment ago and not expiring: nothing to look at (the hot path).
        if slot is not None and start >= slot.fresh_until and not self._usable(slot, start):
            slot = None  # _usable() discarded it
        if slot is None:
            slot = self._getconn_slow(start, self.timeout if timeout is None else timeout)
        slot.taken = start
        if self._metrics is not None:
            # Binned into the histogram when the connection comes back, under the lock that
            # putconn takes anyway: no lock of the metrics library on the hot path.
            slot.acquire_s = monotonic() - start
        return slot.conn

    def _usable(self, slot: _Slot, now: float) -> bool:
        """Vet an idle connection just taken out (it is registered as out); drop it if bad."""
        if now >= slot.expires or slot.generation != self._generation:
            self._discard(slot, "expired")
            return False
        if now - slot.returned > _PROBE_AFTER and self._probe(slot.conn):
            self._discard(slot, "broken")
            return False
        hc = self.health_check_interval
        if hc and now - slot.checked > hc:
            if not self._run_check(slot):
                self._discard(slot, "broken")
                return False
            slot.checked = monotonic()
        return True

    def _getconn_slow(self, start: float, timeout: float) -> _Slot:
        deadline = start + timeout
        queued = False
        wait_from = start
        while True:
            connect = False
            slot: _Slot | None = None
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
                        if self._nconns == 0 and self._failures >= _DOWN_AFTER:
                            # Down, nothing lent out that could come back: fail now rather
                            # than make every caller sit out its timeout.
                            self._requests_errors += 1
                            raise self._connect_error(now)
                    if not queued:
                        if self.max_waiting and len(self._waiters) >= self.max_waiting:
                            self._requests_errors += 1
                            self._count_error("too_many_requests")
                            raise TooManyRequests(
                                f"pool {self.name!r}: {len(self._waiters)} requests already"
                                f" waiting (max_waiting={self.max_waiting}); raise max_waiting"
                                " or max_size, or hold connections for less time"
                            )
                        queued = True
                        wait_from = now
                        self._requests_queued += 1
                        m = self._metrics
                        if m is not None:
                            m.waits += 1  # lock held: see metrics._PoolCounters
                    remaining = deadline - now
                    if remaining <= 0:
                        self._requests_errors += 1
                        self._requests_timeouts += 1
                        self._requests_wait_s += now - wait_from
                        raise self._timeout_error(now - start)
                    if self._down_since is not None and self._retry_at > now:
                        remaining = min(remaining, self._retry_at - now)
                    slot = self._wait(remaining)
                    if slot is not None:
                        break
                if queued:
                    self._requests_wait_s += monotonic() - wait_from
                    queued = False  # a request that must wait again is queued again
            if connect:
                try:
                    return self._connect_for_request()
                except PoolConnectError:
                    with self._lock:
                        down = self._nconns == 0 and self._failures >= _DOWN_AFTER
                        if down or self._closed or monotonic() >= deadline:
                            self._requests_errors += 1
                            raise
                    # Other connections are open, or this may be a one-off failed login: wait
                    # for a connection or the next attempt rather than fail the request.
                    continue
            assert slot is not None
            now = monotonic()
            if now < slot.fresh_until or self._usable(slot, now):
                return slot

    def _wait(self, timeout: float) -> _Slot | None:
        """Queue and sleep (pool lock held, released while asleep) until handed a slot."""
        w = _Waiter()
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

    def _may_connect(self, now: float) -> bool:
        if self._down_since is None:
            return True
        # While the server is down only one request at a time tests the water, after the delay.
        return self._connecting == 0 and now >= self._retry_at

    def _connect_for_request(self) -> _Slot:
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
        with self._lock:
            # The same take-back as _putconn_slow's, with _account_return inlined: this is the
            # hot path, and the extra call made an uncontended getconn+putconn ~9 % slower
            # (bench_pool: 1.27-1.31x psycopg2's pool against 1.14-1.20x, interleaved runs).
            slot = self._out.pop(id(conn), None)
            if slot is None or slot.conn is not conn:
                if slot is not None:
                    self._out[id(conn)] = slot
                raise self._foreign_error(conn)
            self._usage_s += now - slot.taken
            m = self._metrics
            if m is not None:
                m.acquire_bins[bisect_left(m.acquire_bounds, slot.acquire_s)] += 1
                m.acquire_sum += slot.acquire_s
            if (
                now < slot.expires
                and slot.generation == self._generation
                and not self._closed
                and self._nconns <= self._max_size
            ):
                slot.checked = slot.returned = now
                fresh = now + _PROBE_AFTER
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

    def _account_return(self, slot: _Slot, now: float) -> None:
        # Lock held.
        self._usage_s += now - slot.taken
        m = self._metrics
        if m is not None:
            m.acquire_bins[bisect_left(m.acquire_bounds, slot.acquire_s)] += 1
            m.acquire_sum += slot.acquire_s

    def _putconn_slow(self, conn: Any, now: float, check: bool) -> None:
        """Give back a connection that needs tidying, checking or closing."""
        with self._lock:
            slot = self._out.pop(id(conn), None)
            if slot is None or slot.conn is not conn:
                if slot is not None:
                    self._out[id(conn)] = slot
                raise self._foreign_error(conn)
            self._account_return(slot, now)
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
                    self._returns_rolled_back += 1
        except Exception as exc:
            logger.warning("pool %r: rollback on return failed: %s", self.name, _first_line(exc))
            self._discard(slot, "broken", returned=True)
            return
        if self._reset is not None:
            try:
                self._reset(conn)
            except Exception as exc:
                logger.warning("pool %r: reset callback failed: %s", self.name, _first_line(exc))
                self._discard(slot, "broken", returned=True)
                return
        if check and not self._run_check(slot):
            self._discard(slot, "broken", returned=True)
            return
        if now >= slot.expires or slot.generation != self._generation:
            self._discard(slot, "expired")
            return
        slot.checked = now
        self._give_back(slot, now)

    def _give_back(self, slot: _Slot, now: float) -> None:
        """Hand ``slot`` to the oldest waiter, or put it on the idle deque."""
        with self._lock:
            if self._closed or self._nconns > self._max_size:
                shrink = True
            else:
                shrink = False
                slot.returned = now
                fresh = now + _PROBE_AFTER
                slot.fresh_until = fresh if fresh < slot.expires else slot.expires
                if self._waiters:
                    w = self._waiters.popleft()
                    w.slot = slot
                    self._out[id(slot.conn)] = slot
                    w.lock.release()
                else:
                    self._idle.append(slot)
                    if self._fill_waiters:
                        self._filled.notify_all()
        if shrink:
            self._discard(slot, "closed")

    def _discard(self, slot: _Slot, reason: str, *, returned: bool = False) -> None:
        """Close a connection taken out of idle/out bookkeeping and free its place."""
        with self._lock:
            self._out.pop(id(slot.conn), None)
            self._nconns -= 1
            if returned:
                self._returns_bad += 1
            if reason == "broken":
                self._connections_lost += 1
                self._owed += 1
            elif reason == "expired":
                self._connections_expired += 1
            elif reason == "idle":
                self._connections_idle_closed += 1
            self._wake_one_for_room()
            if self._nconns < self._min_size and not self._closed:
                self._wake.set()
        if reason == "broken":
            self._count_error("connection_lost")
        self.connector.close(slot.conn)

    def _wake_one_for_room(self) -> None:
        # Lock held.  A place freed up: the oldest waiter may now open a connection itself.
        if self._waiters and self._nconns < self._max_size:
            w = self._waiters.popleft()
            w.retry = True
            w.lock.release()

    # -- connecting --------------------------------------------------------------------------

    def _open_slot(self) -> _Slot:
        """Open a connection for a place already counted in ``_nconns`` and ``_connecting``.

        On failure the place is given up, backoff starts, and PoolConnectError is raised.
        """
        t0 = monotonic()
        try:
            conn = self.connector.connect(timeout=self.connect_timeout)
            if self._configure is not None:
                try:
                    self._configure(conn)
                except BaseException:
                    self.connector.close(conn)
                    raise
        except Exception as exc:
            now = monotonic()
            with self._lock:
                self._connecting -= 1
                self._nconns -= 1
                self._connections_errors += 1
                self._failures += 1
                self._last_error = _first_line(exc)
                if self._down_since is None:
                    self._down_since = now
                    self._retry_delay = _RECONNECT_INITIAL
                else:
                    self._retry_delay = min(self._retry_delay * 2, self._max_retry_delay())
                self._retry_at = now + _jitter(self._retry_delay, -0.1, 0.1)
                err = self._connect_error(now)
                # Whoever waits may be able to use the freed place (or fail fast now).
                self._wake_one_for_room()
            self._count_error("connect_failed")
            logger.warning("%s", err)
            raise err from None
        now = monotonic()
        lifetime = _jitter(self.max_lifetime, -0.05, 0.0)
        with self._lock:
            slot = _Slot(conn, now, now + lifetime, self._generation)
            self._connecting -= 1
            self._connections_num += 1
            self._connections_s += now - t0
            if self._owed:
                self._owed -= 1
                self._connections_replaced += 1
            if self._down_since is not None:
                logger.warning(
                    "pool %r: reconnected to %s after %.1f s",
                    self.name,
                    self.connector.describe(),
                    now - self._down_since,
                )
            self._down_since = None
            self._retry_at = 0.0
            self._failures = 0
            self._gave_up = False
            self._last_error = None
        return slot

    def _max_retry_delay(self) -> float:
        # Capped so that a server coming back is noticed well within reconnect_timeout.
        return max(_RECONNECT_INITIAL, min(10.0, self.reconnect_timeout / 4))

    # -- maintenance -------------------------------------------------------------------------

    def _maintain(self) -> float:
        """One round of background work; returns how long to sleep before the next."""
        now = monotonic()
        to_close: list[tuple[_Slot, str]] = []
        to_check: list[_Slot] = []
        hc = self.health_check_interval
        with self._lock:
            if self._closed:
                return _MAX_TICK
            keep: deque[_Slot] = deque()
            nconns = self._nconns
            # Oldest-returned first: with LIFO reuse, surplus connections collect at the left.
            for slot in self._idle:
                if now >= slot.expires or slot.generation != self._generation:
                    to_close.append((slot, "expired"))
                    nconns -= 1
                elif nconns > self._min_size and now - slot.returned >= self.max_idle:
                    to_close.append((slot, "idle"))
                    nconns -= 1
                elif nconns > self._max_size:
                    to_close.append((slot, "closed"))
                    nconns -= 1
                else:
                    if hc and now - slot.checked >= hc:
                        to_check.append(slot)
                    keep.append(slot)
            self._idle = keep
        for slot, reason in to_close:
            self._discard(slot, reason)
        for slot in to_check:
            # One at a time, so requests still find the others idle meanwhile.
            with self._lock:
                try:
                    self._idle.remove(slot)
                except ValueError:
                    continue  # lent out meanwhile: the request vets it itself
            self._check_idle(slot)
        self._grow()
        return self._next_tick()

    def _check_idle(self, slot: _Slot) -> None:
        """Check a connection taken off the idle deque; put it back or replace it."""
        if self._run_check(slot):
            slot.checked = monotonic()
            self._give_back(slot, slot.returned)
        else:
            self._discard(slot, "broken")

    def _run_check(self, slot: _Slot) -> bool:
        t0 = monotonic()
        try:
            if self.connector.is_broken(slot.conn):
                ok = False
            else:
                self._check_cb(slot.conn)
                ok = True
        except Exception as exc:
            logger.info("pool %r: health check failed: %s", self.name, _first_line(exc))
            ok = False
        with self._lock:
            self._checks_num += 1
            if not ok:
                self._checks_failed += 1
        m = self._metrics
        if m is not None:
            m.checked(monotonic() - t0)
        return ok

    def _grow(self) -> None:
        """Open connections up to ``min_size``, one at a time, honouring the backoff."""
        while True:
            now = monotonic()
            with self._lock:
                if self._closed or self._nconns >= self._min_size:
                    return
                if self._down_since is not None:
                    if self._gave_up or not self._may_connect(now):
                        return
                    if now - self._down_since > self.reconnect_timeout:
                        self._gave_up = True
                        logger.error(
                            "pool %r: giving up reconnecting to %s after %.0f s (%s);"
                            " requests will still retry",
                            self.name,
                            self.connector.describe(),
                            now - self._down_since,
                            self._last_error,
                        )
                        return
                self._nconns += 1
                self._connecting += 1
            try:
                slot = self._open_slot()
            except PoolConnectError:
                return
            self._give_back(slot, monotonic())

    def _next_tick(self) -> float:
        now = monotonic()
        tick = _MAX_TICK
        with self._lock:
            if self._nconns < self._min_size and self._down_since is not None and not self._gave_up:
                tick = min(tick, max(0.0, self._retry_at - now))
            hc = self.health_check_interval
            # Idle closing only applies above min_size; otherwise it would wake us constantly.
            idle_closing = self._nconns > self._min_size
            for slot in self._idle:
                due = slot.expires
                if idle_closing:
                    due = min(due, slot.returned + self.max_idle)
                if hc:
                    due = min(due, slot.checked + hc)
                tick = min(tick, due - now)
        return max(tick, 0.005)

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
                        raise PoolTimeout(
                            f"pool {self.name!r}: {self._nconns - self._connecting} of min_size"
                            f" {self._min_size} connections open after {timeout:.1f} s"
                            + (f"; last error: {self._last_error}" if self._last_error else "")
                        )
                    self._filled.wait(min(remaining, 0.1))
            finally:
                self._fill_waiters -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Close idle connections, fail waiters with PoolClosed and stop the worker.

        Connections still lent out are closed when they come back.  ``timeout`` bounds the
        wait for the worker thread to finish what it is doing.
        """
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
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # -- stats -------------------------------------------------------------------------------

    def _reset_counters(self) -> None:
        self._requests_num = 0
        self._requests_queued = 0
        self._requests_wait_s = 0.0
        self._requests_errors = 0
        self._requests_timeouts = 0
        self._usage_s = 0.0
        self._returns_bad = 0
        self._returns_rolled_back = 0
        self._connections_num = 0
        self._connections_s = 0.0
        self._connections_errors = 0
        self._connections_lost = 0
        self._connections_replaced = 0
        self._connections_expired = 0
        self._connections_idle_closed = 0
        self._checks_num = 0
        self._checks_failed = 0

    def get_stats(self) -> dict[str, int]:
        """Current measures and counters since the pool opened (or the last pop_stats())."""
        with self._lock:
            return self._stats()

    def pop_stats(self) -> dict[str, int]:
        """Like :meth:`get_stats`, then set the counters back to zero."""
        with self._lock:
            stats = self._stats()
            self._reset_counters()
        return stats

    def _stats(self) -> dict[str, int]:
        return {
            "pool_min": self._min_size,
            "pool_max": self._max_size,
            "pool_size": self._nconns,
            "pool_available": len(self._idle),
            "requests_waiting": len(self._waiters),
            "requests_num": self._requests_num,
            "requests_queued": self._requests_queued,
            "requests_wait_ms": int(self._requests_wait_s * 1000),
            "requests_errors": self._requests_errors,
            "requests_timeouts": self._requests_timeouts,
            "usage_ms": int(self._usage_s * 1000),
            "returns_bad": self._returns_bad,
            "returns_rolled_back": self._returns_rolled_back,
            "connections_num": self._connections_num,
            "connections_ms": int(self._connections_s * 1000),
            "connections_errors": self._connections_errors,
            "connections_lost": self._connections_lost,
            "connections_replaced": self._connections_replaced,
            "connections_expired": self._connections_expired,
            "connections_idle_closed": self._connections_idle_closed,
            "checks_num": self._checks_num,
            "checks_failed": self._checks_failed,
        }

    def gauges(self) -> tuple[int, int, int]:
        """(size, lent out, idle) right now, read by the metrics gauges at scrape time."""
        idle = len(self._idle)
        size = self._nconns
        return size, max(0, size - idle - self._connecting), idle

    # -- errors ------------------------------------------------------------------------------

    def _count_error(self, error_type: str) -> None:
        m = self._metrics
        if m is not None:
            m.error(error_type)

    def _closed_error(self) -> PoolClosed:
        if self._opened:
            return PoolClosed(f"pool {self.name!r} is closed; create a new pool to connect again")
        return PoolClosed(f"pool {self.name!r} is not open yet; call open() or pass open=True")

    def _timeout_error(self, waited: float) -> PoolTimeout:
        # Lock held.
        self._count_error("timeout")
        m = self._metrics
        if m is not None:
            m.timed_out()
        last = f"; last connection error: {self._last_error}" if self._last_error else ""
        return PoolTimeout(
            f"pool {self.name!r}: no connection after waiting {waited:.2f} s"
            f" (size {self._nconns}/{self._max_size}, {len(self._idle)} idle,"
            f" {len(self._out)} lent out, {len(self._waiters)} waiting){last};"
            " raise max_size or the timeout, or give connections back sooner"
        )

    def _connect_error(self, now: float) -> PoolConnectError:
        # Lock held.
        down = now - self._down_since if self._down_since is not None else 0.0
        wait = max(0.0, self._retry_at - now)
        return PoolConnectError(
            f"pool {self.name!r} cannot connect to {self.connector.describe()!r}:"
            f" {self._last_error} (down for {down:.1f} s, next attempt in {wait:.1f} s);"
            " start the server or fix the connection settings"
        )

    def _foreign_error(self, conn: Any) -> ForeignConnection:
        # Lock held.
        if any(slot.conn is conn for slot in self._idle):
            why = "it was already given back"
        else:
            why = "it was not lent by this pool"
        return ForeignConnection(
            f"pool {self.name!r}: cannot take back connection at 0x{id(conn):x}: {why};"
            " give each connection back once, to the pool it came from"
        )


def _run_worker(ref: weakref.ref[ConnectionPool], wake: threading.Event) -> None:
    """The pool's background thread; it holds the pool only while doing a round of work."""
    while True:
        pool = ref()
        if pool is None or pool.closed:
            return
        try:
            delay = pool._maintain()
        except Exception:
            logger.exception("pool %r: maintenance failed", pool.name)
            delay = _MAX_TICK
        del pool
        wake.wait(delay)
        wake.clear()
