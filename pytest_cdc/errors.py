"""The exceptions pytest-cdc raises on purpose.

Every message is one line a person can act on: lower case, naming the object with ``!r``, and
saying what to do.  Anything that shows a database location goes through
:func:`pytest_cdc.masking.mask_password` first.  One root, :class:`CdcError`: callers catch it for
"pytest-cdc could not do it, and says why", and the console script maps it to exit 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or ``""`` when none is close."""
    from difflib import get_close_matches  # only on the way to an error message

    close = get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, passwords masked: what one-line errors show.

    Driver messages run to several lines (libpq adds DETAIL and HINT lines, pyodbc a tuple of
    SQLSTATE and text); the first says what went wrong.  An empty message gives the type name.
    """
    from pytest_cdc.masking import mask_password

    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    # pyodbc: ('08001', '[08001] [Driver] message (0) (SQLDriverConnect)')
    if (
        len(args) == 2
        and isinstance(args[0], str)
        and isinstance(args[1], str)
        and len(args[0]) == 5
    ):
        text = args[1]
    else:
        text = str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return mask_password(lines[0] if lines else type(exc).__name__)


#: What a connection failure's message says, and what to do about it.  The default, when none
#: matches, is a server that is down or a wrong host or port.
_CONNECT_FIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("password authentication failed", "authentication failed", "login failed", "(18456)"),
        "check the user name and password",
    ),
    (("role", "does not exist"), "check the user name"),
    (("database", "does not exist"), "check the database name"),
    (("cannot open database", "(4060)"), "check the database name and its permissions"),
    (
        ("ssl", "certificate", "encryption"),
        "check the TLS settings (sslmode, Encrypt, TrustServerCertificate)",
    ),
    (("no pg_hba.conf entry",), "allow this client in the server's pg_hba.conf"),
    (
        ("too many connections", "remaining connection slots"),
        "free some connections or raise the server's limit",
    ),
)


def connect_fix(reason: str) -> str | None:
    """What to do about a failed connection, from the driver's message; None for the default
    (a server that is down, or a wrong host or port)."""
    lowered = reason.lower()
    for words, fix in _CONNECT_FIXES:
        if words[0] in ("role", "database"):
            if all(word in lowered for word in words):
                return fix
        elif any(word in lowered for word in words):
            return fix
    return None


class CdcError(Exception):
    """Base class: an error pytest-cdc explains itself, shown without a traceback."""


# -- settings and arguments ----------------------------------------------------------------------
class ConfigError(CdcError):
    """A setting (option, ini key, env var, pyproject table, argument) is wrong."""


class UrlError(ConfigError):
    """A database URL cannot be understood."""


class UnsupportedDialect(CdcError):
    """The operation is not available for this database dialect."""


class UnsafeOperation(CdcError):
    """The plugin refused to touch something it does not own (a non-test database)."""


# -- databases -----------------------------------------------------------------------------------
class DatabaseUnavailable(CdcError):
    """A configured database cannot be reached or started."""


class EmbeddedError(DatabaseUnavailable):
    """The embedded PostgreSQL could not be found, initialised or started."""


class DatabaseSkipped(CdcError):
    """The database cannot exist here (no server binaries, no Docker): tests using it skip."""


class QueryFailed(CdcError):
    """A statement failed on one side of a comparison; ``side`` and ``purpose`` say where."""

    def __init__(self, message: str, *, side: str = "", purpose: str = "") -> None:
        super().__init__(message)
        self.side = side
        self.purpose = purpose


class QueryTimeout(QueryFailed, TimeoutError):
    """A statement did not finish within the statement (or lock) timeout."""


# -- the connection pool -------------------------------------------------------------------------
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


# -- plans ---------------------------------------------------------------------------------------
class PlanError(CdcError):
    """A plan could not be obtained (aborted transaction, unsupported connection, ...)."""


class PlanFormatError(PlanError):
    """A plan document (EXPLAIN JSON, showplan XML) cannot be read."""


class PlanFileError(PlanError):
    """A saved plan file is missing, unreadable or not a plan."""


# -- reconciliation ------------------------------------------------------------------------------
class ReconcileError(ConfigError):
    """A reconciliation cannot run as asked (unknown table or column, unsupported type...)."""


class BadKey(ReconcileError):
    """The key does not identify rows: it holds NULL, or a value more than once."""


class Inconsistent(CdcError):
    """A comparison's own figures disagree: no verdict is given rather than a wrong one."""


def fail(message: str) -> NoReturn:
    """Fail the running test with ``message`` and no traceback (an ``AssertionError`` when
    pytest is not running): the one place below the plugin layer that touches pytest."""
    __tracebackhide__ = True
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is a dependency
        raise AssertionError(message) from None
    pytest.fail(message, pytrace=False)
