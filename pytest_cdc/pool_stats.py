"""A pool's counters and histograms: one small object the pool writes and readers snapshot.

The pool updates :class:`PoolStats` while it holds its own lock, which it takes anyway, so a
count costs no lock of its own.  Readers never see the lock: ``get_stats()`` and the
Prometheus metrics read a :class:`PoolSnapshot`, a frozen copy.  Counters only grow;
``pop_stats()`` moves a baseline instead of zeroing them, so the Prometheus counters made of
the same numbers stay monotonic.

The acquire-time histogram, kept only when metrics are on, is the one thing written on the
hot path.  Each connection has its own, written by the one thread holding that connection,
right after it got it: no lock at all, and nothing added to the time the pool's lock is held.
A snapshot sums them (it may see one acquisition's bin without its seconds, never a torn
count); a closed connection's counts are folded into the pool's totals.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ACQUIRE_BUCKETS",
    "COUNTERS",
    "HEALTH_CHECK_BUCKETS",
    "Histogram",
    "HistogramSnapshot",
    "PoolSnapshot",
    "PoolStats",
]

# Acquiring an idle connection takes microseconds; waiting for one takes up to the timeout.
ACQUIRE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)
HEALTH_CHECK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)

# Everything the pool counts.  Names ending in _s are seconds; get_stats() shows them as _ms.
COUNTERS = (
    "requests_num",
    "requests_queued",
    "requests_wait_s",
    "requests_errors",
    "requests_timeouts",
    "requests_rejected",  # TooManyRequests
    "usage_s",
    "returns_bad",
    "returns_rolled_back",
    "connections_num",
    "connections_s",
    "connections_errors",
    "connections_lost",
    "connections_replaced",
    "connections_expired",
    "connections_idle_closed",
    "checks_num",
    "checks_failed",
    "checks_timed_out",
)


class Histogram:
    """Observed values counted per bucket, and their sum.

    ``bins[i]`` counts the values up to ``bounds[i]`` (and above ``bounds[i - 1]``); the last
    bin counts those above every bound.  Not thread-safe: one writer at a time.
    """

    __slots__ = ("bins", "bounds", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.bins = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.bins[bisect_left(self.bounds, value)] += 1
        self.total += value

    def add(self, other: Histogram) -> None:
        for i, n in enumerate(other.bins):
            self.bins[i] += n
        self.total += other.total

    def snapshot(self, more: Iterable[Histogram] = ()) -> HistogramSnapshot:
        """A copy, with the counts of ``more`` (same bounds) added."""
        bins = list(self.bins)
        total = self.total
        for h in more:
            # One list copy (atomic) per histogram, though its writer may be at work.
            for i, n in enumerate(list(h.bins)):
                bins[i] += n
            total += h.total
        return HistogramSnapshot(self.bounds, tuple(bins), total)


@dataclass(frozen=True)
class HistogramSnapshot:
    bounds: tuple[float, ...]
    bins: tuple[int, ...]  # per bucket as in Histogram, not cumulative
    total: float

    @property
    def count(self) -> int:
        return sum(self.bins)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, values up to it) per bucket, ending with (inf, count)."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.bins, strict=True):
            running += n
            out.append((bound, running))
        return out

    def __add__(self, other: HistogramSnapshot) -> HistogramSnapshot:
        bins = tuple(a + b for a, b in zip(self.bins, other.bins, strict=True))
        return HistogramSnapshot(self.bounds, bins, self.total + other.total)


@dataclass(frozen=True)
class PoolSnapshot:
    """What a pool has done since it opened, and what it holds, at one moment.

    The measures are zero for a pool that is closed or gone.
    """

    counters: Mapping[str, float]  # every name in COUNTERS, totals since the pool opened
    health_checks: HistogramSnapshot
    acquire: HistogramSnapshot | None  # None unless the pool was made with metrics
    min_size: int = 0
    max_size: int = 0
    size: int = 0  # open connections, lent out or not, and those being opened
    idle: int = 0
    lent: int = 0  # lent out, or being checked or tidied
    waiting: int = 0  # requests queued for a connection

    def stats(self, since: Mapping[str, float] | None = None) -> dict[str, int]:
        """The ``get_stats()`` dict: measures, then counters since the ``since`` counters."""
        stats = {
            "pool_min": self.min_size,
            "pool_max": self.max_size,
            "pool_size": self.size,
            "pool_available": self.idle,
            "requests_waiting": self.waiting,
        }
        for name, value in self.counters.items():
            if since is not None:
                value -= since[name]
            if name.endswith("_s"):
                stats[name[:-2] + "_ms"] = int(value * 1000)
            else:
                stats[name] = int(value)
        return stats


class PoolStats:
    """The counters of one pool (see the module docstring for who writes what, and when).

    ``lock`` is the lock that guards them: the owning pool's own.
    """

    # The counters are plain attributes (pool code does ``stats.requests_num += 1``) and
    # listed here, with the rest, for speed: __slots__ = COUNTERS + the others.
    __slots__ = (*COUNTERS, "_live", "_lock", "acquire", "baseline", "health_checks")

    requests_num: int
    requests_queued: int
    requests_wait_s: float
    requests_errors: int
    requests_timeouts: int
    requests_rejected: int
    usage_s: float
    returns_bad: int
    returns_rolled_back: int
    connections_num: int
    connections_s: float
    connections_errors: int
    connections_lost: int
    connections_replaced: int
    connections_expired: int
    connections_idle_closed: int
    checks_num: int
    checks_failed: int
    checks_timed_out: int

    def __init__(self, lock: threading.Lock, *, time_acquires: bool = False) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)
        self._lock = lock
        self.health_checks = Histogram(HEALTH_CHECK_BUCKETS)
        # Acquisitions of the connections already closed (None: not timed, metrics off) ...
        self.acquire = Histogram(ACQUIRE_BUCKETS) if time_acquires else None
        # ... and those of open connections, one histogram each (see acquire_times()).
        self._live: set[Histogram] = set()
        # The counters at the last pop_stats(): get_stats() shows what has happened since.
        self.baseline: Mapping[str, float] = dict.fromkeys(COUNTERS, 0)

    def acquire_times(self) -> Histogram | None:
        """The acquire-time histogram for a new connection; None when not timed.  Lock held."""
        if self.acquire is None:
            return None
        times = Histogram(ACQUIRE_BUCKETS)
        self._live.add(times)
        return times

    def retire(self, times: Histogram | None) -> None:
        """Fold a closed connection's acquire times into the totals.  Lock held."""
        if times is not None and self.acquire is not None:
            self._live.discard(times)
            self.acquire.add(times)

    def snapshot(self) -> PoolSnapshot:
        """The counters alone (measures zero), as of now: for a pool that is gone."""
        with self._lock:
            return self.snapshot_locked()

    def snapshot_locked(self, **measures: int) -> PoolSnapshot:
        """The counters and the owner's ``measures`` (PoolSnapshot fields).  Lock held."""
        counters = {name: getattr(self, name) for name in COUNTERS}
        acquire = self.acquire.snapshot(self._live) if self.acquire is not None else None
        return PoolSnapshot(counters, self.health_checks.snapshot(), acquire, **measures)
