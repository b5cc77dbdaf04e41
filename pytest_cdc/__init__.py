"""pytest-cdc: test SQL Server -> PostgreSQL change-data-capture pipelines.

The public names below are imported on first use (PEP 562), so ``import pytest_cdc`` (which
pytest does at startup through the plugin entry point) loads no database driver and no SQL
parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # connections and databases
    "CdcConnection": "pytest_cdc.database",
    "QueryEvent": "pytest_cdc.database",
    "dialect_of": "pytest_cdc.database",
    "listen": "pytest_cdc.database",
    "DatabaseHandle": "pytest_cdc.session",
    "EmbeddedPostgres": "pytest_cdc.embedded",
    "DatabaseURL": "pytest_cdc.urls",
    "parse_url": "pytest_cdc.urls",
    "mask_password": "pytest_cdc.urls",
    "Dialect": "pytest_cdc.dialects",
    "DialectRegistry": "pytest_cdc.dialects",
    "get_dialect": "pytest_cdc.dialects",
    "CdcError": "pytest_cdc.errors",
    "ConfigError": "pytest_cdc.errors",
    "DatabaseUnavailable": "pytest_cdc.errors",
    # plans and assertions
    "explain": "pytest_cdc.asserts",
    "assert_no_table_scan": "pytest_cdc.asserts",
    "assert_uses_index": "pytest_cdc.asserts",
    "assert_plan": "pytest_cdc.asserts",
    "PlanError": "pytest_cdc.asserts",
    "Plan": "pytest_cdc.plans",
    "PlanNode": "pytest_cdc.plans",
    "Statement": "pytest_cdc.plans",
    "MissingIndex": "pytest_cdc.plans",
    "load_plan": "pytest_cdc.plans.load",
    "QueryAnalysis": "pytest_cdc.analysis",
    "analyze_postgres_query": "pytest_cdc.analysis",
    "analyze_sqlserver_query": "pytest_cdc.analysis",
    "analyze_plan": "pytest_cdc.analysis",
    "row_count": "pytest_cdc.analysis",
    "CdcQueries": "pytest_cdc.plan_plugin",
    "AssertNumQueries": "pytest_cdc.plan_plugin",
    "RecordedQuery": "pytest_cdc.plan_plugin",
    # checksums
    "reconcile": "pytest_cdc.checksums",
    "assert_checksums_match": "pytest_cdc.checksums",
    "assert_row_counts_match": "pytest_cdc.checksums",
    "ReconcileReport": "pytest_cdc.checksums",
    "ChangedRow": "pytest_cdc.checksums",
    "EncodingOptions": "pytest_cdc.checksums",
    "ReconcileError": "pytest_cdc.checksums",
    # schemas
    "compare_schemas": "pytest_cdc.schema",
    "assert_schema_compatible": "pytest_cdc.schema",
    "SchemaReport": "pytest_cdc.schema",
    "ReplicaMapping": "pytest_cdc.schema",
    # pools and metrics
    "ConnectionPool": "pytest_cdc.pool",
    "PoolError": "pytest_cdc.pool_errors",
    "PoolTimeout": "pytest_cdc.pool_errors",
    "PoolClosed": "pytest_cdc.pool_errors",
    "TooManyRequests": "pytest_cdc.pool_errors",
    "PoolConnectError": "pytest_cdc.pool_errors",
    "initialize_pools": "pytest_cdc.pools",
    "get_postgres_pool": "pytest_cdc.pools",
    "get_sqlserver_pool": "pytest_cdc.pools",
    "close_pools": "pytest_cdc.pools",
    "PoolMetrics": "pytest_cdc.metrics",
    # indexes
    "IndexRecommendation": "pytest_cdc.indexes",
    "recommend_indexes_for_reconciliation": "pytest_cdc.indexes",
    "generate_index_ddl": "pytest_cdc.indexes",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from pytest_cdc.analysis import (
        QueryAnalysis,
        analyze_plan,
        analyze_postgres_query,
        analyze_sqlserver_query,
        row_count,
    )
    from pytest_cdc.asserts import (
        PlanError,
        assert_no_table_scan,
        assert_plan,
        assert_uses_index,
        explain,
    )
    from pytest_cdc.checksums import (
        ChangedRow,
        EncodingOptions,
        ReconcileError,
        ReconcileReport,
        assert_checksums_match,
        assert_row_counts_match,
        reconcile,
    )
    from pytest_cdc.database import CdcConnection, QueryEvent, dialect_of, listen
    from pytest_cdc.dialects import Dialect, DialectRegistry, get_dialect
    from pytest_cdc.embedded import EmbeddedPostgres
    from pytest_cdc.errors import CdcError, ConfigError, DatabaseUnavailable
    from pytest_cdc.indexes import (
        IndexRecommendation,
        generate_index_ddl,
        recommend_indexes_for_reconciliation,
    )
    from pytest_cdc.metrics import PoolMetrics
    from pytest_cdc.plan_plugin import AssertNumQueries, CdcQueries, RecordedQuery
    from pytest_cdc.plans import MissingIndex, Plan, PlanNode, Statement
    from pytest_cdc.plans.load import load_plan
    from pytest_cdc.pool import ConnectionPool
    from pytest_cdc.pool_errors import (
        PoolClosed,
        PoolConnectError,
        PoolError,
        PoolTimeout,
        TooManyRequests,
    )
    from pytest_cdc.pools import (
        close_pools,
        get_postgres_pool,
        get_sqlserver_pool,
        initialize_pools,
    )
    from pytest_cdc.schema import (
        ReplicaMapping,
        SchemaReport,
        assert_schema_compatible,
        compare_schemas,
    )
    from pytest_cdc.session import DatabaseHandle
    from pytest_cdc.urls import DatabaseURL, mask_password, parse_url


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_cdc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
