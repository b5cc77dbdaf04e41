"""Cross-engine checksum reconciliation (docs/checksum.md).

``reconcile()`` compares a table on two databases (SQL Server or PostgreSQL, any mix) with
checksums computed inside each database over a canonical row encoding, and narrows any
difference down to the exact rows.
"""

from __future__ import annotations

from pytest_cdc.checksums.api import assert_checksums_match, assert_row_counts_match, reconcile
from pytest_cdc.checksums.encoding import EncodingOptions, ReconcileError, TypeClass
from pytest_cdc.checksums.report import ChangedRow, ReconcileReport
from pytest_cdc.errors import BadKey, Inconsistent, QueryFailed, QueryTimeout

__all__ = [
    "BadKey",
    "ChangedRow",
    "EncodingOptions",
    "Inconsistent",
    "QueryFailed",
    "QueryTimeout",
    "ReconcileError",
    "ReconcileReport",
    "TypeClass",
    "assert_checksums_match",
    "assert_row_counts_match",
    "reconcile",
]
