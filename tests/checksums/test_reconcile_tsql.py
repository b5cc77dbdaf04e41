"""The T-SQL generator, checked without a SQL Server.

No SQL Server runs here, so: every generated statement must parse with sqlglot's tsql dialect;
hostile identifiers must come back from the parser as the very same single identifiers; and
the float rendering algorithm (the one part whose bytes are not obvious) is replayed step by
step in Python and compared with the oracle.  Live tests need --cdc-db=mssql=... and skip here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from pytest_cdc.checksums import ReconcileError, decisions, oracle
from pytest_cdc.checksums.encoding import Column, ColumnPair, EncodingOptions, TypeClass
from pytest_cdc.checksums.keys import index_columns
from pytest_cdc.checksums.sqlgen import Scope, ServerFacts, TableRef
from pytest_cdc.dialects.mssql.checksum import (
    PREPARE_QUERY,
    TYPE_CLASSES,
    TsqlGenerator,
    estimate_sql,
    key_indexes_sql,
    lock_timeout_sql,
)
from pytest_cdc.errors import ConfigError

TABLE = TableRef("dbo", "orders")
BOUNDS = [["10", "b"], ["20", "a"], ["30", "c'); DROP TABLE x; --"]]


def pair(name: str, data_type: str, *, key: bool = False) -> ColumnPair:
    col = Column(name, data_type, TYPE_CLASSES[data_type])
    return ColumnPair(col, col, col.type_class, is_key=key)


KEYS = [pair("id", "bigint", key=True), pair("code", "nvarchar", key=True)]
COLUMNS = KEYS + [pair(f"c_{t}", t) for t in sorted(TYPE_CLASSES) if t not in ("bigint",)]


def statements(
    gen: TsqlGenerator, keys: list[ColumnPair], cols: list[ColumnPair], table: TableRef = TABLE
) -> dict[str, str]:
    rng = gen.range_condition(keys, "source", BOUNDS[0], BOUNDS[1])
    int_key = keys[:1]
    return {
        "digest": gen.digest_query(
            table, int_key, cols, "source", [b[:1] for b in BOUNDS], user_where="1 = 1"
        ),
        "digest restricted": gen.digest_query(
            table, int_key, cols, "source", [b[:1] for b in BOUNDS[:2]], first=7, restrict=rng
        ),
        "digest one segment": gen.digest_query(table, int_key, cols, "source", []),
        "row width": gen.width_query(table, cols, "source", 1000, user_where="1 = 1"),
        "checksum": gen.checksum_query(table, keys, cols, "source", BOUNDS, user_where="1 = 1"),
        "checksum restricted": gen.checksum_query(
            table, keys, cols, "source", BOUNDS[:1], first=7, restrict=rng
        ),
        "sample": gen.sample_query(table, keys, "source", 0.025),
        "quantiles": gen.quantile_query(table, keys, "source", 100, restrict=rng),
        "fetch": gen.fetch_query(table, keys, cols, "source", restrict=rng),
        "values": gen.values_query(table, keys, cols, "source", BOUNDS),
        "count": gen.count_query(table, user_where="[id] > 3"),
        "key uniqueness": gen.duplicate_query(table, keys, "source", user_where="[id] > 3"),
    }


#: The statements that read the catalogs and set the session (no table in their text).
CATALOG = {
    "estimate": estimate_sql("qmark"),
    "key index": key_indexes_sql("qmark"),
    "columns": TsqlGenerator().columns_sql("qmark"),
    "session": PREPARE_QUERY,
    "lock timeout": lock_timeout_sql(30),
    "no lock timeout": lock_timeout_sql(None),
    "schema": TsqlGenerator.current_schema_sql,
}


@pytest.mark.parametrize(
    "options",
    [
        EncodingOptions(),
        EncodingOptions(float_digits=6, timestamp_precision=3, timestamp_mode="round"),
    ],
    ids=["default", "options"],
)
def test_every_statement_parses_as_tsql(options: EncodingOptions) -> None:
    gen = TsqlGenerator(options)
    for purpose, sql in {**statements(gen, KEYS, COLUMNS), **CATALOG}.items():
        parsed = sqlglot.parse(sql, read="tsql")
        assert len(parsed) == 1, purpose  # one statement, nothing smuggled after it
        assert "CHECKSUM" not in sql.upper(), purpose


def test_text_is_hashed_as_utf8_and_sums_are_exact() -> None:
    sql = TsqlGenerator().checksum_query(TABLE, KEYS, COLUMNS, "source", BOUNDS)
    assert "COLLATE Latin1_General_100_BIN2_UTF8 AS varchar(max))" in sql
    assert "HASHBYTES('MD5'" in sql
    assert "SUM(CAST(s.h AS decimal(38, 0)))" in sql
    tree = sqlglot.parse_one(sql, read="tsql")
    assert not [f for f in tree.find_all(exp.Anonymous) if f.name.upper().endswith("CHECKSUM")]


def test_segment_digest_hashes_the_row_text_in_key_order() -> None:
    """The ordered aggregation's MD5 reads the very row text the per-row hash reads."""
    gen = TsqlGenerator()
    key = [pair("id", "bigint", key=True)]
    cols = [*key, pair("name", "nvarchar"), pair("f", "float")]
    sql = gen.digest_query(TABLE, key, cols, "source", [["10"], ["20"]])
    row_hash = gen.fetch_query(TABLE, key, cols, "source")
    text = row_hash[row_hash.index("HASHBYTES('MD5', ") + 17 : row_hash.rindex("), 1, 8)")]
    assert f"SELECT {text} AS r, t.[id] AS k FROM" in sql
    assert "STRING_AGG(CAST(q.r AS varchar(max)), '') WITHIN GROUP (ORDER BY q.k)" in sql
    # Bounds are cast to the key's own type so the index seek survives.
    assert "(1, CAST(10 AS bigint), CAST(20 AS bigint))" in sql
    assert "t.[id] < CAST(10 AS bigint)" in sql and "t.[id] >= CAST(20 AS bigint)" in sql
    tree = sqlglot.parse_one(sql, read="tsql")
    assert len(list(tree.find_all(exp.Union))) == 2  # first segment, the VALUES, last segment


@pytest.mark.parametrize(
    ("data_type", "ordered"),
    [
        ("int", True),
        ("bigint", True),
        ("date", True),
        ("uniqueidentifier", False),
        ("nvarchar", False),
        ("decimal", False),
        ("datetime2", False),
    ],
)
def test_ordered_keys_are_the_ones_whose_order_postgresql_shares(
    data_type: str, ordered: bool
) -> None:
    gen = TsqlGenerator()
    assert gen.ordered_key([pair("k", data_type, key=True)], "source") is ordered
    assert not gen.ordered_key(KEYS, "source")  # composite


def test_uuid_keys_never_use_uniqueidentifier_order() -> None:
    key = [pair("id", "uniqueidentifier", key=True)]
    sql = TsqlGenerator().checksum_query(
        TABLE, key, key, "source", [["00000000-0000-0000-0000-0000000000ff"]]
    )
    assert "(LOWER(CONVERT(char(36), t.[id])) COLLATE Latin1_General_100_BIN2) <" in sql


HOSTILE = ["we]ird", "a'b", "semi;colon", "dr]] op; DROP TABLE x; --", "ünï\U0001f600", 'q"uote']


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_identifiers_stay_single_identifiers(name: str) -> None:
    gen = TsqlGenerator()
    keys = [pair(name, "int", key=True)]
    cols = [*keys, pair(name + "_v", "nvarchar")]
    table = TableRef(name, name)
    for purpose, sql in statements(gen, keys, cols, table).items():
        if purpose in ("estimate", "key index"):
            continue
        tree = sqlglot.parse_one(sql, read="tsql")
        tables = {(t.db, t.name) for t in tree.find_all(exp.Table)}
        assert tables == {(name, name)}, purpose
        columns = {c.name for c in tree.find_all(exp.Column) if c.table == "t"}
        assert columns <= {name, name + "_v"}, (purpose, columns)


def test_key_literals_are_escaped() -> None:
    gen = TsqlGenerator()
    sql = gen.checksum_query(TABLE, KEYS, KEYS, "source", BOUNDS)
    assert "N'c''); DROP TABLE x; --'" in sql
    with pytest.raises(ValueError, match="not a plain number"):
        gen.checksum_query(TABLE, KEYS, KEYS, "source", [["1; DROP TABLE x", "a"]])


HOSTILE = [
    "o'brien",
    "''",
    "back\\slash",
    "ends in a backslash\\",
    "\\'' ; DROP TABLE victim; --",
    "back\\\nslash then newline",
    "back\\\r\nslash then CR LF",
    "\\\n\\\n",
    "tab\tnew\nline",
    "".join(chr(c) for c in range(1, 32)),
    "ünïcödé ✓ \U0001f600",
    "N'x' + N'y'",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_literals_are_exact_and_single(value: str) -> None:
    # T-SQL has no backslash escapes, but a backslash before a line break continues the
    # line (both vanish): such values are cut into literals joined with +, each of which
    # parses back to its part, and no part has a backslash before a line break.
    literal = TsqlGenerator().string_literal(value)
    tree = sqlglot.parse_one(f"SELECT {literal}", read="tsql")
    strings = [node.this for node in tree.find_all(exp.National, bfs=False)]
    assert "".join(strings) == value
    assert all(not re.search(r"\\[\r\n]", part) for part in strings)
    if not re.search(r"\\[\r\n]", value):
        assert literal == "N'" + value.replace("'", "''") + "'"


def test_float_digits_beyond_portable_are_refused() -> None:
    with pytest.raises(ConfigError, match="float_digits=15 cannot be reproduced on sql server"):
        TsqlGenerator(EncodingOptions(float_digits=15)).fetch_query(
            TABLE, KEYS, [pair("f", "float")], "source"
        )


def test_servers_without_utf8_are_refused_clearly() -> None:
    gen, text = TsqlGenerator(), [pair("id", "int", key=True), pair("name", "nvarchar")]
    assert "sql server major version 14 has no utf-8" in str(
        gen.server_problem(ServerFacts(major=14), text, "source")
    )
    assert gen.server_problem(ServerFacts(major=15), text, "source") is None
    assert gen.server_problem(ServerFacts(major=14), text[:1], "source") is None


def _facts(major: int, indexed: bool, label: str = "source") -> decisions.SideFacts:
    """A SQL Server side as its session and catalog reads describe it (none runs here): a
    version, and one clustered index on id, or none."""
    rows = [(1, 1, "id", 1, 0, 1, 1)] if indexed else []
    server = ServerFacts(major=major)
    return decisions.SideFacts(label, TsqlGenerator(), TABLE, server, tuple(index_columns(rows)))


@pytest.mark.parametrize(
    ("major", "indexed", "wanted", "chosen"),
    [
        (16, 1, "auto", "ordered"),
        (14, 1, "auto", "ordered"),
        (13, 1, "auto", "sum"),  # no STRING_AGG before SQL Server 2017
        (16, 0, "auto", "sum"),
        (16, 1, "sum", "sum"),
    ],
)
def test_sql_server_ordered_aggregation_needs_string_agg_and_an_index(
    major: int, indexed: int, wanted: str, chosen: str
) -> None:
    key = [pair("id", "int", key=True)]
    sides = [_facts(major, bool(indexed)), _facts(major, bool(indexed), "target")]
    assert decisions.choose_aggregation(wanted, sides, key) == chosen
    assert sqlglot.parse_one(TsqlGenerator().key_indexes_sql("qmark"), read="tsql")


def test_sql_server_refusal_of_ordered_says_why() -> None:
    with pytest.raises(ReconcileError, match=r"STRING_AGG \(SQL Server 2017\).* version 13"):
        decisions.choose_aggregation("ordered", [_facts(13, True)], [pair("id", "int", key=True)])


# -- the float algorithm, replayed ----------------------------------------------------------
def _round_away(value: int, digits: int) -> int:
    """T-SQL ROUND(decimal, -digits): half away from zero."""
    q = Decimal(value).quantize(Decimal(1).scaleb(digits), rounding=ROUND_HALF_UP)
    return int(q)


def tsql_float(x: float, digits: int) -> str:
    """The T-SQL _float steps for a non-zero finite x, in Python."""
    s = f"{abs(x):.16E}"  # CONVERT(varchar(30), ABS(v), 3): 17 significant digits
    e_at = s.upper().index("E")
    expo = int(s[e_at + 1 :])
    m17 = s[:e_at].replace(".", "")
    unit = expo - len(m17) + 1
    big = int(m17)
    m15 = _round_away(big, len(m17) - 15)
    if abs(x) < 2.2250738585072014e-308:  # subnormal: the ladder of 1..15 digits
        m = next(
            (
                c
                for c in (_round_away(big, len(m17) - k) for k in range(1, 16))
                if float(f"{c}E{unit}") == abs(x)
            ),
            big,
        )
    else:
        m = m15 if float(f"{m15}E{unit}") == abs(x) else big
    rounded = str(_round_away(m, len(str(m)) - digits))
    digits_text = str(int(rounded[::-1]))[::-1]
    lead = unit + len(rounded) - 1
    size = len(digits_text)
    if lead >= size - 1:
        plain = digits_text + "0" * (lead - size + 1)
    elif lead >= 0:
        plain = digits_text[: lead + 1] + "." + digits_text[lead + 1 :]
    else:
        plain = "0." + "0" * (-lead - 1) + digits_text
    return ("-" if x < 0 else "") + plain


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(min_value=-1e-300, max_value=1e-300),
        st.decimals(places=3, min_value=-(10**6), max_value=10**6).map(float),
    ).filter(lambda v: v != 0),
    st.integers(1, 14),
)
def test_tsql_float_steps_equal_the_oracle(x: float, digits: int) -> None:
    assert tsql_float(x, digits) == oracle.render_float(x, digits)


@pytest.mark.parametrize(
    "x",
    [
        2.675,
        0.125,
        1e23,
        9.995,
        1.5e-7,
        123456.789,
        0.1 + 0.2,
        5e-324,
        1.7976931348623157e308,
        1.2499999999999950,
    ],
)
@pytest.mark.parametrize("digits", [1, 2, 3, 7, 14])
def test_tsql_float_steps_on_edge_values(x: float, digits: int) -> None:
    assert tsql_float(x, digits) == oracle.render_float(x, digits)


NEEDS_MSSQL = (
    "needs a SQL Server 2019+: pass"
    " --cdc-db='mssql=mssql://sa:PASSWORD@HOST:1433/master?TrustServerCertificate=yes'"
)


@pytest.fixture
def mssql(cdc_databases: dict[str, object], cdc_connect: Any) -> Any:
    if "mssql" not in cdc_databases:
        pytest.skip(NEEDS_MSSQL)
    return cdc_connect("mssql")


LIVE_ROWS = [
    (
        1,
        "a\U0001f600;|",
        2.675,
        Decimal("1.5000"),
        dt.datetime(2020, 1, 2, 3, 4, 5, 123456),
        "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ),
    (2, None, None, None, None, None),
    (3, "", -0.0, Decimal("0.0000"), dt.datetime(1, 1, 1), "00000000-0000-0000-0000-000000000000"),
]
LIVE_DDL = "i int PRIMARY KEY, t nvarchar(100), f float, d decimal(12, 4), ts datetime2(7)"


@pytest.mark.mssql
def test_live_sql_server_rows_hash_like_the_oracle(mssql: Any) -> None:
    cur = mssql.raw_cursor()
    cur.execute(f"CREATE TABLE #probe ({LIVE_DDL}, u uniqueidentifier)")
    cur.executemany("INSERT INTO #probe VALUES (?, ?, ?, ?, ?, ?)", LIVE_ROWS)
    cols = [
        pair("i", "int", key=True),
        pair("t", "nvarchar"),
        pair("f", "float"),
        pair("d", "decimal"),
        pair("ts", "datetime2"),
        pair("u", "uniqueidentifier"),
    ]
    cur.execute(TsqlGenerator().fetch_query(TableRef(None, "#probe"), cols[:1], cols, "source"))
    got = {int(row[0]): int(row[1]) for row in cur.fetchall()}
    fmts = [c.fmt for c in cols]
    for row in LIVE_ROWS:
        assert got[row[0]] == oracle.row_hash(oracle.encode_row(fmts, list(row))), row
    # The ordered aggregation: segments [..2) and [2..], each one MD5 of its rows in key order.
    cur.execute(
        TsqlGenerator().digest_query(TableRef(None, "#probe"), cols[:1], cols, "source", [["2"]])
    )
    digests = {int(seg): (int(n), total) for seg, n, total in cur.fetchall()}
    texts = [oracle.encode_row(fmts, list(r)) for r in sorted(LIVE_ROWS)]
    assert digests == {
        0: (1, hashlib.md5(texts[0]).hexdigest()),
        1: (2, hashlib.md5(b"".join(texts[1:])).hexdigest()),
    }
    # The probe text is the float's bits as PostgreSQL's float8send gives them (-0.0 left out:
    # whether SQL Server keeps its sign bit is its business; a differing probe is re-checked).
    gen = TsqlGenerator()
    probe = gen.probe_render(cols[2], "source", Scope(gen.apply_keyword))
    cur.execute(f"SELECT t.i, {probe} FROM #probe AS t")
    bits = {int(i): text for i, text in cur.fetchall()}
    for row in LIVE_ROWS:
        if str(row[2]) != "-0.0":
            assert bits[row[0]] == oracle.probe(TypeClass.FLOAT, row[2]), row


@pytest.mark.mssql
@pytest.mark.parametrize("aggregation", ["sum", "ordered"])
def test_live_sql_server_to_postgresql(mssql: Any, aggregation: str) -> None:
    from helpers import connect, load, schemas

    from pytest_cdc.checksums import reconcile

    cur = mssql.raw_cursor()
    cur.execute("DROP TABLE IF EXISTS dbo.cdc_reconcile_orders")
    cur.execute(f"CREATE TABLE dbo.cdc_reconcile_orders ({LIVE_DDL})")
    cur.executemany(
        "INSERT INTO dbo.cdc_reconcile_orders VALUES (?, ?, ?, ?, ?)", [r[:5] for r in LIVE_ROWS]
    )
    pg = connect()
    try:
        with schemas(pg, 1) as (schema,):
            ddl = "i int PRIMARY KEY, t text, f double precision, d numeric(12, 4), ts timestamp"
            rows = [list(r[:5]) for r in LIVE_ROWS]
            load(pg, f'"{schema}".orders', ddl, rows)
            report = reconcile(
                mssql,
                pg,
                table="dbo.cdc_reconcile_orders",
                target_table=f"{schema}.orders",
                key="i",
                aggregation=aggregation,
            )
            assert report.equal, report.to_text()
            assert report.options["aggregation"] == aggregation
            pg.cursor().execute(f"UPDATE \"{schema}\".orders SET t = 'x' WHERE i = 1")
            report = reconcile(
                mssql,
                pg,
                table="dbo.cdc_reconcile_orders",
                target_table=f"{schema}.orders",
                key="i",
                aggregation=aggregation,
            )
            assert report.changed_count == 1 and list(report.changed[0].differences) == ["t"]
    finally:
        pg.close()


# -- decimal and timestamp renderings, replayed --------------------------------------------
def _strip_fraction(text: str) -> str:
    """REVERSE / PATINDEX('%[^0]%') / drop a leading '.' / REVERSE, as the T-SQL does."""
    rev = text[::-1]
    first = next((i for i, ch in enumerate(rev) if ch != "0"), len(rev))
    rest = rev[first:]
    return (rest[1:] if rest.startswith(".") else rest)[::-1]


@settings(max_examples=500, deadline=None)
@given(
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        places=4,
        min_value=Decimal("-1e12"),
        max_value=Decimal("1e12"),
    )
)
def test_tsql_decimal_steps_equal_the_oracle(value: Decimal) -> None:
    text = f"{value:.4f}"  # CAST(decimal(18,4) AS varchar): the declared scale, no exponent
    got = "0" if value == 0 else (text if "." not in text else _strip_fraction(text))
    assert got == oracle.render(TypeClass.DECIMAL, value)


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 30)),
    st.integers(0, 6),
    st.sampled_from(["truncate", "round"]),
)
def test_tsql_timestamp_steps_equal_the_oracle(
    value: dt.datetime, precision: int, mode: str
) -> None:
    options = EncodingOptions(timestamp_precision=precision, timestamp_mode=mode)
    if mode == "round":  # DATEADD(nanosecond, half a unit of the last kept digit)
        value = value + dt.timedelta(microseconds=5 * 10 ** (6 - precision) // 10)
    # CONVERT(varchar(27), datetime2(7), 121): 'yyyy-mm-dd hh:mi:ss.fffffff'
    text = value.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0") + f".{value.microsecond:06d}0"
    text = f"{value.year:04d}" + text[text.index("-") :]
    cut = text[: 19 + 1 + precision]
    got = cut[:19] if precision == 0 else _strip_fraction(cut)
    original = (
        value - dt.timedelta(microseconds=5 * 10 ** (6 - precision) // 10)
        if mode == "round"
        else value
    )
    assert got == oracle.render(TypeClass.TIMESTAMP, original, options)


@pytest.mark.parametrize("data_type", ["float", "real", "int", "bit"])
def test_probe_pass_writes_floats_as_their_bits(data_type: str) -> None:
    """The probe text: the float's binary(8), big-endian IEEE 754 as PostgreSQL's float8send,
    as 16 lower-case hex digits; it replaces the canonical float steps in the first pass."""
    gen = TsqlGenerator()
    key = [pair("id", "bigint", key=True)]
    f = pair("f", data_type)
    f = ColumnPair(f.source, f.target, TypeClass.FLOAT)
    sql = gen.digest_query(TABLE, key, [*key, f], "source", [["10"]], probe={f})
    assert "LOWER(CONVERT(char(16), CAST(CAST(t.[f] AS float) AS binary(8)), 2))" in sql
    assert "CONVERT(varchar(30)" not in sql  # the canonical float steps are not there
    assert len(sqlglot.parse(sql, read="tsql")) == 1
    canonical = gen.digest_query(TABLE, key, [*key, f], "source", [["10"]])
    assert "binary(8)" not in canonical and "CONVERT(varchar(30)" in canonical
    # The bytes the hex spells: what the oracle's probe text is.
    assert oracle.probe(TypeClass.FLOAT, 1.1) == "3ff199999999999a"
