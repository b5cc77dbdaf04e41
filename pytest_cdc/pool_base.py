"""The state a connection pool keeps, the life of one connection, and the pool's reports.

:class:`BasePool` holds the options, the lock and everything it guards (idle connections,
lent-out ones, waiting requests, sizes, the stats and the reconnection backoff), the
operations on one connection (open it, check it, give it back, close it), and what the pool
reports (stats, snapshots, error messages).  What is done with the connections lives in the
subclasses: looking after them in the background (:mod:`pytest_cdc.pool_worker`), lending
them out and closing the pool (:mod:`pytest_cdc.pool`).  The split follows psycopg_pool's
``base.py``/``pool.py``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from pytest_cdc.connectors.base import Connector
from pytest_cdc.errors import ForeignConnection, PoolClosed, PoolConnectError, PoolTimeout
from pytest_cdc.pool_backoff import ReconnectBackoff, jitter
from pytest_cdc.pool_checks import Outcome, run_check
from pytest_cdc.pool_stats import Histogram, PoolSnapshot, PoolStats
from pytest_cdc.urls import mask_password

if TYPE_CHECKING:
    from pytest_cdc.metrics import PoolMetrics

__all__ = ["PROBE_AFTER", "BasePool", "ConnCallback", "Slot", "Waiter"]

logger = logging.getLogger("pytest_cdc.pool")

ConnCallback = Callable[[Any], None]

# A connection given back less than this long ago is handed out again without probing its
# socket: it worked a moment ago, and a probe (a syscall) would double the cost of the fast path.
PROBE_AFTER = 0.002


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return mask_password(text[0] if text else type(exc).__name__)


class Slot:
    """One pooled connection and its timestamps (monotonic seconds)."""

    __slots__ = (
        "acquire_times",
        "checked",
        "conn",
        "created",
        "expires",
        "fresh_until",
        "generation",
        "returned",
        "taken",
    )

    def __init__(
        self, conn: Any, now: float, expires: float, generation: int, times: Histogram | None
    ) -> None:
        self.conn = conn
        self.created = now
        self.expires = expires
        self.generation = generation
        self.returned = now  # last time it went back to the idle deque
        # Until then it is handed out without a look (see PROBE_AFTER); never past expiry.
        self.fresh_until = min(expires, now + PROBE_AFTER)
        self.checked = now  # last time it was known to work
        self.taken = now  # last time it was handed out
        # How long each acquisition of it took (metrics on), written by whoever holds it.
        self.acquire_times = times


class Waiter:
    """A request queued for a connection; woken by releasing ``lock``."""

    __slots__ = ("lock", "retry", "slot")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.slot: Slot | None = None
        # Set when the waiter is woken without a connection: room to connect, or closing.
        self.retry = False


class BasePool:
    """State and bookkeeping shared by :class:`~pytest_cdc.pool.ConnectionPool`'s parts.

    Its ``__init__`` takes the pool's options; they are documented on ``ConnectionPool``.
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
        check_timeout: float | None = 5.0,
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
        if check_timeout is not None and check_timeout <= 0:
            raise ValueError("check_timeout must be positive (None: no limit)")
        if not name:
            BasePool._num_pools += 1
            name = f"pool-{BasePool._num_pools}"
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
        self.check_timeout = check_timeout
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
        # Signalled whenever a connection of a closed pool is closed (close() waits on it).
        self._emptied = threading.Condition(self._lock)
        self._idle: deque[Slot] = deque()
        self._out: dict[int, Slot] = {}
        self._waiters: deque[Waiter] = deque()
        self._nconns = 0  # idle + out + being checked + being opened
        self._connecting = 0
        self._generation = 0
        self._opened = False
        self._closed = True
        self._fill_waiters = 0
        self._backoff = ReconnectBackoff(reconnect_timeout)
        # Connections discarded as broken and not replaced yet.
        self._owed = 0
        # Guarded by self._lock, like everything above; metrics time acquisitions.
        self._stats = PoolStats(self._lock, time_acquires=metrics is not None)

        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        if metrics is not None:
            metrics.watch(self)
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
        return f"<{type(self).__name__} {self.name!r} {state} {self.connector.describe()}>"

    def open(self) -> None:
        """Start the pool (see ConnectionPool.open)."""
        raise NotImplementedError

    # -- one connection ---------------------------------------------------------------------

    def _may_connect(self, now: float) -> bool:
        # Lock held.  While the server is down only one request at a time tests the water,
        # after the delay.
        return not self._backoff.down or (self._connecting == 0 and self._backoff.due(now))

    def _give_back(self, slot: Slot, now: float) -> None:
        """Hand ``slot`` to the oldest waiter, or put it on the idle deque."""
        with self._lock:
            if self._closed or self._nconns > self._max_size:
                shrink = True
            else:
                shrink = False
                slot.returned = now
                fresh = now + PROBE_AFTER
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

    def _discard(
        self, slot: Slot, reason: str, *, returned: bool = False, close: bool = True
    ) -> None:
        """Close a connection taken out of idle/out bookkeeping and free its place.

        ``close=False``: someone else closes it (the thread of an abandoned check).
        """
        stats = self._stats
        with self._lock:
            self._out.pop(id(slot.conn), None)
            self._nconns -= 1
            stats.retire(slot.acquire_times)
            if returned:
                stats.returns_bad += 1
            if reason == "broken":
                stats.connections_lost += 1
                self._owed += 1
            elif reason == "expired":
                stats.connections_expired += 1
            elif reason == "idle":
                stats.connections_idle_closed += 1
            self._wake_one_for_room()
            if self._closed:
                self._emptied.notify_all()
            elif self._nconns < self._min_size:
                self._wake.set()
        if close:
            self.connector.close(slot.conn)

    def _wake_one_for_room(self) -> None:
        # Lock held.  A place freed up: the oldest waiter may now open a connection itself.
        if self._waiters and self._nconns < self._max_size:
            w = self._waiters.popleft()
            w.retry = True
            w.lock.release()

    def _open_slot(self) -> Slot:
        """Open a connection for a place already counted in ``_nconns`` and ``_connecting``.

        On failure the place is given up, backoff starts, and PoolConnectError is raised.
        """
        t0 = monotonic()
        stats = self._stats
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
                stats.connections_errors += 1
                self._backoff.failed(now, first_line(exc))
                err = self._connect_error(now)
                # Whoever waits may be able to use the freed place (or fail fast now).
                self._wake_one_for_room()
            logger.warning("%s", err)
            raise err from None
        now = monotonic()
        lifetime = jitter(self.max_lifetime, -0.05, 0.0)
        with self._lock:
            slot = Slot(conn, now, now + lifetime, self._generation, stats.acquire_times())
            self._connecting -= 1
            stats.connections_num += 1
            stats.connections_s += now - t0
            if self._owed:
                self._owed -= 1
                stats.connections_replaced += 1
            down = self._backoff.succeeded(now)
            if down is not None:
                logger.warning(
                    "pool %r: reconnected to %s after %.1f s",
                    self.name,
                    self.connector.describe(),
                    down,
                )
        return slot

    def _run_check(self, slot: Slot) -> Outcome:
        """Health-check a connection nobody else uses; ABANDONED: it is no longer ours."""
        t0 = monotonic()
        error: Exception | None = None
        try:
            broken = self.connector.is_broken(slot.conn)
        except Exception as exc:
            broken, error = True, exc
        if broken:
            outcome = Outcome.FAILED
        else:
            outcome, error = run_check(
                self._check_cb,
                slot.conn,
                timeout=self.check_timeout,
                close=self.connector.close,
                thread_name=f"cdc-pool-{self.name}-check",
            )
        took = monotonic() - t0
        if outcome is Outcome.ABANDONED:
            logger.warning(
                "pool %r: health check got no answer from %s within %.1f s; connection"
                " written off (is the server hung?)",
                self.name,
                self.connector.describe(),
                took,
            )
        elif error is not None:
            logger.info("pool %r: health check failed: %s", self.name, first_line(error))
        stats = self._stats
        with self._lock:
            stats.checks_num += 1
            if outcome is not Outcome.OK:
                stats.checks_failed += 1
                if outcome is Outcome.ABANDONED:
                    stats.checks_timed_out += 1
            stats.health_checks.observe(took)
        return outcome

    def _check_idle(self, slot: Slot) -> None:
        """Check a connection taken off the idle deque; put it back or replace it."""
        outcome = self._run_check(slot)
        if outcome is Outcome.OK:
            slot.checked = monotonic()
            self._give_back(slot, slot.returned)
        else:
            self._discard(slot, "broken", close=outcome is Outcome.FAILED)

    # -- stats -------------------------------------------------------------------------------

    @property
    def stats(self) -> PoolStats:
        """The pool's counters; read them with :meth:`snapshot` (or ``stats.snapshot()``)."""
        return self._stats

    def snapshot(self) -> PoolSnapshot:
        """Measures and counters (totals since the pool opened) as of now, in one copy."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> PoolSnapshot:
        # A closed pool holds nothing as far as the metrics are concerned.
        return self._stats.snapshot_locked(**({} if self._closed else self._measures()))

    def _measures(self) -> dict[str, int]:
        # Lock held.
        idle = len(self._idle)
        return {
            "min_size": self._min_size,
            "max_size": self._max_size,
            "size": self._nconns,
            "idle": idle,
            "lent": max(0, self._nconns - idle - self._connecting),
            "waiting": len(self._waiters),
        }

    def get_stats(self) -> dict[str, int]:
        """Current measures and counters since the pool opened (or the last pop_stats())."""
        with self._lock:
            return self._stats.snapshot_locked(**self._measures()).stats(self._stats.baseline)

    def pop_stats(self) -> dict[str, int]:
        """Like :meth:`get_stats`, then set the counters back to zero."""
        with self._lock:
            snap = self._stats.snapshot_locked(**self._measures())
            stats = snap.stats(self._stats.baseline)
            self._stats.baseline = snap.counters
        return stats

    # -- errors ------------------------------------------------------------------------------

    def _closed_error(self) -> PoolClosed:
        if self._opened:
            return PoolClosed(f"pool {self.name!r} is closed; create a new pool to connect again")
        return PoolClosed(f"pool {self.name!r} is not open yet; call open() or pass open=True")

    def _timeout_error(self, waited: float) -> PoolTimeout:
        # Lock held.
        last = self._backoff.last_error
        return PoolTimeout(
            f"pool {self.name!r}: no connection after waiting {waited:.2f} s"
            f" (size {self._nconns}/{self._max_size}, {len(self._idle)} idle,"
            f" {len(self._out)} lent out, {len(self._waiters)} waiting)"
            + (f"; last connection error: {last}" if last else "")
            + "; raise max_size or the timeout, or give connections back sooner"
        )

    def _connect_error(self, now: float) -> PoolConnectError:
        # Lock held.
        backoff = self._backoff
        return PoolConnectError(
            f"pool {self.name!r} cannot connect to {self.connector.describe()!r}:"
            f" {backoff.last_error} (down for {backoff.down_for(now):.1f} s, next attempt in"
            f" {backoff.wait_left(now):.1f} s); start the server or fix the connection settings"
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
