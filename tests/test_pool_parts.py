"""The pool's parts on their own, without a server: backoff, stats."""

from __future__ import annotations

import threading

import pytest

from pytest_cdc.pool_backoff import DOWN_AFTER, INITIAL_DELAY, ReconnectBackoff
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
        assert want * 0.9 <= got <= want * 1.1
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
