"""The connections a comparison reads: whatever the caller passed (a URL, a CdcConnection, a
pool or handle, a driver connection) as a driver connection and its engine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pytest_cdc.dialects.base import Dialect
from pytest_cdc.errors import (
    CdcError,
    DatabaseUnavailable,
    ReconcileError,
    connect_fix,
    first_line,
)
from pytest_cdc.masking import mask_password

#: Seconds to wait for a connection to a server given by URL.
CONNECT_TIMEOUT = 10


@dataclass
class Opened:
    """A DB-API connection with its engine, and where it leads (for messages)."""

    raw: Any
    dialect: Dialect
    paramstyle: str
    label: str


@contextlib.contextmanager
def opened(obj: Any, side: str) -> Iterator[Opened]:
    """Adapt whatever the caller passed into a raw DB-API connection plus its dialect."""
    from pytest_cdc.database import CdcConnection, dialect_of

    if isinstance(obj, str):
        raw, url_masked, dialect = connect_url(obj, side)
        try:
            yield adapt(raw, url_masked, dialect)
        finally:
            with contextlib.suppress(Exception):
                raw.close()
        return
    if isinstance(obj, Opened):  # already adapted (a replica run's budgeted connection)
        yield obj
        return
    if isinstance(obj, CdcConnection):
        yield adapt(obj.raw, f"{obj.name} ({obj.dialect.name})", dialect_of(obj))
        return
    opener = getattr(obj, "connection", None)
    if callable(opener):
        with opener() as conn, opened(conn, side) as adapted:
            yield adapted
        return
    yield adapt(obj, None)


def connect_url(spec: str, side: str) -> tuple[Any, str, Dialect]:
    from pytest_cdc.dialects import default_registry

    registry = default_registry()
    url = registry.parse(spec, name=side)
    if url.scheme in ("embedded", "docker"):
        raise ReconcileError(
            f"the {side} {url.masked!r} is not a server URL: give postgresql://USER@HOST:PORT/DB"
            " or mssql://USER:PASSWORD@HOST:PORT/DB"
        )
    dialect = registry.for_scheme(url.scheme)
    try:
        raw = dialect.connector(url).connect(timeout=CONNECT_TIMEOUT)
    except CdcError:
        raise
    except Exception as exc:
        reason = first_line(exc)
        fix = connect_fix(reason) or "check that it runs and that the host and port are right"
        raise DatabaseUnavailable(
            f"the {side} database is not reachable at {url.masked}: {reason}; {fix}"
        ) from None
    return raw, url.masked, dialect


def shared(source: Any, target: Any) -> bool:
    """Whether both sides must use one connection: the same connection, pool or handle."""
    return target is source and not isinstance(source, str)


def open_both(stack: contextlib.ExitStack, source: Any, target: Any) -> tuple[Opened, Opened]:
    """Both sides opened for as long as ``stack`` lasts.  The same pool or handle on both
    sides is borrowed once (a pool of one would block); the same URL string opens a second
    connection, so the sides run concurrently."""
    src = stack.enter_context(opened(source, "source"))
    dst = src if shared(source, target) else stack.enter_context(opened(target, "target"))
    return src, dst


def adapt(raw: Any, label: str | None, dialect: Dialect | None = None) -> Opened:
    from pytest_cdc.database import dialect_of, paramstyle_of

    engine = dialect or dialect_of(raw)
    if label is None:
        dsn = getattr(raw, "dsn", None)
        label = mask_password(f"{engine.name}: {dsn}" if dsn else engine.name)
    return Opened(raw, engine, paramstyle_of(raw), label)
