"""The database fixtures.

Small session fixtures (``cdc_settings``, ``cdc_session``, ``cdc_databases``) that a project can
override in its ``conftest.py``, composed into the per-test fixtures ``cdc_connect``, ``cdc_db``,
``cdc_source`` and ``cdc_target``.

Isolation, chosen with ``@pytest.mark.cdc(db=..., isolation=...)``:

``rollback`` (default)
    The test's connection is inside a transaction that is rolled back at teardown.  ``commit()``
    on it releases a savepoint instead of committing, so code under test that commits still
    works and still leaves nothing behind.
``database``
    A fresh database cloned from the template (``--cdc-load``), dropped after the test: for code
    that commits on connections of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_cdc.database import CdcConnection
from pytest_cdc.errors import CdcError, ConfigError, first_line
from pytest_cdc.plugin.stash import SETTINGS_KEY, new_session, session_for

if TYPE_CHECKING:
    from pytest_cdc.session import CdcSession, DatabaseHandle
    from pytest_cdc.settings import CdcSettings


#: The type of the ``cdc_connect`` fixture, for annotations in users' tests.
CdcConnect = Callable[[str], CdcConnection]

_SAVEPOINT = "cdc_test_commit"
_MARKER_ARGUMENTS = ("db", "isolation")


@pytest.fixture(scope="session")
def cdc_settings(pytestconfig: pytest.Config) -> CdcSettings:
    """The resolved pytest-cdc settings (override to compute them another way)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def cdc_session(pytestconfig: pytest.Config, cdc_settings: CdcSettings) -> Iterator[CdcSession]:
    """The session's databases, from ``cdc_settings``; started lazily, closed at the end.

    With the resolved settings this is the session the report header shows; a conftest that
    overrides ``cdc_settings`` gets a session of its own, built from what it returns.
    """
    error: CdcError | None = None
    try:
        if cdc_settings is pytestconfig.stash.get(SETTINGS_KEY, None):
            yield session_for(pytestconfig)
            return
        session = new_session(pytestconfig, cdc_settings)
    except CdcError as exc:
        error = exc
    if error is not None:
        pytest.fail(str(error), pytrace=False)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def cdc_databases(cdc_session: CdcSession) -> dict[str, DatabaseHandle]:
    """Configured databases by name; each handle starts its server on first use."""
    return cdc_session.handles


@dataclass
class _Marker:
    dbs: tuple[str, ...] | None
    isolation: str

    def isolation_for(self, name: str) -> str:
        return self.isolation if self.dbs is None or name in self.dbs else "rollback"

    def check_databases(self, known: Iterable[str]) -> None:
        """A name in ``db=`` must be a configured database.  Checked when the test first asks
        for a connection, not before: a test of an optional database skips first when this
        run does not configure it."""
        from pytest_cdc.errors import did_you_mean

        configured = list(known)
        for name in self.dbs or ():
            if name not in configured:
                raise ConfigError(
                    f"@pytest.mark.cdc(db={name!r}): no database named {name!r}"
                    f"{did_you_mean(name, configured)}; configured: {', '.join(configured)}"
                )


def _marker(request: pytest.FixtureRequest) -> _Marker:
    """The test's ``cdc`` marker, checked: a misspelt argument, isolation or database name
    (:meth:`_Marker.check_databases`) is an error naming the closest valid one, never a silent
    fallback to the defaults."""
    from pytest_cdc.errors import did_you_mean
    from pytest_cdc.settings import ISOLATIONS

    mark = request.node.get_closest_marker("cdc")
    if mark is None:
        return _Marker(None, "rollback")
    if mark.args:
        raise ConfigError("@pytest.mark.cdc takes keyword arguments only: db=..., isolation=...")
    unknown = sorted(set(mark.kwargs) - set(_MARKER_ARGUMENTS))
    if unknown:
        raise ConfigError(
            f"@pytest.mark.cdc got unknown argument(s) {unknown}"
            f"{did_you_mean(unknown[0], _MARKER_ARGUMENTS)}; use db=, isolation="
        )
    isolation = mark.kwargs.get("isolation", "rollback")
    if isolation not in ISOLATIONS:
        raise ConfigError(
            f"@pytest.mark.cdc(isolation={isolation!r}) is not one of {', '.join(ISOLATIONS)}"
            f"{did_you_mean(str(isolation), ISOLATIONS)}"
        )
    db = mark.kwargs.get("db")
    dbs = (db,) if isinstance(db, str) else (tuple(db) if db is not None else None)
    if any(not isinstance(name, str) for name in dbs or ()):
        raise ConfigError(f"@pytest.mark.cdc(db={db!r}): give a database name or a list")
    return _Marker(dbs, isolation)


@dataclass
class _TestConnections:
    """The connections one test opened, and how to undo each at teardown."""

    session: CdcSession
    marker: _Marker
    opened: dict[str, CdcConnection] = field(default_factory=dict)
    undo: list[Callable[[], None]] = field(default_factory=list)

    def get(self, name: str) -> CdcConnection:
        if name in self.opened:
            return self.opened[name]
        if not self.opened:
            self.marker.check_databases(self.session.handles)
        handle = self.session.get(name)
        if self.marker.isolation_for(name) == "database":
            conn = self._fresh_database(handle)
        else:
            conn = self._rolled_back(handle)
        self.opened[name] = conn
        return conn

    def _rolled_back(self, handle: DatabaseHandle) -> CdcConnection:
        pool = handle.pool
        raw = pool.getconn()
        dialect = handle.dialect
        assert dialect is not None
        try:
            dialect.begin(raw)
            cur = raw.cursor()
            cur.execute(dialect.savepoint_sql(_SAVEPOINT))
            cur.close()
        except BaseException:
            pool.putconn(raw)
            raise

        def commit(conn: CdcConnection) -> None:
            # Keep the outer transaction: a commit becomes "this much is now the baseline".
            cur = conn.raw.cursor()
            release = dialect.release_savepoint_sql(_SAVEPOINT)
            if release:
                cur.execute(release)
            cur.execute(dialect.savepoint_sql(_SAVEPOINT))
            cur.close()

        def rollback(conn: CdcConnection) -> None:
            cur = conn.raw.cursor()
            cur.execute(dialect.rollback_to_savepoint_sql(_SAVEPOINT))
            cur.close()

        conn = handle.wrap(raw, on_commit=commit, on_rollback=rollback)

        def undo() -> None:
            # The pool rolls back a connection returned inside a transaction, and discards one
            # that is broken, so a test that broke its connection cannot poison the next test;
            # when our rollback failed, it also checks the connection with a round trip (pyodbc
            # cannot tell a dead connection otherwise).
            healthy = True
            try:
                dialect.rollback(raw)
            except Exception:
                healthy = False
            pool.putconn(raw, check=not healthy)

        self.undo.append(undo)
        return conn

    def _fresh_database(self, handle: DatabaseHandle) -> CdcConnection:
        name = handle.clone()
        self.undo.append(lambda: handle.drop_database(name))
        raw = handle.connect_raw(name)
        raw.autocommit = False  # DB-API default: code under test commits when it means to
        conn = handle.wrap(raw)
        self.undo.append(lambda: _close_quietly(raw))
        return conn

    def close(self) -> None:
        errors: list[str] = []
        for undo in reversed(self.undo):
            try:
                undo()
            except Exception as exc:  # keep undoing the rest
                errors.append(first_line(exc))
        self.undo.clear()
        self.opened.clear()
        if errors:
            raise CdcError("cdc teardown: " + "; ".join(errors))


def _close_quietly(raw: Any) -> None:
    with contextlib.suppress(Exception):
        raw.close()


def _fail_or_skip(exc: CdcError) -> NoReturn:
    from pytest_cdc.errors import DatabaseSkipped

    if isinstance(exc, DatabaseSkipped):
        pytest.skip(str(exc))
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def cdc_connect(request: pytest.FixtureRequest, cdc_session: CdcSession) -> Iterator[CdcConnect]:
    """``cdc_connect(name)``: the test's connection to database ``name``, isolated per marker."""
    # pytest.fail/skip are called outside the except blocks: inside them the report would
    # repeat the message as "During handling of the above exception...".
    error: CdcError | None = None
    try:
        opened = _TestConnections(cdc_session, _marker(request))
    except CdcError as exc:
        error = exc
    if error is not None:
        _fail_or_skip(error)

    def connect(name: str = "default") -> CdcConnection:
        failure: CdcError | None = None
        try:
            return opened.get(name)
        except CdcError as exc:
            failure = exc
        _fail_or_skip(failure)
        raise AssertionError("unreachable")  # pragma: no cover - _fail_or_skip raises

    yield connect
    try:
        opened.close()
    except CdcError as exc:
        error = exc
    if error is not None:
        pytest.fail(str(error), pytrace=False)


def _named(request: pytest.FixtureRequest, cdc_connect: CdcConnect, name: str) -> CdcConnection:
    session: CdcSession = request.getfixturevalue("cdc_session")
    if name not in session.handles:
        pytest.skip(f"no database named {name!r} is configured: pass --cdc-db={name}=URL")
    return cdc_connect(name)


@pytest.fixture
def cdc_db(cdc_connect: CdcConnect) -> CdcConnection:
    """A connection to the ``default`` database (embedded PostgreSQL unless configured)."""
    return cdc_connect("default")


@pytest.fixture
def cdc_source(request: pytest.FixtureRequest, cdc_connect: CdcConnect) -> CdcConnection:
    """A connection to the ``source`` database (``--cdc-db=source=URL``); skips if absent."""
    return _named(request, cdc_connect, "source")


@pytest.fixture
def cdc_target(request: pytest.FixtureRequest, cdc_connect: CdcConnect) -> CdcConnection:
    """A connection to the ``target`` database (``--cdc-db=target=URL``); skips if absent."""
    return _named(request, cdc_connect, "target")
