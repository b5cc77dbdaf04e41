"""PostgreSQL's catalog: the statements that read it (pg_catalog, whole schemas at once) and
the pure functions that turn their rows into the model and column types into domains.

pg_catalog rather than information_schema: it is several times faster (no per-row privilege
checks), and it says what information_schema cannot: partitions, domains over base types,
typmods, identity and generated columns, deterministic collations.  Needs PostgreSQL 12+
(``pg_partition_tree``, ``attgenerated``, ``collisdeterministic``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from functools import lru_cache
from typing import Any, ClassVar

from pytest_cdc.checksums.encoding import TypeClass
from pytest_cdc.dialects.postgres.checksum import TYPE_CLASSES
from pytest_cdc.schema.catalog import CatalogReader, Rows, flag, index_columns, marks
from pytest_cdc.schema.model import (
    FOREIGN_TABLE,
    MATERIALIZED_VIEW,
    PARTITIONED,
    TABLE,
    VIEW,
    Catalog,
    Column,
    Table,
)
from pytest_cdc.schema.types import Domain, Family, integer

ENGINE = "postgresql"

#: One row: the default schema, and the database's collation ("default" columns use it).
SESSION_SQL = (
    "SELECT current_schema(),"
    " (SELECT datcollate FROM pg_database WHERE datname = current_database())"
)

SCHEMAS_SQL = "SELECT nspname FROM pg_namespace"

#: Every column of every table, partitioned parent, view, materialized view and foreign
#: table (never a partition: the parent stands for them).  A domain reads as its base type
#: and typmod, with the domain's NOT NULL.  No ORDER BY and no per-table subquery: either
#: makes PostgreSQL sort or over-estimate, and past jit_above_cost a JIT compilation costs
#: more than the whole read (64 ms against 17 ms for 5,000 columns); rows are put in order
#: in Python.
COLUMNS_SQL = """SELECT n.nspname, c.relname, c.relkind, c.reltuples::bigint,
 a.attname, a.attnum, COALESCE(bt.typname, t.typname),
 CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
 format_type(COALESCE(bt.oid, t.oid), CASE WHEN t.typtype = 'd' THEN t.typtypmod
  ELSE a.atttypmod END),
 COALESCE(bt.typtype, t.typtype), COALESCE(bt.typcategory, t.typcategory),
 NOT (a.attnotnull OR t.typnotnull), co.collname, co.collisdeterministic,
 a.attidentity <> '', a.attgenerated <> '', a.atthasdef,
 CASE WHEN t.typtype = 'd' THEN t.typname END
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_type AS bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_collation AS co ON co.oid = a.attcollation
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
 AND n.nspname IN ({marks})"""

#: A partitioned table's row estimate: the sum of its leaf partitions' statistics.  Run only
#: when there are partitioned tables.
PARTITIONS_SQL = """SELECT n.nspname, c.relname, sum(GREATEST(p.reltuples, 0))::bigint
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_partition_tree(c.oid) AS pt
JOIN pg_class AS p ON p.oid = pt.relid
WHERE c.relkind = 'p' AND NOT c.relispartition AND pt.isleaf AND n.nspname IN ({marks})
GROUP BY n.nspname, c.relname"""

#: One row a key column of every valid, unconditional, plain-column unique index (primary
#: keys and unique constraints included), with its position; INCLUDE columns left out.
KEYS_SQL = """SELECT n.nspname, c.relname, i.relname, x.indisprimary, k.ord, a.attname
FROM pg_index AS x
JOIN pg_class AS c ON c.oid = x.indrelid
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE x.indisunique AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL
 AND k.ord <= x.indnkeyatts AND NOT c.relispartition AND n.nspname IN ({marks})"""

_UNQUALIFY = re.compile(r'^(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\.')

_KINDS = {"r": TABLE, "p": PARTITIONED, "v": VIEW, "m": MATERIALIZED_VIEW, "f": FOREIGN_TABLE}

#: pg_type names -> the names this package uses (and displays).
CANONICAL = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "bpchar": "char",
}
#: Other spellings a pattern (profile, allow-list) may use.
ALIASES = {
    **CANONICAL,
    "int": "integer",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
    "smallserial": "smallint",
    "serial2": "smallint",
    "decimal": "numeric",
    "float": "double precision",
    "double": "double precision",
    "character varying": "varchar",
    "character": "char",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
    "bit varying": "varbit",
}
#: Canonical name -> information_schema's data_type, the key of the checksum's type classes.
_INFO_NAMES = {
    "varchar": "character varying",
    "char": "character",
    "time": "time without time zone",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
}
#: Types whose typmod is a length (characters, bits).
_LENGTH_TYPES = frozenset({"varchar", "char", "bit", "varbit"})
_TIME_TYPES = frozenset({"time", "timetz", "timestamp", "timestamptz", "interval"})
#: Years of the date and timestamp ranges (PostgreSQL 15 documentation, 8.5).
DATE_YEARS = (-4713, 5874897)
TIMESTAMP_YEARS = (-4713, 294276)
#: money is an int8 count of the locale's smallest unit; these bounds assume 2 decimals.
MONEY_LOW, MONEY_HIGH = Fraction(-(2**63), 100), Fraction(2**63 - 1, 100)


def decode_typmod(
    type_name: str, typmod: int
) -> tuple[int | None, int | None, int | None, int | None]:
    """(length, precision, scale, fractional digits) that a column's typmod encodes."""
    if typmod < 0:
        return None, None, None, None
    if type_name in ("varchar", "char"):
        return typmod - 4, None, None, None
    if type_name in ("bit", "varbit"):
        return typmod, None, None, None
    if type_name == "numeric":
        packed = typmod - 4
        # PostgreSQL 15 packs a signed 11-bit scale (negative scales round left of the point).
        return None, (packed >> 16) & 0xFFFF, ((packed & 0x7FF) ^ 1024) - 1024, None
    if type_name == "interval":
        digits = typmod & 0xFFFF
        return None, None, None, None if digits == 0xFFFF else digits
    if type_name in _TIME_TYPES:
        return None, None, None, typmod
    return None, None, None, None


def _declared(
    name: str,
    length: int | None,
    precision: int | None,
    scale: int | None,
    fraction: int | None,
    shown: str,
) -> str:
    if name in ("varchar", "char", "bit", "varbit"):
        return name if length is None else f"{name}({length})"
    if name == "numeric":
        return name if precision is None else f"numeric({precision},{scale})"
    if name in _TIME_TYPES and name != "interval":
        return name if fraction is None else f"{name}({fraction})"
    if name in CANONICAL.values() or name in _INFO_NAMES or name in TYPE_CLASSES:
        return name
    return shown  # format_type's text: arrays, intervals with fields, user types


@lru_cache(maxsize=4096)
def _type_facts(
    type_name: str, typmod: int, shown: str, typtype: str, category: str
) -> tuple[str, str, int | None, int | None, int | None, int | None]:
    """(name, declared, length, precision, scale, fractional digits) of a column's type:
    computed once a type, however many columns have it."""
    canonical = CANONICAL.get(type_name, type_name)
    # A user type's name carries its schema when that is not on the search path; the same
    # type made in two schemas (source and target) is still the same type.
    shown = _UNQUALIFY.sub("", shown)
    if category == "A" or typtype == "e":
        canonical = shown
    length, precision, scale, fraction = decode_typmod(canonical, typmod)
    if canonical == "char" and length is None:
        length = 1
    declared = _declared(canonical, length, precision, scale, fraction, shown)
    return canonical, declared, length, precision, scale, fraction


def _column(row: Sequence[Any], default_collation: str | None) -> Column:
    (
        name,
        position,
        type_name,
        typmod,
        shown,
        typtype,
        category,
        nullable,
        collation,
        deterministic,
        identity,
        generated,
        has_default,
        domain_name,
    ) = row
    canonical, declared, length, precision, scale, fraction = _type_facts(
        str(type_name), int(typmod), str(shown), str(typtype), str(category)
    )
    if collation == "default":
        collation = default_collation
    return Column(
        name=str(name),
        position=int(position),
        type_name=canonical,
        declared=declared,
        nullable=flag(nullable),
        length=length,
        precision=precision,
        scale=scale,
        datetime_precision=fraction,
        collation=None if collation is None else str(collation),
        insensitive_collation=deterministic is not None and not flag(deterministic),
        identity=flag(identity),
        computed=flag(generated),
        persisted=flag(generated),
        has_default=flag(has_default) or flag(identity),
        user_type=None if domain_name is None else str(domain_name),
    )


def _estimate(kind: str, reltuples: Any) -> int | None:
    if kind in ("r", "m") and reltuples is not None and int(reltuples) >= 0:
        return int(reltuples)
    return None  # views, foreign tables, never analysed (-1); partitioned: with_estimates


def build_catalog(
    session: Sequence[Any], schema_rows: Rows, column_rows: Rows, key_rows: Rows
) -> Catalog:
    """The model from the rows of the session, schemas, columns and keys statements."""
    default_schema, default_collation = session[0], session[1]
    columns: dict[tuple[str, str], list[Column]] = {}
    heads: dict[tuple[str, str], tuple[str, Any]] = {}
    for row in column_rows:
        key = (str(row[0]), str(row[1]))
        if key not in heads:
            heads[key] = (str(row[2]), row[3])
            columns[key] = []
        columns[key].append(_column(row[4:], default_collation))
    tables: dict[tuple[str, str], Table] = {}
    indexes = index_columns(key_rows)
    for key in sorted(heads):
        kind, reltuples = heads[key]
        found = indexes.get(key, [])
        tables[key] = Table(
            schema=key[0],
            name=key[1],
            kind=_KINDS.get(kind, TABLE),
            columns=tuple(sorted(columns[key], key=lambda c: c.position)),
            primary_key=next((i for i in found if i.primary), None),
            unique_indexes=tuple(i for i in found if not i.primary),
            row_estimate=_estimate(kind, reltuples),
        )
    return Catalog(
        engine=ENGINE,
        tables=tables,
        default_schema=None if default_schema is None else str(default_schema),
        schemas=frozenset(str(r[0]) for r in schema_rows),
    )


def with_estimates(catalog: Catalog, rows: Rows) -> Catalog:
    """``catalog`` with the row estimates of :data:`PARTITIONS_SQL`'s rows."""
    tables = dict(catalog.tables)
    for schema, name, estimate in rows:
        key = (str(schema), str(name))
        if key in tables and estimate is not None:
            tables[key] = replace(tables[key], row_estimate=int(estimate))
    return replace(catalog, tables=tables)


def _type_class(name: str) -> TypeClass | None:
    return TYPE_CLASSES.get(_INFO_NAMES.get(name, name))


def domain(column: Column) -> Domain:
    """The values a PostgreSQL column can hold (see :class:`~pytest_cdc.schema.types.Domain`)."""
    return _domain(
        column.type_name,
        column.declared,
        column.length,
        column.precision,
        column.scale,
        column.datetime_precision,
    )


@lru_cache(maxsize=4096)
def _domain(
    name: str,
    shown: str,
    length: int | None,
    precision: int | None,
    scale: int | None,
    fraction: int | None,
) -> Domain:
    # One Domain a distinct type: the rules see the same object for the same type.
    tc = _type_class(name)
    if name in _INTEGERS:
        low, high = _INTEGERS[name]
        return integer(ENGINE, name, low, high, tc)
    if name == "numeric":
        params: tuple[int | None, ...] = ()
        if precision is not None:
            params = (precision, scale)
        return Domain(
            Family.DECIMAL,
            ENGINE,
            name,
            shown,
            params=params,
            precision=precision,
            scale=scale,
            type_class=tc,
        )
    if name == "money":
        return Domain(
            Family.DECIMAL,
            ENGINE,
            name,
            shown,
            low=MONEY_LOW,
            high=MONEY_HIGH,
            precision=19,
            scale=2,
            type_class=tc,
            note="money's decimals follow lc_monetary; 2 assumed",
        )
    if name in ("real", "double precision"):
        bits = 24 if name == "real" else 53
        return Domain(Family.FLOAT, ENGINE, name, shown, bits=bits, type_class=tc)
    if name == "boolean":
        return Domain(Family.BOOLEAN, ENGINE, name, shown, type_class=tc)
    if name in ("varchar", "text", "name", "citext"):
        length = 63 if name == "name" else length
        sized: tuple[int | None, ...] = (length,) if name == "varchar" and length else ()
        return Domain(Family.TEXT, ENGINE, name, shown, params=sized, length=length, type_class=tc)
    if name == "char":
        return Domain(
            Family.CHAR,
            ENGINE,
            name,
            shown,
            params=(length,),
            length=length,
            fixed=True,
            type_class=tc,
        )
    if name == "bytea":
        return Domain(Family.BINARY, ENGINE, name, shown, type_class=tc)
    if name == "date":
        return Domain(Family.DATE, ENGINE, name, shown, years=DATE_YEARS, type_class=tc)
    if name in ("time", "timestamp", "timestamptz"):
        digits = 6 if fraction is None else fraction
        family = {"time": Family.TIME, "timestamp": Family.TIMESTAMP}.get(name, Family.TIMESTAMPTZ)
        return Domain(
            family,
            ENGINE,
            name,
            shown,
            params=(digits,),
            fraction=digits,
            years=None if name == "time" else TIMESTAMP_YEARS,
            type_class=tc,
        )
    if name == "uuid":
        return Domain(Family.UUID, ENGINE, name, shown, type_class=tc)
    if name in ("json", "jsonb"):
        return Domain(Family.JSON, ENGINE, name, shown, type_class=tc)
    if name == "xml":
        return Domain(Family.XML, ENGINE, name, shown, type_class=tc)
    other: tuple[int | None, ...] = (length,) if length else ()
    return Domain(Family.OTHER, ENGINE, name, shown, params=other, type_class=tc)


_INTEGERS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


class PostgresCatalog(CatalogReader):
    engine: ClassVar[str] = ENGINE
    session_sql: ClassVar[str] = SESSION_SQL
    schemas_sql: ClassVar[str] = SCHEMAS_SQL

    def columns_sql(self, paramstyle: str, count: int) -> str:
        return COLUMNS_SQL.format(marks=marks(paramstyle, count))

    def keys_sql(self, paramstyle: str, count: int) -> str:
        return KEYS_SQL.format(marks=marks(paramstyle, count))

    def estimates_sql(self, paramstyle: str, count: int, catalog: Catalog) -> str | None:
        if not any(t.kind == PARTITIONED for t in catalog):
            return None
        return PARTITIONS_SQL.format(marks=marks(paramstyle, count))

    def with_estimates(self, catalog: Catalog, rows: Rows) -> Catalog:
        return with_estimates(catalog, rows)

    def build(
        self, session: Sequence[Any], schema_rows: Rows, column_rows: Rows, key_rows: Rows
    ) -> Catalog:
        return build_catalog(session, schema_rows, column_rows, key_rows)

    def domain(self, column: Column) -> Domain:
        return domain(column)

    def pattern_name(self, name: str) -> str:
        lowered = " ".join(name.strip().lower().split())
        return ALIASES.get(lowered, lowered)


READER = PostgresCatalog()

__all__ = ["READER", "build_catalog", "decode_typmod", "domain"]
