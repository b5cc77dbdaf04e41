"""Segments of a big table hold about as many rows each, whatever the keys' layout.

Boundaries from a page sample alone cluster (a sampled page is a run of consecutive keys): the
report of a 1M-row table once showed 16-key segments beside a 177,000-key one.  Measured here
from the checksum pass's own counts, on tables whose keys follow the pages, leave large gaps,
or are spread at random over the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from helpers import schemas

from pytest_cdc.checksums import diff, reconcile

# The tests only read the tables: one worker makes each shape's pair once for all of them
# (where xdist honours groups: not pytest-xdist 3.8 under pytest 9.2, its issue #1386).
pytestmark = pytest.mark.xdist_group("segment-balance")

ROWS = 240_000  # past the 100,000 rows below which the boundaries are exact quantiles
SHAPES = {
    # keys in page order, as an append-only table has them
    "clustered": "SELECT g, 'v' || g FROM generate_series(1, {n}) AS g",
    # two dense runs a billion apart, and sparse keys between
    "gaps": (
        "SELECT CASE WHEN g <= {n} / 2 THEN g WHEN g <= {n} * 3 / 4 THEN 1000000000 + g"
        " ELSE 5000000000 + g * 1000 END, 'v' || g FROM generate_series(1, {n}) AS g"
    ),
    # keys spread over the pages at random
    "scattered": "SELECT g, 'v' || g FROM generate_series(1, {n}) AS g ORDER BY md5(g::text)",
}


def make(pg: Any, pair: list[str], shape: str) -> None:
    cur = pg.cursor()
    for schema in pair:
        cur.execute(f'CREATE TABLE "{schema}".t (id bigint PRIMARY KEY, v text NOT NULL)')
        cur.execute(f'INSERT INTO "{schema}".t {SHAPES[shape].format(n=ROWS)}')
        cur.execute(f'ANALYZE "{schema}".t')


@pytest.fixture(scope="module")
def tables(pg: Any) -> Iterator[Callable[[str], list[str]]]:
    """Source and target schemas whose table ``t`` has the keys of a shape: made on first
    use, then shared by the tests of this module, which only read them."""
    made: dict[str, list[str]] = {}
    with ExitStack() as stack:

        def pair_of(shape: str) -> list[str]:
            if shape not in made:
                made[shape] = stack.enter_context(schemas(pg, 2))
                make(pg, made[shape], shape)
            return made[shape]

        yield pair_of


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("aggregation", ["sum", "ordered"])
def test_the_largest_segment_holds_at_most_twice_the_average(
    pg: Any, tables: Callable[[str], list[str]], shape: str, aggregation: str
) -> None:
    pair = tables(shape)
    report = reconcile(
        pg,
        pg,
        table=f"{pair[0]}.t",
        target_table=f"{pair[1]}.t",
        key="id",
        leaf_rows=4000,
        aggregation=aggregation,
    )
    sizes = report.segment_rows
    assert report.equal and report.source_rows == ROWS
    assert sizes["segments"] >= 50
    assert sizes["largest"] <= 2 * sizes["average"], sizes
    # ... from a small sample (about 20 keys a segment), not by reading most of the table.
    (sample,) = [q.rows for q in report.queries if q.purpose == "sample boundaries"]
    assert sample <= 40 * sizes["segments"], sample


def test_the_largest_ordered_segment_stays_under_the_byte_bound(
    pg: Any, tables: Callable[[str], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # string_agg holds a whole segment: the bound must hold for the largest, not on average.
    pair = tables("clustered")
    bound = 256 << 10
    monkeypatch.setattr(diff, "SEGMENT_BYTES", bound)
    report = reconcile(
        pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="id", aggregation="ordered"
    )
    sizes, row_bytes = report.segment_rows, report.options["row_bytes"]
    assert report.options["aggregation"] == "ordered" and row_bytes > 0
    assert sizes["largest"] * row_bytes <= bound, (sizes, row_bytes)
