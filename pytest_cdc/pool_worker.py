"""The pool's background worker: a thread that keeps ``min_size`` connections open, checks
idle ones, and closes expired and surplus ones.

The thread holds the pool only through a weak reference, and only while doing a round of
work, so a pool that nobody references any more is collected (its connections close with
it) and the thread then ends by itself.  A round of work is :meth:`MaintainedPool._maintain`.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from time import monotonic

from pytest_cdc.errors import PoolConnectError
from pytest_cdc.pool_base import BasePool, Slot, logger

__all__ = ["MAX_TICK", "MaintainedPool", "start_worker"]

# The worker sleeps at most this long, so it notices a garbage-collected pool quickly.
MAX_TICK = 1.0


class MaintainedPool(BasePool):
    """A pool that the background worker looks after, one round of work at a time."""

    def _maintain(self) -> float:
        """One round of background work; returns how long to sleep before the next."""
        now = monotonic()
        to_close: list[tuple[Slot, str]] = []
        to_check: list[Slot] = []
        hc = self.health_check_interval
        with self._lock:
            if self._closed:
                return MAX_TICK
            keep: deque[Slot] = deque()
            nconns = self._nconns
            # Oldest-returned first: with LIFO reuse, surplus connections collect at the left.
            for slot in self._idle:
                if now >= slot.expires or slot.generation != self._generation:
                    to_close.append((slot, "expired"))
                    nconns -= 1
                elif nconns > self._min_size and now - slot.returned >= self.max_idle:
                    to_close.append((slot, "idle"))
                    nconns -= 1
                elif nconns > self._max_size:
                    to_close.append((slot, "closed"))
                    nconns -= 1
                else:
                    if hc and now - slot.checked >= hc:
                        to_check.append(slot)
                    keep.append(slot)
            self._idle = keep
        for slot, reason in to_close:
            self._discard(slot, reason)
        for slot in to_check:
            # One at a time, so requests still find the others idle meanwhile.
            with self._lock:
                try:
                    self._idle.remove(slot)
                except ValueError:
                    continue  # lent out meanwhile: the request vets it itself
            self._check_idle(slot)
        self._grow()
        return self._next_tick()

    def _grow(self) -> None:
        """Open connections up to ``min_size``, one at a time, honouring the backoff."""
        backoff = self._backoff
        while True:
            now = monotonic()
            with self._lock:
                if self._closed or self._nconns >= self._min_size:
                    return
                if backoff.down:
                    if backoff.gave_up or not self._may_connect(now):
                        return
                    if backoff.give_up_now(now):
                        logger.error(
                            "pool %r: giving up reconnecting to %s after %.0f s (%s);"
                            " requests will still retry",
                            self.name,
                            self.connector.describe(),
                            backoff.down_for(now),
                            backoff.last_error,
                        )
                        return
                self._nconns += 1
                self._connecting += 1
            try:
                slot = self._open_slot()
            except PoolConnectError:
                return
            self._give_back(slot, monotonic())

    def _next_tick(self) -> float:
        now = monotonic()
        tick = MAX_TICK
        with self._lock:
            backoff = self._backoff
            if self._nconns < self._min_size and backoff.down and not backoff.gave_up:
                tick = min(tick, backoff.wait_left(now))
            hc = self.health_check_interval
            # Idle closing only applies above min_size; otherwise it would wake us constantly.
            idle_closing = self._nconns > self._min_size
            for slot in self._idle:
                due = slot.expires
                if idle_closing:
                    due = min(due, slot.returned + self.max_idle)
                if hc:
                    due = min(due, slot.checked + hc)
                tick = min(tick, due - now)
        return max(tick, 0.005)


def start_worker(pool: MaintainedPool, wake: threading.Event) -> threading.Thread:
    """Start the thread; ``wake.set()`` cuts its sleep short."""
    thread = threading.Thread(
        target=_run, args=(weakref.ref(pool), wake), name=f"cdc-pool-{pool.name}", daemon=True
    )
    thread.start()
    return thread


def _run(ref: weakref.ref[MaintainedPool], wake: threading.Event) -> None:
    while True:
        pool = ref()
        if pool is None or pool.closed:
            return
        try:
            delay = pool._maintain()
        except Exception:
            logger.exception("pool %r: maintenance failed", pool.name)
            delay = MAX_TICK
        del pool
        wake.wait(delay)
        wake.clear()
