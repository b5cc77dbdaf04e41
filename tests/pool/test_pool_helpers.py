"""The seed's module-level helpers: initialize_pools(), get_*_pool(), close_pools()
(pytest_cdc.pool_registry, also importable from pytest_cdc)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import require_server, server_dsn

from pytest_cdc.errors import ConfigError, PoolClosed
from pytest_cdc.pool_registry import (
    close_pools,
    get_postgres_pool,
    get_sqlserver_pool,
    initialize_pools,
)

SERVER = server_dsn()
PG = {
    "host": SERVER.get("host", "127.0.0.1"),
    "port": int(SERVER.get("port", 5432)),
    "database": SERVER.get("dbname", "postgres"),
    "user": SERVER.get("user", "postgres"),
    "min_size": 1,
    "max_size": 3,
    "max_idle_time": 60,
    "max_lifetime": 600,
    "health_check_interval": 5,
    "acquire_timeout": 5,
    "pool_name": "seed-pg",
}


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    close_pools()


@pytest.fixture
def reachable() -> None:
    require_server()


@pytest.mark.usefixtures("reachable")
def test_postgres_pool_from_config() -> None:
    initialize_pools(postgres_config=PG)
    pool = get_postgres_pool()
    assert pool.name == "seed-pg"
    assert (pool.min_size, pool.max_size, pool.timeout) == (1, 3, 5.0)
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_setting('application_name')")
        assert cur.fetchone() == (PG["database"], "pytest-cdc:seed-pg")
    close_pools()
    assert pool.closed
    with pytest.raises(PoolClosed, match=r"initialize_pools\(postgres_config=\.\.\.\)"):
        get_postgres_pool()


@pytest.mark.usefixtures("reachable")
def test_postgres_through_odbc_driver() -> None:
    pyodbc = pytest.importorskip("pyodbc")
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        pytest.skip("needs the psqlODBC driver 'PostgreSQL Unicode'")
    initialize_pools(postgres_config={**PG, "driver": "PostgreSQL Unicode"})
    with get_postgres_pool().connection() as conn:
        assert conn.cursor().execute("SELECT 40 + 2").fetchone()[0] == 42


def test_sqlserver_config_builds_connection_string_without_showing_password() -> None:
    # No SQL Server here: min_size=0 so nothing connects; only the settings are checked.
    initialize_pools(
        sqlserver_config={
            "host": "db.example",
            "port": 14330,
            "database": "cdc",
            "user": "sa",
            "password": "Sup3r;Secret",
            "min_size": 0,
            "max_size": 2,
            "pool_name": "mssql",
        }
    )
    pool = get_sqlserver_pool()
    cs = pool.connector.connection_string  # type: ignore[attr-defined]
    assert "DRIVER={ODBC Driver 18 for SQL Server}" in cs
    assert "SERVER=db.example,14330" in cs
    assert "PWD={Sup3r;Secret}" in cs
    assert "Sup3r" not in pool.connector.describe()
    assert "Sup3r" not in repr(pool)


def test_unknown_config_key_suggests_the_right_one() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'max_sise' \(did you mean 'max_size'\?\)"):
        initialize_pools(postgres_config={**PG, "max_sise": 3})


def test_the_package_import_path_gives_the_same_functions() -> None:
    import pytest_cdc
    from pytest_cdc import pool_registry

    for name in ("initialize_pools", "get_postgres_pool", "get_sqlserver_pool", "close_pools"):
        assert getattr(pytest_cdc, name) is getattr(pool_registry, name)
