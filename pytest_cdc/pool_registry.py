"""Module-level pools for scripts: ``initialize_pools()``, ``get_postgres_pool()``, ...

Kept from the seed project so existing scripts keep working (also importable from
:mod:`pytest_cdc` itself); tests use the fixtures instead.
Config dicts use the keys in :data:`CONFIG_KEYS`; ``driver`` picks pyodbc when it names an
ODBC driver (for PostgreSQL, e.g. ``"PostgreSQL Unicode"``; psycopg2 otherwise).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_cdc.dialects import default_registry
from pytest_cdc.errors import ConfigError, PoolClosed, UnsupportedDialect, did_you_mean
from pytest_cdc.pool import ConnectionPool

if TYPE_CHECKING:
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.dialects.base import Dialect
    from pytest_cdc.metrics import PoolMetrics

__all__ = [
    "CONFIG_KEYS",
    "close_pools",
    "get_postgres_pool",
    "get_sqlserver_pool",
    "initialize_pools",
    "pool_from_config",
]

CONFIG_KEYS = frozenset(
    {
        "host",
        "port",
        "database",
        "user",
        "password",
        "driver",
        "min_size",
        "max_size",
        "max_idle_time",
        "max_lifetime",
        "health_check_interval",
        "acquire_timeout",
        "pool_name",
        # Extra driver settings: psycopg2 keyword arguments, or ODBC connection-string keys.
        "options",
    }
)

_lock = threading.Lock()
_pools: dict[str, ConnectionPool] = {}


def _check_keys(kind: str, config: Mapping[str, Any]) -> None:
    for key in config:
        if key not in CONFIG_KEYS:
            raise ConfigError(
                f"{kind} pool config: unknown key {key!r}{did_you_mean(key, sorted(CONFIG_KEYS))};"
                f" known: {', '.join(sorted(CONFIG_KEYS))}"
            )


def _connector(dialect: Dialect, config: Mapping[str, Any], app_name: str) -> Connector:
    """The dialect's connector for a config dict: the dict becomes a URL, so the connection
    string is built where every other one is (``driver`` picks pyodbc for PostgreSQL)."""
    from urllib.parse import quote, urlencode

    options = {str(k): str(v) for k, v in dict(config.get("options") or {}).items()}
    driver = config.get("driver")
    scheme = dialect.schemes[0]
    if driver and driver != "psycopg2":
        options["driver"] = str(driver)
        scheme = next((s for s in dialect.schemes if "odbc" in s), scheme)
    elif dialect.driver_modules:  # a native driver takes the application name
        options.setdefault("application_name", app_name)
    user = quote(str(config.get("user", dialect.default_user)), safe="")
    password = config.get("password")
    secret = "" if password is None else ":" + quote(str(password), safe="")
    host = str(config.get("host", "127.0.0.1"))
    port = int(config.get("port", dialect.default_port or 0))
    database = quote(str(config.get("database", dialect.default_database)), safe="")
    query = f"?{urlencode(options)}" if options else ""
    url = default_registry().parse(f"{scheme}://{user}{secret}@{host}:{port}/{database}{query}")
    return dialect.connector(url)


def pool_from_config(
    kind: str, config: Mapping[str, Any], *, metrics: PoolMetrics | None = None
) -> ConnectionPool:
    """A pool for ``kind`` (a dialect name: "postgres", "sqlserver", ...) from a seed-style
    config dict."""
    _check_keys(kind, config)
    name = str(config.get("pool_name") or kind)
    try:
        dialect = default_registry().get(kind)
    except UnsupportedDialect:
        raise ConfigError(f"unknown pool kind {kind!r}; use 'postgres' or 'sqlserver'") from None
    connector = _connector(dialect, config, app_name=f"pytest-cdc:{name}")
    min_size = int(config.get("min_size", 1))
    return ConnectionPool(
        connector,
        name=name,
        min_size=min_size,
        max_size=int(config.get("max_size", max(min_size, 10))),
        timeout=float(config.get("acquire_timeout", 30.0)),
        max_idle=float(config.get("max_idle_time", 600.0)),
        max_lifetime=float(config.get("max_lifetime", 3600.0)),
        health_check_interval=float(config.get("health_check_interval", 30.0)),
        metrics=metrics,
    )


def initialize_pools(
    postgres_config: Mapping[str, Any] | None = None,
    sqlserver_config: Mapping[str, Any] | None = None,
    *,
    metrics: PoolMetrics | None = None,
) -> None:
    """Create the module-level pools (closing any made by an earlier call)."""
    made: dict[str, ConnectionPool] = {}
    try:
        if postgres_config is not None:
            made["postgres"] = pool_from_config("postgres", postgres_config, metrics=metrics)
        if sqlserver_config is not None:
            made["sqlserver"] = pool_from_config("sqlserver", sqlserver_config, metrics=metrics)
    except BaseException:
        for pool in made.values():
            pool.close()
        raise
    with _lock:
        old = dict(_pools)
        _pools.clear()
        _pools.update(made)
    for pool in old.values():
        pool.close()


def _get(kind: str, arg: str) -> ConnectionPool:
    with _lock:
        pool = _pools.get(kind)
    if pool is None:
        raise PoolClosed(f"no {kind} pool: call initialize_pools({arg}=...) first")
    return pool


def get_postgres_pool() -> ConnectionPool:
    return _get("postgres", "postgres_config")


def get_sqlserver_pool() -> ConnectionPool:
    return _get("sqlserver", "sqlserver_config")


def close_pools() -> None:
    """Close the module-level pools; safe to call twice."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
