"""Whole-replica validation (docs/replica.md): every table pair of a replica checked tier by
tier (schema verdicts, row counts, column aggregates, segment checksums with the exact rows),
within a connection budget, sharded over CI jobs, reported where CI users look.

``validate_replica()`` returns a :class:`ReplicaReport`; ``assert_replica_matches()`` fails a
test with it.  ``pytest --cdc-replica`` makes one test item a table pair and ``pytest-cdc
validate`` is the gate job's command.  ``repair_script()`` writes the SQL that repairs the
stable mismatches (never run by the tool).
"""

from __future__ import annotations

from pytest_cdc.replica.plan import shard_plan
from pytest_cdc.replica.repair import repair_script, write_repair_sql
from pytest_cdc.replica.report import ReplicaReport, TableResult, merge_reports
from pytest_cdc.replica.run import assert_replica_matches, validate_replica
from pytest_cdc.replica.settings import Shard, ValidationSettings, validation_settings

__all__ = [
    "ReplicaReport",
    "Shard",
    "TableResult",
    "ValidationSettings",
    "assert_replica_matches",
    "merge_reports",
    "repair_script",
    "shard_plan",
    "validate_replica",
    "validation_settings",
    "write_repair_sql",
]
