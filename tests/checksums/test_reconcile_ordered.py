"""The ordered aggregation: one MD5 a segment over its rows in key order (docs/checksum.md).

Checked on the running server: the digest is the oracle's MD5 of the canonical rows sorted by
key, segment by segment; "auto" picks it exactly when the key allows it; and every kind of
difference is found the same way as with the additive sums.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from decimal import Decimal
from typing import Any

import pytest
from helpers import load, schemas, server_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_cdc.checksums import ReconcileError, oracle, reconcile
from pytest_cdc.checksums.encoding import Column, ColumnPair
from pytest_cdc.checksums.sqlgen import TableRef
from pytest_cdc.dialects.postgres.checksum import TYPE_CLASSES, PostgresGenerator, prepare_sql

DDL = "id bigint PRIMARY KEY, name text, ratio double precision, price numeric(12,2)"
NAMES = ["", None, "a|b", "<null>", "V1:a", "x;y", "\U0001f600"]


def hour(i: int) -> dt.datetime:
    return dt.datetime(2020, 1, 1, i % 24, i // 24)


def make_rows(n: int, seed: int = 0) -> list[list[Any]]:
    rng = random.Random(seed)
    return [
        [
            i,
            rng.choice([*NAMES, f"n{i}"]),
            rng.choice([None, i / 7, -0.0, float("nan")]),
            Decimal(rng.randint(-10000, 10000)) / 100,
        ]
        for i in range(1, n + 1)
    ]


def run(pg: Any, pair: list[str], **kwargs: Any) -> Any:
    kwargs.setdefault("key", "id")
    return reconcile(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", **kwargs)


def column(name: str, data_type: str) -> Column:
    return Column(name, data_type, TYPE_CLASSES[data_type])


@pytest.mark.postgres_versions
def test_digests_are_the_oracles_md5_of_rows_in_key_order(pg: Any, pair: list[str]) -> None:
    rows = make_rows(50)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)  # stored out of key order: the index restores it
    load(pg, f'"{pair[0]}".t', DDL, shuffled)
    types = {"id": "bigint", "name": "text", "ratio": "double precision", "price": "numeric"}
    pairs = [
        ColumnPair(column(n, t), column(n, t), TYPE_CLASSES[t], is_key=n == "id")
        for n, t in types.items()
    ]
    gen = PostgresGenerator()
    bounds = [["11"], ["12"], ["30"]]  # segments [..11) [11..12) [12..30) [30..]
    sql = gen.digest_query(TableRef(pair[0], "t"), pairs[:1], pairs, "source", bounds, first=5)
    cur = pg.cursor()
    cur.execute("BEGIN")
    try:
        cur.execute(prepare_sql(None, None))  # the session settings, local to the transaction
        cur.execute(sql)
        got = {int(seg): (int(n), total) for seg, n, total in cur.fetchall()}
    finally:
        cur.execute("ROLLBACK")
    fmts = [p.fmt for p in pairs]
    edges = [None, 11, 12, 30, None]
    want = {}
    for i in range(4):
        inside = [
            r
            for r in rows
            if (edges[i] is None or r[0] >= edges[i])
            and (edges[i + 1] is None or r[0] < edges[i + 1])
        ]
        data = b"".join(oracle.encode_row(fmts, r) for r in inside)
        want[5 + i] = (len(inside), hashlib.md5(data).hexdigest())
    assert got == want


@pytest.mark.postgres_versions
def test_auto_uses_it_for_an_indexed_key_and_finds_each_kind(pg: Any, pair: list[str]) -> None:
    rows = make_rows(400)
    dst = [list(r) for r in rows]
    dst[10][3] = Decimal("999.99")  # changed
    del dst[20]  # missing in the target (id 21)
    dst.append([1000, "new", 1.0, Decimal(1)])  # extra
    load(pg, f'"{pair[0]}".t', DDL, rows)
    load(pg, f'"{pair[1]}".t', DDL, list(reversed(dst)))
    found = {}
    for aggregation in ("auto", "sum"):
        report = run(pg, pair, leaf_rows=16, aggregation=aggregation)
        found[report.options["aggregation"]] = (
            report.missing,
            report.extra,
            [(c.key, c.differences) for c in report.changed],
        )
        assert report.segments_compared > 10
    assert (
        found["ordered"]
        == found["sum"]
        == (
            [["21"]],
            [["1000"]],
            [(["11"], {"price": [str(rows[10][3]), "999.99"]})],
        )
    )


def test_recursion_in_ordered_segments(pg: Any, pair: list[str]) -> None:
    rows = make_rows(3000)
    dst = [list(r) for r in rows]
    for i in (0, 1500, 2999):
        dst[i][1] = "changed"
    load(pg, f'"{pair[0]}".t', DDL, rows)
    load(pg, f'"{pair[1]}".t', DDL, dst)
    report = run(pg, pair, leaf_rows=50, aggregation="ordered")
    assert report.options["aggregation"] == "ordered"
    assert sorted(int(c.key[0]) for c in report.changed) == [1, 1501, 3000]
    assert report.changed_count == 3 and report.missing_count == report.extra_count == 0
    # The segments were checked, then split again inside the differing ones.
    assert any("VALUES" in q.sql and "md5(string_agg" in q.sql for q in report.queries)


@pytest.mark.postgres_versions
@pytest.mark.parametrize(
    ("ddl", "make", "ordered"),
    [
        ("k uuid PRIMARY KEY, v int", lambda i: f"{i:08x}-0000-4000-8000-{i:012x}", True),
        ("k timestamp PRIMARY KEY, v int", hour, True),
        ("k date PRIMARY KEY, v int", lambda i: dt.date(2020, 1, 1) + dt.timedelta(days=i), True),
        ("k numeric(10,3) PRIMARY KEY, v int", lambda i: Decimal(i) / 8, True),
        ("k integer PRIMARY KEY, v int", lambda i: i - 60, True),
        ("k text PRIMARY KEY, v int", lambda i: f"k{i:03d}", False),  # "C" order: no index
        ("k bigint NOT NULL, v int", lambda i: i, False),  # no index
        ("k bigint UNIQUE, v int", lambda i: i, False),  # NULL keys would fall in no segment
        ("k timestamptz PRIMARY KEY, v int", hour, False),
    ],
    ids=[
        "uuid",
        "timestamp",
        "date",
        "numeric",
        "integer",
        "text",
        "no-index",
        "nullable",
        "timestamptz",
    ],
)
def test_auto_picks_ordered_only_where_the_key_allows(
    pg: Any, pair: list[str], ddl: str, make: Any, ordered: bool
) -> None:
    rows = [(make(i), i) for i in range(120)]
    dst = [list(r) for r in rows]
    dst[77][1] = -1
    load(pg, f'"{pair[0]}".t', ddl, rows)
    load(pg, f'"{pair[1]}".t', ddl, [tuple(r) for r in reversed(dst)])
    report = run(pg, pair, key="k", leaf_rows=10)
    assert report.options["aggregation"] == ("ordered" if ordered else "sum")
    assert report.changed_count == 1 and report.differing_count == 1
    assert report.changed[0].differences == {"v": ["77", "-1"]}
    if not ordered:
        with pytest.raises(ReconcileError, match="aggregation='ordered' cannot be used"):
            run(pg, pair, key="k", aggregation="ordered")


def test_ordered_needs_the_index_on_both_sides(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', DDL, make_rows(30))
    load(pg, f'"{pair[1]}".t', DDL.replace(" PRIMARY KEY", " NOT NULL"), make_rows(30))
    with pytest.raises(ReconcileError, match=r"target key \(id\) of .* NOT NULL and lead an index"):
        run(pg, pair, aggregation="ordered")
    assert run(pg, pair).options["aggregation"] == "sum"


def test_unknown_aggregation_is_a_clear_error(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', DDL, [])
    load(pg, f'"{pair[1]}".t', DDL, [])
    with pytest.raises(ReconcileError, match="aggregation='fast' is not one of auto, sum"):
        run(pg, pair, aggregation="fast")


def test_where_filter_and_empty_segments(pg: Any, pair: list[str]) -> None:
    rows = make_rows(500)
    dst = [list(r) for r in rows]
    dst[450][1] = "late change"  # outside the filter: not a difference
    dst[5][1] = "early change"
    load(pg, f'"{pair[0]}".t', DDL, rows)
    load(pg, f'"{pair[1]}".t', DDL, dst)
    report = run(pg, pair, where="id <= 400 OR id > 480", leaf_rows=20, aggregation="ordered")
    assert [c.key for c in report.changed] == [["6"]]
    assert report.source_rows == report.target_rows == 420


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_single_change_is_detected(pg: Any, data: st.DataObject) -> None:
    rows = make_rows(60, seed=7)
    dst = [list(r) for r in rows]
    kind = data.draw(st.sampled_from(["cell", "delete", "swap", "insert"]))
    i = data.draw(st.integers(0, len(rows) - 1))
    if kind == "cell":
        old = dst[i][1]
        dst[i][1] = data.draw(st.sampled_from([n for n in [*NAMES, "zz"] if n != old]))
    elif kind == "delete":
        del dst[i]
    elif kind == "insert":
        dst.append([1000 + i, None, None, Decimal(0)])
    else:  # two rows exchange their names: the same multiset of values, other rows
        j = (i + 1) % len(rows)
        if dst[i][1] == dst[j][1]:
            return
        dst[i][1], dst[j][1] = dst[j][1], dst[i][1]
    with schemas(pg, 2) as names:
        load(pg, f'"{names[0]}".t', DDL, rows)
        load(pg, f'"{names[1]}".t', DDL, dst)
        report = run(pg, names, leaf_rows=8, aggregation="ordered")
    assert report.differing_count == (2 if kind == "swap" else 1), (kind, i, report.to_text())


def test_url_sides_spread_segments_over_lanes(pg: Any, pair: list[str]) -> None:
    """A URL side opens one connection per parallel worker; each scans a run of segments."""
    rows = make_rows(2000)
    dst = [list(r) for r in rows]
    for i in (0, 999, 1999):  # first, middle and last lane
        dst[i][1] = "changed"
    load(pg, f'"{pair[0]}".t', DDL, rows)
    load(pg, f'"{pair[1]}".t', DDL, dst)
    base = server_url()
    # Six workers a query, halved because both sides are on this one server: three lanes.
    url = base + ("&" if "?" in base else "?") + "options=-c%20max_parallel_workers_per_gather%3D6"
    report = reconcile(
        url, url, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id", leaf_rows=100
    )
    passes = [q for q in report.queries if q.purpose == "segment checksums"]
    assert len(passes) == 6 and {q.side for q in passes} == {"source", "target"}
    assert sum(q.rows for q in passes) == 2 * report.segments_compared
    assert sorted(int(c.key[0]) for c in report.changed) == [1, 1000, 2000]
    assert report.changed_count == 3 and report.missing_count == report.extra_count == 0


WIDE = "id bigint PRIMARY KEY, doc text"


def wide_rows(n: int) -> list[list[Any]]:
    return [[i, f"{i:05d}" * 1000] for i in range(1, n + 1)]  # 5,000-byte documents


def test_wide_rows_get_more_smaller_segments(
    pg: Any, pair: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_cdc.checksums import diff

    # About 1 MB of row text: 40 segments of 25 KB, half the bound, so that the largest
    # segment stays under it too.
    rows = wide_rows(200)
    dst = [list(r) for r in rows]
    dst[150][1] = "short"
    load(pg, f'"{pair[0]}".t', WIDE, rows)
    load(pg, f'"{pair[1]}".t', WIDE, dst)
    monkeypatch.setattr(diff, "SEGMENT_BYTES", 50_000)
    report = run(pg, pair)
    assert report.options["aggregation"] == "ordered"
    assert 30 <= report.segments_compared <= 50  # not the 1 segment 10,000 rows a leaf make
    assert report.segment_rows["largest"] * report.options["row_bytes"] <= 50_000
    assert [c.key for c in report.changed] == [["151"]]


def test_too_wide_for_ordered_segments_keeps_the_sums(
    pg: Any, pair: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_cdc.checksums import diff

    load(pg, f'"{pair[0]}".t', WIDE, wide_rows(50))
    load(pg, f'"{pair[1]}".t', WIDE, wide_rows(50))
    monkeypatch.setattr(diff, "SEGMENT_BYTES", 10_000)
    monkeypatch.setattr(diff, "MAX_ORDERED_SEGMENTS", 4)  # 250 KB would need 25 segments
    report = run(pg, pair)
    assert report.equal and report.options["aggregation"] == "sum"
    with pytest.raises(ReconcileError, match=r"rows of about 5,0\d\d bytes .* aggregation='sum'"):
        run(pg, pair, aggregation="ordered")


# -- composite keys (PostgreSQL compares row values through the index) ----------------------
def test_composite_digests_follow_the_key_order(pg: Any, pair: list[str]) -> None:
    rows = [[i % 9, dt.date(2020, 1, 1) + dt.timedelta(days=i // 9), f"v{i}"] for i in range(90)]
    shuffled = rows[:]
    random.Random(2).shuffle(shuffled)
    load(pg, f'"{pair[0]}".t', "a int, d date, v text, PRIMARY KEY (a, d)", shuffled)
    types = {"a": "integer", "d": "date", "v": "text"}
    pairs = [
        ColumnPair(column(n, t), column(n, t), TYPE_CLASSES[t], is_key=n != "v")
        for n, t in types.items()
    ]
    gen = PostgresGenerator()
    bounds = [["3", "2020-01-05"], ["3", "2020-01-06"], ["7", "2020-01-01"]]
    sql = gen.digest_query(TableRef(pair[0], "t"), pairs[:2], pairs, "source", bounds)
    cur = pg.cursor()
    cur.execute(sql)
    got = {int(seg): (int(n), total) for seg, n, total in cur.fetchall()}
    edges: list[Any] = [None, (3, dt.date(2020, 1, 5)), (3, dt.date(2020, 1, 6))]
    edges += [(7, dt.date(2020, 1, 1)), None]
    fmts = [p.fmt for p in pairs]
    want = {}
    for i in range(4):
        inside = sorted(
            r
            for r in rows
            if (edges[i] is None or tuple(r[:2]) >= edges[i])
            and (edges[i + 1] is None or tuple(r[:2]) < edges[i + 1])
        )
        data = b"".join(oracle.encode_row(fmts, r) for r in inside)
        want[i] = (len(inside), hashlib.md5(data).hexdigest())
    assert got == want
    assert sum(n for n, _ in got.values()) == 90


@pytest.mark.parametrize(
    ("ddl", "ordered"),
    [
        ("g int, n bigint, v int, PRIMARY KEY (g, n)", True),
        ("g int NOT NULL, n bigint NOT NULL, v int, UNIQUE (g, n, v)", True),  # leads it
        ("g int, n bigint, v int, PRIMARY KEY (n, g)", False),  # the other order
        ("g int NOT NULL, n bigint NOT NULL, v int", False),  # no index
        ("g int, n bigint NOT NULL, v int, UNIQUE (g, n)", False),  # g may be NULL
    ],
    ids=["primary-key", "leading-columns", "other-order", "no-index", "nullable"],
)
def test_composite_keys(pg: Any, pair: list[str], ddl: str, ordered: bool) -> None:
    rows = [[i // 7, i % 7, i] for i in range(700)]
    dst = [list(r) for r in rows]
    for i in (0, 349, 699):
        dst[i][2] = -1
    del dst[500]
    load(pg, f'"{pair[0]}".t', ddl, rows)
    load(pg, f'"{pair[1]}".t', ddl, list(reversed(dst)))
    report = run(pg, pair, key=["g", "n"], leaf_rows=20)
    assert report.options["aggregation"] == ("ordered" if ordered else "sum")
    assert sorted(c.key for c in report.changed) == [["0", "0"], ["49", "6"], ["99", "6"]]
    assert report.missing == [["71", "3"]] and report.extra_count == 0


def test_descending_index_columns_must_agree(pg: Any, pair: list[str]) -> None:
    ddl = "g int NOT NULL, n int NOT NULL, v int"
    for name in pair:
        load(pg, f'"{name}".t', ddl, [[1, 2, 3]])
    cur = pg.cursor()
    cur.execute(f'CREATE INDEX ON "{pair[0]}".t (g, n DESC)')
    cur.execute(f'CREATE INDEX ON "{pair[1]}".t (g DESC, n DESC)')  # read backwards: fine
    with pytest.raises(ReconcileError, match="source key"):
        run(pg, pair, key="g,n", aggregation="ordered")
    cur.execute(f'CREATE INDEX ON "{pair[0]}".t (g, n)')
    assert run(pg, pair, key="g,n", aggregation="ordered").equal
