"""Fault tests: backends killed under load, the server stopped and restarted mid-run, a server
that hangs, and closing a pool whose connections are still lent out."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
from helpers import server_url
from hung_server import HangingProxy, through, upstream_of

from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
from pytest_cdc.pool import ConnectionPool, PoolConnectError, PoolTimeout

URL = server_url()

THREADS = 16
ITERATIONS = 500  # per thread at least: 8000 acquire/query/release in all, and more...
KILLS = 40  # ...until the killer has terminated this many pool backends


def backends(admin: Any, app_name: str, *, settled: bool = False) -> set[int]:
    # settled: skip backends still logging in; killing those shows up as failed connects.
    sql = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    if settled:
        sql += " AND backend_start < clock_timestamp() - interval '20 milliseconds'"
    with admin.cursor() as cur:
        cur.execute(sql, (app_name,))
        return {row[0] for row in cur.fetchall()}


def wait_for(cond: Callable[[], object], *, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def join_all(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, f"threads hung: {hung}"


def test_backends_killed_under_load(admin: Any) -> None:
    app_name = f"cdc-pool-kill-{uuid.uuid4().hex[:10]}"
    size = 8
    pool = ConnectionPool(
        Psycopg2Connector(URL, application_name=app_name),
        min_size=size,
        max_size=size,
        timeout=20,
        name="kill",
        health_check_interval=0.05,
    )
    pool.wait(15)
    wrong: list[str] = []
    driver_errors: list[str] = []
    other_errors: list[BaseException] = []
    done = threading.Event()
    enough_kills = threading.Event()
    iterations = [0] * THREADS

    def work(n: int) -> None:
        i = 0
        while i < ITERATIONS or (not enough_kills.is_set() and i < 100 * ITERATIONS):
            i += 1
            iterations[n] = i
            value = n * 1_000_000 + i
            try:
                with pool.connection() as conn, conn.cursor() as cur:
                    cur.execute("SELECT %s::bigint * 2, pg_backend_pid()", (value,))
                    got = cur.fetchone()
                if got[0] != value * 2:
                    wrong.append(f"{value} * 2 -> {got[0]}")
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                # Killed while this thread was using it: an error, never a wrong answer.
                driver_errors.append(str(exc).splitlines()[0])
            except BaseException as exc:
                other_errors.append(exc)
                return

    killed: set[int] = set()

    def killer() -> None:
        rng = random.Random(1234)
        conn = psycopg2.connect(URL)
        # Autocommit, or pg_stat_activity would be one snapshot for the whole transaction.
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not done.is_set():
                    pids = sorted(backends(conn, app_name, settled=True))
                    if pids:
                        pid = rng.choice(pids)
                        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
                        if cur.fetchone()[0]:
                            killed.add(pid)
                            if len(killed) >= KILLS:
                                enough_kills.set()
                    time.sleep(rng.uniform(0.002, 0.01))
        except BaseException as exc:
            other_errors.append(exc)
        finally:
            conn.close()

    workers = [threading.Thread(target=work, args=(n,), name=f"w{n}") for n in range(THREADS)]
    k = threading.Thread(target=killer, name="killer")
    for t in workers:
        t.start()
    k.start()
    try:
        join_all(workers, 120)
    finally:
        done.set()
        join_all([k], 30)

    assert not wrong
    assert not other_errors, (other_errors[:3], pool.get_stats())
    assert len(killed) >= KILLS, "the killer hardly ran; the test proves nothing"
    assert len(driver_errors) <= len(killed)

    # Let killed backends finish exiting, then make the pool look at every idle connection.
    wait_for(lambda: not killed & backends(admin, app_name), what="killed backends to exit")
    pool.check()
    pool.wait(15)
    stats = pool.get_stats()
    # Every kill was noticed exactly once (a backend killed while still logging in counts as a
    # failed connect), and every lost connection was replaced.
    assert stats["connections_lost"] + stats["connections_errors"] == len(killed), stats
    assert stats["connections_replaced"] == stats["connections_lost"]
    assert stats["connections_num"] == size + stats["connections_replaced"]
    assert stats["pool_size"] == size
    assert stats["requests_num"] == sum(iterations)
    live = backends(admin, app_name)
    assert len(live) == size, "leaked or missing backends"
    assert not live & killed
    pool.close()
    wait_for(lambda: not backends(admin, app_name), what="backends to exit after close")


@pytest.fixture
def cluster() -> Iterator[Any]:
    embedded = pytest.importorskip("pytest_cdc.embedded")
    pg = embedded.EmbeddedPostgres(name="pool-restart")
    try:
        pg.start()
    except embedded.EmbeddedError as exc:
        pytest.skip(f"needs an embedded PostgreSQL: {exc}")
    yield pg
    pg.stop()


def test_server_stopped_and_restarted(cluster: Any) -> None:
    reconnect_timeout = 4.0
    pool = ConnectionPool(
        Psycopg2Connector(cluster.url.raw, display=cluster.url.masked),
        min_size=2,
        max_size=4,
        timeout=2,
        name="restart",
        reconnect_timeout=reconnect_timeout,
        health_check_interval=0.2,
        connect_timeout=2,
    )
    pool.wait(15)
    state = {"phase": "up"}
    outcomes: dict[str, list[str]] = {"up": [], "stopping": [], "down": [], "back": []}
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            phase = state["phase"]
            try:
                with pool.connection() as conn, conn.cursor() as cur:
                    cur.execute("SELECT 21 * 2")
                    assert cur.fetchone()[0] == 42
                outcome = "ok"
            except (PoolConnectError, PoolTimeout) as exc:
                outcome = type(exc).__name__
                time.sleep(0.01)
            except psycopg2.Error:
                outcome = "driver"  # the server went away mid-query
            # A request that straddled a phase change may have seen either side.
            outcomes[phase if phase == state["phase"] else "stopping"].append(outcome)

    threads = [threading.Thread(target=work, name=f"r{n}") for n in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(outcomes["up"]) > 50, what="queries before the stop")
        state["phase"] = "stopping"  # requests under way now may see anything but a wrong answer
        cluster.stop_server()
        state["phase"] = "down"
        # Once the old connections are gone, every request fails with the pool's error.
        wait_for(
            lambda: outcomes["down"][-20:].count("PoolConnectError") == 20,
            what="requests failing while the server is down",
        )
        with pytest.raises(PoolConnectError) as info:
            pool.getconn()
        assert "'restart' cannot connect" in str(info.value)
        assert "start the server" in str(info.value)
        state["phase"] = "stopping"
        cluster.restart()
        back = time.monotonic()
        state["phase"] = "back"
        wait_for(
            lambda: "ok" in outcomes["back"],
            what="a query after the restart",
            timeout=reconnect_timeout,
        )
        recovered = time.monotonic() - back
        assert recovered <= reconnect_timeout
    finally:
        stop.set()
        join_all(threads, 30)
    assert set(outcomes["up"]) == {"ok"}
    assert "ok" not in outcomes["down"][-20:]
    stats = pool.get_stats()
    assert stats["connections_errors"] >= 1
    pool.wait(10)
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    pool.close()


@pytest.fixture
def proxy(admin: Any) -> Iterator[HangingProxy]:
    """The test server behind a proxy that can be made to hang (see hung_server.py)."""
    with HangingProxy(upstream_of(URL)) as p:
        yield p


def query(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_health_checks_of_a_hung_server_give_up(proxy: HangingProxy) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(through(proxy, URL)),
        min_size=2,
        max_size=2,
        name="hung",
        health_check_interval=0.1,
        check_timeout=0.5,
        connect_timeout=1,
        timeout=2,
    )
    try:
        pool.wait(15)
        proxy.hang()
        # Without a deadline the worker's first check waits for an answer for ever; with it,
        # both idle connections are written off and the worker carries on.
        wait_for(
            lambda: pool.get_stats()["checks_timed_out"] >= 2,
            what="the health checks to give up",
        )
        assert pool.get_stats()["connections_lost"] >= 2
        proxy.resume()
        pool.wait(15)
        with pool.connection() as conn:
            assert query(conn, "SELECT 42") == 42
    finally:
        pool.close()


def test_check_returns_when_the_server_hangs(proxy: HangingProxy) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(through(proxy, URL)),
        min_size=1,
        name="hung-check",
        health_check_interval=0,
        check_timeout=0.3,
        connect_timeout=1,
    )
    try:
        pool.wait(15)
        proxy.hang()
        checker = threading.Thread(target=pool.check, name="check", daemon=True)
        checker.start()
        join_all([checker], 30)
        stats = pool.get_stats()
        assert stats["checks_timed_out"] == 1
        assert stats["connections_lost"] == 1
    finally:
        pool.close(timeout=0)


def test_close_waits_for_lent_connections(admin: Any) -> None:
    app_name = f"cdc-pool-close-{uuid.uuid4().hex[:10]}"
    pool = ConnectionPool(
        Psycopg2Connector(URL, application_name=app_name), max_size=2, name="closing"
    )
    conn = pool.getconn()
    closer = threading.Thread(target=pool.close, kwargs={"timeout": 60}, name="closer")
    closer.start()
    try:
        wait_for(lambda: pool.closed, what="close() to start")
        # close() waits for this connection, which still works meanwhile.
        assert query(conn, "SELECT 42") == 42
        assert closer.is_alive(), "close() returned while a connection was still lent out"
    finally:
        pool.putconn(conn)
        join_all([closer], 30)
    assert conn.closed
    wait_for(lambda: not backends(admin, app_name), what="the backend to exit")


def test_close_closes_connections_still_lent_after_its_timeout(admin: Any) -> None:
    app_name = f"cdc-pool-close-{uuid.uuid4().hex[:10]}"
    pool = ConnectionPool(
        Psycopg2Connector(URL, application_name=app_name), max_size=2, name="closing"
    )
    conn = pool.getconn()
    pool.close(timeout=0.2)
    assert conn.closed
    wait_for(lambda: not backends(admin, app_name), what="the backend to exit")
    pool.putconn(conn)  # given back late: harmless
    assert pool.get_stats()["pool_size"] == 0


def test_close_interrupts_a_statement_stuck_on_a_hung_server(proxy: HangingProxy) -> None:
    pool = ConnectionPool(
        Psycopg2Connector(through(proxy, URL)), max_size=1, name="hung-close", connect_timeout=1
    )
    conn = pool.getconn()
    proxy.hang()
    errors: list[BaseException] = []

    def stuck() -> None:
        try:
            query(conn, "SELECT 1")
        except psycopg2.Error as exc:
            errors.append(exc)

    user = threading.Thread(target=stuck, name="stuck", daemon=True)
    user.start()
    closer = threading.Thread(target=pool.close, kwargs={"timeout": 0.3}, name="closer")
    closer.start()
    join_all([closer, user], 30)
    assert errors, "the statement neither finished nor failed"
    assert conn.closed
