"""SQL Server's catalog: the statements that read it (``sys.*`` views, whole schemas at once)
and the pure functions that turn their rows into the model and column types into domains.

Also reads change data capture: ``sys.tables.is_tracked_by_cdc`` for every table and, when
any table is tracked, the captured columns of every capture instance
(``cdc.change_tables`` and ``cdc.captured_columns``), so a column added after CDC was
enabled shows as not captured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from functools import lru_cache
from typing import Any, ClassVar

from pytest_cdc.checksums.encoding import MAX_PORTABLE_FLOAT_DIGITS
from pytest_cdc.dialects.mssql.checksum import TYPE_CLASSES
from pytest_cdc.schema.catalog import CatalogReader, Rows, flag, index_columns, marks
from pytest_cdc.schema.model import TABLE, VIEW, CaptureInstance, Catalog, Column, Table
from pytest_cdc.schema.types import Domain, Family, integer

ENGINE = "mssql"

SESSION_SQL = (
    "SELECT SCHEMA_NAME(), CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128))"
)

SCHEMAS_SQL = "SELECT name FROM sys.schemas"

#: Every column of every user table and view: the base type of alias types (with the alias
#: named), sizes in bytes as sys.columns keeps them, computed and identity flags, the
#: table's CDC flag and its row count from sys.partitions (heap or clustered index).
COLUMNS_SQL = """SELECT s.name, o.name, o.type, r.row_estimate, t.is_tracked_by_cdc,
 c.name, c.column_id,
 COALESCE(CASE WHEN ty.is_user_defined = 1 THEN bt.name END, ty.name),
 CASE WHEN ty.is_user_defined = 1 THEN ty.name END,
 c.max_length, c.precision, c.scale, c.is_nullable, c.collation_name, c.is_identity,
 c.is_computed, COALESCE(cc.is_persisted, 0),
 CASE WHEN c.default_object_id <> 0 THEN 1 ELSE 0 END
FROM sys.objects AS o
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
JOIN sys.columns AS c ON c.object_id = o.object_id
JOIN sys.types AS ty ON ty.user_type_id = c.user_type_id
LEFT JOIN sys.types AS bt ON bt.user_type_id = ty.system_type_id
LEFT JOIN sys.computed_columns AS cc ON cc.object_id = c.object_id
 AND cc.column_id = c.column_id
LEFT JOIN sys.tables AS t ON t.object_id = o.object_id
LEFT JOIN (SELECT p.object_id, SUM(p.rows) AS row_estimate FROM sys.partitions AS p
 WHERE p.index_id IN (0, 1) GROUP BY p.object_id) AS r ON r.object_id = o.object_id
WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND s.name IN ({marks})
ORDER BY s.name, o.name, c.column_id"""

#: One row a key column of every enabled, unfiltered unique index (primary keys included).
KEYS_SQL = """SELECT s.name, o.name, i.name, i.is_primary_key, ic.key_ordinal, c.name
FROM sys.indexes AS i
JOIN sys.objects AS o ON o.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.is_unique = 1 AND i.has_filter = 0 AND i.is_disabled = 0 AND ic.key_ordinal > 0
 AND o.type IN ('U', 'V') AND s.name IN ({marks})
ORDER BY s.name, o.name, i.name, ic.key_ordinal"""

#: The columns each capture instance captures; run only when some table is tracked (the
#: cdc schema exists only in databases where CDC was enabled).
CAPTURE_SQL = """SELECT s.name, o.name, ct.capture_instance, cc.column_name
FROM cdc.change_tables AS ct
JOIN sys.objects AS o ON o.object_id = ct.source_object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
JOIN cdc.captured_columns AS cc ON cc.object_id = ct.object_id
WHERE s.name IN ({marks})
ORDER BY s.name, o.name, ct.capture_instance, cc.column_ordinal"""

#: Types spelled another way in sys.types, and other spellings a pattern may use.
ALIASES = {
    "rowversion": "timestamp",
    "integer": "int",
    "dec": "decimal",
    "double precision": "float",
    "character": "char",
    "character varying": "varchar",
    "national character varying": "nvarchar",
    "national character": "nchar",
}
_BYTE_LENGTH = frozenset({"char", "varchar", "binary", "varbinary"})
_PAIR_LENGTH = frozenset({"nchar", "nvarchar"})
_FRACTION = frozenset({"time", "datetime2", "datetimeoffset"})

#: Years of the date and time types (SQL Server documentation, date and time types).
YEARS_DATE = (1, 9999)
YEARS_DATETIME = (1753, 9999)
YEARS_SMALLDATETIME = (1900, 2079)
MONEY = (Fraction(-922337203685477_5808, 10**4), Fraction(922337203685477_5807, 10**4))
SMALLMONEY = (Fraction(-214748_3648, 10**4), Fraction(214748_3647, 10**4))
_INTEGERS = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
#: Types pytest-cdc cannot check; reported as unsupported with this explanation.
UNSUPPORTED = {
    "sql_variant": "holds values of any type",
    "hierarchyid": "a CLR type with a binary encoding of its own",
    "geometry": "a CLR spatial type",
    "geography": "a CLR spatial type",
}
#: Every type in SQL Server's documentation, for the docs table and the tests.
KNOWN_TYPES = (
    "bit",
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "decimal",
    "numeric",
    "money",
    "smallmoney",
    "float",
    "real",
    "date",
    "time",
    "datetime2",
    "datetimeoffset",
    "datetime",
    "smalldatetime",
    "char",
    "varchar",
    "text",
    "nchar",
    "nvarchar",
    "ntext",
    "sysname",
    "binary",
    "varbinary",
    "image",
    "uniqueidentifier",
    "xml",
    "timestamp",
    "sql_variant",
    "hierarchyid",
    "geometry",
    "geography",
)


def insensitive(collation: str | None) -> bool:
    """Whether a SQL Server collation ignores case or accents (``_CI``, ``_AI``)."""
    if not collation:
        return False
    parts = collation.upper().split("_")
    return "CI" in parts or "AI" in parts


def _declared(
    base: str, length: int | None, precision: int | None, scale: int | None, fraction: int | None
) -> str:
    if base in _BYTE_LENGTH or base in _PAIR_LENGTH:
        return f"{base}({'max' if length is None else length})"
    if base in ("decimal", "numeric"):
        return f"{base}({precision},{scale})"
    if base in _FRACTION:
        return f"{base}({fraction})"
    if base == "timestamp":
        return "rowversion"
    return base


def column(row: Sequence[Any]) -> Column:
    """One row of :data:`COLUMNS_SQL` (from the column name on) as a model column."""
    (
        name,
        position,
        base,
        user_type,
        max_length,
        precision,
        scale,
        nullable,
        collation,
        identity,
        computed,
        persisted,
        has_default,
    ) = row
    base = str(base).lower()
    length: int | None = None
    fraction: int | None = None
    if base in _BYTE_LENGTH:
        length = None if int(max_length) == -1 else int(max_length)
    elif base in _PAIR_LENGTH:
        length = None if int(max_length) == -1 else int(max_length) // 2
    elif base == "sysname":
        length = 128
    if base in _FRACTION:
        fraction = int(scale)
    elif base == "datetime":
        fraction = 3
    elif base == "smalldatetime":
        fraction = 0
    exact = base in ("decimal", "numeric")
    p = int(precision) if exact else None
    s = int(scale) if exact else None
    return Column(
        name=str(name),
        position=int(position),
        type_name=base,
        declared=_declared(base, length, p, s, fraction),
        nullable=flag(nullable),
        length=length,
        precision=p,
        scale=s,
        datetime_precision=fraction,
        collation=None if collation is None else str(collation),
        insensitive_collation=insensitive(collation),
        identity=flag(identity),
        computed=flag(computed),
        persisted=flag(persisted),
        has_default=flag(has_default) or flag(identity),
        user_type=None if user_type is None else str(user_type),
    )


def build_catalog(
    session: Sequence[Any], schema_rows: Rows, column_rows: Rows, key_rows: Rows
) -> Catalog:
    """The model from the rows of the session, schemas, columns and keys statements."""
    columns: dict[tuple[str, str], list[Column]] = {}
    heads: dict[tuple[str, str], tuple[str, Any, Any]] = {}
    for row in column_rows:
        key = (str(row[0]), str(row[1]))
        if key not in heads:
            heads[key] = (str(row[2]).strip(), row[3], row[4])
            columns[key] = []
        columns[key].append(column(row[5:]))
    indexes = index_columns(key_rows)
    tables: dict[tuple[str, str], Table] = {}
    for key in sorted(heads):
        kind, rows, tracked = heads[key]
        found = indexes.get(key, [])
        is_table = kind == "U"
        tables[key] = Table(
            schema=key[0],
            name=key[1],
            kind=TABLE if is_table else VIEW,
            columns=tuple(sorted(columns[key], key=lambda c: c.position)),
            primary_key=next((i for i in found if i.primary), None),
            unique_indexes=tuple(i for i in found if not i.primary),
            row_estimate=int(rows) if is_table and rows is not None else None,
            cdc_enabled=flag(tracked) if is_table else None,
        )
    return Catalog(
        engine=ENGINE,
        tables=tables,
        default_schema=None if session[0] is None else str(session[0]),
        schemas=frozenset(str(r[0]) for r in schema_rows),
    )


def with_captures(catalog: Catalog, rows: Rows) -> Catalog:
    """``catalog`` with the capture instances of :data:`CAPTURE_SQL`'s rows."""
    found: dict[tuple[str, str], dict[str, list[str]]] = {}
    for schema, table, instance, col in rows:
        per_table = found.setdefault((str(schema), str(table)), {})
        per_table.setdefault(str(instance), []).append(str(col))
    tables = dict(catalog.tables)
    for key, instances in found.items():
        table = tables.get(key)
        if table is not None:
            captures = tuple(CaptureInstance(n, tuple(c)) for n, c in instances.items())
            tables[key] = replace(table, capture_instances=captures)
    return replace(catalog, tables=tables)


def domain(col: Column) -> Domain:
    """The values a SQL Server column can hold (see :class:`~pytest_cdc.schema.types.Domain`)."""
    utf8 = bool(col.collation and "UTF8" in col.collation.upper())
    return _domain(
        col.type_name,
        col.declared,
        col.length,
        col.precision,
        col.scale,
        col.datetime_precision,
        utf8,
    )


@lru_cache(maxsize=4096)
def _domain(
    base: str,
    shown: str,
    length: int | None,
    precision: int | None,
    scale: int | None,
    fraction: int | None,
    utf8: bool,
) -> Domain:
    # One Domain a distinct type: the rules see the same object for the same type.
    found = _values(base, shown, length, precision, scale, fraction, utf8)
    return replace(found, float_digits=MAX_PORTABLE_FLOAT_DIGITS)


def _values(
    base: str,
    shown: str,
    length: int | None,
    precision: int | None,
    scale: int | None,
    fraction: int | None,
    utf8: bool,
) -> Domain:
    tc = TYPE_CLASSES.get(base)
    if base in _INTEGERS:
        return integer(ENGINE, base, *_INTEGERS[base], tc)
    if base == "bit":
        return Domain(Family.BOOLEAN, ENGINE, base, shown, type_class=tc)
    if base in ("decimal", "numeric"):
        return Domain(
            Family.DECIMAL,
            ENGINE,
            base,
            shown,
            params=(precision, scale),
            precision=precision,
            scale=scale,
            type_class=tc,
        )
    if base in ("money", "smallmoney"):
        bounds = MONEY if base == "money" else SMALLMONEY
        return Domain(
            Family.DECIMAL,
            ENGINE,
            base,
            shown,
            low=bounds[0],
            high=bounds[1],
            precision=19 if base == "money" else 10,
            scale=4,
            type_class=tc,
        )
    if base in ("float", "real"):
        return Domain(
            Family.FLOAT, ENGINE, base, shown, bits=53 if base == "float" else 24, type_class=tc
        )
    if base in ("char", "nchar"):
        return Domain(
            Family.CHAR,
            ENGINE,
            base,
            shown,
            params=(length,),
            length=length,
            fixed=True,
            unicode=base == "nchar" or utf8,
            type_class=tc,
        )
    if base in ("varchar", "nvarchar", "text", "ntext", "sysname"):
        params = (length,) if base in ("varchar", "nvarchar") else ()
        return Domain(
            Family.TEXT,
            ENGINE,
            base,
            shown,
            params=params,
            length=length,
            unicode=base in ("nvarchar", "ntext", "sysname") or utf8,
            type_class=tc,
        )
    if base == "xml":
        return Domain(Family.XML, ENGINE, base, shown, type_class=tc)
    if base in ("binary", "varbinary", "image"):
        return Domain(
            Family.BINARY,
            ENGINE,
            base,
            shown,
            params=(length,) if base != "image" else (),
            length=length,
            fixed=base == "binary",
            type_class=tc,
        )
    if base == "timestamp":
        return Domain(
            Family.BINARY,
            ENGINE,
            base,
            shown,
            length=8,
            fixed=True,
            type_class=tc,
            note="rowversion: the source sets a new value on every update",
        )
    if base == "uniqueidentifier":
        return Domain(Family.UUID, ENGINE, base, shown, type_class=tc)
    if base == "date":
        return Domain(Family.DATE, ENGINE, base, shown, years=YEARS_DATE, type_class=tc)
    if base == "time":
        return Domain(
            Family.TIME,
            ENGINE,
            base,
            shown,
            params=(fraction,),
            fraction=fraction,
            type_class=tc,
        )
    if base in ("datetime2", "datetimeoffset"):
        return Domain(
            Family.TIMESTAMP if base == "datetime2" else Family.TIMESTAMPTZ,
            ENGINE,
            base,
            shown,
            params=(fraction,),
            fraction=fraction,
            years=YEARS_DATE,
            type_class=tc,
        )
    if base == "datetime":
        return Domain(
            Family.TIMESTAMP,
            ENGINE,
            base,
            shown,
            fraction=3,
            ticks300=True,
            years=YEARS_DATETIME,
            type_class=tc,
        )
    if base == "smalldatetime":
        return Domain(
            Family.TIMESTAMP,
            ENGINE,
            base,
            shown,
            fraction=0,
            minutes=True,
            years=YEARS_SMALLDATETIME,
            type_class=tc,
        )
    why = UNSUPPORTED.get(base, "a type pytest-cdc does not know (a CLR or user type)")
    return Domain(Family.UNSUPPORTED, ENGINE, base, shown, note=why)


class SqlServerCatalog(CatalogReader):
    engine: ClassVar[str] = ENGINE
    change_capture: ClassVar[bool] = True
    type_names: ClassVar[tuple[str, ...]] = KNOWN_TYPES
    session_sql: ClassVar[str] = SESSION_SQL
    schemas_sql: ClassVar[str] = SCHEMAS_SQL

    def columns_sql(self, paramstyle: str, count: int) -> str:
        return COLUMNS_SQL.format(marks=marks(paramstyle, count))

    def keys_sql(self, paramstyle: str, count: int) -> str:
        return KEYS_SQL.format(marks=marks(paramstyle, count))

    def capture_sql(self, paramstyle: str, count: int) -> str | None:
        return CAPTURE_SQL.format(marks=marks(paramstyle, count))

    def build(
        self, session: Sequence[Any], schema_rows: Rows, column_rows: Rows, key_rows: Rows
    ) -> Catalog:
        return build_catalog(session, schema_rows, column_rows, key_rows)

    def with_captures(self, catalog: Catalog, rows: Rows) -> Catalog:
        return with_captures(catalog, rows)

    def domain(self, column: Column) -> Domain:
        return domain(column)

    def pattern_name(self, name: str) -> str:
        lowered = " ".join(name.strip().lower().split())
        return ALIASES.get(lowered, lowered)


READER = SqlServerCatalog()

__all__ = ["KNOWN_TYPES", "READER", "build_catalog", "column", "domain"]
