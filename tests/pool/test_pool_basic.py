"""ConnectionPool behaviour against the real PostgreSQL at 127.0.0.1:5432 (psycopg2)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
from helpers import server_url

from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
from pytest_cdc.pool import (
    ConnectionPool,
    ForeignConnection,
    PoolClosed,
    PoolConnectError,
    PoolTimeout,
    TooManyRequests,
)

URL = server_url()

STATS_KEYS = {
    "pool_min",
    "pool_max",
    "pool_size",
    "pool_available",
    "requests_waiting",
    "requests_num",
    "requests_queued",
    "requests_wait_ms",
    "requests_errors",
    "usage_ms",
    "connections_num",
    "connections_ms",
    "connections_errors",
    "connections_lost",
    "connections_replaced",
    "returns_bad",
}


@pytest.fixture
def app_name() -> str:
    return f"cdc-pool-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_pool(admin: Any, app_name: str) -> Iterator[Callable[..., ConnectionPool]]:
    pools: list[ConnectionPool] = []

    def make(**kwargs: Any) -> ConnectionPool:
        kwargs.setdefault("name", "test")
        kwargs.setdefault("timeout", 5.0)
        pool = ConnectionPool(Psycopg2Connector(URL, application_name=app_name), **kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def backends(admin: Any, app_name: str) -> set[int]:
    with admin.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,))
        return {row[0] for row in cur.fetchall()}


def kill(admin: Any, pid: int) -> None:
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(lambda: pid not in backends_any(admin), what=f"backend {pid} to exit")


def backends_any(admin: Any) -> set[int]:
    with admin.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity")
        return {row[0] for row in cur.fetchall()}


def pid_of(conn: Any) -> int:
    return int(conn.get_backend_pid())


def wait_for(cond: Callable[[], object], *, what: str, timeout: float = 10.0) -> None:
    """Poll ``cond`` until true; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def query(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_connection_runs_queries_and_stats_have_named_keys(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=2)
    with pool.connection() as conn:
        assert query(conn, "SELECT %s::int + 1", (41,)) == 42
        assert conn.autocommit
    stats = pool.get_stats()
    assert set(stats) >= STATS_KEYS
    assert stats["requests_num"] == 1
    assert stats["pool_max"] == 2
    popped = pool.pop_stats()
    assert popped["requests_num"] == 1
    assert pool.get_stats()["requests_num"] == 0
    assert pool.get_stats()["pool_size"] >= 1  # measures survive pop_stats


def test_min_size_opened_in_background(make_pool: Any, admin: Any, app_name: str) -> None:
    pool = make_pool(min_size=3, max_size=5)
    pool.wait(10)
    assert pool.get_stats()["pool_size"] == 3
    assert len(backends(admin, app_name)) == 3


def test_returned_in_transaction_is_rolled_back(make_pool: Any, admin: Any) -> None:
    table = f"pool_rb_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (x int)")
    pool = make_pool(max_size=1)
    try:
        conn = pool.getconn()
        with conn.cursor() as cur:
            cur.execute("BEGIN")  # by hand, in autocommit mode
            cur.execute(f"INSERT INTO {table} VALUES (1)")
        pool.putconn(conn)
        conn = pool.getconn()
        conn.autocommit = False  # the driver's own transaction
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (2)")
        pool.putconn(conn)
        again = pool.getconn()
        assert again is conn
        assert again.autocommit
        assert again.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        pool.putconn(again)
        assert query(admin, f"SELECT count(*) FROM {table}") == 0
        assert pool.get_stats()["returns_rolled_back"] == 2
    finally:
        pool.close()  # a transaction left open would hold a lock DROP TABLE waits for
        with admin.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")


def test_returned_broken_is_discarded_and_replaced(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.getconn()
    conn.close()
    pool.putconn(conn)
    stats = pool.get_stats()
    assert stats["returns_bad"] == 1
    assert stats["connections_lost"] == 1
    with pool.connection() as fresh:
        assert fresh is not conn
        assert query(fresh, "SELECT 1") == 1
    stats = pool.get_stats()
    assert stats["connections_replaced"] == 1


def test_foreign_and_double_return_are_errors(make_pool: Any) -> None:
    pool = make_pool(max_size=1)
    conn = pool.getconn()
    pool.putconn(conn)
    with pytest.raises(ForeignConnection, match="already given back"):
        pool.putconn(conn)
    stranger = psycopg2.connect(URL)
    try:
        with pytest.raises(ForeignConnection, match="not lent by this pool"):
            pool.putconn(stranger)
    finally:
        stranger.close()
    other = make_pool(max_size=1, name="other")
    theirs = other.getconn()
    with pytest.raises(ForeignConnection, match="'test'"):
        pool.putconn(theirs)
    other.putconn(theirs)


def test_idle_connection_killed_is_not_handed_out(make_pool: Any, admin: Any) -> None:
    # Health checks off: only the socket probe on acquire can notice the dead backend.
    pool = make_pool(min_size=1, max_size=1, health_check_interval=0)
    with pool.connection() as conn:
        pid = pid_of(conn)
    kill(admin, pid)
    time.sleep(0.01)  # connections given back under 2 ms ago are handed out unprobed
    with pool.connection() as conn:
        assert pid_of(conn) != pid
        assert query(conn, "SELECT 1") == 1
    assert pool.get_stats()["connections_lost"] == 1


def test_timeout_names_pool_wait_and_stats(make_pool: Any) -> None:
    pool = make_pool(max_size=1, name="tiny")
    held = pool.getconn()
    with pytest.raises(PoolTimeout) as info:
        pool.getconn(timeout=0.2)
    msg = str(info.value)
    assert "'tiny'" in msg
    assert "0.2" in msg
    assert "1/1" in msg
    assert "\n" not in msg
    assert pool.get_stats()["requests_timeouts"] == 1
    pool.putconn(held)


def test_waiter_gets_returned_connection(make_pool: Any) -> None:
    pool = make_pool(max_size=1)
    held = pool.getconn()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(pool.getconn(timeout=10)))
    t.start()
    wait_for(lambda: pool.get_stats()["requests_waiting"] == 1, what="a waiter")
    pool.putconn(held)
    t.join(10)
    assert not t.is_alive()
    assert got == [held]
    assert pool.get_stats()["requests_queued"] == 1
    pool.putconn(held)


def test_waiters_are_served_in_arrival_order(make_pool: Any) -> None:
    pool = make_pool(max_size=1)
    held = pool.getconn()
    got: dict[str, Any] = {}

    def wait(name: str) -> None:
        got[name] = pool.getconn(timeout=30)

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    wait_for(lambda: pool.get_stats()["requests_waiting"] == 1, what="the first waiter")
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    wait_for(lambda: pool.get_stats()["requests_waiting"] == 2, what="the second waiter")
    pool.putconn(held)  # handed straight to the first waiter, not left for anyone to grab
    first.join(5)
    assert not first.is_alive()
    assert got == {"first": held}
    pool.putconn(got["first"])
    second.join(5)
    assert not second.is_alive()
    assert got["second"] is held
    pool.putconn(held)


def test_reconnection_backs_off(admin: Any) -> None:
    connector = Psycopg2Connector("postgresql://postgres@127.0.0.1:1/test")
    with ConnectionPool(connector, name="backoff", connect_timeout=1) as pool:
        for _ in range(50):
            with pytest.raises(PoolConnectError):
                pool.getconn()
        # Two attempts made the server count as down; the other requests failed at once
        # without knocking on the port again until the (doubling) delay has passed.
        assert pool.get_stats()["connections_errors"] <= 4
        assert pool.get_stats()["requests_errors"] == 50


def test_max_waiting_rejects_extra_requests(make_pool: Any) -> None:
    pool = make_pool(max_size=1, max_waiting=1, name="busy")
    held = pool.getconn()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(pool.getconn(timeout=10)))
    t.start()
    wait_for(lambda: pool.get_stats()["requests_waiting"] == 1, what="a waiter")
    with pytest.raises(TooManyRequests, match=r"'busy'.*max_waiting=1"):
        pool.getconn(timeout=10)
    pool.putconn(held)
    t.join(10)
    assert got == [held]
    pool.putconn(held)


def test_close_wakes_waiters_with_pool_closed(make_pool: Any) -> None:
    pool = make_pool(max_size=1)
    held = pool.getconn()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            pool.getconn(timeout=30)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: pool.get_stats()["requests_waiting"] == 3, what="three waiters")
    pool.close(timeout=0)  # no wait for `held` (test_pool_faults.py has that)
    for t in threads:
        t.join(5)
        assert not t.is_alive()
    assert len(errors) == 3
    assert all(isinstance(e, PoolClosed) for e in errors)
    pool.putconn(held)  # given back after close: closed, not pooled (and no error)
    assert held.closed
    with pytest.raises(PoolClosed, match="is closed"):
        pool.getconn()


def test_lifetime_recycles_connections(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1, max_lifetime=0.2, health_check_interval=0)
    with pool.connection() as conn:
        first = pid_of(conn)
    pids = {first}

    def recycled() -> bool:
        with pool.connection() as conn:
            pids.add(pid_of(conn))
        return len(pids) > 1

    wait_for(recycled, what="a recycled connection")
    assert pool.get_stats()["connections_expired"] >= 1


def test_lifetimes_are_jittered(make_pool: Any) -> None:
    pool = make_pool(min_size=4, max_size=4, max_lifetime=100.0)
    pool.wait(10)
    lifetimes = {round(s.expires - s.created, 6) for s in pool._idle}
    assert len(lifetimes) == 4
    assert all(95.0 <= life <= 100.0 for life in lifetimes)


def test_idle_connections_above_min_size_are_closed(
    make_pool: Any, admin: Any, app_name: str
) -> None:
    pool = make_pool(min_size=1, max_size=3, max_idle=0.2)
    held = [pool.getconn() for _ in range(3)]
    for conn in held:
        pool.putconn(conn)
    wait_for(lambda: pool.get_stats()["pool_size"] == 1, what="idle connections to close")
    assert pool.get_stats()["connections_idle_closed"] == 2
    wait_for(lambda: len(backends(admin, app_name)) == 1, what="backends to exit")


def test_health_worker_replaces_killed_idle_connections(
    make_pool: Any, admin: Any, app_name: str
) -> None:
    pool = make_pool(min_size=2, max_size=2, health_check_interval=0.1)
    pool.wait(10)
    before = backends(admin, app_name)
    assert len(before) == 2
    for pid in before:
        kill(admin, pid)
    # Nobody acquires: only the background worker can notice and replace them.
    wait_for(lambda: pool.get_stats()["connections_replaced"] == 2, what="replacements")
    stats = pool.get_stats()
    assert stats["connections_lost"] == 2
    assert stats["checks_failed"] == 2
    after = backends(admin, app_name)
    assert len(after) == 2
    assert not after & before


def test_check_replaces_dead_connections_now(make_pool: Any, admin: Any, app_name: str) -> None:
    pool = make_pool(min_size=2, max_size=2, health_check_interval=0)
    pool.wait(10)
    victim = next(iter(backends(admin, app_name)))
    kill(admin, victim)
    pool.check()
    assert pool.get_stats()["connections_lost"] == 1
    pool.wait(10)
    assert victim not in backends(admin, app_name)


def test_drain_replaces_every_connection(make_pool: Any, admin: Any, app_name: str) -> None:
    pool = make_pool(min_size=2, max_size=3)
    pool.wait(10)
    lent = pool.getconn()
    before = backends(admin, app_name)
    pool.drain()
    pool.putconn(lent)  # from before the drain: closed on return
    assert lent.closed
    pool.wait(10)
    wait_for(lambda: not backends(admin, app_name) & before, what="old backends to exit")


def test_resize_grows_and_lets_waiters_connect(make_pool: Any) -> None:
    pool = make_pool(min_size=0, max_size=1)
    held = pool.getconn()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(pool.getconn(timeout=10)))
    t.start()
    wait_for(lambda: pool.get_stats()["requests_waiting"] == 1, what="a waiter")
    pool.resize(2, 3)
    t.join(10)
    assert len(got) == 1
    assert got[0] is not held
    pool.wait(10)
    assert pool.get_stats()["pool_min"] == 2
    pool.putconn(held)
    pool.putconn(got[0])
    with pytest.raises(ValueError, match="max_size"):
        pool.resize(3, 2)


def test_callbacks(make_pool: Any) -> None:
    seen: dict[str, int] = {"configure": 0, "reset": 0, "check": 0}

    def configure(conn: Any) -> None:
        seen["configure"] += 1
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '5s'")

    def reset(conn: Any) -> None:
        seen["reset"] += 1

    def check(conn: Any) -> None:
        seen["check"] += 1
        query(conn, "SELECT 1")

    pool = make_pool(
        min_size=1,
        max_size=1,
        configure=configure,
        reset=reset,
        check=check,
        health_check_interval=0.05,
    )
    with pool.connection() as conn:
        assert query(conn, "SHOW statement_timeout") == "5s"
    wait_for(lambda: seen["check"] >= 1, what="a health check")
    assert seen["configure"] == 1
    assert seen["reset"] == 1


def test_unreachable_server_fails_fast_without_password(admin: Any) -> None:
    connector = Psycopg2Connector(
        "postgresql://postgres:secret-placeholder@127.0.0.1:1/test",
        display="postgresql://postgres:secret-placeholder@127.0.0.1:1/test",
    )
    with ConnectionPool(connector, name="down", timeout=5, connect_timeout=1) as pool:
        with pytest.raises(PoolConnectError) as info:
            pool.getconn()
        msg = str(info.value)
        assert "'down' cannot connect" in msg
        assert "secret-placeholder" not in msg
        # In backoff with nothing lent out: the next request fails at once, it does not wait.
        with pytest.raises(PoolConnectError, match="next attempt in"):
            pool.getconn()
        pool.resize(1, 1)
        with pytest.raises(PoolTimeout, match="0 of min_size 1"):
            pool.wait(0.3)
        assert pool.get_stats()["connections_errors"] >= 1


def test_pool_name_never_shows_a_password(admin: Any) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(URL), name="postgresql://u:secret-placeholder2@h/db", open=False
    )
    assert "secret-placeholder2" not in pool.name
    assert "secret-placeholder2" not in repr(pool)
    with pytest.raises(PoolClosed, match="not open yet"):
        pool.getconn()


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_size"):
        ConnectionPool(Psycopg2Connector(URL), min_size=-1, open=False)
    with pytest.raises(ValueError, match="max_size"):
        ConnectionPool(Psycopg2Connector(URL), min_size=3, max_size=2, open=False)


def test_pool_without_metrics_never_imports_prometheus(admin: Any) -> None:
    code = (
        "import sys\n"
        "from pytest_cdc.pool import ConnectionPool\n"
        "from pytest_cdc.connectors.psycopg2 import Psycopg2Connector\n"
        f"p = ConnectionPool(Psycopg2Connector({URL!r}), max_size=1)\n"
        "p.putconn(p.getconn()); p.close()\n"
        "assert 'prometheus_client' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_worker_lets_a_forgotten_pool_go(admin: Any, app_name: str) -> None:
    # The worker holds the pool only weakly: a pool nobody references is collected, its
    # worker stops and its connections close.
    import gc
    import weakref

    pool = ConnectionPool(Psycopg2Connector(URL, application_name=app_name), min_size=1)
    pool.wait(10)
    worker = pool._worker
    assert worker is not None
    ref = weakref.ref(pool)
    del pool
    # The worker may still be finishing a round of work (holding it for that long).
    wait_for(lambda: gc.collect() >= 0 and ref() is None, what="the pool to be collected")
    worker.join(5)
    assert not worker.is_alive()
    wait_for(lambda: not backends(admin, app_name), what="the connection to close")
