"""A third party adds a dialect through pytest_cdc_register_dialects (SQLite, a real engine)."""

from __future__ import annotations

import pytest

SQLITE_CONFTEST = """
import sqlite3
from pytest_cdc.dialects.base import Dialect


class SqliteConnector:
    paramstyle = "qmark"
    dialect = "sqlite"

    def __init__(self, path):
        self.path = path

    def connect(self, *, timeout=None):
        # isolation_level=None: autocommit, like every pytest-cdc connector
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

    def close(self, conn):
        conn.close()

    def check(self, conn):
        conn.execute("select 1").fetchone()

    def is_broken(self, conn):
        try:
            conn.total_changes
        except sqlite3.ProgrammingError:
            return True
        return False

    def in_transaction(self, conn):
        return conn.in_transaction

    def rollback(self, conn):
        if conn.in_transaction:
            conn.execute("rollback")

    def describe(self):
        return f"sqlite:///{self.path}"


class SqliteDialect(Dialect):
    name = "sqlite"
    display_name = "SQLite"
    schemes = ("sqlite",)
    sqlglot_dialect = "sqlite"
    requires_host = False
    version_query = "select sqlite_version()"

    def connector(self, url, *, database=None):
        return SqliteConnector(url.path[1:])

    def begin(self, conn):
        conn.execute("begin")

    def rollback(self, conn):
        if conn.in_transaction:
            conn.execute("rollback")


def pytest_cdc_register_dialects(registry):
    registry.register(SqliteDialect())
"""


def test_third_party_dialect_from_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SQLITE_CONFTEST)
    db = pytester.path / "app.db"
    pytester.makepyfile(
        """
        def test_writes(cdc_connect):
            conn = cdc_connect("lite")
            assert conn.dialect.name == "sqlite"
            conn.execute("create table t (id integer primary key)")
            conn.execute("insert into t values (1)")
            conn.commit()  # a savepoint release: still rolled back at teardown
            assert conn.fetchval("select count(*) from t") == 1

        def test_rolled_back(cdc_connect):
            conn = cdc_connect("lite")
            assert conn.fetchval("select count(*) from sqlite_master where name = 't'") == 0
        """
    )
    result = pytester.runpytest("-p", "no:randomly", f"--cdc-db=lite=sqlite:///{db}")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([rf"cdc: lite = sqlite:///{db}: SQLite 3\.\d+\.\d+, ready in"])


def test_builtin_dialects_use_the_same_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        seen = []

        def pytest_cdc_register_dialects(registry):
            seen.append(sorted(registry.names()))

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"SEEN {seen}")
        """
    )
    pytester.makepyfile("def test_x(cdc_session): pass")
    result = pytester.runpytest()
    # the built-in plugin registers first (tryfirst), through the very same hook call, once
    assert "SEEN [['mssql', 'postgresql']]" in result.outlines


def test_dialects_are_collected_only_when_a_database_is_used(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        calls = []

        def pytest_cdc_register_dialects(registry):
            calls.append(1)

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"CALLS {len(calls)}")
        """
    )
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert "CALLS 0" in result.outlines


def test_unknown_scheme_without_the_dialect(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--cdc-db=lite=sqlite:///x.db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: database 'lite': unknown scheme 'sqlite'*"])


def test_a_dialect_from_the_hook_is_known_everywhere(pytester: pytest.Pytester) -> None:
    # It was known to the session's own registry only: get_dialect() and the index helpers
    # said "unknown dialect 'sqlite'".
    pytester.makeconftest(SQLITE_CONFTEST)
    db = pytester.path / "app.db"
    pytester.makepyfile(
        """
        from pytest_cdc.dialects import get_dialect, resolve_dialect
        from pytest_cdc.indexes import normalize_dialect

        def test_everywhere(cdc_connect):
            cdc_connect("lite")
            assert get_dialect("sqlite").display_name == "SQLite"
            assert get_dialect("SQLITE") is resolve_dialect("sqlite")
            assert normalize_dialect("sqlite") == "sqlite"
            assert get_dialect("pg").name == "postgresql"  # the built-in ones too
        """
    )
    result = pytester.runpytest(f"--cdc-db=lite=sqlite:///{db}")
    result.assert_outcomes(passed=1)
