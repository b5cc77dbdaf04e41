"""PostgreSQL: the canonical encoding as SQL, and its catalog reader.

Needs PostgreSQL 14+ (numeric Infinity, trim_scale) with a UTF8 server encoding, and a
session with ``extra_float_digits > 0`` so ``float8::text`` is the shortest round-trip form
(:func:`prepare_sql` sets it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_cdc.checksums.encoding import Column, ColumnPair, EncodingOptions, TypeClass
from pytest_cdc.checksums.sqlgen import TABLE_ALIAS, Scope, ServerFacts, SqlGenerator

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect

#: information_schema data_type -> type class.
TYPE_CLASSES: dict[str, TypeClass] = {
    "smallint": TypeClass.INTEGER,
    "integer": TypeClass.INTEGER,
    "bigint": TypeClass.INTEGER,
    "numeric": TypeClass.DECIMAL,
    "money": TypeClass.DECIMAL,
    "real": TypeClass.FLOAT,
    "double precision": TypeClass.FLOAT,
    "boolean": TypeClass.BOOLEAN,
    "text": TypeClass.TEXT,
    "character varying": TypeClass.TEXT,
    "name": TypeClass.TEXT,
    "citext": TypeClass.TEXT,
    "xml": TypeClass.TEXT,
    "character": TypeClass.CHAR,
    "json": TypeClass.JSON,
    "jsonb": TypeClass.JSON,
    "date": TypeClass.DATE,
    "time without time zone": TypeClass.TIME,
    "timestamp without time zone": TypeClass.TIMESTAMP,
    "timestamp with time zone": TypeClass.TIMESTAMPTZ,
    "uuid": TypeClass.UUID,
    "bytea": TypeClass.BINARY,
}

#: Oldest server whose numeric type holds Infinity (14), which the float rendering needs.
MIN_VERSION = 14
#: Below this a double is subnormal and holds fewer than 15 significant digits.
SMALLEST_NORMAL = "2.2250738585072014E-308::float8"

#: Key column types whose btree order is the order the other engine shares (information_schema
#: data_type -> the type class it must be compared as); the name is also the literal's cast.
ORDERED_KEY_TYPES: dict[str, TypeClass] = {
    "smallint": TypeClass.INTEGER,
    "integer": TypeClass.INTEGER,
    "bigint": TypeClass.INTEGER,
    "numeric": TypeClass.DECIMAL,
    "date": TypeClass.DATE,
    "timestamp without time zone": TypeClass.TIMESTAMP,
    "uuid": TypeClass.UUID,
}

#: A table's columns as information_schema.columns names them (data_type as format_type gives
#: it, a domain as its base type; datetime_precision 6 where unset; is_nullable YES/NO), read
#: from pg_catalog: information_schema took 0.3 s here on a database of a few thousand
#: relations, pg_catalog 1 ms.
CATALOG_QUERY = (
    "SELECT a.attname::text, format_type(b.oid, NULL),"
    " CASE WHEN b.oid IN (1083, 1114, 1184, 1266)"
    " THEN CASE WHEN m.typmod < 0 THEN 6 ELSE m.typmod END WHEN b.oid = 1082 THEN 0 END,"
    " CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END"
    " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
    " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " JOIN pg_type AS t ON t.oid = a.atttypid"
    " JOIN pg_type AS b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END"
    " CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typtypmod"
    " ELSE a.atttypmod END AS typmod) AS m"
    " WHERE n.nspname = {mark} AND c.relname = {mark} AND a.attnum > 0"
    " AND NOT a.attisdropped ORDER BY a.attnum"
)


class PostgresGenerator(SqlGenerator):
    def __init__(
        self, options: EncodingOptions | None = None, *, dialect: Dialect | None = None
    ) -> None:
        from pytest_cdc.dialects.postgres import PostgresDialect

        super().__init__(options, dialect=dialect or PostgresDialect())

    apply_keyword: ClassVar[str] = "CROSS JOIN LATERAL"
    null_propagating: ClassVar[bool] = True
    probe_formats: ClassVar[frozenset[TypeClass]] = frozenset({TypeClass.FLOAT})
    # Text keys are left out: their "C" order cannot use an index built with the database's
    # collation.  uuid sorts by its bytes, which is its lower-case text order.
    ordered_key_types: ClassVar[Mapping[str, TypeClass]] = ORDERED_KEY_TYPES
    composite_ordered_keys: ClassVar[bool] = True

    # row_text: the base class's flat chain of ||, which is safe because a field that may be
    # NULL is COALESCEd.  It beats one concat() call (0.62 s against 0.89 s a million rows):
    # on PostgreSQL 15, concat() looks up each argument's output function on every row and
    # copies every argument once more through it.

    def constant_choices(self, pair: ColumnPair, side: str) -> list[tuple[str, str]] | None:
        if pair.fmt is TypeClass.BOOLEAN and pair.on(side).type_class is TypeClass.BOOLEAN:
            x = self.column(pair, side)
            return [(x, "1"), (f"NOT {x}", "0")]
        return None

    def reusable(self, pair: ColumnPair, side: str, value: str) -> bool:
        # A text column's rendering is the column itself (text to text is no conversion).
        col = pair.on(side)
        return col.type_class is TypeClass.TEXT and value == f"({self.column(pair, side)})::text"

    # -- the catalogs -------------------------------------------------------------------------
    def columns_sql(self, paramstyle: str) -> str:
        return columns_sql(paramstyle)

    def columns(self, rows: Sequence[Sequence[Any]]) -> list[Column]:
        return columns(rows)

    def key_indexes_sql(self, paramstyle: str) -> str:
        return key_indexes_sql(paramstyle)

    def estimate_sql(self, paramstyle: str) -> str:
        return estimate_sql(paramstyle)

    def server_problem(
        self, facts: ServerFacts, pairs: Sequence[ColumnPair], side: str
    ) -> str | None:
        if facts.major is not None and facts.major < MIN_VERSION:
            return (
                f"the {side} server is PostgreSQL {facts.major}: checksums need PostgreSQL"
                f" {MIN_VERSION} or later (numeric Infinity, which float Infinity renders as)"
            )
        if facts.encoding not in (None, "UTF8", "SQL_ASCII"):
            return (
                f"the {side} database uses server encoding {facts.encoding!r}: checksums need"
                " UTF8 text; reconcile a UTF8 database"
            )
        return None

    def aggregate_value(self, pair: ColumnPair, side: str) -> str:
        x = self.column(pair, side)
        col = pair.on(side)
        if col.type_class is TypeClass.TIMESTAMPTZ:
            return f"({x} AT TIME ZONE 'UTC')"
        if col.type_class is TypeClass.BOOLEAN:
            return f"({x})::int"  # compared as a number (a bit replicated as one): no min(bool)
        if col.data_type == "money":
            return f"({x})::numeric"  # money's text is the locale's ('$1,234.50')
        return x

    def total(self, pair: ColumnPair, side: str) -> str:
        x = self.column(pair, side)
        if pair.on(side).type_class is TypeClass.BOOLEAN:
            x = f"({x})::int"
        return f"SUM(({x})::numeric)"

    def string_literal(self, text: str) -> str:
        if "\x00" in text:
            raise ValueError(f"literal {text!r} contains a NUL character")
        body = text.replace("'", "''")
        if "\\" in text:
            # A plain literal reads a backslash as an escape where standard_conforming_strings
            # is off (a per-database setting legacy databases carry): the session pins it on,
            # and an E'' literal, whose backslashes are escapes under either setting, makes the
            # value exact even without that.
            return "E'" + body.replace("\\", "\\\\") + "'"
        return "'" + body + "'"

    def octet_length(self, expr: str) -> str:
        return f"octet_length({expr})"

    def int_to_text(self, expr: str) -> str:
        return f"({expr})::text"

    def row_hash(self, row_text: str) -> str:
        # The first 16 hex digits of the MD5 as a signed 64-bit integer (big-endian).  All
        # 128 bits go through bit(128) and the explicit cast to bit(64) keeps the leftmost
        # 64: the same value as ('x' || left(md5, 16))::bit(64), without left()'s copy.
        return f"('x' || md5({row_text}))::bit(128)::bit(64)::bigint"

    def exact_sum(self, expr: str) -> str:
        return f"SUM({expr})"  # sum(bigint) is numeric: exact, never overflows

    def sample_clause(self, fraction: float) -> str:
        return f"TABLESAMPLE SYSTEM ({float(min(1.0, fraction) * 100)!r})"

    def sample_condition(self, fraction: float) -> str:
        # One row a sampled page, the one in its first line pointer: a page sample alone
        # returns runs of consecutive keys, and boundaries taken from it cluster.  (A page
        # whose first line is dead gives none: a random thinning, no bias.)
        return f"{TABLE_ALIAS}.ctid::text LIKE '%,1)'"

    # -- the ordered aggregation -------------------------------------------------------------
    def segment_digest(self, row_text: str, key: str, from_where: str) -> str:
        # An aggregate over a sorted subquery sees the rows in that order (the PostgreSQL
        # manual's "supplying the input values from a sorted subquery"); string_agg(... ORDER
        # BY) would sort every segment again although the index scan already yields key
        # order (1.33 s against 1.54 s a million rows).  Order only decides speed, never
        # the verdict: equal digests mean equal row sequences, and the leaf diff is exact.
        return (
            f"SELECT COUNT(*) AS n, md5(string_agg(q.r, '')) AS total"
            f" FROM (SELECT {row_text} AS r FROM {from_where} ORDER BY {key}) AS q"
        )

    # -- rendering ---------------------------------------------------------------------------
    def render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        col = pair.on(side)
        x = self.column(pair, side)
        native = col.type_class
        fmt = pair.fmt
        if native is TypeClass.BOOLEAN and fmt is not TypeClass.BOOLEAN:
            x, native = f"({x})::int", TypeClass.INTEGER
        if fmt in (TypeClass.INTEGER, TypeClass.BOOLEAN) and native is TypeClass.INTEGER:
            return f"({x})::text"
        if fmt is TypeClass.BOOLEAN:
            return f"CASE WHEN {x} THEN '1' WHEN NOT {x} THEN '0' END"
        if fmt is TypeClass.DECIMAL:
            if native is TypeClass.INTEGER:
                return f"({x})::text"
            return f"trim_scale(({x})::numeric)::text"
        if fmt is TypeClass.FLOAT:
            return self._float(scope.bind(self._double(pair, side)), scope)
        if fmt in (TypeClass.TEXT, TypeClass.JSON):
            return f"({x})::text"
        if fmt is TypeClass.CHAR:
            return f"rtrim(({x})::text, ' ')"
        if fmt is TypeClass.UUID:
            return f"({x})::text"
        if fmt is TypeClass.BINARY:
            return f"encode({x}, 'hex')"
        if fmt is TypeClass.DATE:
            return f"({x})::text"
        if fmt is TypeClass.TIME:
            return self._time(x)
        if fmt in (TypeClass.TIMESTAMP, TypeClass.TIMESTAMPTZ):
            if native is TypeClass.TIMESTAMPTZ:
                x = f"({x} AT TIME ZONE 'UTC')"
            return self._timestamp(x)
        raise ValueError(f"cannot render {col.data_type!r} as {fmt.value}")

    def _double(self, pair: ColumnPair, side: str) -> str:
        """The value as the double its float text is rounded from (a boolean as 0 or 1)."""
        x = self.column(pair, side)
        native = pair.on(side).type_class
        if native is TypeClass.BOOLEAN:
            x = f"({x})::int"
        if native in (TypeClass.BOOLEAN, TypeClass.INTEGER):
            x = f"({x})::numeric"
        return f"({x})::float8"

    def probe_render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        if pair.fmt is not TypeClass.FLOAT:
            return super().probe_render(pair, side, scope)
        # float8send is the value's 8 bytes in network order: 0.13 s a million rows, against
        # 0.9 s for the exact shortest-form rounding of the canonical text.
        return f"encode(float8send({self._double(pair, side)}), 'hex')"

    def _cut(self, x: str) -> str:
        """Fractional seconds cut to the configured precision (truncate or round half up)."""
        precision = self.options.timestamp_precision
        if precision == 6:
            return x
        scale = 10 ** (6 - precision)
        if self.options.timestamp_mode == "round":
            x = f"({x} + interval '{scale // 2} microseconds')"
        micros = f"(extract(microseconds FROM {x})::bigint % 1000000)"
        step = f"({micros} / {scale} * {scale}) * interval '1 microsecond'"
        return f"(date_trunc('second', {x}) + {step})"

    def _timestamp(self, x: str) -> str:
        # The ISO output (DateStyle is set to ISO by prepare_sql) already drops trailing
        # fractional zeros, is three times cheaper than to_char(), and keeps BC, years past
        # 9999 and +-infinity distinct from every ordinary value.
        return f"({self._cut(x)})::text"

    def _time(self, x: str) -> str:
        return f"({self._cut(x)})::text"

    def _float(self, v: str, scope: Scope) -> str:
        digits = self.options.float_digits
        # The shortest round-trip form, as numeric (which rounds exactly, half away from zero
        # on either sign).  float8::numeric is the value to 15 significant digits: when that
        # reads back as the same double it *is* the shortest form.  Otherwise the shortest
        # form has 16 or 17 digits and float8::text gives it.  float8::text alone is not
        # enough: where the 15-digit form lies exactly halfway between two doubles (and reads
        # back as this one, ties to even) PostgreSQL prints 17 digits, Python and SQL Server
        # the 15 (5.39661855269625e16 printed as 5.3966185526962496e16: another last digit
        # at 14 digits).  No CASE is needed for the special values: -0 reads as numeric 0,
        # and NaN and +-Infinity survive round() and trim_scale() with their canonical names.
        fifteen = scope.bind(f"({v})::numeric")
        text = f"({v})::text::numeric"
        # Subnormals hold fewer than 15 significant digits, so there the 15-digit form is
        # not the shortest even when it reads back: float8::text gives theirs.  Past 1e308
        # the 15-digit form may not be a double at all.  Nested CASEs, because only CASE
        # promises not to evaluate the cast it does not need.
        shortest = (
            f"CASE WHEN abs({v}) >= {SMALLEST_NORMAL} AND abs({v}) < 1e308::float8"
            f" THEN CASE WHEN {fifteen}::float8 = {v} THEN {fifteen} ELSE {text} END"
            f" ELSE {text} END"
        )
        return f"trim_scale(round({shortest}, {digits - 1} - {_exponent(v)}))::text"

    def segment_case(
        self, keys: Sequence[ColumnPair], side: str, bounds: Sequence[Sequence[str]], first: int
    ) -> str:
        # One key: width_bucket's binary search in C is cheaper than a CASE tree (text keys,
        # 100 bounds, 1M rows: 0.46 s against 0.66 s).  For text both the key and every
        # bound carry an explicit COLLATE "C", so the search compares in "C" order, exactly
        # like the tree and range_condition.  Composite keys keep the tree.
        if len(keys) != 1 or not bounds:
            return super().segment_case(keys, side, bounds, first)
        lits = ", ".join(self.typed_literal(keys[0], side, b[0]) for b in bounds)
        bucket = f"width_bucket({self.sort_expr(keys[0], side)}, ARRAY[{lits}])"
        # NULL keys go to the last segment, as in the CASE tree.
        return f"(COALESCE({bucket}, {len(bounds)}) + {first})"

    # -- keys --------------------------------------------------------------------------------
    def sort_expr(self, pair: ColumnPair, side: str) -> str:
        col = pair.on(side)
        x = self.column(pair, side)
        if pair.fmt in (TypeClass.TEXT, TypeClass.CHAR, TypeClass.JSON):
            return f'(({x})::text COLLATE "C")'
        if col.type_class is TypeClass.TIMESTAMPTZ:
            return f"({x} AT TIME ZONE 'UTC')"
        return x

    def typed_literal(self, pair: ColumnPair, side: str, text: str) -> str:
        fmt = pair.fmt
        if fmt in (TypeClass.INTEGER, TypeClass.DECIMAL, TypeClass.BOOLEAN):
            col = pair.on(side)
            number = self.checked_number(text)
            return f"'{number}'::boolean" if col.type_class is TypeClass.BOOLEAN else number
        if fmt in (TypeClass.TEXT, TypeClass.CHAR, TypeClass.JSON):
            return f'({self.string_literal(text)} COLLATE "C")'
        casts = {
            TypeClass.UUID: "uuid",
            TypeClass.DATE: "date",
            TypeClass.TIME: "time",
            TypeClass.TIMESTAMP: "timestamp",
            TypeClass.TIMESTAMPTZ: "timestamp",
        }
        if fmt in casts:
            return f"CAST({self.string_literal(text)} AS {casts[fmt]})"
        if fmt is TypeClass.BINARY:
            return f"decode('{self.checked_hex(text)}', 'hex')"
        raise ValueError(f"a {fmt.value} column cannot be a reconciliation key")


#: The doubles nearest 10**k for k = -323 .. 308, ascending: the thresholds of _exponent().
_POWERS_OF_TEN = "'{" + ",".join(f"1e{k}" for k in range(-323, 309)) + "}'::float8[]"
_LOWEST_POWER = -323


def _exponent(v: str) -> str:
    """The decimal exponent of the shortest round-trip form of a finite non-zero double.

    ``width_bucket`` binary-searches (in C) the doubles nearest each power of ten. That is
    exact: rounding to a double is monotonic, so ``abs(v) >= double(10**k)`` exactly when
    the shortest form of ``v`` is ``>= 10**k`` (if ``v`` *is* ``double(10**k)``, its shortest
    form is ``1ek`` itself). Below the first threshold lies only the smallest subnormal
    (``5e-324``); ``1e309`` is not a double, so ``abs(v) >= 1e308`` means exponent 308. It
    replaces a float ``log10`` (off by one next to powers of ten) plus two corrections that
    parsed ``'1e' || k`` twice a row: half the cost of the float rendering.
    """
    return f"(width_bucket(abs({v}), {_POWERS_OF_TEN}) + {_LOWEST_POWER - 1})"


def columns_sql(paramstyle: str) -> str:
    """The table's columns (two parameters: schema, table); rows for :func:`columns`."""
    return CATALOG_QUERY.format(mark="?" if paramstyle == "qmark" else "%s")


def columns(rows: Sequence[Sequence[Any]]) -> list[Column]:
    """:func:`columns_sql` rows as columns (empty when the table does not exist)."""
    out = []
    for name, data_type, precision, nullable in rows:
        type_class = TYPE_CLASSES.get(str(data_type))
        # type_class None: a type with no canonical format, refused when it is compared.
        column = Column(str(name), str(data_type), type_class, precision, nullable == "YES")  # type: ignore[arg-type]
        out.append(column)
    return out


#: Session settings the encoding relies on: float8 text is the shortest round trip, dates are
#: ISO, and string literals read backslashes literally whatever the database's default (the
#: bounds are string literals built from key values).  enable_sort makes the checksum pass a
#: hash aggregate: the planner cannot estimate how many segments a CASE/width_bucket yields
#: and would otherwise sort every row by segment.  That setting adds 1e10 to the cost of every
#: sort-shaped plan, which passes jit_above_cost: on a server with jit = on (PostgreSQL's
#: default) each statement of the comparison, catalog reads included, then spent ~0.3 s
#: compiling itself with LLVM, so JIT is off for the comparison's transaction.
SESSION_SETTINGS = {
    "jit": "off",
    "extra_float_digits": "1",
    "DateStyle": "ISO, MDY",
    "enable_sort": "off",
    "standard_conforming_strings": "on",
}


def prepare_sql(timeout: float | None, lock_timeout: float | None) -> str:
    """One round trip that reads what the comparison must know about the server and sets the
    session for this transaction only (``set_config(..., true)``: undone when it ends).

    Row: server encoding, server_version_num, the server's identity (postmaster start, port),
    max_parallel_workers_per_gather, then the values set.  Every value is a constant of ours.
    """
    values = {
        **SESSION_SETTINGS,
        "statement_timeout": str(_ms(timeout)),
        "lock_timeout": str(_ms(lock_timeout)),
    }
    sets = ", ".join(f"set_config('{name}', '{value}', true)" for name, value in values.items())
    return (
        "SELECT current_setting('server_encoding'),"
        " current_setting('server_version_num')::int,"
        " extract(epoch FROM pg_postmaster_start_time())::text || ':' || inet_server_port(),"
        " current_setting('max_parallel_workers_per_gather')::int, " + sets
    )


def _ms(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))


def workers_sql(workers: int) -> str:
    return f"SELECT set_config('max_parallel_workers_per_gather', '{int(workers)}', true)"


#: A consistent view of the whole comparison on each side: every statement (and every lane,
#: through the exported snapshot) sees the table as it was when the first one ran.
BEGIN_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
EXPORT_SNAPSHOT = "SELECT pg_export_snapshot()"


def import_snapshot_sql(snapshot: str) -> str:
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    return f"SET TRANSACTION SNAPSHOT '{snapshot}'"


def key_indexes_sql(paramstyle: str) -> str:
    """The key columns of the table's valid, unconditional btree indexes.

    One parameter, the quoted table name.  Rows: (index, position from 1, column name,
    1 if the column is NOT NULL, 1 if the position sorts descending, 1 if the index is unique,
    the index's number of key positions); expression positions have no row, so an index with
    fewer rows than key positions has expressions.  See :mod:`pytest_cdc.checksums.keys`.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    return (
        "SELECT i.indexrelid::bigint, k.o, a.attname::text,"
        " CASE WHEN a.attnotnull THEN 1 ELSE 0 END,"
        " (i.indoption::int2[])[k.o - 1] & 1,"
        " CASE WHEN i.indisunique THEN 1 ELSE 0 END, i.indnkeyatts::int"
        " FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid"
        " JOIN pg_am AS am ON am.oid = c.relam"
        " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, o)"
        " JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        f" WHERE i.indrelid = to_regclass({mark}) AND am.amname = 'btree'"
        " AND i.indpred IS NULL AND i.indisvalid AND k.o <= i.indnkeyatts"
    )


def estimate_sql(paramstyle: str) -> str:
    """(planner row estimate, pages) of a table and its partitions; rows NULL where never
    analysed.  One parameter: the quoted name.  Pages come from the files' sizes, which are
    always current."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return (
        "WITH RECURSIVE tree(oid) AS ("
        f" SELECT to_regclass({mark})::oid"
        " UNION ALL SELECT i.inhrelid FROM pg_inherits AS i JOIN tree ON i.inhparent = tree.oid)"
        " SELECT sum(c.reltuples) FILTER (WHERE c.reltuples > 0)::bigint,"
        " sum(pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint"
        " FROM tree JOIN pg_class AS c ON c.oid = tree.oid WHERE c.relkind IN ('r', 'm')"
    )
