"""When a pool may try to connect again after failed attempts, and when it stops trying."""

from __future__ import annotations

from random import random

__all__ = ["ReconnectBackoff", "jitter"]

# First delay after a failed connect; it doubles (jittered) on each failure after that.
INITIAL_DELAY = 0.1
# Consecutive failed connects after which the server counts as down: requests that find
# nothing to lend then fail at once instead of waiting out their timeout.  One failure may be
# a fluke (a login killed or refused under load); the retry comes after INITIAL_DELAY.
DOWN_AFTER = 2


def jitter(value: float, low: float, high: float) -> float:
    """``value`` changed by a random fraction between ``low`` and ``high`` (e.g. -0.05, 0)."""
    return value * (1.0 + low + (high - low) * random())


class ReconnectBackoff:
    """The state of a pool's failed connection attempts: exponential backoff with jitter.

    ``failed()`` after each failed connect, ``succeeded()`` after a good one.  The background
    worker keeps retrying for ``reconnect_timeout`` seconds after the first failure, then gives
    up (requests still retry, at the same pace).  Not thread-safe: the pool calls it under its
    lock.
    """

    __slots__ = (
        "_delay",
        "down_since",
        "failures",
        "gave_up",
        "last_error",
        "max_delay",
        "retry_at",
        "timeout",
    )

    def __init__(self, reconnect_timeout: float) -> None:
        self.timeout = reconnect_timeout
        # Capped so that a server coming back is noticed well within reconnect_timeout.
        self.max_delay = max(INITIAL_DELAY, min(10.0, reconnect_timeout / 4))
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.failures = 0  # in a row
        self.last_error: str | None = None
        self.gave_up = False
        self._delay = 0.0

    @property
    def down(self) -> bool:
        """True from the first failed connect until the next good one."""
        return self.down_since is not None

    @property
    def counts_as_down(self) -> bool:
        """True once enough attempts in a row failed that a request should fail at once."""
        return self.failures >= DOWN_AFTER

    def due(self, now: float) -> bool:
        """True when the next attempt may start."""
        return now >= self.retry_at

    def wait_left(self, now: float) -> float:
        return max(0.0, self.retry_at - now)

    def down_for(self, now: float) -> float:
        return now - self.down_since if self.down_since is not None else 0.0

    def failed(self, now: float, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.down_since is None:
            self.down_since = now
            self._delay = INITIAL_DELAY
        else:
            self._delay = min(self._delay * 2, self.max_delay)
        self.retry_at = now + jitter(self._delay, -0.1, 0.1)

    def succeeded(self, now: float) -> float | None:
        """Forget the failures; returns how long the server was down (None if it was not)."""
        down = self.down_for(now) if self.down_since is not None else None
        self.down_since = None
        self.retry_at = 0.0
        self.failures = 0
        self.gave_up = False
        self.last_error = None
        return down

    def give_up_now(self, now: float) -> bool:
        """True (once) when the background worker has retried for ``reconnect_timeout``."""
        if self.gave_up or self.down_since is None or now - self.down_since <= self.timeout:
            return False
        self.gave_up = True
        return True
