"""Both isolation modes, on the embedded default and on the running server (pytester runs)."""

from __future__ import annotations

import psycopg2
import pytest
from helpers import server_dsn, server_url

SERVER = server_url()

TWO_TESTS = """
import pytest

def test_a_writes(cdc_db):
    cdc_db.execute("create table leak (id int)")
    cdc_db.execute("insert into leak values (1)")
    cdc_db.commit()  # a savepoint release in rollback isolation, not a real commit
    assert cdc_db.fetchval("select count(*) from leak") == 1

def test_b_sees_nothing(cdc_db):
    assert cdc_db.fetchval("select to_regclass('leak')") is None

def test_c_rollback_to_savepoint_after_error(cdc_db):
    cdc_db.execute("create table t (id int primary key)")
    cdc_db.commit()
    cdc_db.execute("insert into t values (1)")
    with pytest.raises(Exception):
        cdc_db.execute("insert into t values (1)")
    cdc_db.rollback()
    assert cdc_db.fetchval("select count(*) from t") == 0
"""


def _server_has(sql: str) -> object:
    conn = psycopg2.connect(SERVER)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_rollback_isolation(pytester: pytest.Pytester, where: str) -> None:
    pytester.makepyfile(test_iso=TWO_TESTS)
    args = [] if where == "embedded" else [f"--cdc-db={SERVER}"]
    result = pytester.runpytest("-p", "no:randomly", *args)
    result.assert_outcomes(passed=3)
    if where == "server":
        assert _server_has("select to_regclass('leak') is null") is True


DATABASE_ISOLATION = """
import pytest

@pytest.mark.cdc(isolation="database")
def test_commits_for_real(cdc_db, cdc_databases):
    name = cdc_db.fetchval("select current_database()")
    assert name.startswith("cdc_test_")
    cdc_db.execute("create table orders (id int)")
    cdc_db.execute("insert into orders values (1)")
    cdc_db.commit()
    other = cdc_databases["default"].connect(name)   # a second session sees the commit
    assert other.fetchval("select count(*) from orders") == 1
    other.close()
    print("CLONE", name)

@pytest.mark.cdc(isolation="database")
def test_next_clone_is_fresh(cdc_db):
    assert cdc_db.fetchval("select to_regclass('orders')") is None
    assert cdc_db.fetchval("select count(*) from seeded") == 2
"""


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_database_isolation_with_load(pytester: pytest.Pytester, where: str) -> None:
    schema = pytester.makefile(
        ".sql",
        schema="create table seeded (id int primary key);\ninsert into seeded values (1), (2);\n",
    )
    pytester.makepyfile(test_db=DATABASE_ISOLATION)
    args = [] if where == "embedded" else [f"--cdc-db={SERVER}"]
    result = pytester.runpytest("-s", "-p", "no:randomly", f"--cdc-load={schema}", *args)
    result.assert_outcomes(passed=2)
    if where == "server":
        clone = next(line for line in result.outlines if "CLONE " in line).split("CLONE ")[1]
        # every cdc_test_* database of this run is gone, and the user's database is untouched
        assert _server_has(f"select count(*) from pg_database where datname = '{clone}'") == 0
        prefix = clone.rsplit("_", 2)[0]
        assert _server_has(f"select count(*) from pg_database where datname like '{prefix}%'") == 0
        assert _server_has("select to_regclass('seeded') is null") is True


def test_marker_limits_isolation_to_named_db(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.cdc(db="target", isolation="database")
        def test_loader_commits(cdc_target, cdc_db):
            assert cdc_target.fetchval("select current_database()").startswith("cdc_test_")
            assert cdc_db.fetchval("select current_database()") == {server_dsn()["dbname"]!r}
        """
    )
    result = pytester.runpytest(f"--cdc-db={SERVER}", "--cdc-db=target=embedded")
    result.assert_outcomes(passed=1)


def test_source_fixture_skips_when_not_configured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cdc_source): pass")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*no database named 'source' is configured: pass --cdc-db=source=URL*"]
    )


def test_bad_marker_is_a_clear_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cdc(isolation="snapshot")
        def test_x(cdc_db): pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*isolation='snapshot'* is not one of rollback, database*"])
    assert "Traceback" not in result.stdout.str()


def test_cdc_connect_unknown_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cdc_connect): cdc_connect('targte')")
    result = pytester.runpytest("--cdc-db=target=embedded")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no database named 'targte' (did you mean 'target'?)*"])


def test_refuses_to_drop_non_test_database(cdc_databases: dict[str, object]) -> None:
    from pytest_cdc.errors import UnsafeOperation

    handle = cdc_databases["default"]
    with pytest.raises(UnsafeOperation, match="refusing to drop database 'postgres'"):
        handle.drop_database("postgres")  # type: ignore[attr-defined]


def test_a_test_that_breaks_its_connection_does_not_poison_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_kills_its_own_backend(cdc_db):
            with pytest.raises(Exception):
                cdc_db.execute("select pg_terminate_backend(pg_backend_pid())")

        def test_next_one_gets_a_working_connection(cdc_db):
            assert cdc_db.fetchval("select 1") == 1
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
