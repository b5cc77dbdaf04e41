"""Column aggregates of a table on both sides, compared exactly (the replica check's
"aggregates" tier, and :func:`column_aggregates`).

Each side computes, in one statement, the row count, each column's count of non-NULL values,
the exact sums of numbers, the minimum and maximum of numbers, dates and times, and the total,
shortest and longest canonical text of strings
(:meth:`~pytest_cdc.checksums.sqlgen.SqlGenerator.aggregates`).  The values come back in the
drivers' types and are compared in the checksum's canonical formats (the oracle renders
them), so that both engines agree exactly: a ``datetime2(7)`` and a ``timestamp(6)`` maximum
are equal at the precision the schema says both keep.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pytest_cdc.checksums import oracle
from pytest_cdc.checksums.connections import open_both
from pytest_cdc.checksums.encoding import ColumnPair, EncodingOptions
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.report import QueryRecord
from pytest_cdc.checksums.sqlgen import SqlGenerator, TableRef
from pytest_cdc.checksums.tables import prepare_sides


@dataclass(frozen=True)
class Aggregate:
    """One aggregate of one column, as both sides' canonical text."""

    column: str
    aggregate: str
    source: str | None
    target: str | None


@dataclass
class AggregateReport:
    """What :func:`column_aggregates` found: the row counts and the aggregates that differ."""

    source_table: str
    target_table: str
    source_rows: int
    target_rows: int
    #: Aggregates compared (the row count included).
    compared: int = 0
    differences: list[Aggregate] = field(default_factory=list)
    queries: list[QueryRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def equal(self) -> bool:
        return not self.differences


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


def column_aggregates(
    source: Any,
    target: Any,
    *,
    table: str,
    columns: str | Sequence[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    target_table: str | None = None,
    where: str | None = None,
    target_where: str | None = None,
    float_digits: int = 14,
    timestamp_precision: int = 6,
    timestamp_mode: str = "truncate",
    timeout: float | None = 900.0,
    lock_timeout: float | None = 30.0,
) -> AggregateReport:
    """Compute the column aggregates of ``table`` on each side (one statement, one scan a
    side) and compare them in the canonical formats.  Takes :func:`reconcile`'s arguments
    (no key: aggregates pair no rows).  Cheaper than a checksum and blind to what it cannot
    see (two rows that swap a value), it says *that* a table differs and in which columns."""
    options = EncodingOptions(float_digits, timestamp_precision, timestamp_mode)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        src, dst = open_both(stack, source, target)
        ready = prepare_sides(
            stack,
            src,
            dst,
            table=table,
            target_table=target_table,
            key=[],
            columns=columns,
            column_map=column_map or {},
            options=options,
            timeout=timeout,
            lock_timeout=lock_timeout,
        )
        src_ex, dst_ex = ready.src_ex, ready.dst_ex
        src_ref, dst_ref, pairs = ready.src_ref, ready.dst_ref, ready.pairs
        dst_where = target_where if target_where is not None else where
        sides = [
            (src_ex, ready.src_gen, src_ref, where),
            (dst_ex, ready.dst_gen, dst_ref, dst_where),
        ]
        calls = [
            functools.partial(_run, ex, gen, ref, pairs, label, cond)
            for (ex, gen, ref, cond), label in zip(sides, ("source", "target"), strict=True)
        ]
        if dst.raw is src.raw:
            results = [call() for call in calls]
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:
                later = pool.submit(calls[1])
                results = [calls[0](), later.result()]
    plan = results[0][0]
    report = AggregateReport(
        source_table=str(src_ref),
        target_table=str(dst_ref),
        source_rows=int(results[0][1][0]),
        target_rows=int(results[1][1][0]),
        compared=len(plan) + 1,
        differences=compare(plan, pairs, results[0][1], results[1][1], options),
        queries=[*src_ex.queries, *dst_ex.queries],
    )
    report.seconds = round(time.perf_counter() - started, 6)
    return report


def _run(
    ex: Executor,
    gen: SqlGenerator,
    ref: TableRef,
    pairs: Sequence[ColumnPair],
    side: str,
    where: str | None,
) -> tuple[list[tuple[str, str]], Sequence[Any]]:
    from pytest_cdc.checksums.sqlgen import Scope

    plan = [(c, a) for c, a, _ in gen.aggregates(pairs, side, Scope(gen.apply_keyword))]
    row = ex.run("column aggregates", gen.aggregate_query(ref, pairs, side, user_where=where))[0]
    return plan, row
