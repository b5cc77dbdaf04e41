"""Errors raised by :mod:`pytest_cdc.pool`."""

from __future__ import annotations

from pytest_cdc.errors import CdcError, DatabaseUnavailable


class PoolError(CdcError):
    """Base class of the connection pool's errors."""


class PoolTimeout(PoolError, TimeoutError):
    """No connection became available within the acquire timeout."""


class PoolClosed(PoolError):
    """The pool was closed (or never opened) when a connection was asked for."""


class TooManyRequests(PoolError):
    """Too many requests were already queued (``max_waiting``)."""


class PoolConnectError(PoolError, DatabaseUnavailable):
    """The pool could not open a connection: the server is down or unreachable."""


class ForeignConnection(PoolError, ValueError):
    """A connection given back that is not out of this pool (foreign, or returned twice)."""
