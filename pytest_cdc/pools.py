"""The old name of :mod:`pytest_cdc.pool_registry` (the module-level pools for scripts), kept
so that ``from pytest_cdc.pools import initialize_pools`` goes on working."""

from __future__ import annotations

from pytest_cdc.pool_registry import (
    CONFIG_KEYS,
    close_pools,
    get_postgres_pool,
    get_sqlserver_pool,
    initialize_pools,
    pool_from_config,
)

__all__ = [
    "CONFIG_KEYS",
    "close_pools",
    "get_postgres_pool",
    "get_sqlserver_pool",
    "initialize_pools",
    "pool_from_config",
]
