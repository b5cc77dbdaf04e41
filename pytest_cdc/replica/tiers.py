"""One table pair's checks, cheapest first: schema verdicts, row counts, column aggregates,
segment checksums with the exact differing rows.

A tier that fails stops the table (``stop-early``) only where the later tiers would cost more
and tell nothing the gate needs: the counts never stop the checksum, whose pass counts the
rows anyway and names the rows that differ.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pytest_cdc.checksums.connections import Opened
from pytest_cdc.checksums.encoding import EncodingOptions
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.sqlgen import TableRef
from pytest_cdc.errors import CdcError, first_line
from pytest_cdc.replica.report import TableResult

if TYPE_CHECKING:
    from pytest_cdc.replica.run import Job, _Run
    from pytest_cdc.schema.report import TableReport

_ENCODING_KEYS = ("float_digits", "timestamp_precision", "timestamp_mode")
#: Counts in one statement: PostgreSQL allows 1664 result columns.
_COUNT_BATCH = 500


def quoted_name(parts: Sequence[str]) -> str:
    """``schema.table`` for reconcile(), each part double-quoted so that a dot, a quote or a
    capital in a name is taken as written."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


class TableCheck:
    """The checks of one job, run on connections leased from the run's budget."""

    def __init__(self, job: Job, run: _Run) -> None:
        self.job, self.run_ = job, run
        self.pair: TableReport = job.pair
        #: Row counts from the batched count statement, when that ran.
        self.counts: tuple[int, int] | None = None
        self.count_error: str | None = None

    # -- outcome ----------------------------------------------------------------------------
    def base(self) -> TableResult:
        pair = self.pair
        result = TableResult(
            source_table=pair.source_table,
            target_table=pair.target_table,
            key=list(pair.key),
            encoding_options=dict(pair.encoding_options),
        )
        if self.job.parts > 1:
            result.notes.append(
                f"split over {self.job.parts} shards by {pair.key[0]} modulo {self.job.parts}:"
                f" this part holds the keys congruent to {self.job.part}"
            )
        return result

    def pending(self, why: str) -> TableResult:
        result = self.base()
        result.state, result.reason = "pending", f"not checked: {why}" if why else "not checked"
        return result

    def run(self) -> TableResult:
        started = time.perf_counter()
        result = self.base()
        try:
            self._check(result)
        except CdcError as exc:
            result.state, result.reason = "error", first_line(exc)
        except Exception as exc:  # a defect of ours: one table's error, not the run's end
            result.state = "error"
            result.reason = (
                f"internal error ({type(exc).__name__}: {first_line(exc)}); the other tables"
                " were checked: please report this"
            )
        result.seconds = round(time.perf_counter() - started, 3)
        return result

    # -- the tiers --------------------------------------------------------------------------
    def _check(self, result: TableResult) -> None:
        settings, pair = self.run_.settings, self.pair
        stop = settings.stop_early
        allowed = {"same", *settings.allow}
        tiers = result.tiers
        for name in settings.tiers:
            tiers[name] = "not run"
        self._notes(result)
        if settings.tier("schema"):
            findings = self._failing_findings()
            left_out = [c for c in pair.columns if not c.comparable and c.verdict in allowed]
            tiers["schema"] = "failed" if findings or left_out else "passed"
            if findings:
                first = findings[0]
                more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
                column = f"{first.source_column}: " if first.source_column else ""
                self._fail(result, "incompatible", f"{column}{first.verdict}: {first.why}{more}")
                result.schema_findings = [asdict(f) for f in findings]
            elif left_out:
                # Never "validated" while a column's data went unchecked.
                names = ", ".join(f"{c.source} ({c.source_type})" for c in left_out)
                self._fail(
                    result,
                    "incompatible",
                    f"{names} cannot be compared ({left_out[0].why}): list the column in"
                    " exclude-columns to validate the rest",
                )
            if (findings or left_out) and stop:
                self._skip(result, "the schema check failed")
                return
        if (
            settings.tier("count")
            and self.counts is None
            and self.count_error is None
            and not (settings.tier("aggregates") or settings.tier("checksum"))
        ):
            self._count_alone(result)  # a pytest item: no batched counts
        if settings.tier("count") and self.counts is not None:
            self._take_counts(result, *self.counts)
        elif settings.tier("count") and self.count_error is not None:
            tiers["count"] = "failed"
            self._fail(result, "error", self.count_error)
            return
        differ = settings.tier("aggregates") and self._aggregates(result)
        if differ and stop and settings.tier("checksum"):
            self._skip(result, "the column aggregates differ")
            return
        if settings.tier("checksum"):
            if not pair.key:
                tiers["checksum"] = "skipped"
                if settings.tier("count") and result.source_rows is None:
                    self._count_alone(result)
                if result.state == "validated":
                    result.state = "no_key"
                    result.reason = (
                        "no primary key or unique index on NOT NULL columns to pair rows by:"
                        f' name one with key = [...] under [tool.pytest-cdc.replica.tables."'
                        f'{pair.source_table}"]'
                    )
                return
            self._checksum(result)

    def _notes(self, result: TableResult) -> None:
        pair = self.pair
        for column in pair.columns:
            if column.comparable and column.encoding_options:
                options = ", ".join(f"{k}={v}" for k, v in column.encoding_options.items())
                result.notes.append(
                    f"{column.source} ({column.source_type} -> {column.target_type}) compared"
                    f" with {options}: {column.verdict}"
                )
        left_out = [c.source for c in pair.columns if not c.comparable]
        if left_out:
            result.notes.append(f"not compared (no common format): {', '.join(left_out)}")

    def _failing_findings(self) -> list[Any]:
        allowed = {"same", *self.run_.settings.allow}
        table = self.pair.source_table
        return [
            f
            for f in self.run_.schema.findings
            if f.source_table == table and f.verdict not in allowed
        ]

    def _skip(self, result: TableResult, why: str) -> None:
        for name, state in result.tiers.items():
            if state == "not run":
                result.tiers[name] = "skipped"
        result.notes.append(f"later tiers skipped: {why} (stop-early)")

    def _fail(self, result: TableResult, state: str, reason: str) -> None:
        rank = ("mismatched", "missing", "incompatible", "error")
        if result.state == "validated" or (
            state in rank and result.state in rank and rank.index(state) < rank.index(result.state)
        ):
            result.state, result.reason = state, reason

    def _take_counts(self, result: TableResult, source: int, target: int) -> None:
        result.source_rows, result.target_rows = source, target
        result.rows_checked = source + target
        if "count" in result.tiers:
            result.tiers["count"] = "passed" if source == target else "failed"
        if source != target:
            self._fail(
                result,
                "mismatched",
                f"row counts differ: source {source:,}, target {target:,}",
            )

    # -- connections ------------------------------------------------------------------------
    def leases(self) -> contextlib.AbstractContextManager[tuple[Opened, Opened]]:
        return self.run_.leases()

    def conditions(self, src: Opened, dst: Opened) -> tuple[str | None, str | None]:
        pair, job = self.pair, self.job
        src_where = pair.where
        dst_where = pair.target_where if pair.target_where is not None else pair.where
        if job.parts > 1:
            src_where = _and(src_where, _part(src.dialect.quote_identifier(pair.key[0]), job))
            target_key = pair.target_key[0] if pair.target_key else pair.key[0]
            dst_where = _and(dst_where, _part(dst.dialect.quote_identifier(target_key), job))
        return src_where, dst_where

    def _comparison_args(self, src: Opened, dst: Opened) -> dict[str, Any]:
        pair = self.pair
        src_where, dst_where = self.conditions(src, dst)
        comparable = [c for c in pair.columns if c.comparable]
        options = {k: v for k, v in pair.encoding_options.items() if k in _ENCODING_KEYS}
        return {
            "table": quoted_name(pair.source_name or [pair.source_table]),
            "target_table": quoted_name(pair.target_name or [pair.target_table]),
            "columns": [c.source for c in comparable],
            "column_map": {c.source: c.target for c in comparable},
            "where": src_where,
            "target_where": dst_where,
            "timeout": self.run_.timeout,
            "lock_timeout": self.run_.lock_timeout,
            **options,
        }

    def _count_alone(self, result: TableResult) -> None:
        """Counts for a table the checksum cannot pair (no key): its count tier still runs."""
        from pytest_cdc.checksums.api import row_counts

        args = self._comparison_args
        with self.leases() as (src, dst):
            given = args(src, dst)
            counts = row_counts(
                src,
                dst,
                table=given["table"],
                target_table=given["target_table"],
                where=given["where"],
                target_where=given["target_where"],
                timeout=self.run_.timeout,
            )
        self._take_counts(result, *counts)

    def _aggregates(self, result: TableResult) -> bool:
        """Run the aggregates tier; True when it found a difference."""
        from pytest_cdc.checksums.aggregates import column_aggregates

        with self.leases() as (src, dst):
            found = column_aggregates(src, dst, **self._comparison_args(src, dst))
        self._take_counts(result, found.source_rows, found.target_rows)
        result.aggregates = [asdict(a) for a in found.differences if a.column != "*"]
        result.tiers["aggregates"] = "failed" if result.aggregates else "passed"
        if result.aggregates:
            columns = sorted({a["column"] for a in result.aggregates})
            self._fail(
                result,
                "mismatched",
                f"column aggregates differ in {', '.join(columns)}",
            )
        return bool(found.differences)

    def _checksum(self, result: TableResult) -> None:
        from pytest_cdc.checksums.api import reconcile

        limit = self.run_.settings.table_failure_max_count
        with self.leases() as (src, dst):
            found = reconcile(
                src,
                dst,
                key=list(self.pair.key),
                max_keys=limit,
                show=limit,
                max_lanes=1,
                **self._comparison_args(src, dst),
            )
        if "count" in result.tiers and self.counts is None:
            self._take_counts(result, found.source_rows, found.target_rows)
        result.source_rows, result.target_rows = found.source_rows, found.target_rows
        result.rows_checked = found.source_rows + found.target_rows
        result.missing_count = found.missing_count
        result.extra_count = found.extra_count
        result.changed_count = found.changed_count
        result.missing = [list(k) for k in found.missing]
        result.extra = [list(k) for k in found.extra]
        result.changed = [asdict(c) for c in found.changed]
        result.tiers["checksum"] = "passed" if found.equal else "failed"
        result.options = {
            "aggregation": found.options.get("aggregation"),
            "segments": found.segments_compared,
        }
        if not found.equal:
            parts = [
                f"{n:,} {label}"
                for n, label in (
                    (found.missing_count, "missing in the target"),
                    (found.extra_count, "extra in the target"),
                    (found.changed_count, "changed"),
                )
                if n
            ]
            self._fail(result, "mismatched", "rows differ: " + ", ".join(parts))
            if result.mismatches > limit:
                result.notes.append(
                    f"{result.mismatches:,} rows differ; {limit:,} of each kind are kept"
                    " (table-failure-max-count)"
                )


def _part(column: str, job: Job) -> str:
    n = job.parts
    return f"(({column} % {n}) + {n}) % {n} = {job.part}"


def _and(where: str | None, condition: str) -> str:
    return condition if not where else f"({where}) AND {condition}"


# -- the count tier alone: every table's count in one statement a side --------------------------
def batch_counts(checks: Sequence[TableCheck], run: _Run) -> None:
    """Row counts of every table in one statement a side (each a scalar subquery, in one
    snapshot), for runs whose tiers read no data otherwise.  When a batch fails (a table
    the user may not read), its tables are counted one at a time so that the error lands on
    the table it belongs to."""
    if not checks:
        return
    first, second = run.sides

    def side(index: int) -> dict[int, int | str]:
        budget = run.sides[index]
        with budget.lease() as conn:
            return _count_side(conn, checks, index, run.timeout, run.lock_timeout)

    if second is first:
        found = [side(0), side(1)]
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(side, 1)
            found = [side(0), later.result()]
    for i, check in enumerate(checks):
        a, b = found[0].get(i), found[1].get(i)
        if isinstance(a, int) and isinstance(b, int):
            check.counts = (a, b)
        else:
            check.count_error = next(x for x in (a, b) if isinstance(x, str))


def _count_side(
    conn: Opened,
    checks: Sequence[TableCheck],
    index: int,
    timeout: float | None,
    lock_timeout: float | None,
) -> dict[int, int | str]:
    label = ("source", "target")[index]
    out: dict[int, int | str] = {}
    gen = conn.dialect.checksum_sql(EncodingOptions())
    queries = []
    for i, check in enumerate(checks):
        pair = check.pair
        parts = pair.source_name if index == 0 else pair.target_name
        where = check.conditions(conn, conn)[index]
        ref = TableRef(parts[0], parts[1]) if len(parts) == 2 else TableRef(None, parts[0])
        queries.append((i, f"({gen.count_query(ref, user_where=where)})"))
    for start in range(0, len(queries), _COUNT_BATCH):
        batch = queries[start : start + _COUNT_BATCH]
        sql = "SELECT " + ", ".join(q for _, q in batch)
        found = _count(conn, sql, label, timeout, lock_timeout)
        if isinstance(found, str):
            # Rolled back; now each table alone, so the error lands on its own table.
            for i, query in batch:
                one = _count(conn, f"SELECT {query}", label, timeout, lock_timeout)
                out[i] = one if isinstance(one, str) else int(one[0])
            continue
        for (i, _), value in zip(batch, found, strict=True):
            out[i] = int(value)
    return out


def _count(
    conn: Opened, sql: str, label: str, timeout: float | None, lock_timeout: float | None
) -> Sequence[Any] | str:
    """The statement's one row, or the error's line (the transaction rolled back)."""
    with contextlib.ExitStack() as stack:
        ex = Executor(label, conn.raw, conn.dialect, conn.paramstyle, timeout)
        try:
            conn.dialect.begin_comparison(stack, ex, timeout=timeout, lock_timeout=lock_timeout)
            return list(ex.run("row counts", sql)[0])
        except CdcError as exc:
            return first_line(exc)
