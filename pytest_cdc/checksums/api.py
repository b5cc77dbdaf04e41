"""Public entry points: reconcile(), assert_checksums_match(), assert_row_counts_match().

``source`` and ``target`` may each be a database URL string, a CdcConnection, anything with a
``connection()`` context manager (a DatabaseHandle or ConnectionPool), or a raw psycopg2 /
pyodbc connection.  Connections opened here are closed here; borrowed ones are left as found:
only SELECTs run on them, inside a transaction (or a savepoint of the caller's) that is rolled
back, so the session settings the encoding needs are undone too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, TypeVar

from pytest_cdc.checksums import keys as key_facts
from pytest_cdc.checksums.connections import open_both, opened
from pytest_cdc.checksums.decisions import (
    SideFacts,
    choose_aggregation,
    choose_segment_size,
)
from pytest_cdc.checksums.diff import Reconciler, RunSettings, Side
from pytest_cdc.checksums.encoding import ColumnPair, EncodingOptions
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.report import ReconcileReport
from pytest_cdc.checksums.segments import Estimate
from pytest_cdc.checksums.sqlgen import ServerFacts
from pytest_cdc.checksums.tables import names, prepare_sides, table_ref
from pytest_cdc.errors import (
    ReconcileError,
    UnsupportedDialect,
    fail,
)

T = TypeVar("T")

#: Default bounds for a gate job: a statement may run 15 minutes (the whole-table pass of a
#: large table is one statement per side), and a read waits at most 30 s for a lock.
DEFAULT_TIMEOUT = 900.0
DEFAULT_LOCK_TIMEOUT = 30.0
_SAVEPOINT = "cdc_reconcile"


def _estimate(side: Side) -> Estimate:
    """Rows to plan segments for, and the sample's units: statistics, or COUNT(*) when there
    are none (or a where= filters the table)."""
    gen, ex = side.gen, side.executor
    found = ex.run("row estimate", gen.estimate_sql(ex.paramstyle), (gen.table(side.table),))
    stats, units = (found[0][0], int(found[0][1] or 0)) if found else (None, 0)
    if not side.where and stats is not None and int(stats) > 0:
        return Estimate(int(stats), units)
    rows = int(side.run("row count", gen.count_query(side.table, user_where=side.where))[0][0])
    if stats is not None and int(stats) > 0:
        # The sample draws from the whole table and the where keeps only its share of it.
        units = max(1, round(units * rows / int(stats)))
    return Estimate(rows, units)


def _check_unique(side: Side, facts: SideFacts, key_pairs: Sequence[ColumnPair]) -> str:
    """How the key is known to be unique on this side; raises on a duplicate."""
    from pytest_cdc.checksums.diff import duplicate_key

    names = [k.on(side.label).name for k in key_pairs]
    if key_facts.unique_index(facts.indexes, names):
        return "unique index"
    sql = side.gen.duplicate_query(side.table, key_pairs, side.label, user_where=side.where)
    rows = side.run("key uniqueness", sql)
    if rows:
        *key, count = rows[0]
        raise duplicate_key(side.label, names, tuple(key), int(count))
    return "checked"


def _both(sides: Sequence[Side], fn: Callable[[Side], T]) -> list[T]:
    """``fn`` on each side, at once when they have connections of their own."""
    if len(sides) == 2 and sides[0].executor.raw is not sides[1].executor.raw:
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(fn, sides[1])
            first = fn(sides[0])
            return [first, later.result()]
    return [fn(side) for side in sides]


def _lanes(
    stack: contextlib.ExitStack,
    obj: Any,
    side: Side,
    facts: ServerFacts,
    *,
    timeout: float | None,
    lock_timeout: float | None,
) -> None:
    """Extra connections for an ordered pass over a PostgreSQL URL.

    The ordered pass is one backend per query (PostgreSQL plans no parallel workers for a
    LATERAL over VALUES), so the side gets ``max_parallel_workers_per_gather`` connections
    in all (already halved when both sides share one server), each scanning a contiguous
    run of segments, all in the side's snapshot.  Not one more for the leader, as a parallel
    plan would have: on this 2-core machine, two lanes a side over one shared server took
    7.9 s instead of 6.5 s.  Borrowed connections, pools and handles are used as given, alone.
    """
    if not isinstance(obj, str) or facts.workers < 2:
        return
    dialect = side.executor.dialect
    snapshot = dialect.export_snapshot(side.executor)
    if snapshot is None:
        return  # no way to give the lanes the side's view
    for _ in range(facts.workers - 1):
        extra = stack.enter_context(opened(obj, side.label))
        ex = Executor(side.label, extra.raw, extra.dialect, extra.paramstyle, timeout)
        dialect.begin_comparison(
            stack, ex, timeout=timeout, lock_timeout=lock_timeout, snapshot=snapshot
        )
        side.extra.append(Side(side.label, ex, side.gen, side.table, side.where))


def _number(name: str, value: Any, *, low: float, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise ReconcileError(f"{name}={value!r} is out of range: pass a number of at least {low:g}")
    return value


def reconcile(
    source: Any,
    target: Any,
    *,
    table: str,
    key: str | Sequence[str],
    columns: str | Sequence[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    target_table: str | None = None,
    where: str | None = None,
    target_where: str | None = None,
    float_digits: int = 14,
    timestamp_precision: int = 6,
    timestamp_mode: str = "truncate",
    leaf_rows: int = 10_000,
    show: int = 10,
    max_keys: int = 1000,
    aggregation: str = "auto",
    timeout: float | None = DEFAULT_TIMEOUT,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    max_lanes: int | None = None,
) -> ReconcileReport:
    """Compare ``table`` on ``source`` with ``target_table`` (default: same name) on ``target``.

    ``key``: the key column(s) (source names); they must be NOT NULL and unique on both sides.
    ``columns``: compared columns (default: all of the source's).  ``column_map``: source
    name -> target name.  ``where``: a SQL condition applied on both sides (``target_where``
    overrides it for the target), e.g. to leave out rows younger than the replication lag.
    ``timeout``: the most seconds one statement may run (None: no bound); ``lock_timeout``: the
    most seconds a read waits for a lock.  ``max_lanes``: the most connections a side given by
    URL opens for the ordered pass (default: the server's parallel workers a query).  Returns a
    :class:`ReconcileReport`; raises :class:`~pytest_cdc.errors.CdcError` subclasses when no
    verdict can be given.
    """
    keys = names(key) or []
    if not keys:
        raise ReconcileError("no key column given: pass key='id' (or a list for a composite key)")
    options = EncodingOptions(float_digits, timestamp_precision, timestamp_mode)
    settings = RunSettings(
        leaf_rows=_number("leaf_rows", leaf_rows, low=1),
        show=_number("show", show, low=0),
        max_keys=_number("max_keys", max_keys, low=1),
    )
    timeout = _number("timeout", timeout, low=0.001, allow_none=True)
    lock_timeout = _number("lock_timeout", lock_timeout, low=0.001, allow_none=True)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        src, dst = open_both(stack, source, target)
        ready = prepare_sides(
            stack,
            src,
            dst,
            table=table,
            target_table=target_table,
            key=keys,
            columns=columns,
            column_map=column_map or {},
            options=options,
            timeout=timeout,
            lock_timeout=lock_timeout,
        )
        src_ex, dst_ex = ready.src_ex, ready.dst_ex
        src_gen, dst_gen = ready.src_gen, ready.dst_gen
        src_ref, dst_ref = ready.src_ref, ready.dst_ref
        src_facts, dst_facts = ready.src_facts, ready.dst_facts
        key_pairs, pairs = ready.key_pairs, ready.pairs
        for gen, server, label in ((src_gen, src_facts, "source"), (dst_gen, dst_facts, "target")):
            problem = gen.server_problem(server, pairs, label)
            if problem is not None:
                raise UnsupportedDialect(problem)
        if (
            dst.raw is not src.raw
            and src_facts.identity is not None
            and src_facts.identity == dst_facts.identity
        ):
            # Both sides on one PostgreSQL server run at once: each pass is CPU-bound, so two
            # passes with a full set of workers each only add processes that compete for the
            # same cores.  Only speed depends on this, never a checksum.
            half = src_facts.workers // 2
            for ex in (src_ex, dst_ex):
                ex.dialect.share_workers(ex, half)
            src_facts = dataclasses.replace(src_facts, workers=half)
            dst_facts = dataclasses.replace(dst_facts, workers=half)
        dst_where = target_where if target_where is not None else where
        src_side = Side("source", src_ex, src_gen, src_ref, where)
        dst_side = Side("target", dst_ex, dst_gen, dst_ref, dst_where)
        indexes = _both(
            [src_side, dst_side],
            lambda side: tuple(
                key_facts.index_columns(
                    side.run(
                        "key indexes",
                        side.gen.key_indexes_sql(side.executor.paramstyle),
                        (side.gen.table(side.table),),
                    )
                )
            ),
        )
        facts = [
            SideFacts("source", src_gen, src_ref, src_facts, indexes[0]),
            SideFacts("target", dst_gen, dst_ref, dst_facts, indexes[1]),
        ]
        unique = dict(
            zip(
                ("source", "target"),
                _both(
                    [src_side, dst_side],
                    lambda side: _check_unique(side, facts[side.label == "target"], key_pairs),
                ),
                strict=True,
            )
        )
        settings = dataclasses.replace(
            settings, aggregation=choose_aggregation(aggregation, facts, key_pairs)
        )
        # Planner statistics, or a COUNT(*) with a where=: asked once.
        estimate = functools.cache(lambda: _estimate(src_side))
        if settings.aggregation == "ordered":
            rows = src_side.run(
                "row width", src_gen.width_query(src_ref, pairs, "source", 1000, user_where=where)
            )
            width = float(rows[0][0]) if rows and rows[0][0] is not None else 0.0
            settings = choose_segment_size(settings, aggregation, width, estimate().rows)
        if settings.aggregation == "ordered" and dst.raw is not src.raw:
            for obj, side, server in ((source, src_side, src_facts), (target, dst_side, dst_facts)):
                if max_lanes is not None:
                    server = dataclasses.replace(server, workers=min(server.workers, max_lanes))
                _lanes(stack, obj, side, server, timeout=timeout, lock_timeout=lock_timeout)
        report = ReconcileReport(
            source=src.label,
            target=dst.label,
            source_table=str(src_ref),
            target_table=str(dst_ref),
            key=keys,
            columns=[p.name for p in pairs],
            options={
                **asdict(options),
                "leaf_rows": settings.leaf_rows,
                "aggregation": settings.aggregation,
                "row_bytes": round(settings.row_bytes, 1),
                "timeout": timeout,
                "lock_timeout": lock_timeout,
                "key_unique": unique,
            },
        )
        engine = Reconciler(src_side, dst_side, key_pairs, pairs, settings, estimate)
        try:
            engine.compare(engine.initial_bounds(), None, 0)
            engine.finish()
            engine.report(report)
        finally:
            engine.close()
    report.timings["total"] = round(time.perf_counter() - started, 6)
    report.verify()
    return report


def assert_checksums_match(
    source: Any, target: Any, *, table: str, key: str | Sequence[str], **kwargs: Any
) -> ReconcileReport:
    """Fail the test (no traceback) unless ``table`` holds the same rows on both sides.

    The message gives the counts first, then the first differing keys with their column
    values side by side.  Takes the keyword arguments of :func:`reconcile`.
    """
    __tracebackhide__ = True
    report = reconcile(source, target, table=table, key=key, **kwargs)
    if not report.equal:
        fail("checksums differ: " + report.to_text(limit=kwargs.get("show", 10)))
    return report


def row_counts(
    source: Any,
    target: Any,
    *,
    table: str,
    target_table: str | None = None,
    where: str | None = None,
    target_where: str | None = None,
    exact: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> tuple[int, int]:
    """Rows of ``table`` on each side: ``COUNT(*)``, or planner statistics with ``exact=False``.

    ``where`` filters both sides unless ``target_where`` is given for the target."""
    with contextlib.ExitStack() as stack:
        src, dst = open_both(stack, source, target)
        options = EncodingOptions()
        sides: list[Side] = []
        dst_where = target_where if target_where is not None else where
        for conn, label, name, cond in (
            (src, "source", table, where),
            (dst, "target", target_table or table, dst_where),
        ):
            ex = Executor(label, conn.raw, conn.dialect, conn.paramstyle, timeout)
            if sides and conn.raw is sides[0].executor.raw:
                ex.lock = sides[0].executor.lock
            gen = conn.dialect.checksum_sql(options)
            sides.append(Side(label, ex, gen, table_ref(ex, gen, name), cond))

        def count(side: Side) -> int:
            gen, ex = side.gen, side.executor
            if exact:
                sql = gen.count_query(side.table, user_where=side.where)
                return int(side.run("row count", sql)[0][0])
            rows = ex.run("row estimate", gen.estimate_sql(ex.paramstyle), (gen.table(side.table),))
            return int(rows[0][0]) if rows and rows[0][0] is not None else 0

        counts = _both(sides, count)
    return counts[0], counts[1]


def assert_row_counts_match(
    source: Any,
    target: Any,
    *,
    table: str,
    target_table: str | None = None,
    where: str | None = None,
    exact: bool = True,
) -> tuple[int, int]:
    """Fail unless both sides hold as many rows; ``exact=False`` compares statistics only."""
    __tracebackhide__ = True
    src_rows, dst_rows = row_counts(
        source, target, table=table, target_table=target_table, where=where, exact=exact
    )
    if src_rows != dst_rows:
        how = "rows" if exact else "rows (planner statistics; pass exact=True to count)"
        fail(
            f"row counts differ: source {table} has {src_rows} {how}, target"
            f" {target_table or table} has {dst_rows} (difference {dst_rows - src_rows:+d})"
        )
    return src_rows, dst_rows
