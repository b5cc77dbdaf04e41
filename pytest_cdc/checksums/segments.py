"""Segmentation by row count.

Boundaries are canonical key tuples read from the source in collation-independent key order
(PostgreSQL ``COLLATE "C"``, SQL Server UTF-8 bytes under a binary collation, uuids as
lower-case text): both sides then put each row into a segment with the *same* comparisons
against the *same* literals, so a segment means the same key range on both engines.

For big tables the boundaries come from a page sample (``TABLESAMPLE``), which costs a few
milliseconds instead of a sorted pass over every key; segments are then only roughly equal,
and a differing segment that is still too big is split again with exact row-number quantiles
over just that range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def sample_percent(estimated_rows: int, wanted_rows: int) -> float:
    """The TABLESAMPLE percentage that yields about ``wanted_rows`` rows."""
    if estimated_rows <= 0:
        return 100.0
    return float(min(100.0, max(0.01, 100.0 * wanted_rows / estimated_rows)))
