"""Prometheus metrics of the pool, on a real PostgreSQL and a private CollectorRegistry."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import require_server, server_url
from prometheus_client import CollectorRegistry

from pytest_cdc import metrics
from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
from pytest_cdc.metrics import METRIC_NAMES, PoolMetrics
from pytest_cdc.pool import ConnectionPool, PoolConnectError, PoolTimeout

URL = server_url()


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    require_server()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def pools() -> Iterator[list[ConnectionPool]]:
    made: list[ConnectionPool] = []
    yield made
    for pool in made:
        pool.close()


def families(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_exact_names_and_values(registry: CollectorRegistry, pools: list[Any]) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(URL), max_size=1, name="m1", metrics=PoolMetrics(registry)
    )
    pools.append(pool)
    held = pool.getconn()
    assert value(registry, "db_connection_pool_size", pool="m1") == 1
    assert value(registry, "db_connection_pool_active", pool="m1") == 1
    assert value(registry, "db_connection_pool_idle", pool="m1") == 0
    with pytest.raises(PoolTimeout):
        pool.getconn(timeout=0.05)
    pool.putconn(held)
    assert value(registry, "db_connection_pool_active", pool="m1") == 0
    assert value(registry, "db_connection_pool_idle", pool="m1") == 1
    assert value(registry, "db_connection_pool_waits_total", pool="m1") == 1
    assert value(registry, "db_connection_pool_timeouts_total", pool="m1") == 1
    assert value(registry, "db_connection_pool_errors_total", pool="m1", error_type="timeout") == 1
    assert value(registry, "db_connection_acquire_seconds_count", pool="m1") == 1
    text = metrics.render(registry)
    declared = {name for name in families(text) if not name.endswith("_created")}
    assert declared == set(METRIC_NAMES)


def test_health_checks_and_connect_errors_are_counted(
    registry: CollectorRegistry, pools: list[Any]
) -> None:
    m = PoolMetrics(registry)
    pool = ConnectionPool(
        Psycopg2Connector(URL), min_size=1, name="hc", health_check_interval=0.05, metrics=m
    )
    pools.append(pool)
    deadline = time.monotonic() + 10
    while not value(registry, "db_connection_health_check_seconds_count", pool="hc"):
        assert time.monotonic() < deadline, "no health check observed"
        time.sleep(0.02)
    down = ConnectionPool(
        Psycopg2Connector("postgresql://postgres@127.0.0.1:1/test"),
        name="down",
        metrics=m,
        connect_timeout=1,
    )
    pools.append(down)
    with pytest.raises(PoolConnectError):
        down.getconn()
    failed = down.get_stats()["connections_errors"]
    assert failed >= 1
    assert (
        value(registry, "db_connection_pool_errors_total", pool="down", error_type="connect_failed")
        == failed
    )


def test_no_password_in_any_label_or_value(registry: CollectorRegistry, pools: list[Any]) -> None:
    secret = "placeholder2-pw"
    url = f"postgresql://postgres:{secret}@127.0.0.1:1/test"
    pool = ConnectionPool(
        Psycopg2Connector(url, display=url),
        name=url,
        metrics=PoolMetrics(registry),
        connect_timeout=1,
    )
    pools.append(pool)
    with pytest.raises(PoolConnectError) as info:
        pool.getconn()
    assert secret not in str(info.value)
    text = metrics.render(registry)
    assert "pool=" in text
    assert secret not in text


def test_double_registration_never_crashes(registry: CollectorRegistry, pools: list[Any]) -> None:
    first = PoolMetrics(registry)
    second = PoolMetrics(registry)
    for m in (first, second):
        pool = ConnectionPool(Psycopg2Connector(URL), max_size=1, name="same", metrics=m)
        pools.append(pool)
        pool.putconn(pool.getconn())
    # As if a second copy of the module registered the same names on this registry.
    metrics._collectors.clear()
    third = PoolMetrics(registry)
    pool = ConnectionPool(Psycopg2Connector(URL), max_size=1, name="same", metrics=third)
    pools.append(pool)
    pool.putconn(pool.getconn())
    assert value(registry, "db_connection_acquire_seconds_count", pool="same") == 3


def test_gauges_read_zero_after_close(registry: CollectorRegistry) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(URL), min_size=2, name="gone", metrics=PoolMetrics(registry)
    )
    pool.wait(10)
    assert value(registry, "db_connection_pool_size", pool="gone") == 2
    pool.close()
    assert value(registry, "db_connection_pool_size", pool="gone") == 0


def test_counts_outlive_a_closed_and_collected_pool(registry: CollectorRegistry) -> None:
    import gc
    import weakref

    pool = ConnectionPool(
        Psycopg2Connector(URL), max_size=1, name="brief", metrics=PoolMetrics(registry)
    )
    pool.putconn(pool.getconn())
    pool.putconn(pool.getconn())
    pool.close()
    gone = weakref.ref(pool)
    del pool
    gc.collect()
    assert gone() is None  # the metrics hold the pool weakly
    assert value(registry, "db_connection_acquire_seconds_count", pool="brief") == 2
    assert value(registry, "db_connection_pool_size", pool="brief") == 0


def test_pop_stats_never_sets_prometheus_counters_back(
    registry: CollectorRegistry, pools: list[Any]
) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(URL), max_size=1, name="popped", metrics=PoolMetrics(registry)
    )
    pools.append(pool)
    held = pool.getconn()
    with pytest.raises(PoolTimeout):
        pool.getconn(timeout=0.05)
    pool.putconn(held)
    assert pool.pop_stats()["requests_timeouts"] == 1
    assert pool.get_stats()["requests_timeouts"] == 0
    assert value(registry, "db_connection_pool_timeouts_total", pool="popped") == 1
    assert value(registry, "db_connection_pool_waits_total", pool="popped") == 1
    assert value(registry, "db_connection_acquire_seconds_count", pool="popped") == 1
