"""PostgreSQL to PostgreSQL reconciliation, end to end on the running server.

Two scratch schemas play source and target.  Property tests (hypothesis) plant one change
of each kind and check that exactly that row is reported; other tests cover keys of each
type, recursion into segments, where/column mapping, and the pyodbc (psqlODBC) driver path.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import psycopg2
import pytest
from helpers import connect, load, odbc_connection_string, schemas, server_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_cdc.checksums import (
    BadKey,
    ReconcileError,
    assert_checksums_match,
    assert_row_counts_match,
    reconcile,
)

DDL = "id bigint PRIMARY KEY, name text, qty integer, price numeric(12,2), seen timestamp"


def make_rows(n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(n)
    return [
        (
            i,
            rng.choice(["", None, "a|b", "<null>", "x;y", "\U0001f600", f"n{i}"]),
            rng.choice([None, i * 3]),
            Decimal(rng.randint(-10000, 10000)) / 100,
            dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i, microseconds=i % 7),
        )
        for i in range(1, n + 1)
    ]


def both(
    pg: Any, pair: list[str], src_rows: list[Any], dst_rows: list[Any], ddl: str = DDL
) -> None:
    load(pg, f'"{pair[0]}".t', ddl, src_rows)
    load(pg, f'"{pair[1]}".t', ddl, dst_rows)


def run(pg: Any, pair: list[str], **kwargs: Any) -> Any:
    kwargs.setdefault("key", "id")
    return reconcile(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", **kwargs)


@pytest.mark.postgres_versions
def test_identical_tables_are_equal(pg: Any, pair: list[str]) -> None:
    rows = make_rows(300)
    both(pg, pair, rows, list(reversed(rows)))
    report = run(pg, pair)
    assert report.equal
    assert (report.source_rows, report.target_rows) == (300, 300)
    assert report.queries


@pytest.mark.postgres_versions
def test_each_kind_of_difference_is_reported(pg: Any, pair: list[str]) -> None:
    rows = make_rows(200)
    dst = [list(r) for r in rows]
    dst[10][3] = Decimal("999.99")  # changed
    del dst[20]  # missing in target (id 21)
    dst.append([1000, "new", 1, Decimal(1), dt.datetime(2030, 1, 1)])  # extra
    both(pg, pair, rows, dst)
    report = run(pg, pair, leaf_rows=16)
    assert (report.missing_count, report.extra_count, report.changed_count) == (1, 1, 1)
    assert report.missing == [["21"]]
    assert report.extra == [["1000"]]
    assert report.changed[0].key == ["11"]
    assert report.changed[0].differences == {"price": [str(rows[10][3]), "999.99"]}
    assert report.segments_compared > 1


def test_recursion_splits_big_differing_segments(pg: Any, pair: list[str]) -> None:
    rows = make_rows(3000)
    dst = [list(r) for r in rows]
    for i in (5, 1500, 2999):
        dst[i][2] = -1
    both(pg, pair, rows, dst)
    report = run(pg, pair, leaf_rows=50)
    assert sorted(int(c.key[0]) for c in report.changed) == [6, 1501, 3000]
    assert report.changed_count == 3 and report.missing_count == report.extra_count == 0


def test_a_duplicated_key_stops_the_comparison(pg: Any, pair: list[str]) -> None:
    # A key held by two rows pairs nothing reliably: it is not a key.  Found whether the
    # duplicate makes a segment differ or not, with an example value and its count.
    ddl = "id bigint, name text"
    src = [(1, "a"), (2, "b"), (3, "c")]
    both(pg, pair, src, [*src, (2, "b")], ddl)
    with pytest.raises(BadKey, match=r"not unique on the target: id='2' is held by 2 rows"):
        run(pg, pair)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_single_change_is_detected(pg: Any, data: st.DataObject) -> None:
    rows = [list(r) for r in make_rows(60)]
    dst = [list(r) for r in rows]
    kind = data.draw(st.sampled_from(["cell", "delete", "duplicate", "swap"]))
    i = data.draw(st.integers(0, len(rows) - 1))
    if kind == "cell":
        col = data.draw(st.integers(1, 4))
        old = dst[i][col]
        new = {
            1: ["", None, "<null>", "a|b", "x"],
            2: [None, 0, -7],
            3: [Decimal("0.01")],
            4: [dt.datetime(1999, 1, 1), None],
        }[col]
        dst[i][col] = data.draw(st.sampled_from([v for v in new if v != old] or [None]))
        if dst[i][col] == old:
            return
    elif kind == "delete":
        del dst[i]
    elif kind == "duplicate":  # a key held twice is refused (test_a_duplicated_key_...)
        dst.append(list(dst[i]))
        dst[-1][0] = 10_000 + i  # the same values under a new key: one extra row
    else:  # swap two values between columns of the same type (name <-> a text form of qty)
        if dst[i][1] == (None if dst[i][2] is None else str(dst[i][2])):
            return
        dst[i][1], dst[i][2] = (None if dst[i][2] is None else str(dst[i][2])), None
        if dst[i][1] == rows[i][1] and dst[i][2] == rows[i][2]:
            return
    random.Random(i).shuffle(dst)  # row order never matters
    with schemas(pg, 2) as names:
        ddl = DDL.replace(" PRIMARY KEY", "")  # the target may hold a duplicated row
        both(pg, names, [tuple(r) for r in rows], [tuple(r) for r in dst], ddl)
        report = run(pg, names, leaf_rows=8)
    assert not report.equal, (kind, i)
    assert report.differing_count == 1, (kind, i, report.to_text())


@pytest.mark.postgres_versions
@pytest.mark.parametrize(
    ("ddl", "rows", "key"),
    [
        (
            "k text, v int",
            [(f"k{i:03d}\U0001f600" if i % 3 else f"K {i}", i) for i in range(120)],
            "k",
        ),
        ("k uuid, v int", [(f"{i:08x}-0000-4000-8000-{i:012x}", i) for i in range(120)], "k"),
        (
            "k timestamp, v int",
            [(dt.datetime(2020, 1, 1) + dt.timedelta(hours=i), i) for i in range(120)],
            "k",
        ),
        (
            "k date, v int",
            [(dt.date(2020, 1, 1) + dt.timedelta(days=i), i) for i in range(120)],
            "k",
        ),
        ("a int, b text, v int", [(i % 5, f"b{i}", i) for i in range(120)], "a,b"),
        ("k numeric(10,3), v int", [(Decimal(i) / 8, i) for i in range(120)], "k"),
    ],
    ids=["text", "uuid", "timestamp", "date", "composite", "numeric"],
)
def test_key_types(pg: Any, pair: list[str], ddl: str, rows: list[Any], key: str) -> None:
    dst = [list(r) for r in rows]
    dst[77][-1] = -1
    both(pg, pair, rows, [tuple(r) for r in dst], ddl)
    report = run(pg, pair, key=key, leaf_rows=10)
    assert report.changed_count == 1 and report.differing_count == 1
    assert report.changed[0].differences == {"v": ["77", "-1"]}


def test_where_column_selection_and_mapping(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', "id int, a text, b int, lag int", [(1, "x", 1, 0), (2, "y", 2, 9)])
    load(pg, f'"{pair[1]}".t', "id int, alpha text, b int", [(1, "x", 5), (2, "z", 2)])
    report = run(
        pg, pair, columns=["a"], column_map={"a": "alpha"}, where="id = 1", target_where="id = 1"
    )
    assert report.equal and report.columns == ["id", "a"]
    report = run(pg, pair, columns=["a"], column_map={"a": "alpha"})
    assert report.changed[0].differences == {"a": ["y", "z"]}


def test_unknown_column_is_a_clear_error(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', "id int, a text", [])
    load(pg, f'"{pair[1]}".t', "id int, b text", [])
    with pytest.raises(ReconcileError, match=r"column 'a' is not in target table .*column_map="):
        run(pg, pair)
    with pytest.raises(ReconcileError, match="no key column"):
        run(pg, pair, key=[])


@pytest.mark.postgres_versions
def test_unsupported_type_names_the_column(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', "id int, span interval", [])
    load(pg, f'"{pair[1]}".t', "id int, span interval", [])
    with pytest.raises(ReconcileError, match=r"column 'span' .* 'interval'.*columns="):
        run(pg, pair)
    assert run(pg, pair, columns=[]).equal


def test_hostile_identifiers_are_quoted(pg: Any, pair: list[str]) -> None:
    table = 'we"ird; DROP TABLE x; --[t]é'
    column = "co'l]; SELECT 1 --\U0001f600"
    quoted_table = '"' + table.replace('"', '""') + '"'
    quoted_column = '"' + column.replace('"', '""') + '"'
    cur = pg.cursor()
    for schema, last in zip(pair, ("b", "c"), strict=True):
        cur.execute(f'CREATE TABLE "{schema}".{quoted_table} ("k;]" int, {quoted_column} text)')
        cur.execute(f'INSERT INTO "{schema}".{quoted_table} VALUES (1, %s), (2, %s)', ("a", last))
    report = reconcile(
        pg,
        pg,
        table=f'"{pair[0]}".{quoted_table}',
        target_table=f'"{pair[1]}".{quoted_table}',
        key="k;]",
    )
    assert report.changed[0].differences == {column: ["b", "c"]}
    assert table in report.source_table
    # A key value that looks like SQL is only ever a quoted literal.
    for schema in pair:
        cur.execute(
            f'INSERT INTO "{schema}".{quoted_table} VALUES (3, %s)', ("x'); DROP TABLE t; --",)
        )
    assert reconcile(
        pg,
        pg,
        table=f'"{pair[0]}".{quoted_table}',
        target_table=f'"{pair[0]}".{quoted_table}',
        key=column,
    ).equal


@pytest.mark.postgres_versions
def test_assert_helpers(pg: Any, pair: list[str]) -> None:
    rows = make_rows(40)
    both(pg, pair, rows, rows[:-1])
    with pytest.raises(pytest.fail.Exception) as info:
        assert_checksums_match(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id")
    message = str(info.value)
    assert message.index("1 missing in target") < message.index("missing in target (id): 40")
    with pytest.raises(pytest.fail.Exception, match=r"row counts differ: .* 40 rows.* 39"):
        assert_row_counts_match(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t")
    assert assert_row_counts_match(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[0]}.t") == (
        40,
        40,
    )


def test_url_strings_and_threads(pair: list[str], pg: Any) -> None:
    rows = make_rows(500)
    dst = [list(r) for r in rows]
    dst[100][1] = "changed"
    both(pg, pair, rows, [tuple(r) for r in dst])
    report = reconcile(
        server_url(),
        server_url(),
        table=f"{pair[0]}.t",
        target_table=f"{pair[1]}.t",
        key="id",
        leaf_rows=20,
    )
    assert report.changed_count == 1 and report.changed[0].key == ["101"]


def test_pyodbc_side_agrees_with_psycopg2(pg: Any, pair: list[str]) -> None:
    pyodbc = pytest.importorskip("pyodbc")
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        pytest.skip("needs the psqlODBC driver 'PostgreSQL Unicode' (apt install odbc-postgresql)")
    rows = make_rows(300)
    extra = "f real, d double precision, u uuid, b bytea, ok boolean, tz timestamptz, j jsonb"
    more = [
        (
            r[0] / 3,
            r[0] / 7,
            f"{r[0]:08x}-0000-4000-8000-{r[0]:012x}",
            bytes([r[0] % 256]),
            r[0] % 2 == 0,
            dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc),
            '{"a": [1, 2]}',
        )
        for r in rows
    ]
    src = [r + m for r, m in zip(rows, more, strict=False)]
    dst = [list(r) for r in src]
    dst[200][6] = 1.0
    both(pg, pair, src, [tuple(r) for r in dst], DDL + ", " + extra)
    conn = pyodbc.connect(odbc_connection_string(), autocommit=True)
    try:
        report = reconcile(
            conn, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id", leaf_rows=25
        )
        assert report.changed_count == 1 and report.differing_count == 1
        assert list(report.changed[0].differences) == ["d"]
        same = reconcile(conn, pg, table=f"{pair[0]}.t", target_table=f"{pair[0]}.t", key="id")
        assert same.equal
    finally:
        conn.close()


def test_connection_pools_on_both_sides(pg: Any, pair: list[str]) -> None:
    from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
    from pytest_cdc.pool import ConnectionPool

    rows = make_rows(120)
    both(pg, pair, rows, rows[1:])
    with (
        ConnectionPool(Psycopg2Connector(server_url()), max_size=2, name="src") as src,
        ConnectionPool(Psycopg2Connector(server_url()), max_size=2, name="dst") as dst,
    ):
        report = reconcile(
            src, dst, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id", leaf_rows=10
        )
        assert report.missing == [["1"]] and report.differing_count == 1
        # The borrowed connections went back with their session settings restored.
        with src.connection() as conn:
            cur = conn.cursor()
            cur.execute("SELECT current_setting('enable_sort')")
            assert cur.fetchone()[0] == "on"


def test_one_pool_of_one_serves_both_sides(pg: Any, pair: list[str]) -> None:
    from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
    from pytest_cdc.pool import ConnectionPool

    rows = make_rows(50)
    both(pg, pair, rows, rows)
    with ConnectionPool(Psycopg2Connector(server_url()), max_size=1, timeout=5) as pool:
        report = reconcile(pool, pool, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id")
    assert report.equal and report.source_rows == 50


def test_sides_on_one_server_share_its_parallel_workers(pg: Any, pair: list[str]) -> None:
    from pytest_cdc.checksums.connections import shared

    def workers(conn: Any) -> int:
        cur = conn.cursor()
        cur.execute("SELECT current_setting('max_parallel_workers_per_gather')::int")
        return int(cur.fetchone()[0])

    # One URL string on both sides opens two connections (the passes run at once); one
    # connection object, pool or handle is used once.
    assert not shared(server_url(), server_url())
    assert shared(pg, pg)
    other = connect()
    try:
        before = workers(pg)
        rows = make_rows(60)
        both(pg, pair, rows, rows)
        report = reconcile(pg, other, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id")
        halved = f"set_config('max_parallel_workers_per_gather', '{before // 2}', true)"
        assert {q.side for q in report.queries if halved in q.sql} == {"source", "target"}
        # Local to the comparison's own transaction: both connections are as they were.
        assert report.equal and [workers(pg), workers(other)] == [before, before]
        assert pg.get_transaction_status() == other.get_transaction_status() == 0
    finally:
        other.close()


def test_text_key_segments_follow_code_point_order(pg: Any, pair: list[str]) -> None:
    # The column's own collation (ICU) orders 'a' < 'B' < 'é'; the segments must follow code
    # points ("C"), like the boundaries, range conditions and SQL Server's binary order.
    from pytest_cdc.checksums.encoding import Column, ColumnPair, TypeClass
    from pytest_cdc.checksums.sqlgen import TableRef
    from pytest_cdc.dialects.postgres.checksum import PostgresGenerator

    words = ["a", "B", "b", "Z", "é", "e", "É", "\U0001f600", "", "a b", "ab", "A"]
    rows = [(f"{w}{i}", i) for i, w in enumerate(words * 5)]
    load(pg, f'"{pair[0]}".t', 'k text COLLATE "und-x-icu", v int', rows)
    keys = sorted(r[0] for r in rows)  # Python sorts str by code point, as "C" does
    bounds = [[keys[i]] for i in range(7, len(keys), 7)]
    col = Column("k", "text", TypeClass.TEXT)
    key = ColumnPair(col, col, TypeClass.TEXT, is_key=True)
    value = ColumnPair(
        Column("v", "integer", TypeClass.INTEGER),
        Column("v", "integer", TypeClass.INTEGER),
        TypeClass.INTEGER,
    )
    sql = PostgresGenerator().checksum_query(
        TableRef(pair[0], "t"), [key], [key, value], "source", bounds
    )
    cur = pg.cursor()
    cur.execute(sql)
    got = {int(seg): int(n) for seg, n, _ in cur.fetchall()}
    edges = [b[0] for b in bounds]
    want: dict[int, int] = {}
    for k, _ in rows:
        seg = sum(1 for e in edges if e <= k)
        want[seg] = want.get(seg, 0) + 1
    assert got == want


def test_the_report_lists_every_statement_sent(pg: Any, pair: list[str]) -> None:
    # Connections that log what their cursors really send: the report's queries are all of
    # them, side by side, in order.
    from psycopg2.extras import LoggingConnection

    class Log(list[str]):
        def write(self, text: str) -> None:  # LoggingConnection writes once a statement
            self.append(text.strip())

    rows = make_rows(3000)
    dst = [list(r) for r in rows]
    dst[7][3] = Decimal("1.23")
    both(pg, pair, rows, dst)
    logs = {side: Log() for side in ("source", "target")}
    conns = {}
    for side, log in logs.items():
        conn = psycopg2.connect(server_url(), connection_factory=LoggingConnection)
        conn.initialize(log)
        conn.autocommit = True
        conns[side] = conn
    try:
        report = reconcile(
            conns["source"],
            conns["target"],
            table=f"{pair[0]}.t",
            target_table=f"{pair[1]}.t",
            key="id",
            leaf_rows=100,
        )
    finally:
        for conn in conns.values():
            conn.close()
    assert report.changed_count == 1
    for side, log in logs.items():
        recorded = [q.sql for q in report.queries if q.side == side]
        assert len(log) == len(recorded), side
        for sent, sql in zip(log, recorded, strict=True):  # sent with its parameters bound
            assert sent == sql or sent.startswith(sql.split("%s")[0]), (sent, sql)
        # The session settings take one round trip, not one a setting (and one more shares
        # the server's parallel workers between the two sides).
        assert sum("set_config(" in sql for sql in recorded) == 2
