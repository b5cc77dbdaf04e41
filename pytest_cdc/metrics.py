"""Prometheus metrics for connection pools.

prometheus_client is imported only when a :class:`PoolMetrics` is made, so pools without
metrics (``metrics=None``) and a pytest run without ``--cdc-metrics-file``/``--cdc-pushgateway``
never load it.  Nothing from prometheus_client runs on the acquire/release path: gauges are
read from the pool, and the acquire histogram and waits counter from counts the pool keeps
under its own lock, when the registry is collected.  Rare events (errors, timeouts, health
checks in the background) go through ordinary label children resolved once per pool.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_cdc.urls import mask_password

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pytest_cdc.pool import ConnectionPool

__all__ = [
    "METRIC_NAMES",
    "BoundMetrics",
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

# Acquiring an idle connection takes microseconds; waiting for one takes up to the timeout.
ACQUIRE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)
HEALTH_CHECK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)

_lock = threading.Lock()
# One set of collectors per registry: a second PoolMetrics on the same registry reuses them
# instead of failing with "Duplicated timeseries".
_families: weakref.WeakKeyDictionary[Any, _Families] = weakref.WeakKeyDictionary()


_ACQUIRE = "db_connection_acquire_seconds"


class _PoolCounters:
    """``db_connection_acquire_seconds`` and ``db_connection_pool_waits_total``, kept by the
    pools themselves.

    A prometheus_client Histogram or Counter takes its own lock on every update (and the
    histogram walks its buckets), which would double the cost of an uncontended acquire and
    serialise contended ones.  Instead each pool counts under the lock it holds anyway, and
    this collector sums the counts per pool label when the registry is collected.
    """

    def __init__(self) -> None:
        self._bound: list[BoundMetrics] = []
        self._lock = threading.Lock()

    def add(self, bound: BoundMetrics) -> None:
        with self._lock:
            self._bound.append(bound)

    def describe(self) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        return [
            HistogramMetricFamily(_ACQUIRE, _ACQUIRE_DOC, labels=["pool"]),
            CounterMetricFamily(_WAITS, _WAITS_DOC, labels=["pool"]),
        ]

    def collect(self) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        per_label: dict[str, tuple[list[int], float]] = {}
        waits: dict[str, int] = {}
        with self._lock:
            bound = list(self._bound)
        for b in bound:
            bins, total, waited = b.snapshot()
            seen_bins, seen_total = per_label.get(b.pool_label, ([0] * len(bins), 0.0))
            per_label[b.pool_label] = (
                [x + y for x, y in zip(seen_bins, bins, strict=True)],
                seen_total + total,
            )
            waits[b.pool_label] = waits.get(b.pool_label, 0) + waited
        waits_family = CounterMetricFamily(_WAITS, _WAITS_DOC, labels=["pool"])
        for label, count in sorted(waits.items()):
            waits_family.add_metric([label], count)
        family = HistogramMetricFamily(_ACQUIRE, _ACQUIRE_DOC, labels=["pool"])
        for label, (bins, total) in sorted(per_label.items()):
            cumulative, buckets = 0, []
            for bound_value, count in zip((*ACQUIRE_BUCKETS, float("inf")), bins, strict=True):
                cumulative += count
                le = "+Inf" if bound_value == float("inf") else repr(float(bound_value))
                buckets.append((le, cumulative))
            family.add_metric([label], buckets, total)
        return [family, waits_family]


_ACQUIRE_DOC = "Time to acquire a connection (counted when it is given back)."
_WAITS = "db_connection_pool_waits_total"
_WAITS_DOC = "Requests that had to wait for a connection."


class _Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def make(
            cls: Callable[..., Any], name: str, doc: str, labels: tuple[str, ...], **kw: Any
        ) -> Any:
            try:
                return cls(name, doc, labels, registry=registry, **kw)
            except ValueError:
                # Registered on this registry by an earlier copy of this module (or a reload):
                # use what is there rather than crash.
                existing = getattr(registry, "_names_to_collectors", {}).get(name)
                if existing is None:
                    raise
                return existing

        pool = ("pool",)
        self.size = make(Gauge, "db_connection_pool_size", "Open connections.", pool)
        self.active = make(Gauge, "db_connection_pool_active", "Connections lent out.", pool)
        self.idle = make(Gauge, "db_connection_pool_idle", "Idle connections.", pool)
        self.timeouts = make(
            Counter,
            "db_connection_pool_timeouts_total",
            "Requests that gave up waiting (PoolTimeout).",
            pool,
        )
        self.errors = make(
            Counter,
            "db_connection_pool_errors_total",
            "Pool errors by type (connect_failed, connection_lost, timeout, ...).",
            ("pool", "error_type"),
        )
        self.counters = _PoolCounters()
        try:
            registry.register(self.counters)
        except ValueError:
            existing = getattr(registry, "_names_to_collectors", {}).get(_ACQUIRE)
            if not isinstance(existing, _PoolCounters):
                raise
            self.counters = existing
        self.health = make(
            Histogram,
            "db_connection_health_check_seconds",
            "Time taken by background and on-acquire health checks.",
            pool,
            buckets=HEALTH_CHECK_BUCKETS,
        )


class PoolMetrics:
    """The pool metrics on one registry (default: a fresh private ``CollectorRegistry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
        self.registry = registry
        with _lock:
            families = _families.get(registry)
            if families is None:
                families = _families[registry] = _Families(registry)
        self._families = families

    def bind(self, pool: ConnectionPool) -> BoundMetrics:
        """Label children for ``pool`` and gauges that read it (weakly) at collection time."""
        return BoundMetrics(self._families, pool)

    def render(self) -> str:
        return render(self.registry)


class BoundMetrics:
    """Metrics of one pool; the pool calls these on its paths, so they stay small."""

    __slots__ = (
        "_errors",
        "_health",
        "_lock",
        "_timeouts",
        "acquire_bins",
        "acquire_bounds",
        "acquire_sum",
        "errors_family",
        "pool_label",
        "waits",
    )

    def __init__(self, families: _Families, pool: ConnectionPool) -> None:
        label = mask_password(pool.name)
        self.pool_label = label
        ref = weakref.ref(pool)

        def reader(index: int) -> Callable[[], float]:
            def read() -> float:
                p = ref()
                return float(p.gauges()[index]) if p is not None and not p.closed else 0.0

            return read

        families.size.labels(label).set_function(reader(0))
        families.active.labels(label).set_function(reader(1))
        families.idle.labels(label).set_function(reader(2))
        self._timeouts = families.timeouts.labels(label)
        # Written by the pool under its own lock (see _PoolCounters); the last bin is +Inf.
        self._lock = pool._lock
        self.acquire_bounds = ACQUIRE_BUCKETS
        self.acquire_bins = [0] * (len(ACQUIRE_BUCKETS) + 1)
        self.acquire_sum = 0.0
        self.waits = 0
        families.counters.add(self)
        self._health = families.health.labels(label)
        self.errors_family = families.errors
        self._errors: dict[str, Any] = {}

    def snapshot(self) -> tuple[list[int], float, int]:
        with self._lock:
            return list(self.acquire_bins), self.acquire_sum, self.waits

    def timed_out(self) -> None:
        self._timeouts.inc()

    def checked(self, seconds: float) -> None:
        self._health.observe(seconds)

    def error(self, error_type: str) -> None:
        child = self._errors.get(error_type)
        if child is None:
            child = self._errors[error_type] = self.errors_family.labels(
                self.pool_label, error_type
            )
        child.inc()


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
