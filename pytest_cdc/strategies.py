"""Hypothesis strategies that generate rows for a table schema, for users' property tests.

    from pytest_cdc.strategies import rows_for

    @given(rows_for({"id": "bigint", "name": "nvarchar(40)", "price": "decimal(12,2)"},
                    key="id", max_size=50))
    def test_replication_keeps_rows(rows): ...

Values stay inside what *both* engines can store (years 1-9999, no NUL characters, no lone
surrogates, floats without NaN/infinity unless asked, decimals within precision and scale),
and include the awkward cases the checksum encoding must survive: empty strings next to NULL,
separator characters, characters beyond the BMP, extreme numbers.  This module imports
hypothesis at the top; nothing imports it unless you do.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from pytest_cdc.checksums.encoding import Column, TypeClass
from pytest_cdc.dialects.mssql.checksum import TYPE_CLASSES as MSSQL_TYPES
from pytest_cdc.dialects.postgres.checksum import TYPE_CLASSES as PG_TYPES
from pytest_cdc.errors import ConfigError

__all__ = ["rows_for", "value_strategy"]

_TYPE = re.compile(r"^\s*(?P<base>[a-z0-9 ]+?)\s*(\((?P<args>[^)]*)\))?\s*$", re.I)
_ALIASES = {
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "int": "int",
    "float8": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamp": "datetime2",
    "timestamptz": "datetimeoffset",
    "varchar": "varchar",
    "char": "char",
}
_INT_RANGES = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "integer": (-(2**31), 2**31 - 1),
}
_AWKWARD = [
    "",
    " ",
    "N",
    "V",
    "<null>",
    "NULL",
    "|",
    ";",
    ":",
    "V1:a",
    "a|b;c",
    "'",
    "\\",
    "\U0001f600",
    "é",
    "\u00a0",
]


def _parse(data_type: str) -> tuple[str, TypeClass, list[int]]:
    match = _TYPE.match(data_type)
    if not match:
        raise ConfigError(f"cannot read column type {data_type!r}: write it like 'numeric(12,2)'")
    base = match["base"].lower().strip()
    base = {
        "timestamp without time zone": "datetime2",
        "timestamp with time zone": "datetimeoffset",
    }.get(base, base)
    args = [int(a) for a in re.findall(r"\d+", match["args"] or "")]
    for name in (base, _ALIASES.get(base, base)):
        tc = MSSQL_TYPES.get(name) or PG_TYPES.get(name)
        if tc is not None:
            return name, tc, args
    raise ConfigError(f"no strategy for column type {data_type!r}: pass a strategy for it")


def value_strategy(data_type: str) -> st.SearchStrategy[Any]:
    """Non-NULL values of one column type (PostgreSQL or SQL Server spelling)."""
    base, tc, args = _parse(data_type)
    if tc is TypeClass.INTEGER:
        lo, hi = _INT_RANGES.get(base, (-(2**63), 2**63 - 1))
        return st.one_of(st.sampled_from([lo, hi, 0, -1, 1]), st.integers(lo, hi))
    if tc is TypeClass.BOOLEAN:
        return st.booleans()
    if tc is TypeClass.DECIMAL:
        precision = args[0] if args else 18
        scale = args[1] if len(args) > 1 else (0 if args else 4)
        limit = Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)
        return st.decimals(
            min_value=-limit, max_value=limit, places=scale, allow_nan=False, allow_infinity=False
        )
    if tc is TypeClass.FLOAT:
        if base in ("real", "float4"):
            return st.floats(width=32, allow_nan=False, allow_infinity=False)
        return st.floats(allow_nan=False, allow_infinity=False)
    if tc in (TypeClass.TEXT, TypeClass.CHAR, TypeClass.JSON):
        size = args[0] if args else 200
        text = st.text(
            alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            max_size=size,
        )
        if tc is TypeClass.CHAR:  # char(n) pads with spaces: generate what reads back
            text = text.map(lambda s: s.rstrip(" "))
        if tc is TypeClass.JSON:
            return st.sampled_from(["{}", "[]", '{"a": 1}', '"x"', "null", '{"k": ["|", ""]}'])
        return st.one_of(st.sampled_from([a for a in _AWKWARD if len(a) <= size]), text)
    if tc is TypeClass.DATE:
        return st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
    if tc is TypeClass.TIME:
        return st.times()
    if tc is TypeClass.TIMESTAMP:
        low = (
            dt.datetime(1900, 1, 1)
            if base == "smalldatetime"
            else dt.datetime(1753, 1, 1)
            if base == "datetime"
            else dt.datetime(1, 1, 1)
        )
        stamps = st.datetimes(min_value=low, max_value=dt.datetime(9999, 12, 31, 23, 59, 59))
        if base in ("datetime", "smalldatetime"):
            stamps = stamps.map(lambda v: v.replace(microsecond=0))
        return stamps
    if tc is TypeClass.TIMESTAMPTZ:
        return st.datetimes(
            min_value=dt.datetime(1, 1, 2),
            max_value=dt.datetime(9999, 12, 30),
            timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5))]),
        )
    if tc is TypeClass.UUID:
        return st.uuids().map(str)
    return st.binary(max_size=args[0] if args else 64)


def rows_for(
    columns: Mapping[str, str] | Sequence[Column],
    *,
    key: str | Sequence[str] | None = None,
    nullable: bool | Sequence[str] = True,
    min_size: int = 0,
    max_size: int = 30,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of rows (dicts) for ``columns``: ``{"name": "type"}`` or catalog Columns.

    ``key`` columns are never NULL and unique across the list.  ``nullable``: True (every
    other column may be NULL), False, or the names that may be.  ``overrides`` replaces the
    strategy of named columns.
    """
    types = (
        dict(columns) if isinstance(columns, Mapping) else {c.name: c.data_type for c in columns}
    )
    keys = [key] if isinstance(key, str) else list(key or [])
    missing = [k for k in keys if k not in types]
    if missing:
        raise ConfigError(f"key column {missing[0]!r} is not among the columns {list(types)!r}")
    overrides = overrides or {}
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, data_type in types.items():
        values = overrides.get(name) or value_strategy(data_type)
        may_be_null = name not in keys and (
            nullable if isinstance(nullable, bool) else name in nullable
        )
        fields[name] = st.one_of(st.none(), values) if may_be_null else values
    rows = st.fixed_dictionaries(fields)
    return st.lists(
        rows,
        min_size=min_size,
        max_size=max_size,
        unique_by=(lambda r: tuple(r[k] for k in keys)) if keys else None,
    )
