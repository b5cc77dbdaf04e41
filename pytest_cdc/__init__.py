"""pytest-cdc: test SQL Server -> PostgreSQL change-data-capture pipelines.

The public API is the names below (the README's "Python API" section lists them with a line
each).  They are imported on first use (PEP 562), so ``import pytest_cdc`` (which pytest does
at startup through the plugin entry point) loads no database driver and no SQL parser.
Everything else is internal and may move.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it.
_LAZY: dict[str, str] = {
    # fixtures' types, and watching what tests run
    "CdcConnection": "pytest_cdc.database",
    "DatabaseHandle": "pytest_cdc.session",
    "CdcQueries": "pytest_cdc.plugin.queries",
    "AssertNumQueries": "pytest_cdc.plugin.queries",
    "PlanSnapshot": "pytest_cdc.plugin.snapshots",
    "listen": "pytest_cdc.database",
    # databases and engines
    "EmbeddedPostgres": "pytest_cdc.embedded",
    "Dialect": "pytest_cdc.dialects",
    "DialectRegistry": "pytest_cdc.dialects",
    "get_dialect": "pytest_cdc.dialects",
    "parse_url": "pytest_cdc.dialects",
    "mask_password": "pytest_cdc.masking",
    # plans
    "explain": "pytest_cdc.asserts",
    "assert_no_table_scan": "pytest_cdc.asserts",
    "assert_uses_index": "pytest_cdc.asserts",
    "assert_plan": "pytest_cdc.asserts",
    "load_plan": "pytest_cdc.plans.load",
    "Plan": "pytest_cdc.plans",
    "PlanNode": "pytest_cdc.plans",
    "QueryAnalysis": "pytest_cdc.analysis",
    "analyze_postgres_query": "pytest_cdc.analysis",
    "analyze_sqlserver_query": "pytest_cdc.analysis",
    "analyze_plan": "pytest_cdc.analysis",
    "analyze_query": "pytest_cdc.analysis",
    "row_count": "pytest_cdc.analysis",
    # indexes
    "IndexRecommendation": "pytest_cdc.indexes",
    "recommend_indexes_for_reconciliation": "pytest_cdc.indexes",
    "generate_index_ddl": "pytest_cdc.indexes",
    # checksums
    "reconcile": "pytest_cdc.checksums",
    "assert_checksums_match": "pytest_cdc.checksums",
    "assert_row_counts_match": "pytest_cdc.checksums",
    "ReconcileReport": "pytest_cdc.checksums",
    # schemas
    "compare_schemas": "pytest_cdc.schema",
    "assert_schema_compatible": "pytest_cdc.schema",
    "SchemaReport": "pytest_cdc.schema",
    "ReplicaMapping": "pytest_cdc.schema",
    # whole replicas
    "validate_replica": "pytest_cdc.replica",
    "assert_replica_matches": "pytest_cdc.replica",
    "ReplicaReport": "pytest_cdc.replica",
    # pools and metrics
    "ConnectionPool": "pytest_cdc.pool",
    "PoolMetrics": "pytest_cdc.metrics",
    "initialize_pools": "pytest_cdc.pool_registry",
    "get_postgres_pool": "pytest_cdc.pool_registry",
    "get_sqlserver_pool": "pytest_cdc.pool_registry",
    "close_pools": "pytest_cdc.pool_registry",
    # errors: one hierarchy under CdcError
    "CdcError": "pytest_cdc.errors",
    "ConfigError": "pytest_cdc.errors",
    "DatabaseUnavailable": "pytest_cdc.errors",
    "PlanError": "pytest_cdc.errors",
    "ReconcileError": "pytest_cdc.errors",
    "BadKey": "pytest_cdc.errors",
    "QueryFailed": "pytest_cdc.errors",
    "QueryTimeout": "pytest_cdc.errors",
    "Inconsistent": "pytest_cdc.errors",
    "PoolError": "pytest_cdc.errors",
    "PoolTimeout": "pytest_cdc.errors",
    "PoolClosed": "pytest_cdc.errors",
    "TooManyRequests": "pytest_cdc.errors",
    "PoolConnectError": "pytest_cdc.errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # the same names, for type checkers (a test keeps the two in step)
    from pytest_cdc.analysis import (
        QueryAnalysis,
        analyze_plan,
        analyze_postgres_query,
        analyze_query,
        analyze_sqlserver_query,
        row_count,
    )
    from pytest_cdc.asserts import assert_no_table_scan, assert_plan, assert_uses_index, explain
    from pytest_cdc.checksums import (
        ReconcileReport,
        assert_checksums_match,
        assert_row_counts_match,
        reconcile,
    )
    from pytest_cdc.database import CdcConnection, listen
    from pytest_cdc.dialects import Dialect, DialectRegistry, get_dialect, parse_url
    from pytest_cdc.embedded import EmbeddedPostgres
    from pytest_cdc.errors import (
        BadKey,
        CdcError,
        ConfigError,
        DatabaseUnavailable,
        Inconsistent,
        PlanError,
        PoolClosed,
        PoolConnectError,
        PoolError,
        PoolTimeout,
        QueryFailed,
        QueryTimeout,
        ReconcileError,
        TooManyRequests,
    )
    from pytest_cdc.indexes import (
        IndexRecommendation,
        generate_index_ddl,
        recommend_indexes_for_reconciliation,
    )
    from pytest_cdc.masking import mask_password
    from pytest_cdc.metrics import PoolMetrics
    from pytest_cdc.plans import Plan, PlanNode
    from pytest_cdc.plans.load import load_plan
    from pytest_cdc.plugin.queries import AssertNumQueries, CdcQueries
    from pytest_cdc.plugin.snapshots import PlanSnapshot
    from pytest_cdc.pool import ConnectionPool
    from pytest_cdc.pool_registry import (
        close_pools,
        get_postgres_pool,
        get_sqlserver_pool,
        initialize_pools,
    )
    from pytest_cdc.replica import ReplicaReport, assert_replica_matches, validate_replica
    from pytest_cdc.schema import (
        ReplicaMapping,
        SchemaReport,
        assert_schema_compatible,
        compare_schemas,
    )
    from pytest_cdc.session import DatabaseHandle


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_cdc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
