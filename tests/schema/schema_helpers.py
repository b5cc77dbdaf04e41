"""Catalog rows of the shape the catalog queries return, built from a type as DDL writes it.

No SQL Server runs here: these rows stand in for ``sys.columns`` (sizes in bytes, -1 for
max, precision and scale as SQL Server reports them) so the rules are tested from the same
decoding path the live catalog takes.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_cdc.dialects.mssql import catalog as catalog_mssql
from pytest_cdc.dialects.postgres import catalog as catalog_postgres
from pytest_cdc.schema.model import Column

_TYPE = re.compile(r"^\s*([a-z_][a-z0-9_ ]*?)\s*(?:\(([^)]*)\))?\s*$", re.I)

#: sys.columns (max_length, precision, scale) of the fixed-size SQL Server types.
_MSSQL_FIXED = {
    "bit": (1, 1, 0),
    "tinyint": (1, 3, 0),
    "smallint": (2, 5, 0),
    "int": (4, 10, 0),
    "bigint": (8, 19, 0),
    "money": (8, 19, 4),
    "smallmoney": (4, 10, 4),
    "float": (8, 53, 0),
    "real": (4, 24, 0),
    "date": (3, 10, 0),
    "datetime": (8, 23, 3),
    "smalldatetime": (4, 16, 0),
    "uniqueidentifier": (16, 0, 0),
    "xml": (-1, 0, 0),
    "text": (16, 0, 0),
    "ntext": (16, 0, 0),
    "image": (16, 0, 0),
    "timestamp": (8, 0, 0),
    "rowversion": (8, 0, 0),
    "sysname": (256, 0, 0),
    "sql_variant": (8016, 0, 0),
    "hierarchyid": (892, 0, 0),
    "geometry": (-1, 0, 0),
    "geography": (-1, 0, 0),
}
_TIME_BYTES = {"time": 5, "datetime2": 8, "datetimeoffset": 10}
_TIME_PRECISION = {"time": 9, "datetime2": 20, "datetimeoffset": 27}


def mssql_row(
    declared: str,
    name: str = "c",
    *,
    nullable: bool = True,
    collation: str | None = None,
    identity: bool = False,
    computed: bool = False,
) -> tuple[Any, ...]:
    """A COLUMNS_SQL row (from the column name on) for a SQL Server column type."""
    match = _TYPE.match(declared)
    assert match, declared
    base, args = match[1].lower(), match[2]
    params = [p.strip() for p in args.split(",")] if args else []
    if base in _MSSQL_FIXED:
        size, precision, scale = _MSSQL_FIXED[base]
        if base == "rowversion":
            base = "timestamp"
    elif base in ("decimal", "numeric"):
        precision, scale = int(params[0]), int(params[1]) if len(params) > 1 else 0
        size = 5 if precision < 10 else 9 if precision < 20 else 13 if precision < 29 else 17
    elif base in _TIME_BYTES:
        scale = int(params[0]) if params else 7
        size, precision = _TIME_BYTES[base], _TIME_PRECISION[base] + (scale and scale + 1)
    else:
        n = params[0] if params else "1"
        count = -1 if n.lower() == "max" else int(n)
        size = count * 2 if base in ("nchar", "nvarchar") and count > 0 else count
        precision = scale = 0
    if collation is None and base in ("char", "varchar", "text", "nchar", "nvarchar", "ntext"):
        collation = "SQL_Latin1_General_CP1_CI_AS"
    return (
        name,
        1,
        base,
        None,
        size,
        precision,
        scale,
        nullable,
        collation,
        identity,
        computed,
        computed,
        identity,
    )


def mssql_column(declared: str, **kwargs: Any) -> Column:
    return catalog_mssql.column(mssql_row(declared, **kwargs))


def pg_row(
    declared: str, name: str = "c", *, nullable: bool = True, collation: str | None = None
) -> tuple[Any, ...]:
    """A COLUMNS_SQL row (from the column name on) for a PostgreSQL column type."""
    aliases = {"timestamptz": "timestamptz", "timestamp with time zone": "timestamptz"}
    match = _TYPE.match(declared)
    assert match, declared
    text = " ".join(match[1].lower().split())
    base = catalog_postgres.ALIASES.get(text, aliases.get(text, text))
    typname = {v: k for k, v in catalog_postgres.CANONICAL.items()}.get(base, base)
    params = [int(p) for p in match[2].split(",")] if match[2] else []
    typmod = -1
    if params:
        if base in ("varchar", "char"):
            typmod = params[0] + 4
        elif base == "numeric":
            typmod = ((params[0] << 16) | (params[1] if len(params) > 1 else 0)) + 4
        else:
            typmod = params[0]
    return (
        name,
        1,
        typname,
        typmod,
        declared,
        "b",
        "N",
        nullable,
        collation,
        True,
        False,
        False,
        False,
        None,
    )


def pg_column(declared: str, **kwargs: Any) -> Column:
    return catalog_postgres._column(pg_row(declared, **kwargs), "en_US.utf8")
