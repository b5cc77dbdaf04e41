"""This shard's slice of a replica run: the jobs, largest tables first, each to the least
loaded shard, a large table split over all shards by key modulo their count."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pytest_cdc.replica.settings import Shard
from pytest_cdc.schema.report import TableReport

#: Integer types a large table's key can be split on across shards (key modulo the shards:
#: the same on both engines, stable while the replica changes, unlike key ranges from the
#: current minimum and maximum).
_SPLIT_TYPES = frozenset(
    {"smallint", "integer", "bigint", "int", "tinyint", "int2", "int4", "int8"}
)
#: A table of more rows than this and more than a shard's fair share is split over shards.
_SPLIT_ROWS = 1_000_000


@dataclass(frozen=True)
class Job:
    """One table pair (or one part of one, when a large table is split over shards)."""

    pair: TableReport
    estimate: int
    part: int = 0
    parts: int = 1

    @property
    def name(self) -> str:
        return self.pair.source_table


def selected(name: str, patterns: Sequence[str] | None, table: str | None = None) -> bool:
    """Whether a glob selects ``schema.table`` (``table``: its own name, which may hold a
    dot; by default the part after the schema's first dot)."""
    if patterns is None:
        return True
    own = table if table is not None else name.split(".", 1)[-1]
    return any(fnmatchcase(name if "." in p else own, p) for p in patterns)


def _splittable(pair: TableReport) -> bool:
    if len(pair.key) != 1:
        return False
    column = next((c for c in pair.columns if c.source == pair.key[0]), None)
    return column is not None and column.source_type.lower() in _SPLIT_TYPES


def shard_plan(pairs: Sequence[TableReport], shard: Shard) -> list[list[Job]]:
    """The jobs of every shard: largest tables first, each to the least loaded shard; a table
    bigger than a shard's fair share (and than a million rows) with a single integer key is
    split over all shards by key modulo the count.  Every shard computes the same plan from
    the same catalog (the report keeps its fingerprint, so a merge can tell when the shards
    saw different row estimates)."""
    count = shard.count
    shards: list[list[Job]] = [[] for _ in range(count)]
    loads = [0] * count
    ordered = sorted(pairs, key=lambda p: (-(p.source_rows or 0), p.source_table))
    total = sum(max(p.source_rows or 0, 0) for p in pairs)
    for pair in ordered:
        rows = max(pair.source_rows or 0, 0)
        if count > 1 and rows > _SPLIT_ROWS and rows > total / count and _splittable(pair):
            for part in range(count):
                shards[part].append(Job(pair, rows // count, part, count))
                loads[part] += rows // count
            continue
        least = min(range(count), key=lambda i: (loads[i], i))
        shards[least].append(Job(pair, rows))
        loads[least] += rows
    return shards


def fingerprint(shards: Sequence[Sequence[Job]]) -> str:
    text = "\n".join(
        f"{i}\t{job.name}\t{job.part}/{job.parts}" for i, jobs in enumerate(shards) for job in jobs
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
