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
from fractions import Fraction
from typing import Any, ClassVar

from pytest_cdc.checksums.encoding import TypeClass
from pytest_cdc.checksums.postgres import TYPE_CLASSES
from pytest_cdc.schema.catalog import CatalogReader, Rows, flag, marks
from pytest_cdc.schema.model import (
    FOREIGN_TABLE,
    MATERIALIZED_VIEW,
    PARTITIONED,
    TABLE,
    VIEW,
    Catalog,
    Column,
    Index,
    Table,
)
from pytest_cdc.schema.types import Domain, Family, integer, params_text

ENGINE = "postgresql"

#: One row: the default schema, and the database's collation ("default" columns use it).
SESSION_SQL = (
    "SELECT current_schema(),"
    " (SELECT datcollate FROM pg_database WHERE datname = current_database())"
)

SCHEMAS_SQL = "SELECT nspname FROM pg_namespace"

#: Every column of every table, partitioned parent, view, materialized view and foreign
#: table (never a partition: the parent stands for them).  A domain reads as its base type
#: and typmod, with the domain's NOT NULL.  A partitioned parent's row estimate is the sum
#: of its leaf partitions' statistics.
COLUMNS_SQL = """SELECT n.nspname, c.relname, c.relkind, c.reltuples::bigint,
 CASE WHEN c.relkind = 'p' THEN (SELECT sum(GREATEST(p.reltuples, 0))::bigint
  FROM pg_partition_tree(c.oid) AS pt JOIN pg_class AS p ON p.oid = pt.relid
  WHERE pt.isleaf) END,
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
 AND n.nspname IN ({marks})
ORDER BY n.nspname, c.relname, a.attnum"""

#: One row a key column of every valid, unconditional, plain-column unique index (primary
#: keys and unique constraints included), in key order; INCLUDE columns left out.
KEYS_SQL = """SELECT n.nspname, c.relname, i.relname, x.indisprimary, k.ord, a.attname
FROM pg_index AS x
JOIN pg_class AS c ON c.oid = x.indrelid
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE x.indisunique AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL
 AND k.ord <= x.indnkeyatts AND NOT c.relispartition AND n.nspname IN ({marks})
ORDER BY n.nspname, c.relname, i.relname, k.ord"""

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
    canonical = CANONICAL.get(str(type_name), str(type_name))
    # A user type's name carries its schema when that is not on the search path; the same
    # type made in two schemas (source and target) is still the same type.
    shown = _UNQUALIFY.sub("", str(shown))
    if category == "A":
        canonical = "array"
    elif typtype == "e":
        canonical = "enum"
    length, precision, scale, fraction = decode_typmod(canonical, int(typmod))
    if canonical == "char" and length is None:
        length = 1
    declared = _declared(canonical, length, precision, scale, fraction, str(shown))
    if collation == "default":
        collation = default_collation
    return Column(
        name=str(name),
        position=int(position),
        type_name=canonical if canonical not in ("array", "enum") else str(shown),
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


def _estimate(kind: str, reltuples: Any, partitions: Any) -> int | None:
    if kind == "p":
        return None if partitions is None else int(partitions)
    if kind in ("r", "m") and reltuples is not None and int(reltuples) >= 0:
        return int(reltuples)
    return None  # views, foreign tables, never analysed (-1)


def build_catalog(
    session: Sequence[Any], schema_rows: Rows, column_rows: Rows, key_rows: Rows
) -> Catalog:
    """The model from the rows of the session, schemas, columns and keys statements."""
    default_schema, default_collation = session[0], session[1]
    columns: dict[tuple[str, str], list[Column]] = {}
    heads: dict[tuple[str, str], tuple[str, Any, Any]] = {}
    for row in column_rows:
        key = (str(row[0]), str(row[1]))
        if key not in heads:
            heads[key] = (str(row[2]), row[3], row[4])
            columns[key] = []
        columns[key].append(_column(row[5:], default_collation))
    indexes: dict[tuple[str, str], dict[str, tuple[bool, list[str]]]] = {}
    for schema, table, index, primary, _position, column in key_rows:
        per_table = indexes.setdefault((str(schema), str(table)), {})
        per_table.setdefault(str(index), (flag(primary), []))[1].append(str(column))
    tables: dict[tuple[str, str], Table] = {}
    for key, (kind, reltuples, partitions) in heads.items():
        found = [Index(n, tuple(c), p) for n, (p, c) in indexes.get(key, {}).items()]
        tables[key] = Table(
            schema=key[0],
            name=key[1],
            kind=_KINDS.get(kind, TABLE),
            columns=tuple(columns[key]),
            primary_key=next((i for i in found if i.primary), None),
            unique_indexes=tuple(i for i in found if not i.primary),
            row_estimate=_estimate(kind, reltuples, partitions),
        )
    return Catalog(
        engine=ENGINE,
        tables=tables,
        default_schema=None if default_schema is None else str(default_schema),
        schemas=frozenset(str(r[0]) for r in schema_rows),
    )


def _type_class(name: str) -> TypeClass | None:
    return TYPE_CLASSES.get(_INFO_NAMES.get(name, name))


def domain(column: Column) -> Domain:
    """The values a PostgreSQL column can hold (see :class:`~pytest_cdc.schema.types.Domain`)."""
    name = column.type_name
    shown = column.declared
    tc = _type_class(name)
    if name in _INTEGERS:
        low, high = _INTEGERS[name]
        return integer(ENGINE, name, low, high, tc)
    if name == "numeric":
        params: tuple[int | None, ...] = ()
        if column.precision is not None:
            params = (column.precision, column.scale)
        return Domain(
            Family.DECIMAL,
            ENGINE,
            name,
            shown,
            params=params,
            precision=column.precision,
            scale=column.scale,
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
        length = 63 if name == "name" else column.length
        sized: tuple[int | None, ...] = (length,) if name == "varchar" and length else ()
        return Domain(Family.TEXT, ENGINE, name, shown, params=sized, length=length, type_class=tc)
    if name == "char":
        return Domain(
            Family.CHAR,
            ENGINE,
            name,
            shown,
            params=(column.length,),
            length=column.length,
            fixed=True,
            type_class=tc,
        )
    if name == "bytea":
        return Domain(Family.BINARY, ENGINE, name, shown, type_class=tc)
    if name == "date":
        return Domain(Family.DATE, ENGINE, name, shown, years=DATE_YEARS, type_class=tc)
    if name in ("time", "timestamp", "timestamptz"):
        fraction = 6 if column.datetime_precision is None else column.datetime_precision
        family = {"time": Family.TIME, "timestamp": Family.TIMESTAMP}.get(name, Family.TIMESTAMPTZ)
        return Domain(
            family,
            ENGINE,
            name,
            shown,
            params=(fraction,),
            fraction=fraction,
            years=None if name == "time" else TIMESTAMP_YEARS,
            type_class=tc,
        )
    if name == "uuid":
        return Domain(Family.UUID, ENGINE, name, shown, type_class=tc)
    if name in ("json", "jsonb"):
        return Domain(Family.JSON, ENGINE, name, shown, type_class=tc)
    if name == "xml":
        return Domain(Family.XML, ENGINE, name, shown, type_class=tc)
    other: tuple[int | None, ...] = (column.length,) if column.length else ()
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

__all__ = ["READER", "build_catalog", "decode_typmod", "domain", "params_text"]
