"""The probe pass: floats compared by their bits first, differences confirmed canonically.

A first pass that writes a float as its IEEE 754 bits can only prove segments equal; these
tests check that it does (no canonical work on identical tables), that a segment it finds
differing is digested again canonically, so floats equal to ``float_digits`` stay equal, and
that real differences beside such floats are still found exactly, with either aggregation.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from helpers import float_text, load, schemas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_cdc.checksums import oracle, reconcile
from pytest_cdc.checksums.encoding import TypeClass

DDL = "id bigint PRIMARY KEY, ratio double precision, small real, qty integer"
ROWS = [[i, i / 7, i / 3, i % 100] for i in range(1, 2001)]


def tables(pg: Any, pair: list[str], target: list[list[Any]]) -> None:
    load(pg, f'"{pair[0]}".t', DDL, ROWS)
    load(pg, f'"{pair[1]}".t', DDL, target)


def run(pg: Any, pair: list[str], **kwargs: Any) -> Any:
    return reconcile(
        pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id", leaf_rows=50, **kwargs
    )


def purposes(report: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for query in report.queries:
        out[query.purpose] = out.get(query.purpose, 0) + 1
    return out


def next_up(x: float) -> float:
    return math.nextafter(x, math.inf)


@pytest.mark.parametrize("aggregation", ["sum", "ordered"])
def test_identical_floats_need_no_canonical_work(
    pg: Any, pair: list[str], aggregation: str
) -> None:
    tables(pg, pair, ROWS)
    report = run(pg, pair, aggregation=aggregation)
    assert report.equal
    checks = [q.sql for q in report.queries if q.purpose == "segment checksums"]
    assert checks and all("float8send" in sql for sql in checks)
    assert "canonical re-check" not in purposes(report)
    assert report.segments_compared > 1


@pytest.mark.parametrize("aggregation", ["sum", "ordered"])
def test_floats_equal_to_float_digits_are_confirmed_equal(
    pg: Any, pair: list[str], aggregation: str
) -> None:
    # One ulp apart in every segment, and -0 against 0: the bits differ, the canonical texts
    # (14 significant digits; -0 is '0') do not.
    target = [[i, next_up(r), s, q] for i, r, s, q in ROWS]
    tables(pg, pair, target)
    cur = pg.cursor()
    cur.execute(f"UPDATE \"{pair[0]}\".t SET ratio = '0' WHERE id = 1")
    # As text: psycopg2 would send -0.0 as a numeric literal, which is 0.
    cur.execute(f"UPDATE \"{pair[1]}\".t SET ratio = '-0' WHERE id = 1")
    cur.execute(f'SELECT ratio::text FROM "{pair[1]}".t WHERE id = 1')
    assert cur.fetchone() == ("-0",)
    report = run(pg, pair, aggregation=aggregation)
    assert report.equal, report.summary() if hasattr(report, "summary") else report
    assert report.segments_differing == 0
    assert purposes(report).get("canonical re-check", 0) >= 2


@pytest.mark.parametrize("aggregation", ["sum", "ordered"])
def test_real_differences_beside_ulp_ones_are_found_exactly(
    pg: Any, pair: list[str], aggregation: str
) -> None:
    target = [list(r) for r in ROWS]
    target[9][1] = next_up(target[9][1])  # within float_digits: not a difference
    target[10][1] = target[10][1] * 1.001  # a real one, in the same segment
    target[1500][3] = -1  # a changed integer elsewhere
    del target[700]  # a missing row
    tables(pg, pair, target)
    report = run(pg, pair, aggregation=aggregation)
    assert not report.equal
    assert [k for row in report.changed for k in row.key] == ["11", "1501"]
    assert report.missing == [["701"]] and report.extra == []
    assert 1 <= purposes(report)["canonical re-check"] <= 6  # the differing segments only


def test_float4_against_double_compares_the_widened_value(pg: Any, pair: list[str]) -> None:
    # real on one side, double precision on the other: the probe widens the real's bits, as
    # the canonical text does, so equal values meet in the probe pass itself.
    load(pg, f'"{pair[0]}".t', "id bigint PRIMARY KEY, v real", [[i, i / 3] for i in range(500)])
    load(pg, f'"{pair[1]}".t', "id bigint PRIMARY KEY, v double precision", [])
    pg.cursor().execute(f'INSERT INTO "{pair[1]}".t SELECT id, v::float8 FROM "{pair[0]}".t')
    report = run(pg, pair)
    assert report.equal
    checks = [q.sql for q in report.queries if q.purpose == "segment checksums"]
    assert checks and all("float8send" in sql for sql in checks)
    assert "canonical re-check" not in purposes(report)


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.1, 2.675, 1e15, 5e-324, 1.7976931348623157e308]),
)
#: What the target makes of a source value: bits apart but canonically equal, or not.
CHANGES = st.sampled_from(["same", "up", "down", "sign", "tiny", "real"])


def changed(x: float, how: str) -> float:
    if how == "up":
        return math.nextafter(x, math.inf)
    if how == "down":
        return math.nextafter(x, -math.inf)
    if how == "sign":
        return -x
    if how == "tiny":  # seen at 14 digits, lost at single precision
        return x * (1 + 1e-9)
    if how == "real":
        return x * 1.5 + 1.0
    return x


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(FLOATS, CHANGES), min_size=1, max_size=120),
    st.sampled_from(["sum", "ordered"]),
)
def test_the_verdict_is_the_canonical_one(
    pg: Any, rows: list[tuple[float, str]], aggregation: str
) -> None:
    """Whatever the bits do, the keys reported changed are exactly those whose canonical texts
    (the oracle's) differ: the probe pass never decides a difference, and never hides one."""
    source = [(i, float_text(x)) for i, (x, _) in enumerate(rows)]
    target = [(i, float_text(changed(x, how))) for i, (x, how) in enumerate(rows)]
    expected = sorted(
        i
        for i, (x, how) in enumerate(rows)
        if oracle.render(TypeClass.FLOAT, x) != oracle.render(TypeClass.FLOAT, changed(x, how))
    )
    with schemas(pg, 2) as names:
        load(pg, f'"{names[0]}".t', "id int PRIMARY KEY, v double precision", source)
        load(pg, f'"{names[1]}".t', "id int PRIMARY KEY, v double precision", target)
        report = reconcile(
            pg,
            pg,
            table=f"{names[0]}.t",
            target_table=f"{names[1]}.t",
            key="id",
            leaf_rows=4,
            aggregation=aggregation,
            max_keys=1000,
            show=0,
        )
    assert sorted(int(row.key[0]) for row in report.changed) == expected, report.to_text()
    assert report.missing_count == report.extra_count == 0
