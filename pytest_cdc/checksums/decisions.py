"""What a comparison decides before it reads a row, as pure functions of what it measured:
the segment aggregation and the segment size (docs/checksum.md, "Aggregation")."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_cdc.checksums import keys as key_facts
from pytest_cdc.checksums.diff import RunSettings
from pytest_cdc.checksums.encoding import ColumnPair
from pytest_cdc.checksums.keys import IndexColumn
from pytest_cdc.checksums.sqlgen import ServerFacts, SqlGenerator, TableRef
from pytest_cdc.errors import ReconcileError

AGGREGATIONS = ("auto", "sum", "ordered")


@dataclass(frozen=True)
class SideFacts:
    """What one side's server and catalog say, for the decisions below (pure functions)."""

    label: str
    gen: SqlGenerator
    table: TableRef
    server: ServerFacts
    indexes: tuple[IndexColumn, ...]


def choose_aggregation(
    wanted: str, sides: Sequence[SideFacts], key_pairs: Sequence[ColumnPair]
) -> str:
    """The segment aggregation both sides can run: docs/checksum.md, "Aggregation".

    "ordered" (one MD5 a segment over its rows in key order) needs key columns that both
    engines order alike and that lead an index on both sides; "auto" takes it when it can and
    otherwise falls back to the additive per-row sums, which work for any key.
    """
    if wanted not in AGGREGATIONS:
        raise ReconcileError(
            f"aggregation={wanted!r} is not one of {', '.join(AGGREGATIONS)}: pass one of those"
        )
    if wanted == "sum":
        return "sum"
    why = None
    for side in sides:
        gen, label = side.gen, side.label
        names = [k.on(label).name for k in key_pairs]
        if not gen.ordered_key(key_pairs, label):
            types = ", ".join(repr(k.on(label).data_type) for k in key_pairs)
            kinds = ", ".join(sorted(gen.ordered_key_types))
            many = "" if gen.composite_ordered_keys else " one"
            why = f"it needs{many} key column(s) of type {kinds}; the {label} key is {types}"
            break
        unavailable = gen.ordered_unavailable(side.server.major)
        if unavailable is not None:
            why = unavailable.replace("the server", f"the {label}")
            break
        if not key_facts.leads_an_index(side.indexes, names):
            why = (
                f"the {label} key ({', '.join(names)}) of {str(side.table)!r} must be NOT NULL"
                " and lead an index, in that order"
            )
            break
    if why is None:
        return "ordered"
    if wanted == "ordered":
        raise ReconcileError(f"aggregation='ordered' cannot be used: {why}; pass aggregation='sum'")
    return "sum"


def choose_segment_size(
    settings: RunSettings, wanted: str, width: float, estimated_rows: int
) -> RunSettings:
    """The run settings once the ordered segments' row text is measured.

    string_agg holds one segment's text at once, so the pass cuts the table into segments of
    at most ``segment_bytes``.  Where even ``max_ordered_segments`` segments would be bigger,
    "auto" keeps the sums, which hold nothing per row; an explicit "ordered" is refused.
    """
    settings = dataclasses.replace(settings, row_bytes=width)
    if estimated_rows * width <= settings.segment_bytes * settings.max_ordered_segments:
        return settings
    if wanted == "ordered":
        raise ReconcileError(
            f"aggregation='ordered' cannot be used: rows of about {width:,.0f} bytes would make"
            f" segments of more than {settings.segment_bytes >> 20} MB even cut into"
            f" {settings.max_ordered_segments:,} segments; pass aggregation='sum'"
        )
    return dataclasses.replace(settings, aggregation="sum")
