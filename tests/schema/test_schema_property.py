"""The verdicts checked against the engine, not against our own table.

For generated pairs of PostgreSQL column types and values of the source type, a ``same`` or
``widened`` verdict must never stand beside a value that fails to round-trip through a real
``INSERT ... SELECT`` into the target type and a cast back.  And the other way round, for a
few pairs the rules call lossy, the engine shows a value that does not survive.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_cdc.schema import compare_schemas

INTEGERS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


def numeric_type() -> st.SearchStrategy[str]:
    return st.builds(
        lambda p, s: f"numeric({p},{min(s, p)})", st.integers(1, 20), st.integers(0, 6)
    )


#: Types grouped by kind: a target is usually of the source's kind, often a near neighbour of
#: it (one modifier up or down), which is where same, widened and lossy meet.
GROUPS: list[st.SearchStrategy[str]] = [
    st.sampled_from([*INTEGERS, "numeric"]),
    numeric_type(),
    st.sampled_from(["real", "double precision"]),
    st.one_of(
        st.just("text"),
        st.builds("varchar({})".format, st.integers(1, 12)),
        st.builds("char({})".format, st.integers(1, 12)),
    ),
    st.builds("time({})".format, st.integers(0, 6)),
    st.one_of(
        st.builds("timestamp({})".format, st.integers(0, 6)),
        st.builds("timestamptz({})".format, st.integers(0, 6)),
    ),
    st.sampled_from(["date", "boolean", "bytea", "uuid"]),
]


def neighbours(source: str) -> st.SearchStrategy[str]:
    """Types one step from ``source``: a modifier up or down, or a related type."""
    base, _, args = source.partition("(")
    size = [int(a) for a in args.rstrip(")").split(",")] if args else []
    step = st.integers(-2, 2)
    if base == "numeric" and size:
        p, s = size
        return st.one_of(
            st.builds(
                lambda dp, ds: f"numeric({max(1, p + dp)},{min(max(0, s + ds), max(1, p + dp))})",
                step,
                step,
            ),
            st.builds(
                lambda dp, ds: f"numeric({max(1, p + dp)},{min(max(0, s + ds), max(1, p + dp))})",
                step,
                step,
            ),
            st.sampled_from([*INTEGERS, "numeric"]),
        )
    if base in INTEGERS or base == "numeric":
        return st.builds("numeric({},0)".format, st.integers(3, 20)) | st.sampled_from(
            [*INTEGERS, "numeric"]
        )
    if base in ("varchar", "char"):
        n = size[0]
        return st.builds(
            lambda kind, d: f"{kind}({max(1, n + d)})", st.sampled_from(["varchar", "char"]), step
        ) | st.just("text")
    if base in ("time", "timestamp", "timestamptz"):
        kinds = ["time"] if base == "time" else ["timestamp", "timestamptz"]
        return st.builds(
            lambda kind, d: f"{kind}({min(6, max(0, size[0] + d))})", st.sampled_from(kinds), step
        )
    return st.sampled_from(["real", "double precision", "text", "varchar(3)", "date"])


#: Types with modifiers come up more often: that is where the rules have most to get right.
WEIGHTS = [1, 3, 1, 2, 1, 2, 1]


@st.composite
def type_pairs(draw: st.DrawFn) -> tuple[str, str]:
    group = draw(st.sampled_from([g for g, w in enumerate(WEIGHTS) for _ in range(w)]))
    source = draw(GROUPS[group])
    how = draw(st.integers(0, 9))
    if how < 7:
        return source, draw(neighbours(source))
    other = group if how < 8 else draw(st.integers(0, len(GROUPS) - 1))
    return source, draw(GROUPS[other])


TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def values(type_name: str) -> st.SearchStrategy[Any]:
    base, _, args = type_name.partition("(")
    size = [int(a) for a in args.rstrip(")").split(",")] if args else []
    if base in INTEGERS:
        low, high = INTEGERS[base]
        return st.integers(low, high)
    if base == "numeric":
        if not size:
            return st.one_of(
                st.decimals(allow_nan=False, allow_infinity=False, places=k) for k in (0, 3, 12)
            ) | st.sampled_from([Decimal("NaN"), Decimal("Infinity")])
        p, s = size
        largest = Decimal(10) ** (p - s) - Decimal(1).scaleb(-s)
        return st.decimals(min_value=-largest, max_value=largest, places=s)
    if base == "real":
        return st.floats(width=32)
    if base == "double precision":
        return st.floats()
    if base in ("varchar", "char"):
        return st.text(TEXT, max_size=size[0])
    if base == "text":
        return st.text(TEXT, max_size=30)
    if base == "time":
        return st.times()
    if base == "timestamp":
        return st.datetimes()
    if base == "timestamptz":
        return st.datetimes(timezones=st.just(dt.timezone.utc))
    return {
        "date": st.dates(),
        "boolean": st.booleans(),
        "bytea": st.binary(max_size=20),
        "uuid": st.uuids().map(str),
    }[base]


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, list[Any]]:
    source, target = draw(type_pairs())
    return source, target, draw(st.lists(values(source), min_size=1, max_size=5))


def round_trip(pg: Any, pair: list[str], source: str, target: str, rows: list[Any]) -> Any:
    """The verdict for ``source -> target``, and whether every value survived the trip (None
    when the INSERT ... SELECT itself failed)."""
    from psycopg2.extras import execute_values

    cur = pg.cursor()
    cur.execute("BEGIN")
    try:
        cur.execute(
            f"CREATE TABLE {pair[0]}.x (id int, v {source});"
            f"CREATE TABLE {pair[1]}.x (id int, v {target})"
        )
        execute_values(
            cur, f"INSERT INTO {pair[0]}.x VALUES %s", [(i, v) for i, v in enumerate(rows)]
        )
        report = compare_schemas(pg, pg, mapping={"schemas": {pair[0]: pair[1]}})
        verdict = next(c for c in report.pairs[0].columns if c.source == "v").verdict
        cur.execute("SAVEPOINT copy")
        try:
            cur.execute(f"INSERT INTO {pair[1]}.x SELECT id, v FROM {pair[0]}.x")
        except Exception:
            cur.execute("ROLLBACK TO SAVEPOINT copy")
            return verdict, None
        try:
            cur.execute(
                f"SELECT count(*) FILTER (WHERE s.v IS NOT DISTINCT FROM t.v::{source}),"
                f" count(*) FROM {pair[0]}.x AS s JOIN {pair[1]}.x AS t USING (id)"
            )
        except Exception:  # no cast back (timestamp -> time): the values did not survive
            cur.execute("ROLLBACK TO SAVEPOINT copy")
            return verdict, False
        kept, total = cur.fetchone()
        return verdict, kept == total == len(rows)
    finally:
        cur.execute("ROLLBACK")


@settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_same_or_widened_never_loses_a_value_on_the_server(
    pg: Any, pair: list[str], case: tuple[str, str, list[Any]]
) -> None:
    source, target, rows = case
    verdict, survived = round_trip(pg, pair, source, target, rows)
    if verdict in ("same", "widened"):
        assert survived, f"{source} -> {target} is {verdict}, but {rows!r} did not survive"


@pytest.mark.parametrize(
    ("source", "target", "value"),
    [
        ("numeric(6,3)", "numeric(6,2)", Decimal("1.005")),
        ("numeric(6,2)", "numeric(5,2)", Decimal("9999.99")),
        ("integer", "smallint", 40000),
        ("double precision", "real", 0.1),
        ("varchar(10)", "varchar(3)", "abcd"),
        ("timestamp(6)", "timestamp(3)", dt.datetime(2024, 1, 1, 0, 0, 0, 123456)),
        ("time(6)", "time(0)", dt.time(1, 2, 3, 500000)),
        ("text", "char(5)", "ab "),
    ],
)
def test_what_the_rules_call_lossy_or_worse_the_engine_loses(
    pg: Any, pair: list[str], source: str, target: str, value: Any
) -> None:
    verdict, survived = round_trip(pg, pair, source, target, [value])
    assert verdict not in ("same", "widened")
    assert not survived
