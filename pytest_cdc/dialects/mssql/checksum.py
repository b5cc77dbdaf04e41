"""SQL Server (T-SQL): the canonical encoding as SQL, and its catalog reader.

Text is hashed as UTF-8: ``HASHBYTES`` over ``nvarchar`` would hash UTF-16LE bytes, so every
text value goes through ``nvarchar -> COLLATE Latin1_General_100_BIN2_UTF8 -> varchar(max)``,
which needs SQL Server 2019 (major version 15) or later; :meth:`TsqlGenerator.server_problem`
refuses older servers with a clear message instead of producing checksums that can never match.
Never ``CHECKSUM``/``BINARY_CHECKSUM``/``CHECKSUM_AGG``: 32 bits, collation-dependent, and XOR
cancels duplicate rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_cdc.checksums.encoding import (
    LENGTH_PREFIXED,
    MAX_PORTABLE_FLOAT_DIGITS,
    Column,
    ColumnPair,
    EncodingOptions,
    TypeClass,
)
from pytest_cdc.checksums.sqlgen import Scope, ServerFacts, SqlGenerator
from pytest_cdc.errors import ConfigError

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect

UTF8_COLLATION = "Latin1_General_100_BIN2_UTF8"
#: A backslash followed by a line break: the cut points of :meth:`TsqlGenerator.string_literal`.
_CONTINUATION = re.compile(r"(?<=\\)(?=[\r\n])")
BINARY_COLLATION = "Latin1_General_100_BIN2"
#: Below this a double is subnormal and holds fewer than 15 significant digits.
SMALLEST_NORMAL = "2.2250738585072014E-308"
#: First SQL Server major version with UTF-8 collations (2019).
MIN_UTF8_VERSION = 15
#: First SQL Server major version with STRING_AGG (2017): the ordered aggregation needs it.
MIN_STRING_AGG_VERSION = 14

TYPE_CLASSES: dict[str, TypeClass] = {
    "tinyint": TypeClass.INTEGER,
    "smallint": TypeClass.INTEGER,
    "int": TypeClass.INTEGER,
    "bigint": TypeClass.INTEGER,
    "decimal": TypeClass.DECIMAL,
    "numeric": TypeClass.DECIMAL,
    "money": TypeClass.DECIMAL,
    "smallmoney": TypeClass.DECIMAL,
    "real": TypeClass.FLOAT,
    "float": TypeClass.FLOAT,
    "bit": TypeClass.BOOLEAN,
    "varchar": TypeClass.TEXT,
    "nvarchar": TypeClass.TEXT,
    "text": TypeClass.TEXT,
    "ntext": TypeClass.TEXT,
    "sysname": TypeClass.TEXT,
    "xml": TypeClass.TEXT,
    "char": TypeClass.CHAR,
    "nchar": TypeClass.CHAR,
    "date": TypeClass.DATE,
    "time": TypeClass.TIME,
    "datetime": TypeClass.TIMESTAMP,
    "datetime2": TypeClass.TIMESTAMP,
    "smalldatetime": TypeClass.TIMESTAMP,
    "datetimeoffset": TypeClass.TIMESTAMPTZ,
    "uniqueidentifier": TypeClass.UUID,
    "binary": TypeClass.BINARY,
    "varbinary": TypeClass.BINARY,
    "image": TypeClass.BINARY,
}

#: Key column types whose index order is PostgreSQL's order too (INFORMATION_SCHEMA data_type
#: -> the type class it must be compared as); the name is also the literal's cast.
ORDERED_KEY_TYPES: dict[str, TypeClass] = {
    "tinyint": TypeClass.INTEGER,
    "smallint": TypeClass.INTEGER,
    "int": TypeClass.INTEGER,
    "bigint": TypeClass.INTEGER,
    "date": TypeClass.DATE,
}

CATALOG_QUERY = (
    "SELECT COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION, IS_NULLABLE"
    " FROM INFORMATION_SCHEMA.COLUMNS"
    " WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
)
VERSION_QUERY = "SELECT CAST(SERVERPROPERTY('ProductMajorVersion') AS int)"


class TsqlGenerator(SqlGenerator):
    def __init__(
        self, options: EncodingOptions | None = None, *, dialect: Dialect | None = None
    ) -> None:
        from pytest_cdc.dialects.mssql import SqlServerDialect

        super().__init__(options, dialect=dialect or SqlServerDialect())

    apply_keyword: ClassVar[str] = "CROSS APPLY"
    concat_operator: ClassVar[str] = " + "
    probe_formats: ClassVar[frozenset[TypeClass]] = frozenset({TypeClass.FLOAT})
    # Integer and date keys only: their order is PostgreSQL's, and a literal cast to the
    # column's own type keeps the seek.  uniqueidentifier sorts its last byte group first
    # (never used), text needs a binary UTF-8 order no index has, and a decimal or datetime2
    # literal would need the column's precision.
    ordered_key_types: ClassVar[Mapping[str, TypeClass]] = ORDERED_KEY_TYPES

    current_schema_sql: ClassVar[str] = "SELECT SCHEMA_NAME()"

    # -- the catalogs -------------------------------------------------------------------------
    def columns_sql(self, paramstyle: str) -> str:
        return columns_sql(paramstyle)

    def columns(self, rows: Sequence[Sequence[Any]]) -> list[Column]:
        return columns(rows)

    def key_indexes_sql(self, paramstyle: str) -> str:
        return key_indexes_sql(paramstyle)

    def estimate_sql(self, paramstyle: str) -> str:
        return estimate_sql(paramstyle)

    def ordered_unavailable(self, major: int | None) -> str | None:
        if major is not None and major < MIN_STRING_AGG_VERSION:
            return f"it needs STRING_AGG (SQL Server 2017), and the server is version {major}"
        return None

    def server_problem(
        self, facts: ServerFacts, pairs: Sequence[ColumnPair], side: str
    ) -> str | None:
        needs_utf8 = any(p.on(side).type_class in LENGTH_PREFIXED for p in pairs)
        if needs_utf8 and facts.major is not None and facts.major < MIN_UTF8_VERSION:
            return (
                f"sql server major version {facts.major!r} has no utf-8 collation, so text"
                " cannot be hashed like postgresql does: reconcile on sql server 2019 or"
                " later, or leave the text columns out with columns=[...]"
            )
        return None

    def count(self, expr: str = "*") -> str:
        return f"COUNT_BIG({expr})"

    def value_count(self, pair: ColumnPair, side: str) -> str:
        x = self.column(pair, side)
        if pair.on(side).data_type in ("text", "ntext", "image"):
            # COUNT takes "an expression of any type, except image, ntext, or text".
            return self.count(f"CASE WHEN {x} IS NULL THEN NULL ELSE 1 END")
        return self.count(x)

    def aggregate_value(self, pair: ColumnPair, side: str) -> str:
        x = self.column(pair, side)
        col = pair.on(side)
        if col.type_class is TypeClass.TIMESTAMPTZ:
            # pyodbc reads no datetimeoffset: UTC as datetime2, as PostgreSQL's AT TIME ZONE.
            return f"CAST(SWITCHOFFSET({x}, '+00:00') AS datetime2(7))"
        if col.data_type in ("money", "smallmoney"):
            return f"CAST({x} AS decimal(19, 4))"
        if col.type_class is TypeClass.BOOLEAN:
            return f"CAST({x} AS int)"  # compared as a number: SQL Server has no MIN(bit)
        return x

    def total(self, pair: ColumnPair, side: str) -> str:
        x = self.column(pair, side)
        col = pair.on(side)
        if col.type_class is TypeClass.DECIMAL and col.data_type not in ("money", "smallmoney"):
            return f"SUM({x})"  # decimal(p, s) sums as decimal(38, s): exact
        # SUM(int) and SUM(bigint) overflow in their own type.
        return f"SUM(CAST({x} AS decimal(38, {4 if col.type_class is TypeClass.DECIMAL else 0})))"

    def chain(self, parts: Sequence[str]) -> str:
        # A concatenation of non-max varchar values stops at 8,000 bytes without a word:
        # one varchar(max) at the head keeps a long row (hundreds of numeric columns) whole.
        head, *rest = parts
        return self.concat([f"CAST({head} AS varchar(max))", *rest])

    def string_literal(self, text: str) -> str:
        if "\x00" in text:
            raise ValueError(f"literal {text!r} contains a NUL character")
        # T-SQL has no backslash escapes, but a backslash right before a line break inside a
        # literal continues the line: both vanish.  Such a value is cut there into literals
        # joined with +, so that no backslash stands before a line break in any of them.
        parts = _CONTINUATION.split(text)
        return " + ".join("N'" + part.replace("'", "''") + "'" for part in parts)

    def utf8(self, expr: str) -> str:
        return f"CAST(CAST({expr} AS nvarchar(max)) COLLATE {UTF8_COLLATION} AS varchar(max))"

    def octet_length(self, expr: str) -> str:
        return f"DATALENGTH({expr})"

    def int_to_text(self, expr: str) -> str:
        return f"CAST({expr} AS varchar(20))"

    def row_hash(self, row_text: str) -> str:
        # HASHBYTES over the UTF-8 varchar: the same bytes PostgreSQL's md5() sees.  The
        # first 8 bytes read as bigint are big-endian and signed, like bit(64)::bigint.
        return f"CAST(SUBSTRING(HASHBYTES('MD5', {row_text}), 1, 8) AS bigint)"

    def exact_sum(self, expr: str) -> str:
        return f"SUM(CAST({expr} AS decimal(38, 0)))"  # SUM(bigint) overflows

    def sample_condition(self, fraction: float) -> str:
        # A row sample: TABLESAMPLE returns whole pages, whose consecutive keys make
        # clustered boundaries.  This reads every key (the narrowest index serves it) and
        # keeps each with the probability asked.
        per_million = max(1, round(min(1.0, fraction) * 1_000_000))
        return f"ABS(CAST(CAST(NEWID() AS varbinary(4)) AS int) % 1000000) < {per_million}"

    # -- the ordered aggregation -------------------------------------------------------------
    def segment_digest(self, row_text: str, key: str, from_where: str) -> str:
        # One key column only (composite_ordered_keys is False): ``key`` is that column.
        # STRING_AGG over varchar(max) has no 8000-byte limit; the row text is UTF-8 already
        # (see utf8()), so HASHBYTES sees the bytes PostgreSQL's md5() sees.  The optimizer
        # drops the WITHIN GROUP sort when the index seek yields key order.
        digest = (
            "HASHBYTES('MD5', STRING_AGG(CAST(q.r AS varchar(max)), '')"
            " WITHIN GROUP (ORDER BY q.k))"
        )
        return (
            f"SELECT COUNT(*) AS n, LOWER(CONVERT(char(32), {digest}, 2)) AS total"
            f" FROM (SELECT {row_text} AS r, {key} AS k FROM {from_where}) AS q"
        )

    def limit(self, select_body: str, rows: int) -> str:
        return select_body.replace("SELECT ", f"SELECT TOP ({int(rows)}) ", 1)

    # -- rendering ---------------------------------------------------------------------------
    def render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        col = pair.on(side)
        x = self.column(pair, side)
        native = col.type_class
        fmt = pair.fmt
        if native is TypeClass.BOOLEAN:
            native = TypeClass.INTEGER  # bit prints as 1/0 already
        if fmt in (TypeClass.INTEGER, TypeClass.BOOLEAN):
            return f"CAST({x} AS varchar(40))"
        if fmt is TypeClass.DECIMAL:
            if native is TypeClass.INTEGER:
                return f"CAST({x} AS varchar(40))"
            return self._decimal(x, col, scope)
        if fmt is TypeClass.FLOAT:
            return self._float(f"CAST({x} AS float)", scope)
        if fmt in (TypeClass.TEXT, TypeClass.JSON):
            return self.utf8(x)
        if fmt is TypeClass.CHAR:
            # RTRIM drops trailing spaces only, the char(n) padding rule.
            return self.utf8(f"RTRIM({x})")
        if fmt is TypeClass.UUID:
            return f"LOWER(CONVERT(char(36), {x}))"
        if fmt is TypeClass.BINARY:
            return f"LOWER(CONVERT(varchar(max), CAST({x} AS varbinary(max)), 2))"
        if fmt is TypeClass.DATE:
            return f"CONVERT(char(10), {x}, 23)"
        if fmt is TypeClass.TIME:
            return self._cut_text(f"CAST({x} AS time(7))", "time(7)", 8, scope)
        if fmt in (TypeClass.TIMESTAMP, TypeClass.TIMESTAMPTZ):
            if native is TypeClass.TIMESTAMPTZ:
                x = f"SWITCHOFFSET({x}, '+00:00')"
            return self._cut_text(f"CAST({x} AS datetime2(7))", "datetime2(7)", 19, scope)
        raise ValueError(f"cannot render {col.data_type!r} as {fmt.value}")

    def probe_render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        if pair.fmt is not TypeClass.FLOAT:
            return super().probe_render(pair, side, scope)
        # A float's binary(8) is its IEEE 754 bits, big-endian (1.1 is 0x3FF199999999999A),
        # and style 2 writes them as hex without '0x': the bytes PostgreSQL's float8send
        # gives, where the canonical text takes some 20 string steps a value.
        bits = f"CAST(CAST({self.column(pair, side)} AS float) AS binary(8))"
        return f"LOWER(CONVERT(char(16), {bits}, 2))"

    def _decimal(self, x: str, col: Column, scope: Scope) -> str:
        if col.data_type in ("money", "smallmoney"):
            x = f"CAST({x} AS decimal(19, 4))"
        text = scope.bind(f"CAST({x} AS varchar(60))")
        rev = f"REVERSE({text})"
        stripped = scope.bind(f"SUBSTRING({rev}, PATINDEX('%[^0]%', {rev}), 60)")
        no_dot = (
            f"REVERSE(SUBSTRING({stripped}, CASE WHEN LEFT({stripped}, 1) = '.' THEN 2 ELSE 1 END,"
            " 60))"
        )
        return (
            f"CASE WHEN {x} = 0 THEN '0' WHEN CHARINDEX('.', {text}) = 0 THEN {text}"
            f" ELSE {no_dot} END"
        )

    def _cut_text(self, x: str, type_name: str, width: int, scope: Scope) -> str:
        """Text at the configured precision: truncate, or round half up, the 100ns value; then
        trailing fractional zeros and a bare '.' dropped (PostgreSQL's ISO output style)."""
        precision = self.options.timestamp_precision
        if self.options.timestamp_mode == "round":
            half = 5 * 10 ** (6 - precision)  # half a unit of the last kept digit, in 100 ns
            x = f"CAST(DATEADD(nanosecond, {half * 100}, {x}) AS {type_name})"
        # Style 121 for datetime2 and the default for time: ISO, 7 fractional digits.
        style = ", 121" if type_name.startswith("datetime2") else ""
        text = scope.bind(f"LEFT(CONVERT(varchar(27), {x}{style}), {width + 1 + precision})")
        rev = scope.bind(f"REVERSE({text})")
        stripped = f"SUBSTRING({rev}, PATINDEX('%[^0]%', {rev}), 40)"
        no_dot = scope.bind(
            f"REVERSE(SUBSTRING({stripped}, CASE WHEN LEFT({stripped}, 1) = '.' THEN 2 ELSE 1 END,"
            " 40))"
        )
        return f"CASE WHEN {precision} = 0 THEN LEFT({text}, {width}) ELSE {no_dot} END"

    def _float(self, v: str, scope: Scope) -> str:
        digits = self.options.float_digits
        if digits > MAX_PORTABLE_FLOAT_DIGITS:
            raise ConfigError(
                f"float_digits={digits!r} cannot be reproduced on sql server: pass "
                f"float_digits={MAX_PORTABLE_FLOAT_DIGITS} or fewer"
            )
        v = scope.bind(v)
        # Style 3: 17 significant digits, 'd.dddddddddddddddde+ddd'.
        s = scope.bind(f"CONVERT(varchar(30), ABS({v}), 3)")
        e_at = f"CHARINDEX('e', LOWER({s}))"
        exp = scope.bind(f"CAST(SUBSTRING({s}, {e_at} + 1, 10) AS int)")
        m17 = scope.bind(f"REPLACE(LEFT({s}, {e_at} - 1), '.', '')")
        unit = scope.bind(f"{exp} - LEN({m17}) + 1")
        big = scope.bind(f"CAST({m17} AS decimal(38, 0))")
        m15 = scope.bind(f"ROUND({big}, 15 - LEN({m17}))")
        # The 15-digit rounding *is* the shortest round-trip form whenever it reads back as
        # the same double; otherwise the shortest form has 16-17 digits and, for
        # float_digits <= 14, rounds like the 17-digit expansion (docs/checksum.md).
        back = f"TRY_CAST(CAST({m15} AS varchar(40)) + 'E' + CAST({unit} AS varchar(10)) AS float)"
        # Subnormals hold fewer than 15 digits, so there the shortest form is found by trying
        # 1, 2, ... digits (a ladder evaluated only for those rare values).
        ladder = " ".join(
            f"WHEN TRY_CAST(CAST(ROUND({big}, {k} - LEN({m17})) AS varchar(40)) + 'E'"
            f" + CAST({unit} AS varchar(10)) AS float) = ABS({v})"
            f" THEN ROUND({big}, {k} - LEN({m17}))"
            for k in range(1, 16)
        )
        m = scope.bind(
            f"CASE WHEN ABS({v}) < {SMALLEST_NORMAL} THEN CASE {ladder} ELSE {big} END"
            f" WHEN {back} = ABS({v}) THEN {m15} ELSE {big} END"
        )
        width = f"LEN(CAST({m} AS varchar(40)))"
        rounded = scope.bind(f"CAST(ROUND({m}, {digits} - {width}) AS varchar(40))")
        digits_text = scope.bind(
            f"REVERSE(CAST(CAST(REVERSE({rounded}) AS decimal(38, 0)) AS varchar(40)))"
        )
        # Decimal exponent of the leading digit, then plain notation like DECIMAL's.
        lead = scope.bind(f"{unit} + LEN({rounded}) - 1")
        size = f"LEN({digits_text})"
        plain = (
            f"CASE WHEN {lead} >= {size} - 1"
            f" THEN {digits_text} + REPLICATE('0', {lead} - {size} + 1)"
            f" WHEN {lead} >= 0"
            f" THEN LEFT({digits_text}, {lead} + 1) + '.'"
            f" + SUBSTRING({digits_text}, {lead} + 2, 40)"
            f" ELSE '0.' + REPLICATE('0', -{lead} - 1) + {digits_text} END"
        )
        return f"CASE WHEN {v} = 0 THEN '0' WHEN {v} < 0 THEN '-' + {plain} ELSE {plain} END"

    # -- keys --------------------------------------------------------------------------------
    def sort_expr(self, pair: ColumnPair, side: str) -> str:
        col = pair.on(side)
        x = self.column(pair, side)
        if pair.fmt in (TypeClass.TEXT, TypeClass.CHAR, TypeClass.JSON):
            # UTF-8 bytes under a binary collation sort in code point order, like "C".
            return self.utf8(x)
        if pair.fmt is TypeClass.UUID:
            # Never uniqueidentifier order (it sorts the last byte group first).
            return f"(LOWER(CONVERT(char(36), {x})) COLLATE {BINARY_COLLATION})"
        if col.type_class is TypeClass.TIMESTAMPTZ:
            return f"CAST(SWITCHOFFSET({x}, '+00:00') AS datetime2(7))"
        return x

    def typed_literal(self, pair: ColumnPair, side: str, text: str) -> str:
        fmt = pair.fmt
        if fmt in (TypeClass.INTEGER, TypeClass.DECIMAL, TypeClass.BOOLEAN):
            return self.checked_number(text)
        if fmt in (TypeClass.TEXT, TypeClass.CHAR, TypeClass.JSON):
            return self.utf8(self.string_literal(text))
        if fmt is TypeClass.UUID:
            return f"({self.string_literal(text)} COLLATE {BINARY_COLLATION})"
        casts = {
            TypeClass.DATE: "date",
            TypeClass.TIME: "time(7)",
            TypeClass.TIMESTAMP: "datetime2(7)",
            TypeClass.TIMESTAMPTZ: "datetime2(7)",
        }
        if fmt in casts:
            return f"CAST({self.string_literal(text)} AS {casts[fmt]})"
        if fmt is TypeClass.BINARY:
            return f"CONVERT(varbinary(max), '0x{self.checked_hex(text)}', 1)"
        raise ValueError(f"a {fmt.value} column cannot be a reconciliation key")


def columns_sql(paramstyle: str) -> str:
    """The table's columns (two parameters: schema, table); rows for :func:`columns`."""
    return CATALOG_QUERY


def columns(rows: Sequence[Sequence[Any]]) -> list[Column]:
    """:func:`columns_sql` rows as columns (empty when the table does not exist)."""
    out = []
    for name, data_type, precision, nullable in rows:
        type_class = TYPE_CLASSES.get(str(data_type))
        # type_class None: a type with no canonical format, refused when it is compared.
        column = Column(str(name), str(data_type), type_class, precision, nullable == "YES")  # type: ignore[arg-type]
        out.append(column)
    return out


#: One round trip: the major version and the session's lock timeout (to restore).
PREPARE_QUERY = "SELECT CAST(SERVERPROPERTY('ProductMajorVersion') AS int), @@LOCK_TIMEOUT"


def lock_timeout_sql(seconds: float | None) -> str:
    """``SET LOCK_TIMEOUT``: milliseconds, -1 to wait for ever."""
    ms = -1 if seconds is None else max(1, round(seconds * 1000))
    return f"SET LOCK_TIMEOUT {int(ms)}"


def key_indexes_sql(paramstyle: str) -> str:
    """The key columns of the table's enabled, unfiltered rowstore indexes.

    One parameter, the quoted table name.  Rows: (index, position from 1, column name,
    1 if the column is NOT NULL, 1 if the position sorts descending, 1 if the index is unique,
    the index's number of key columns).
    """
    return (
        "SELECT ic.index_id, ic.key_ordinal, c.name,"
        " CASE WHEN c.is_nullable = 0 THEN 1 ELSE 0 END,"
        " CASE WHEN ic.is_descending_key = 1 THEN 1 ELSE 0 END,"
        " CASE WHEN ix.is_unique = 1 THEN 1 ELSE 0 END,"
        " (SELECT COUNT(*) FROM sys.index_columns AS n WHERE n.object_id = ic.object_id"
        " AND n.index_id = ic.index_id AND n.key_ordinal > 0)"
        " FROM sys.index_columns AS ic"
        " JOIN sys.indexes AS ix ON ix.object_id = ic.object_id AND ix.index_id = ic.index_id"
        " JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id"
        " WHERE ic.object_id = OBJECT_ID(?) AND ic.key_ordinal > 0 AND ix.type IN (1, 2)"
        " AND ix.has_filter = 0 AND ix.is_disabled = 0"
    )


def estimate_sql(paramstyle: str) -> str:
    """(row count, row count) from the partition metadata, summed over partitions: a row
    sample draws from rows.  One parameter: the quoted name."""
    return (
        "SELECT SUM(p.rows), SUM(p.rows) FROM sys.partitions AS p"
        " WHERE p.object_id = OBJECT_ID(?) AND p.index_id IN (0, 1)"
    )
