"""The pool's parts on their own, without a server: backoff, stats, checks with a deadline."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_cdc.pool_backoff import DOWN_AFTER, INITIAL_DELAY, ReconnectBackoff
from pytest_cdc.pool_checks import Outcome, interrupt, run_check
from pytest_cdc.pool_stats import ACQUIRE_BUCKETS, COUNTERS, PoolStats


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = ReconnectBackoff(reconnect_timeout=2.0)
    assert not backoff.down
    assert backoff.max_delay == 0.5  # a quarter of reconnect_timeout
    delays = []
    for attempt in range(6):
        now = 100.0 + attempt
        backoff.failed(now, "refused")
        delays.append(backoff.retry_at - now)
        assert not backoff.due(now)
        assert backoff.due(backoff.retry_at)
    expected = [INITIAL_DELAY, 0.2, 0.4, 0.5, 0.5, 0.5]
    for got, want in zip(delays, expected, strict=True):
        assert want * 0.9 - 1e-9 <= got <= want * 1.1 + 1e-9  # (retry_at - now) rounds
    assert backoff.down_for(105.0) == 5.0
    assert backoff.last_error == "refused"


def test_backoff_counts_down_after_repeated_failures_and_forgets_on_success() -> None:
    backoff = ReconnectBackoff(reconnect_timeout=300.0)
    for _ in range(DOWN_AFTER - 1):
        backoff.failed(10.0, "refused")
    assert backoff.down
    assert not backoff.counts_as_down  # one failure may be a fluke
    backoff.failed(11.0, "refused")
    assert backoff.counts_as_down
    assert backoff.succeeded(13.5) == 3.5
    assert not backoff.down
    assert backoff.succeeded(14.0) is None
    assert backoff.last_error is None
    assert backoff.failures == 0


def test_backoff_gives_up_once_after_reconnect_timeout() -> None:
    backoff = ReconnectBackoff(reconnect_timeout=5.0)
    backoff.failed(0.0, "refused")
    assert not backoff.give_up_now(5.0)
    assert backoff.give_up_now(5.1)
    assert backoff.gave_up
    assert not backoff.give_up_now(6.0)  # said once
    backoff.succeeded(7.0)
    assert not backoff.gave_up


def test_stats_count_since_the_baseline_and_show_milliseconds() -> None:
    stats = PoolStats(threading.Lock())
    stats.requests_num = 5
    stats.usage_s = 1.5
    snap = stats.snapshot()
    assert set(snap.counters) == set(COUNTERS)
    shown = snap.stats()
    assert shown["requests_num"] == 5
    assert shown["usage_ms"] == 1500
    assert "usage_s" not in shown
    assert shown["pool_size"] == 0  # a bare stats object holds no connections
    stats.baseline = snap.counters
    stats.requests_num += 2
    assert stats.snapshot().stats(stats.baseline)["requests_num"] == 2
    assert stats.snapshot().counters["requests_num"] == 7  # totals never go back


def test_acquire_times_of_open_and_closed_connections_add_up() -> None:
    assert PoolStats(threading.Lock()).acquire_times() is None  # metrics off: not timed
    stats = PoolStats(threading.Lock(), time_acquires=True)
    first, second = stats.acquire_times(), stats.acquire_times()
    assert first is not None and second is not None
    first.observe(0.00005)
    second.observe(0.002)
    second.observe(100.0)
    stats.retire(first)
    acquire = stats.snapshot().acquire
    assert acquire is not None
    assert acquire.count == 3
    assert acquire.total == pytest.approx(100.00205)
    cumulative = dict(acquire.cumulative())
    assert cumulative[ACQUIRE_BUCKETS[0]] == 1
    assert cumulative[0.005] == 2
    assert cumulative[float("inf")] == 3
    stats.retire(second)
    assert stats.snapshot().acquire == acquire


def test_check_without_a_deadline_runs_in_the_calling_thread() -> None:
    threads: list[threading.Thread] = []
    outcome, error = run_check(
        lambda conn: threads.append(threading.current_thread()),
        object(),
        timeout=None,
        close=lambda conn: None,
        thread_name="t",
    )
    assert (outcome, error) == (Outcome.OK, None)
    assert threads == [threading.current_thread()]


def test_failed_check_reports_its_error() -> None:
    def check(conn: Any) -> None:
        raise OSError("server closed the connection unexpectedly")

    closed: list[Any] = []
    outcome, error = run_check(check, object(), timeout=5, close=closed.append, thread_name="t")
    assert outcome is Outcome.FAILED
    assert isinstance(error, OSError)
    assert closed == []  # the caller closes a connection whose check failed


@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_check_that_gets_no_answer_is_abandoned_and_interrupted(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    # A socket whose peer never writes stands in for a connection to a hung server; like
    # psycopg2's connections it shows its descriptor, so the blocked read can be woken.
    conn, _peer = socket_pair
    closed = threading.Event()
    outcome, error = run_check(
        lambda c: c.recv(1), conn, timeout=0.2, close=lambda c: closed.set(), thread_name="t"
    )
    assert (outcome, error) == (Outcome.ABANDONED, None)
    # The blocked recv() returned, and the check's thread closed the connection it now owns.
    assert closed.wait(30)


def test_abandoned_check_that_cannot_be_interrupted_closes_when_it_returns() -> None:
    # Like a pyodbc connection: no socket to shut down.
    release = threading.Event()
    closed = threading.Event()
    outcome, _ = run_check(
        lambda c: release.wait(30),
        object(),
        timeout=0.1,
        close=lambda c: closed.set(),
        thread_name="t",
    )
    assert outcome is Outcome.ABANDONED
    assert not closed.is_set()
    release.set()
    assert closed.wait(30)


def test_interrupt_wakes_a_blocked_read(socket_pair: tuple[socket.socket, socket.socket]) -> None:
    conn, _peer = socket_pair
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(conn.recv(1)))
    reader.start()
    assert interrupt(conn)
    reader.join(30)
    assert got == [b""]
    assert not interrupt(object())
