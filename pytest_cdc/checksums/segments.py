"""Segmentation by row count.

Boundaries are canonical key tuples read from the source in collation-independent key order
(PostgreSQL ``COLLATE "C"``, SQL Server UTF-8 bytes under a binary collation, uuids as
lower-case text): both sides then put each row into a segment with the *same* comparisons
against the *same* literals, so a segment means the same key range on both engines.

For big tables the boundaries come from a sample instead of a sorted pass over every key: on
PostgreSQL one row of each page of a page sample (``TABLESAMPLE SYSTEM`` alone returns whole
pages, whose rows are mostly consecutive keys, so the boundaries cluster: 16-key segments next
to 177,000-key ones), on SQL Server a row sample.  Every segment holds ``sample_factor``
sampled keys, so segments hold about as many rows each (the largest within 2x of the average
at 20 samples a segment); a differing segment that is still too big is split again with exact
row-number quantiles over just that range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

KeyText = tuple[str | None, ...]


@dataclass(frozen=True)
class Segment:
    """Rows whose key is >= ``lo`` and < ``hi`` (None: unbounded)."""

    number: int
    lo: KeyText | None
    hi: KeyText | None


def segments_from_bounds(
    bounds: Sequence[KeyText], lo: KeyText | None = None, hi: KeyText | None = None, first: int = 0
) -> list[Segment]:
    """The ``len(bounds) + 1`` segments that ``bounds`` cut the range [lo, hi) into."""
    edges: list[KeyText | None] = [lo, *bounds, hi]
    return [Segment(first + i, edges[i], edges[i + 1]) for i in range(len(bounds) + 1)]


def pick_bounds(sorted_keys: Sequence[KeyText], segments: int) -> list[KeyText]:
    """Every n-th key of a sorted sample so that it is cut into ``segments`` parts.

    Duplicates are dropped (non-unique keys), and keys containing NULL cannot be boundaries.
    """
    keys = [k for k in sorted_keys if None not in k]
    if segments <= 1 or not keys:
        return []
    step = len(keys) / segments
    bounds: list[KeyText] = []
    for i in range(1, segments):
        key = keys[min(len(keys) - 1, math.floor(i * step))]
        if not bounds or key != bounds[-1]:
            bounds.append(key)
    if bounds and bounds[0] == keys[0]:
        bounds = bounds[1:]  # a bound equal to the smallest key would leave segment 0 empty
    return bounds


class Estimate(NamedTuple):
    """A table's size as statistics tell it: rows, and the units its sample draws from (pages
    where one row a page is sampled, rows where rows are)."""

    rows: int
    units: int


def sample_fraction(units: int, wanted: int) -> float:
    """The fraction of ``units`` to sample for about ``wanted`` sampled keys."""
    if units <= 0:
        return 1.0
    return float(min(1.0, max(1e-6, wanted / units)))
