"""What the catalogs say about a comparison's key: can it take the ordered aggregation, and is
it unique by construction?

A key is what pairs a source row with a target row, so it must identify rows: NOT NULL and
unique.  Uniqueness is taken from a unique index whose columns are all key columns (it then
holds for the whole key); without one, the comparison asks the table itself
(:meth:`~pytest_cdc.checksums.sqlgen.SqlGenerator.duplicate_query`).  NULLs are found in the
checksum pass at no extra cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Segment number of the rows whose key holds a NULL (never a real segment: those start at 0).
NULL_SEGMENT = -1


@dataclass(frozen=True)
class IndexColumn:
    """One row of ``key_indexes_sql``."""

    index: Any
    position: int
    column: str
    not_null: bool
    descending: bool
    unique: bool
    key_positions: int


def index_columns(rows: Sequence[Sequence[Any]]) -> list[IndexColumn]:
    return [
        IndexColumn(index, int(pos), str(col), bool(nn), bool(desc), bool(unique), int(n))
        for index, pos, col, nn, desc, unique, n in rows
    ]


def _by_index(columns: Sequence[IndexColumn]) -> dict[Any, dict[int, IndexColumn]]:
    indexes: dict[Any, dict[int, IndexColumn]] = {}
    for col in columns:
        indexes.setdefault(col.index, {})[col.position] = col
    return indexes


def leads_an_index(columns: Sequence[IndexColumn], names: Sequence[str]) -> bool:
    """Whether ``names`` are NOT NULL and, in this order, the leading columns of one index
    whose leading positions all sort the same way (it can then be read in key order)."""
    for positions in _by_index(columns).values():
        lead = [positions[i] for i in range(1, len(names) + 1) if i in positions]
        if (
            [c.column for c in lead] == list(names)
            and all(c.not_null for c in lead)
            and len({c.descending for c in lead}) == 1
        ):
            return True
    return False


def unique_index(columns: Sequence[IndexColumn], names: Sequence[str]) -> bool:
    """Whether a unique index on key columns only (and no expressions) makes the key unique."""
    wanted = set(names)
    for positions in _by_index(columns).values():
        first = next(iter(positions.values()))
        if (
            first.unique
            and len(positions) == first.key_positions  # no expression positions
            and {c.column for c in positions.values()} <= wanted
        ):
            return True
    return False
