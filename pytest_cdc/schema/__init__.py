"""Schema validation and table discovery for replicas (docs/schema.md).

``compare_schemas()`` reads both catalogs, pairs tables and columns through a mapping, and
gives every column pair a verdict (same, widened, representation, lossy, incompatible) with
what it means for the data check; ``assert_schema_compatible()`` fails a test with the
findings as a table.
"""

from __future__ import annotations

from pytest_cdc.schema.api import (
    SchemaError,
    assert_schema_compatible,
    compare_schemas,
    read_catalog,
)
from pytest_cdc.schema.mapping import ReplicaMapping, TableRule, load_mapping, parse_mapping
from pytest_cdc.schema.profiles import PROFILES, AllowRule, Profile, get_profile
from pytest_cdc.schema.report import ColumnReport, Finding, SchemaReport, TableReport
from pytest_cdc.schema.rules import VERDICTS

__all__ = [
    "PROFILES",
    "VERDICTS",
    "AllowRule",
    "ColumnReport",
    "Finding",
    "Profile",
    "ReplicaMapping",
    "SchemaError",
    "SchemaReport",
    "TableReport",
    "TableRule",
    "assert_schema_compatible",
    "compare_schemas",
    "get_profile",
    "load_mapping",
    "parse_mapping",
    "read_catalog",
]
