"""The pool through OdbcConnector (pyodbc) against PostgreSQL via psqlODBC."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import psycopg2
import pytest
from helpers import odbc_connection_string, server_url
from hung_server import HangingProxy, upstream_of

from pytest_cdc.connectors.odbc import OdbcConnector
from pytest_cdc.pool import ConnectionPool, PoolTimeout

pyodbc = pytest.importorskip("pyodbc")

URL = server_url()
ODBC = odbc_connection_string()


@pytest.fixture
def app_name() -> str:
    return f"cdc-odbc-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_pool(admin: Any, app_name: str) -> Iterator[Callable[..., ConnectionPool]]:
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        pytest.skip("needs the psqlODBC driver 'PostgreSQL Unicode' (Debian: odbc-postgresql)")
    pools: list[ConnectionPool] = []

    def make(**kwargs: Any) -> ConnectionPool:
        kwargs.setdefault("name", "odbc")
        kwargs.setdefault("timeout", 5.0)
        conn_str = ODBC.rstrip(";") + f";pqopt={{application_name={app_name}}}"
        pool = ConnectionPool(OdbcConnector(conn_str, dialect="postgresql"), **kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def backends(admin: Any, app_name: str, *, settled: bool = False) -> set[int]:
    # settled: skip backends still logging in or running the driver's setup queries; killing
    # those shows up as failed connects, and a run of them makes the pool count the server down.
    sql = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    if settled:
        sql += " AND backend_start < clock_timestamp() - interval '200 milliseconds'"
    with admin.cursor() as cur:
        cur.execute(sql, (app_name,))
        return {row[0] for row in cur.fetchall()}


def kill(admin: Any, pid: int) -> None:
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            if cur.fetchone()[0] == 0:
                return
            time.sleep(0.02)
    pytest.fail(f"backend {pid} did not exit")


def wait_for(cond: Callable[[], object], *, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def fetchval(conn: Any, sql: str, *params: Any) -> Any:
    return conn.cursor().execute(sql, *params).fetchone()[0]


def test_odbc_pool_runs_queries(make_pool: Any, admin: Any, app_name: str) -> None:
    pool = make_pool(min_size=2, max_size=2)
    pool.wait(10)
    assert len(backends(admin, app_name)) == 2
    with pool.connection() as conn:
        assert fetchval(conn, "SELECT ? + 1", 41) == 42
        assert conn.autocommit
    pool.close()
    wait_for(lambda: not backends(admin, app_name), what="backends to exit")


def test_odbc_autocommit_off_is_rolled_back_and_restored(make_pool: Any, admin: Any) -> None:
    table = f"pool_odbc_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (x int)")
    pool = make_pool(max_size=1)
    try:
        conn = pool.getconn()
        conn.autocommit = False
        conn.cursor().execute(f"INSERT INTO {table} VALUES (1)")
        pool.putconn(conn)
        again = pool.getconn()
        assert again is conn
        assert again.autocommit
        pool.putconn(again)
        with admin.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == 0
        assert pool.get_stats()["returns_rolled_back"] == 1
    finally:
        pool.close()  # a transaction left open would hold a lock DROP TABLE waits for
        with admin.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")


def test_odbc_connection_killed_in_use_is_replaced(make_pool: Any, admin: Any) -> None:
    # pyodbc cannot tell a dead connection from a live one; the failed block makes the pool
    # check it before pooling it again.
    pool = make_pool(min_size=1, max_size=1, health_check_interval=0)
    pids: list[int] = []

    def query_after_kill() -> None:
        with pool.connection() as conn:
            pids.append(fetchval(conn, "SELECT pg_backend_pid()"))
            kill(admin, pids[0])
            fetchval(conn, "SELECT 1")

    with pytest.raises(pyodbc.Error):
        query_after_kill()
    pid = pids[0]
    stats = pool.get_stats()
    assert stats["returns_bad"] == 1
    assert stats["connections_lost"] == 1
    with pool.connection() as conn:
        assert fetchval(conn, "SELECT pg_backend_pid()") != pid


def test_odbc_health_worker_replaces_killed_idle(make_pool: Any, admin: Any, app_name: str) -> None:
    pool = make_pool(min_size=2, max_size=2, health_check_interval=0.1)
    pool.wait(10)
    before = backends(admin, app_name)
    for pid in before:
        kill(admin, pid)
    wait_for(lambda: pool.get_stats()["connections_replaced"] == 2, what="replacements")
    after = backends(admin, app_name)
    assert len(after) == 2
    assert not after & before


def test_odbc_timeout_and_lifetime(make_pool: Any) -> None:
    pool = make_pool(min_size=1, max_size=1, max_lifetime=0.2, health_check_interval=0)
    conn = pool.getconn()
    with pytest.raises(PoolTimeout, match="'odbc'"):
        pool.getconn(timeout=0.1)
    pool.putconn(conn)
    pids: set[int] = set()

    def recycled() -> bool:
        with pool.connection() as c:
            pids.add(fetchval(c, "SELECT pg_backend_pid()"))
        return len(pids) > 1

    wait_for(recycled, what="a recycled connection")
    assert pool.get_stats()["connections_expired"] >= 1


def test_odbc_backends_killed_under_load(make_pool: Any, admin: Any, app_name: str) -> None:
    size = 4
    pool = make_pool(min_size=size, max_size=size, timeout=20, health_check_interval=0.05)
    pool.wait(10)
    wrong: list[str] = []
    other: list[BaseException] = []
    killed: set[int] = set()
    done = threading.Event()
    enough = threading.Event()

    def work(n: int) -> None:
        i = 0
        # At least 150 rounds each, and on until 15 backends were killed (bounded).
        while i < 150 or (not enough.is_set() and i < 20_000):
            i += 1
            value = n * 100_000 + i
            try:
                with pool.connection() as conn:
                    got = fetchval(conn, "SELECT CAST(? AS integer) * 2", value)
                if got != value * 2:
                    wrong.append(f"{value} -> {got}")
            except pyodbc.Error:
                pass  # killed under it: an error, never a wrong answer
            except BaseException as exc:
                other.append(exc)
                return

    def killer() -> None:
        rng = random.Random(99)
        conn = psycopg2.connect(URL)
        conn.autocommit = True
        try:
            while not done.is_set():
                pids = sorted(backends(conn, app_name, settled=True))
                if pids:
                    pid = rng.choice(pids)
                    with conn.cursor() as cur:
                        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
                        if cur.fetchone()[0]:
                            killed.add(pid)
                            if len(killed) >= 15:
                                enough.set()
                time.sleep(rng.uniform(0.005, 0.02))
        finally:
            conn.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    k = threading.Thread(target=killer)
    for t in workers:
        t.start()
    k.start()
    try:
        for t in workers:
            t.join(120)
        assert not any(t.is_alive() for t in workers), "a worker hung"
    finally:
        done.set()
        k.join(30)
    assert not wrong
    assert not other, (other[:3], pool.get_stats())
    assert len(killed) >= 15
    wait_for(lambda: not killed & backends(admin, app_name), what="killed backends to exit")
    pool.check()
    pool.wait(10)
    stats = pool.get_stats()
    # A backend killed while still logging in counts as a failed connect, not a lost one.
    assert stats["connections_lost"] + stats["connections_errors"] == len(killed), stats
    assert stats["connections_replaced"] == stats["connections_lost"]
    assert stats["connections_num"] == size + stats["connections_lost"]
    assert len(backends(admin, app_name)) == size


@pytest.fixture
def hung_pool(make_pool: Any) -> Iterator[tuple[HangingProxy, Callable[..., ConnectionPool]]]:
    """Pools through psqlODBC to the test server behind a proxy that can be made to hang
    (make_pool: for its check that psqlODBC is installed)."""
    pools: list[ConnectionPool] = []
    with HangingProxy(upstream_of(URL)) as proxy:

        def make(**kwargs: Any) -> ConnectionPool:
            conn_str = odbc_connection_string(host="127.0.0.1", port=proxy.port)
            kwargs.setdefault("timeout", 5.0)
            kwargs.setdefault("connect_timeout", 1)
            pool = ConnectionPool(OdbcConnector(conn_str, dialect="postgresql"), **kwargs)
            pools.append(pool)
            return pool

        yield proxy, make
        # Before the proxy goes: close() must not wait on connections it cannot interrupt.
        for pool in pools:
            pool.close(timeout=0)


def test_odbc_health_checks_of_a_hung_server_give_up(hung_pool: Any) -> None:
    proxy, make = hung_pool
    pool = make(
        name="odbc-hung", min_size=2, max_size=2, health_check_interval=0.1, check_timeout=0.5
    )
    pool.wait(15)
    proxy.hang()
    # pyodbc shows no socket to shut down: the abandoned checks stay blocked in their own
    # threads (until the proxy closes), and the pool carries on without them.
    wait_for(
        lambda: pool.get_stats()["checks_timed_out"] >= 2,
        what="the health checks to give up",
        timeout=15,
    )
    assert pool.get_stats()["connections_lost"] >= 2
    proxy.resume()
    pool.wait(15)
    with pool.connection() as conn:
        assert fetchval(conn, "SELECT 42") == 42


def test_odbc_close_closes_lent_connections_and_never_blocks(hung_pool: Any) -> None:
    proxy, make = hung_pool
    pool = make(name="odbc-close", max_size=2)
    idle_user = pool.getconn()
    stuck_user = pool.getconn()
    proxy.hang()

    def stuck_statement() -> None:
        with suppress(pyodbc.Error):  # it fails when the proxy finally closes
            fetchval(stuck_user, "SELECT 1")

    stuck = threading.Thread(target=stuck_statement, name="stuck", daemon=True)
    stuck.start()
    closer = threading.Thread(target=pool.close, kwargs={"timeout": 0.3}, name="closer")
    closer.start()
    # The driver blocks in close() while the stuck statement runs: close() must not.
    closer.join(30)
    assert not closer.is_alive(), "close() hung on a connection stuck in a statement"
    with pytest.raises(pyodbc.Error):
        idle_user.cursor()
    pool.putconn(idle_user)  # given back late: harmless
