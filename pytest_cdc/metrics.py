"""Prometheus metrics for connection pools.

prometheus_client is imported only when a :class:`PoolMetrics` is made, so pools without
metrics (``metrics=None``) and a pytest run without ``--cdc-metrics-file``/``--cdc-pushgateway``
never load it.  The metrics are one collector per registry which, when the registry is
collected, reads a snapshot of each pool's counters (:mod:`pytest_cdc.pool_stats`): the pool
counts those anyway, nothing from prometheus_client runs on its paths, and the metrics never
write into a pool nor take its lock.  With metrics on, a pool also times each acquisition,
outside its lock (see ``pool_stats``).  Being plain families built at collection, the series
carry no ``_created`` samples.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from pytest_cdc.pool_stats import ACQUIRE_BUCKETS, HEALTH_CHECK_BUCKETS, PoolSnapshot
from pytest_cdc.urls import mask_password

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pytest_cdc.pool_stats import HistogramSnapshot, PoolStats

__all__ = [
    "ACQUIRE_BUCKETS",
    "HEALTH_CHECK_BUCKETS",
    "METRIC_NAMES",
    "PoolMetrics",
    "disable_session_metrics",
    "enable_session_metrics",
    "push_metrics",
    "render",
    "session_metrics",
    "session_registry",
    "write_metrics_file",
]

METRIC_NAMES = (
    "db_connection_pool_size",
    "db_connection_pool_active",
    "db_connection_pool_idle",
    "db_connection_pool_waits_total",
    "db_connection_pool_timeouts_total",
    "db_connection_pool_errors_total",
    "db_connection_acquire_seconds",
    "db_connection_health_check_seconds",
)

# db_connection_pool_errors_total{error_type}, each from one of the pool's counters.
ERROR_COUNTERS = {
    "connect_failed": "connections_errors",
    "connection_lost": "connections_lost",
    "timeout": "requests_timeouts",
    "too_many_requests": "requests_rejected",
}

_lock = threading.Lock()
# One collector per registry: a second PoolMetrics on the same registry reuses it instead of
# failing with "Duplicated timeseries".
_collectors: weakref.WeakKeyDictionary[Any, _PoolCollector] = weakref.WeakKeyDictionary()


class WatchedPool(Protocol):
    """What the metrics read of a pool (a ConnectionPool; no import of it here)."""

    name: str

    @property
    def stats(self) -> PoolStats: ...

    def snapshot(self) -> PoolSnapshot: ...


class _Source:
    """One pool, held weakly, and its counters, held strongly: the counts of a pool that
    was closed and collected still show (its gauges read zero)."""

    __slots__ = ("label", "pool", "stats")

    def __init__(self, pool: WatchedPool) -> None:
        self.label = mask_password(pool.name)
        self.pool = weakref.ref(pool)
        self.stats: PoolStats = pool.stats

    def snapshot(self) -> PoolSnapshot:
        pool = self.pool()
        return pool.snapshot() if pool is not None else self.stats.snapshot()


class _PoolCollector:
    """The pool metrics of every pool watched on one registry, pools of one name summed."""

    def __init__(self) -> None:
        self._sources: list[_Source] = []
        self._lock = threading.Lock()

    def add(self, pool: WatchedPool) -> None:
        with self._lock:
            self._sources.append(_Source(pool))

    def describe(self) -> list[Any]:
        return list(self._families({}))

    def collect(self) -> list[Any]:
        with self._lock:
            sources = list(self._sources)
        per_label: dict[str, PoolSnapshot] = {}
        for source in sources:
            snap = source.snapshot()
            seen = per_label.get(source.label)
            per_label[source.label] = snap if seen is None else _sum(seen, snap)
        return list(self._families(per_label))

    @staticmethod
    def _families(per_label: dict[str, PoolSnapshot]) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        labels = sorted(per_label)
        pool = ["pool"]
        for name, doc, field in (
            ("db_connection_pool_size", "Open connections.", "size"),
            ("db_connection_pool_active", "Connections lent out.", "lent"),
            ("db_connection_pool_idle", "Idle connections.", "idle"),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=pool)
            for label in labels:
                gauge.add_metric([label], getattr(per_label[label], field))
            yield gauge
        for name, doc, counter in (
            (
                "db_connection_pool_waits_total",
                "Requests that had to wait for a connection.",
                "requests_queued",
            ),
            (
                "db_connection_pool_timeouts_total",
                "Requests that gave up waiting (PoolTimeout).",
                "requests_timeouts",
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=pool)
            for label in labels:
                family.add_metric([label], per_label[label].counters[counter])
            yield family
        errors = CounterMetricFamily(
            "db_connection_pool_errors_total",
            "Pool errors by type (connect_failed, connection_lost, timeout, ...).",
            labels=["pool", "error_type"],
        )
        for label in labels:
            for error_type, counter in ERROR_COUNTERS.items():
                errors.add_metric([label, error_type], per_label[label].counters[counter])
        yield errors
        acquire = HistogramMetricFamily(
            "db_connection_acquire_seconds",
            "Time to acquire a connection.",
            labels=pool,
        )
        health = HistogramMetricFamily(
            "db_connection_health_check_seconds",
            "Time taken by background and on-acquire health checks.",
            labels=pool,
        )
        for label in labels:
            snap = per_label[label]
            if snap.acquire is not None:
                acquire.add_metric([label], *_buckets(snap.acquire))
            health.add_metric([label], *_buckets(snap.health_checks))
        yield acquire
        yield health


def _sum(a: PoolSnapshot, b: PoolSnapshot) -> PoolSnapshot:
    """Two pools of one name as one."""
    if a.acquire is None or b.acquire is None:
        acquire = a.acquire or b.acquire
    else:
        acquire = a.acquire + b.acquire
    return PoolSnapshot(
        counters={name: a.counters[name] + b.counters[name] for name in a.counters},
        health_checks=a.health_checks + b.health_checks,
        acquire=acquire,
        min_size=a.min_size + b.min_size,
        max_size=a.max_size + b.max_size,
        size=a.size + b.size,
        idle=a.idle + b.idle,
        lent=a.lent + b.lent,
        waiting=a.waiting + b.waiting,
    )


def _buckets(h: HistogramSnapshot) -> tuple[list[tuple[str, float]], float]:
    return [("+Inf" if le == float("inf") else repr(le), n) for le, n in h.cumulative()], h.total


def _collector_for(registry: CollectorRegistry) -> _PoolCollector:
    with _lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = _PoolCollector()
            try:
                registry.register(collector)
            except ValueError:
                # Registered on this registry by an earlier copy of this module (or a reload):
                # use what is there rather than crash.
                existing = getattr(registry, "_names_to_collectors", {}).get(METRIC_NAMES[0])
                if existing is None or not hasattr(existing, "add"):
                    raise
                collector = existing
            _collectors[registry] = collector
        return collector


class PoolMetrics:
    """The pool metrics on one registry (default: a fresh private ``CollectorRegistry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
        self.registry = registry
        self._collector = _collector_for(registry)

    def watch(self, pool: WatchedPool) -> None:
        """Report ``pool`` (held weakly) from now on; ConnectionPool(metrics=...) calls this."""
        self._collector.add(pool)

    def render(self) -> str:
        return render(self.registry)


def render(registry: CollectorRegistry) -> str:
    """The registry in the Prometheus text exposition format."""
    from prometheus_client import generate_latest

    return generate_latest(registry).decode("utf-8")


def write_metrics_file(path: str, registry: CollectorRegistry) -> None:
    """Write the registry for a node_exporter textfile collector (atomically, via rename)."""
    import os

    text = render(registry)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def push_metrics(
    url: str,
    registry: CollectorRegistry,
    *,
    job: str = "pytest-cdc",
    grouping_key: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> None:
    """Push the registry to a Prometheus Pushgateway; raises on failure (callers warn)."""
    from prometheus_client import push_to_gateway

    push_to_gateway(url, job=job, registry=registry, grouping_key=grouping_key, timeout=timeout)


# -- the pytest session's registry ---------------------------------------------------------

_session: PoolMetrics | None = None


def enable_session_metrics(registry: CollectorRegistry | None = None) -> PoolMetrics:
    """Start collecting pool metrics for this session (the metrics plugin calls this)."""
    global _session
    _session = PoolMetrics(registry)
    return _session


def disable_session_metrics(previous: PoolMetrics | None = None) -> None:
    """Stop collecting session metrics, or restore ``previous`` (nested pytester runs)."""
    global _session
    _session = previous


def session_metrics() -> PoolMetrics | None:
    """What pools made by the fixtures pass as ``metrics=``: None when nobody asked for them."""
    return _session


def session_registry() -> CollectorRegistry | None:
    """The session's registry, or None when metrics are off for this session."""
    return _session.registry if _session is not None else None
