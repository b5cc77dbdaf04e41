"""Column aggregates (the replica check's "aggregates" tier) against the Python oracle.

PostgreSQL computes every aggregate of a column (count, non-NULL count, exact sum, minimum and
maximum, total/shortest/longest canonical text length); the oracle computes them from the
Python values inserted, in the checksum's canonical formats.  Both must agree exactly for
every type class, NULLs and edge values included.  Then a planted difference in each
aggregate must be found, and nothing else reported.  The T-SQL statements are checked
without a SQL Server (they parse as tsql, and avoid what SQL Server refuses); the live SQL
Server tests need --cdc-db=mssql=... and skip here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import struct
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal, localcontext
from typing import Any

import pytest
import sqlglot
from helpers import connect, load, schemas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from pytest_cdc.checksums import oracle
from pytest_cdc.checksums.aggregates import canonical, column_aggregates
from pytest_cdc.checksums.connections import opened
from pytest_cdc.checksums.encoding import (
    LENGTH_PREFIXED,
    Column,
    ColumnPair,
    EncodingOptions,
    TypeClass,
)
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.sqlgen import ORDERED_VALUES, Scope, TableRef
from pytest_cdc.checksums.tables import read_columns
from pytest_cdc.dialects.mssql.checksum import TYPE_CLASSES as TSQL_TYPES
from pytest_cdc.dialects.mssql.checksum import TsqlGenerator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

Aggregates = dict[tuple[str, str], str | None]
UTC = dt.timezone.utc


# -- the oracle ---------------------------------------------------------------------------------
def _order(fmt: TypeClass, value: Any) -> tuple[int, Any]:
    """PostgreSQL's order: NaN above every number."""
    if fmt in (TypeClass.FLOAT, TypeClass.DECIMAL):
        nan = value.is_nan() if isinstance(value, Decimal) else math.isnan(value)
        return (1, 0) if nan else (0, value)
    return (0, value)


def _single(value: Any) -> Any:
    return struct.unpack("<f", struct.pack("<f", value))[0] if value is not None else None


def oracle_aggregates(
    fmt: TypeClass, data_type: str, values: Sequence[Any], options: EncodingOptions
) -> Aggregates:
    """What the aggregates of one column ``v`` holding ``values`` must be, as canonical text."""
    single = data_type == "real"
    present = [_single(v) if single else v for v in values if v is not None]
    out: Aggregates = {("*", "rows"): str(len(values)), ("v", "count"): str(len(present))}
    if fmt in (TypeClass.INTEGER, TypeClass.DECIMAL, TypeClass.BOOLEAN):
        with localcontext() as ctx:
            ctx.prec = 1000  # exact
            ctx.clear_traps()  # Infinity - Infinity is NaN, as in PostgreSQL
            total = sum(Decimal(int(v) if fmt is TypeClass.BOOLEAN else v) for v in present)
            out[("v", "sum")] = oracle.render_decimal(total) if present else None
    if fmt in ORDERED_VALUES:
        for name, pick in (("min", min), ("max", max)):
            value = pick(present, key=lambda v: _order(fmt, v)) if present else None
            out[("v", name)] = oracle.render(fmt, value, options, single=single)
    if fmt in LENGTH_PREFIXED:
        lengths = [len(str(oracle.render(fmt, v, options)).encode()) for v in present]
        for name, value in (
            ("total length", sum(lengths)),
            ("shortest", min(lengths, default=None)),
            ("longest", max(lengths, default=None)),
        ):
            out[("v", name)] = str(value) if lengths else None
    return out


# -- PostgreSQL's side --------------------------------------------------------------------------
def database_aggregates(conn: Any, table: TableRef, options: EncodingOptions) -> Aggregates:
    """Every aggregate of ``table``'s columns but ``i``, computed by the database in one
    statement (the one column_aggregates() runs) and rendered as the comparison renders it."""
    with opened(conn, "source") as side, contextlib.ExitStack() as stack:
        ex = Executor("source", side.raw, side.dialect, side.paramstyle, 60)
        side.dialect.begin_comparison(stack, ex, timeout=60, lock_timeout=10)
        gen = side.dialect.checksum_sql(options)
        pairs = [
            ColumnPair(c, c, c.type_class) for c in read_columns(ex, gen, table) if c.name != "i"
        ]
        plan = [(c, a) for c, a, _ in gen.aggregates(pairs, "source", Scope(gen.apply_keyword))]
        row = ex.run("column aggregates", gen.aggregate_query(table, pairs, "source"))[0]
    by_name = {p.name: p for p in pairs}
    out: Aggregates = {("*", "rows"): str(row[0])}
    for (column, aggregate), value in zip(plan, row[1:], strict=True):
        out[(column, aggregate)] = canonical(by_name[column], aggregate, value, options)
    return out


@pytest.fixture(scope="module")
def db() -> Iterator[tuple[Any, str]]:
    conn = connect()
    with schemas(conn, 1) as (schema,):
        yield conn, schema
    conn.close()


def as_parameter(value: Any) -> Any:
    """What psycopg2 sends as the value: it adapts a Decimal Infinity as NaN (its servers
    before 14 had no numeric Infinity) and no UUID unless told; their text is exact."""
    if isinstance(value, uuid.UUID) or (isinstance(value, Decimal) and not value.is_finite()):
        return str(value)
    return value


def probe(db: tuple[Any, str], pg_type: str, values: Sequence[Any]) -> TableRef:
    conn, schema = db
    conn.cursor().execute(f'DROP TABLE IF EXISTS "{schema}".probe')
    rows = [(i, as_parameter(v)) for i, v in enumerate(values)]
    load(conn, f'"{schema}".probe', f"i int, v {pg_type}", rows)
    return TableRef(schema, "probe")


def check(
    db: tuple[Any, str],
    pg_type: str,
    fmt: TypeClass,
    values: Sequence[Any],
    options: EncodingOptions = EncodingOptions(),  # noqa: B008 - frozen
) -> None:
    table = probe(db, pg_type, values)
    got = database_aggregates(db[0], table, options)
    assert got == oracle_aggregates(fmt, pg_type, values, options), values


# -- every type class, edge values --------------------------------------------------------------
TZ = [dt.timezone(dt.timedelta(hours=h, minutes=m)) for h, m in ((5, 30), (-2, 0), (14, 0))]
JSON_DOCS = ['{"a": 1}', '[1, 2.5, "\u00e9"]', '"\U0001f600"', "null", '{"a": {"b": [true]}}']
EDGES: list[tuple[str, TypeClass, list[Any]]] = [
    ("smallint", TypeClass.INTEGER, [-32768, 32767, None, 0]),
    # The sum is past bigint: it must stay exact.
    ("bigint", TypeClass.INTEGER, [2**63 - 1, 2**63 - 1, -(2**63), None, -1]),
    (
        "numeric",
        TypeClass.DECIMAL,
        [
            Decimal("12345678901234567890123456789012345678.123456789"),
            Decimal("-99999999999999999999999999999999999999"),
            Decimal("-1E-30"),
            Decimal("0.000"),
            None,
        ],
    ),
    ("numeric", TypeClass.DECIMAL, [Decimal("NaN"), Decimal("1.5"), Decimal("-2")]),
    ("numeric", TypeClass.DECIMAL, [Decimal("Infinity"), Decimal("-Infinity"), Decimal(1)]),
    ("numeric(12,4)", TypeClass.DECIMAL, [Decimal("1.5000"), Decimal("-0.0001"), None]),
    ("money", TypeClass.DECIMAL, [Decimal("1.50"), Decimal("-2000.25"), Decimal(0), None]),
    (
        "double precision",
        TypeClass.FLOAT,
        [0.0, -0.0, 5e-324, -1e308, 1e308, 2.675, 0.1, -1.0000000000000002, None],
    ),
    ("double precision", TypeClass.FLOAT, [math.nan, 1.0, -7.5]),
    ("double precision", TypeClass.FLOAT, [math.inf, -math.inf, None]),
    ("real", TypeClass.FLOAT, [0.1, -3.4e38, 1e-45, 16777217.0, None]),
    ("boolean", TypeClass.BOOLEAN, [True, False, True, None]),
    ("boolean", TypeClass.BOOLEAN, [None, None]),
    (
        "text",
        TypeClass.TEXT,
        ["", "a", "\u00fcn\u00efc\u00f6d\u00e9", "\U0001f600", "x" * 1000, None, "N", "V1:a;"],
    ),
    ("character varying(20)", TypeClass.TEXT, ["\u00e9\u00e9", "ee", None]),
    ("character(12)", TypeClass.CHAR, ["ab  ", "", " x", "\u00e9 ", None]),
    ("jsonb", TypeClass.JSON, [*JSON_DOCS, None]),
    ("date", TypeClass.DATE, [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), None]),
    ("time", TypeClass.TIME, [dt.time(0), dt.time(23, 59, 59, 999999), dt.time(12, 0, 0, 5), None]),
    (
        "timestamp(6)",
        TypeClass.TIMESTAMP,
        [
            dt.datetime(2020, 1, 2, 3, 4, 5, 123456),
            dt.datetime(2020, 1, 2, 3, 4, 5, 123457),
            dt.datetime(1, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            None,
        ],
    ),
    (
        # The latest in local time is not the latest in UTC.
        "timestamptz",
        TypeClass.TIMESTAMPTZ,
        [
            dt.datetime(2020, 1, 1, 23, 30, 0, 1, tzinfo=TZ[0]),
            dt.datetime(2020, 1, 1, 20, 0, 0, 999999, tzinfo=TZ[1]),
            dt.datetime(2020, 1, 2, 9, 0, tzinfo=TZ[2]),
            None,
        ],
    ),
    ("uuid", TypeClass.UUID, [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), None]),
    ("bytea", TypeClass.BINARY, [b"", b"\x00\xff", None]),
    # No rows: every aggregate but the counts is NULL.
    ("numeric", TypeClass.DECIMAL, []),
    ("text", TypeClass.TEXT, []),
]


@pytest.mark.parametrize(
    ("pg_type", "fmt", "values"), EDGES, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(EDGES)]
)
def test_postgresql_agrees_with_the_oracle_on_edge_values(
    db: tuple[Any, str], pg_type: str, fmt: TypeClass, values: list[Any]
) -> None:
    check(db, pg_type, fmt, values)


def test_every_type_class_is_exercised() -> None:
    assert {fmt for _, fmt, _ in EDGES} == set(TypeClass)


@pytest.mark.parametrize(
    ("pg_type", "fmt", "values"),
    [e for e in EDGES if e[1] in (TypeClass.TIMESTAMP, TypeClass.TIMESTAMPTZ, TypeClass.TIME)]
    + [e for e in EDGES if e[1] is TypeClass.FLOAT],
)
@pytest.mark.parametrize(
    "options",
    [
        EncodingOptions(timestamp_precision=3),
        EncodingOptions(timestamp_precision=0, timestamp_mode="round"),
        EncodingOptions(float_digits=3),
    ],
    ids=["ms", "round-s", "3-digits"],
)
def test_encoding_options_apply_to_minimum_and_maximum(
    db: tuple[Any, str], pg_type: str, fmt: TypeClass, values: list[Any], options: EncodingOptions
) -> None:
    check(db, pg_type, fmt, values, options)


# -- every type class, generated values ---------------------------------------------------------
STAMPS = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 12))
GENERATED: list[tuple[str, TypeClass, Any]] = [
    ("bigint", TypeClass.INTEGER, st.integers(-(2**63), 2**63 - 1)),
    (
        "numeric",
        TypeClass.DECIMAL,
        st.decimals(
            allow_nan=False,
            allow_infinity=False,
            places=6,
            min_value=Decimal("-1E25"),
            max_value=Decimal("1E25"),
        ),
    ),
    (
        "money",
        TypeClass.DECIMAL,
        st.decimals(
            allow_nan=False,
            allow_infinity=False,
            places=2,
            min_value=Decimal("-1E12"),
            max_value=Decimal("1E12"),
        ),
    ),
    ("double precision", TypeClass.FLOAT, st.floats(allow_nan=True, allow_infinity=True)),
    ("real", TypeClass.FLOAT, st.floats(width=32, allow_nan=False)),
    ("boolean", TypeClass.BOOLEAN, st.booleans()),
    (
        "text",
        TypeClass.TEXT,
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    ),
    ("character(8)", TypeClass.CHAR, st.text(alphabet="a\u00e9 ;", max_size=8)),
    ("jsonb", TypeClass.JSON, st.sampled_from(JSON_DOCS)),
    ("date", TypeClass.DATE, st.dates()),
    ("time", TypeClass.TIME, st.times()),
    ("timestamp", TypeClass.TIMESTAMP, STAMPS),
    (
        "timestamptz",
        TypeClass.TIMESTAMPTZ,
        st.tuples(STAMPS, st.sampled_from([UTC, *TZ])).map(lambda p: p[0].replace(tzinfo=p[1])),
    ),
    ("uuid", TypeClass.UUID, st.uuids()),
    ("bytea", TypeClass.BINARY, st.binary(max_size=20)),
]


@pytest.mark.parametrize(("pg_type", "fmt", "strategy"), GENERATED, ids=[g[0] for g in GENERATED])
def test_postgresql_agrees_with_the_oracle_on_generated_values(
    db: tuple[Any, str], pg_type: str, fmt: TypeClass, strategy: Any
) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.none(), strategy), max_size=12))
    def run(values: list[Any]) -> None:
        check(db, pg_type, fmt, values)

    run()


# -- planted differences ------------------------------------------------------------------------
def differences(
    pg: Any,
    schema_pair: list[str],
    ddl: tuple[str, str],
    source: Sequence[Sequence[Any]],
    target: Sequence[Sequence[Any]],
    **options: Any,
) -> set[tuple[str, str]]:
    for schema, cols, rows in ((schema_pair[0], ddl[0], source), (schema_pair[1], ddl[1], target)):
        load(pg, f'"{schema}".t', cols, rows)
    found = column_aggregates(
        pg, pg, table=f"{schema_pair[0]}.t", target_table=f"{schema_pair[1]}.t", **options
    )
    assert found.equal is not bool(found.differences)
    return {(d.column, d.aggregate) for d in found.differences}


def col(values: Sequence[Any]) -> list[list[Any]]:
    return [[v] for v in values]


PLANTED: list[tuple[str, str, list[Any], list[Any], set[tuple[str, str]]]] = [
    # one aggregate differs, and only that one
    ("rows", "bigint", [1, None], [1, None, None], {("*", "rows")}),
    ("count", "bigint", [-5, 0, 7], [-5, None, 7], {("v", "count")}),
    ("sum", "bigint", [1, 2, 3], [1, 1, 3], {("v", "sum")}),
    ("past bigint", "bigint", [2**63 - 1, 2**63 - 1, 0], [2**63 - 1, 2**63 - 2, 0], {("v", "sum")}),
    ("min", "bigint", [1, 5, 9], [2, 4, 9], {("v", "min")}),
    ("max", "bigint", [1, 5, 9], [1, 6, 8], {("v", "max")}),
    (
        "decimal sum",
        "numeric",
        [Decimal("0.1"), Decimal("0.2"), Decimal("0.5")],
        [Decimal("0.1"), Decimal("0.3"), Decimal("0.5")],
        {("v", "sum")},
    ),
    (
        "decimal digit",
        "numeric",
        [Decimal("1.000000000000000000000000000001"), Decimal(0)],
        [Decimal("1.000000000000000000000000000002"), Decimal("-1E-30")],
        {("v", "min"), ("v", "max")},
    ),
    ("boolean sum", "boolean", [True, False, None], [False, True, None], set()),
    ("boolean sum", "boolean", [True, False, None], [True, True, None], {("v", "sum")}),
    ("total length", "text", ["a", "bb", "ccc"], ["a", "bbb", "ccc"], {("v", "total length")}),
    ("shortest", "text", ["a", "bbb", "ccc"], ["aa", "bb", "ccc"], {("v", "shortest")}),
    ("longest", "text", ["a", "bbb", "bbb"], ["a", "bb", "bbbb"], {("v", "longest")}),
    # a multibyte character is counted in octets, not characters
    ("octets", "text", ["\u00e9", "ab"], ["e", "ab"], {("v", "total length"), ("v", "shortest")}),
    (
        "6th digit",
        "timestamp(6)",
        [dt.datetime(2020, 1, 1, 0, 0, 0, 1), dt.datetime(2020, 1, 2)],
        [dt.datetime(2020, 1, 1, 0, 0, 0, 2), dt.datetime(2020, 1, 2)],
        {("v", "min")},
    ),
    (
        "timestamptz",
        "timestamptz",
        [dt.datetime(2020, 1, 1, 12, tzinfo=TZ[0]), dt.datetime(2020, 1, 2, tzinfo=UTC)],
        [dt.datetime(2020, 1, 1, 12, tzinfo=TZ[1]), dt.datetime(2020, 1, 2, tzinfo=UTC)],
        {("v", "min")},
    ),
    ("time", "time", [dt.time(1), dt.time(2)], [dt.time(1), dt.time(2, 0, 0, 1)], {("v", "max")}),
    ("date", "date", [dt.date(2020, 1, 1)], [dt.date(2020, 1, 2)], {("v", "min"), ("v", "max")}),
    (
        "float",
        "double precision",
        [1.0000000000001],
        [1.0000000000002],
        {("v", "min"), ("v", "max")},
    ),
    ("NaN", "double precision", [1.0, math.nan], [1.0, math.inf], {("v", "max")}),
    # what aggregates cannot see: values swapped between rows, equal-length text
    ("blind", "text", ["ab", "cd"], ["cd", "ab"], set()),
    ("blind", "bytea", [b"\x01"], [b"\x02"], set()),
]


@pytest.mark.parametrize(
    ("what", "pg_type", "source", "target", "expected"),
    PLANTED,
    ids=[f"{p[0]}-{i}" for i, p in enumerate(PLANTED)],
)
def test_a_planted_difference_is_found_and_nothing_else(
    pg: Any,
    pair: list[str],
    what: str,
    pg_type: str,
    source: list[Any],
    target: list[Any],
    expected: set[tuple[str, str]],
) -> None:
    ddl = (f"v {pg_type}", f"v {pg_type}")
    got = differences(pg, pair, ddl, col(source), col(target))
    assert got == expected, what


@pytest.mark.parametrize(
    ("options", "found"),
    [({}, {("v", "min"), ("v", "max")}), ({"timestamp_precision": 3}, set())],
    ids=["microseconds", "milliseconds"],
)
def test_a_difference_below_the_kept_precision_is_not_one(
    pg: Any, pair: list[str], options: dict[str, Any], found: set[tuple[str, str]]
) -> None:
    source = col([dt.datetime(2020, 1, 1, 0, 0, 0, 123456)])
    target = col([dt.datetime(2020, 1, 1, 0, 0, 0, 123999)])
    ddl = ("v timestamp(6)", "v timestamp(6)")
    assert differences(pg, pair, ddl, source, target, **options) == found


def test_floats_compare_at_the_digits_asked(pg: Any, pair: list[str]) -> None:
    ddl = ("v double precision", "v double precision")
    source, target = col([1.0000000000001, 2.5]), col([1.0000000000002, 2.5])
    assert differences(pg, pair, ddl, source, target, float_digits=6) == set()


# -- pairs of different types ---------------------------------------------------------------------
#: (source type, target type, source values, target values (None: the same), options)
CROSS: list[tuple[str, str, list[Any], list[Any] | None, dict[str, Any]]] = [
    ("money", "numeric(14,2)", [Decimal("1.50"), Decimal("-2000.25"), None], None, {}),
    # A bit replicated as an integer (and PostgreSQL's boolean as SQL Server's bit).
    ("boolean", "smallint", [True, False, None], [1, 0, None], {}),
    ("integer", "numeric(20,4)", [1, -7, None], [Decimal("1.0000"), Decimal(-7), None], {}),
    ("real", "double precision", [0.1, -2.5e10, None], [_single(0.1), _single(-2.5e10), None], {}),
    ("text", "character(6)", ["ab", "\u00e9", None], ["ab    ", "\u00e9", None], {}),
    (
        "timestamp(6)",
        "timestamp(3)",
        [dt.datetime(2020, 1, 1, 0, 0, 0, 123456), dt.datetime(2021, 5, 5, 1, 1, 1, 999999)],
        [dt.datetime(2020, 1, 1, 0, 0, 0, 123000), dt.datetime(2021, 5, 5, 1, 1, 1, 999000)],
        {"timestamp_precision": 3},
    ),
    (
        "timestamptz",
        "timestamp",
        [dt.datetime(2020, 1, 1, 12, tzinfo=TZ[0]), None],
        [dt.datetime(2020, 1, 1, 6, 30), None],
        {},
    ),
]


@pytest.mark.parametrize(
    ("source_type", "target_type", "source", "target", "options"),
    CROSS,
    ids=[f"{c[0]}-{c[1]}" for c in CROSS],
)
def test_columns_of_different_types_agree_when_their_values_do(
    pg: Any,
    pair: list[str],
    source_type: str,
    target_type: str,
    source: list[Any],
    target: list[Any] | None,
    options: dict[str, Any],
) -> None:
    target = source if target is None else target
    ddl = (f"v {source_type}", f"v {target_type}")
    assert differences(pg, pair, ddl, col(source), col(target), **options) == set()
    # ... and still see a difference in them.
    cur = pg.cursor()
    cur.execute(f'UPDATE "{pair[1]}".t SET v = NULL WHERE v IS NOT NULL')
    assert ("v", "count") in differences_again(pg, pair, **options)


def differences_again(pg: Any, pair: list[str], **options: Any) -> set[tuple[str, str]]:
    found = column_aggregates(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", **options)
    return {(d.column, d.aggregate) for d in found.differences}


def test_one_statement_a_side_and_the_report(pg: Any, pair: list[str]) -> None:
    ddl = "id int PRIMARY KEY, n numeric, s text, ts timestamp"
    rows = [[1, Decimal("2.5"), "x", dt.datetime(2020, 1, 1)], [2, None, None, None]]
    load(pg, f'"{pair[0]}".t', ddl, rows)
    load(pg, f'"{pair[1]}".t', ddl, [*rows, [3, 1, "y", None]])
    found = column_aggregates(
        pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", where="id < 3"
    )
    assert found.equal and (found.source_rows, found.target_rows) == (2, 2)
    # the row count, then id: count min max sum; n: count sum min max; s: count and three
    # lengths; ts: count min max
    assert found.compared == 1 + 4 + 4 + 4 + 3
    aggregated = [q for q in found.queries if q.purpose == "column aggregates"]
    assert [q.side for q in aggregated] == ["source", "target"]
    assert all("id < 3" in q.sql for q in aggregated)
    unfiltered = column_aggregates(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t")
    assert (unfiltered.source_rows, unfiltered.target_rows) == (2, 3)
    assert {(d.column, d.aggregate) for d in unfiltered.differences} >= {("*", "rows")}


# -- T-SQL, without a SQL Server ------------------------------------------------------------------
TABLE = TableRef("dbo", "orders")


def tsql_pair(name: str, data_type: str, target: tuple[str, TypeClass] | None = None) -> ColumnPair:
    col = Column(name, data_type, TSQL_TYPES[data_type])
    other = col if target is None else Column(name, target[0], target[1])
    fmt = col.type_class if target is None else _format(col.type_class, target[1])
    return ColumnPair(col, other, fmt)


def _format(a: TypeClass, b: TypeClass) -> TypeClass:
    from pytest_cdc.checksums.encoding import pair_format

    found = pair_format(a, b)
    assert found is not None
    return found


EVERY_TSQL = [tsql_pair(f"c_{t}", t) for t in sorted(TSQL_TYPES)]
#: SQL Server types replicated as another type class (bit as an integer, money as numeric).
CROSS_TSQL = [
    tsql_pair("flag", "bit", ("smallint", TypeClass.INTEGER)),
    tsql_pair("flag_dec", "bit", ("numeric", TypeClass.DECIMAL)),
    tsql_pair("flag_float", "bit", ("double precision", TypeClass.FLOAT)),
    tsql_pair("cash", "money", ("numeric", TypeClass.DECIMAL)),
    tsql_pair("small", "int", ("double precision", TypeClass.FLOAT)),
    tsql_pair("zoned", "datetimeoffset", ("timestamp without time zone", TypeClass.TIMESTAMP)),
]
HOSTILE = ["we]ird", "a'b", "semi;colon", "dr]] op; DROP TABLE x; --", "\u00fcn\u00ef\U0001f600"]


def tsql_statements(gen: TsqlGenerator, table: TableRef, pairs: list[ColumnPair]) -> list[str]:
    count = gen.count_query(table, user_where="[id] > 3")
    return [
        gen.aggregate_query(table, pairs, "source"),
        gen.aggregate_query(table, pairs, "source", user_where="((t.[id] % 4) + 4) % 4 = 1"),
        count,
        # the count tier's statement: every table's count as a scalar subquery of one SELECT
        f"SELECT ({count}), ({gen.count_query(TableRef('x', 'y'))})",
    ]


@pytest.mark.parametrize(
    "options",
    [
        EncodingOptions(),
        EncodingOptions(float_digits=6, timestamp_precision=3, timestamp_mode="round"),
    ],
    ids=["default", "options"],
)
def test_tsql_aggregate_and_count_statements_parse(options: EncodingOptions) -> None:
    gen = TsqlGenerator(options)
    for sql in tsql_statements(gen, TABLE, EVERY_TSQL + CROSS_TSQL):
        parsed = sqlglot.parse(sql, read="tsql")
        assert len(parsed) == 1, sql  # one statement, nothing smuggled after it
    aggregate = gen.aggregate_query(TABLE, EVERY_TSQL, "source")
    assert aggregate.startswith("SELECT COUNT_BIG(*), COUNT_BIG(")  # COUNT is an int: 2^31 rows


@pytest.mark.parametrize("name", HOSTILE)
def test_tsql_hostile_identifiers_stay_single_identifiers(name: str) -> None:
    gen = TsqlGenerator()
    pairs = [tsql_pair(name, "int"), tsql_pair(name + "_t", "nvarchar")]
    for sql in tsql_statements(gen, TableRef(name, name), pairs)[:3]:
        tree = sqlglot.parse_one(sql, read="tsql")
        assert {(t.db, t.name) for t in tree.find_all(exp.Table)} == {(name, name)}
        columns = {c.name for c in tree.find_all(exp.Column) if c.table == "t"}
        assert columns <= {name, name + "_t", "id"}, columns


def _bare_column(node: exp.Expression) -> str | None:
    while isinstance(node, exp.Paren):
        node = node.this
    return node.name if isinstance(node, exp.Column) else None


def test_tsql_aggregates_avoid_what_sql_server_refuses() -> None:
    """SQL Server has no MIN/MAX of a bit, and no COUNT of a text, ntext or image column
    ("an expression of any type, except image, ntext, or text"): those need a conversion."""
    pairs = EVERY_TSQL + CROSS_TSQL
    by_name = {p.name: p.source.data_type for p in pairs}
    tree = sqlglot.parse_one(TsqlGenerator().aggregate_query(TABLE, pairs, "source"), read="tsql")
    for node in tree.find_all(exp.Min, exp.Max):
        name = _bare_column(node.this)
        assert by_name.get(name or "") not in ("bit", "money", "smallmoney"), node.sql("tsql")
    for node in tree.find_all(exp.Count):
        name = _bare_column(node.this)
        assert by_name.get(name or "") not in ("text", "ntext", "image"), node.sql("tsql")


def test_tsql_aggregates_a_column_like_postgresql() -> None:
    """The same aggregates, in the same order, for a pair on either engine."""
    from pytest_cdc.dialects.postgres.checksum import PostgresGenerator

    pg_type = {
        TypeClass.INTEGER: "bigint",
        TypeClass.DECIMAL: "numeric",
        TypeClass.FLOAT: "double precision",
        TypeClass.BOOLEAN: "boolean",
        TypeClass.TEXT: "text",
        TypeClass.CHAR: "character",
        TypeClass.JSON: "jsonb",
        TypeClass.DATE: "date",
        TypeClass.TIME: "time without time zone",
        TypeClass.TIMESTAMP: "timestamp without time zone",
        TypeClass.TIMESTAMPTZ: "timestamp with time zone",
        TypeClass.UUID: "uuid",
        TypeClass.BINARY: "bytea",
    }
    pairs = [
        ColumnPair(
            p.source, Column(p.name, pg_type[p.source.type_class], p.source.type_class), p.fmt
        )
        for p in EVERY_TSQL
    ]
    tsql = TsqlGenerator().aggregates(pairs, "source", Scope("CROSS APPLY"))
    pg = PostgresGenerator().aggregates(pairs, "target", Scope("CROSS JOIN LATERAL"))
    assert [(c, a) for c, a, _ in tsql] == [(c, a) for c, a, _ in pg]


# -- live SQL Server ------------------------------------------------------------------------------
NEEDS_MSSQL = (
    "needs a SQL Server 2019+: pass"
    " --cdc-db='mssql=mssql://sa:PASSWORD@HOST:1433/master?TrustServerCertificate=yes'"
)

LIVE_TSQL = (
    "i int PRIMARY KEY, n bigint, d decimal(38, 10), m money, f float, r real, b bit,"
    " s nvarchar(100), c nchar(6), old ntext, dd date, tm time(7), ts datetime2(7),"
    " tz datetimeoffset(7), u uniqueidentifier, bin varbinary(20)"
)
LIVE_PG = (
    "i int PRIMARY KEY, n bigint, d numeric(38, 10), m numeric(19, 4), f double precision,"
    " r real, b boolean, s text, c character(6), old text, dd date, tm time(6), ts timestamp(6),"
    " tz timestamptz, u uuid, bin bytea"
)
LIVE_ROWS = [
    [
        1,
        -(2**63),
        Decimal("1234567890123456789012345678.0123456789"),
        Decimal("-922337203685477.5808"),
        2.675,
        0.5,
        True,
        "\u00e9\U0001f600",
        "ab",
        "long",
        dt.date(1, 1, 1),
        dt.time(23, 59, 59, 999999),
        dt.datetime(2020, 1, 2, 3, 4, 5, 123456),
        dt.datetime(2020, 1, 1, 23, 30, tzinfo=TZ[0]),
        uuid.UUID(int=1),
        b"\x00\xff",
    ],
    [2, *([None] * 15)],
    [
        3,
        2**63 - 1,
        Decimal("-0.5"),
        Decimal(0),
        -0.0,
        -1.5,
        False,
        "",
        "",
        "",
        dt.date(9999, 12, 31),
        dt.time(0),
        dt.datetime(1, 1, 1),
        dt.datetime(2020, 1, 1, 20, tzinfo=TZ[1]),
        uuid.UUID(int=2),
        b"",
    ],
]


def as_tsql(value: Any) -> Any:
    """pyodbc's parameters: a datetimeoffset as its text (pyodbc drops a tzinfo)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.isoformat(" ")
    return str(value) if isinstance(value, uuid.UUID) else value


@pytest.fixture
def mssql(cdc_databases: dict[str, object], cdc_connect: Any) -> Any:
    if "mssql" not in cdc_databases:
        pytest.skip(NEEDS_MSSQL)
    return cdc_connect("mssql")


@pytest.mark.mssql
def test_live_sql_server_aggregates_equal_postgresql_ones(mssql: Any) -> None:
    cur = mssql.raw_cursor()
    cur.execute("DROP TABLE IF EXISTS dbo.cdc_aggregates")
    cur.execute(f"CREATE TABLE dbo.cdc_aggregates ({LIVE_TSQL})")
    marks = ", ".join("?" * len(LIVE_ROWS[0]))
    cur.executemany(
        f"INSERT INTO dbo.cdc_aggregates VALUES ({marks})",
        [[as_tsql(v) for v in row] for row in LIVE_ROWS],
    )
    pg = connect()
    try:
        with schemas(pg, 1) as (schema,):
            load(pg, f'"{schema}".t', LIVE_PG, [[as_parameter(v) for v in r] for r in LIVE_ROWS])
            args = {"table": "dbo.cdc_aggregates", "target_table": f"{schema}.t"}
            found = column_aggregates(mssql, pg, **args)
            assert found.equal, found.differences
            assert found.compared > 40
            pg.cursor().execute(f"UPDATE \"{schema}\".t SET s = '\u00e9' WHERE i = 1")
            found = column_aggregates(mssql, pg, **args)
            assert {(d.column, d.aggregate) for d in found.differences} == {
                ("s", "total length"),
                ("s", "longest"),
            }
    finally:
        pg.close()


@pytest.mark.parametrize(
    ("pg_type", "value"),
    [("time", dt.time(23, 59, 59, 999999)), ("timestamp", dt.datetime.max)],
)
@pytest.mark.parametrize("precision", [0, 3])
def test_rounding_up_past_the_last_value_renders_like_postgresql(
    db: tuple[Any, str], pg_type: str, value: Any, precision: int
) -> None:
    """A maximum that rounds up past midnight (time wraps, in both engines) or past year 9999
    (SQL Server's datetime2 maximum, rounded to milliseconds) renders as PostgreSQL's
    checksum renders it, where Python's types cannot hold the result."""
    from pytest_cdc.dialects.postgres.checksum import PostgresGenerator

    options = EncodingOptions(timestamp_precision=precision, timestamp_mode="round")
    table = probe(db, pg_type, [value])
    fmt = TypeClass.TIME if pg_type == "time" else TypeClass.TIMESTAMP
    column = Column("v", pg_type, fmt)
    gen = PostgresGenerator(options)
    scope = Scope(gen.apply_keyword)
    text = gen.render(ColumnPair(column, column, fmt), "source", scope)
    cur = db[0].cursor()
    cur.execute(f"SELECT {text} FROM {scope.from_clause(gen.table(table))}")
    assert cur.fetchone()[0] == oracle.render(fmt, value, options)
    assert database_aggregates(db[0], table, options)[("v", "max")] == oracle.render(
        fmt, value, options
    )
