"""The "aggregates" tier: a table's column aggregates on both sides, compared exactly.

Each side computes, in one statement, the row count, each column's count of non-NULL values,
the exact sums of numbers, the minimum and maximum of numbers, dates and times, and the total,
shortest and longest canonical text of strings
(:meth:`~pytest_cdc.checksums.sqlgen.SqlGenerator.aggregates`).  The values come back in the
drivers' types and are compared in the checksum's canonical formats (the oracle renders
them), so that both engines agree exactly: a ``datetime2(7)`` and a ``timestamp(6)`` maximum
are equal at the precision the schema says both keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pytest_cdc.checksums import oracle
from pytest_cdc.checksums.encoding import ColumnPair, EncodingOptions


@dataclass(frozen=True)
class Aggregate:
    column: str
    aggregate: str
    source: str | None
    target: str | None


def canonical(pair: ColumnPair, aggregate: str, value: Any, options: EncodingOptions) -> str | None:
    """An aggregate's value as text both engines' values compare by."""
    if value is None:
        return None
    if aggregate in ("min", "max"):
        single = pair.source.data_type in ("real", "float4")
        return oracle.render(pair.fmt, value, options, single=single)
    return oracle.render_decimal(Decimal(str(value)))


def compare(
    plan: Sequence[tuple[str, str]],
    pairs: Sequence[ColumnPair],
    source: Sequence[Any],
    target: Sequence[Any],
    options: EncodingOptions,
) -> list[Aggregate]:
    """The aggregates that differ.  ``plan``: (column, aggregate) for the values after the
    row count, as both sides' rows hold them; ``pairs`` by column name."""
    by_name = {p.name: p for p in pairs}
    out = []
    if source[0] != target[0]:
        out.append(Aggregate("*", "rows", str(source[0]), str(target[0])))
    for (column, aggregate), a, b in zip(plan, source[1:], target[1:], strict=True):
        pair = by_name[column]
        # A real (float4) column is widened to a double on its own side only.
        left = canonical(pair, aggregate, a, options)
        right = canonical(_target_view(pair), aggregate, b, options)
        if left != right:
            out.append(Aggregate(column, aggregate, left, right))
    return out


def _target_view(pair: ColumnPair) -> ColumnPair:
    return ColumnPair(pair.target, pair.target, pair.fmt, pair.is_key)
