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
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pytest_cdc.checksums.connections import Opened
from pytest_cdc.checksums.encoding import EncodingOptions
from pytest_cdc.errors import CdcError, first_line
from pytest_cdc.replica.report import TableResult

if TYPE_CHECKING:
    from pytest_cdc.replica.plan import Job
    from pytest_cdc.replica.run import _Run
    from pytest_cdc.schema.report import TableReport

_ENCODING_KEYS = ("float_digits", "timestamp_precision", "timestamp_mode")


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
        #: The lag column's newest value on each side, once read (live CDC, checkpoints).
        self._newest: tuple[Any, Any] | None = None

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
        self._checkpoint(result)
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

    # -- live CDC -----------------------------------------------------------------------------
    def lag_column(self) -> str | None:
        """The lag column, when this table has it (a table without it is read in full)."""
        column = self.run_.settings.lag_column
        if column and any(c.source == column for c in self.pair.columns):
            return column
        return None

    def newest(self) -> tuple[Any, Any]:
        """The lag column's newest value on the source and the target (read once)."""
        if self._newest is None:
            from pytest_cdc.replica.live import newest_pair

            column = self.lag_column()
            self._newest = newest_pair(self, column) if column else (None, None)
        return self._newest

    def table_lag(self) -> float | None:
        from pytest_cdc.replica.live import lag_seconds

        if self.lag_column() is None:
            return None
        return lag_seconds(*self.newest())

    def since(self) -> str | None:
        """The checkpoint this table is read from (``since``, or the state file's)."""
        if self.lag_column() is None:
            return None
        return self.run_.since_for(self.pair.source_table)

    def _checkpoint(self, result: TableResult) -> None:
        """With checkpoints on: what this run reads from, and what it would store."""
        settings = self.run_.settings
        if not (settings.since or settings.state_file):
            return
        column = self.lag_column()
        if column is None:
            result.notes.append(
                f"no lag column {settings.lag_column}: read in full, no checkpoint kept"
            )
            return
        from pytest_cdc.replica.checkpoints import less, to_text
        from pytest_cdc.replica.live import settle_for

        result.since = self.since()
        if result.since is not None:
            result.notes.append(f"only rows whose {column} is at least {result.since} (checkpoint)")
        newest_source = self.newest()[0]
        if newest_source is not None:
            moved = less(newest_source, settle_for(self).seconds)
            if moved is not None:
                result.checkpoint = to_text(moved)
        elif result.since is not None:
            result.checkpoint = result.since  # nothing newer: the checkpoint stays

    def encoding(self) -> EncodingOptions:
        options = {k: v for k, v in self.pair.encoding_options.items() if k in _ENCODING_KEYS}
        return EncodingOptions(**options)

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
        reason = result.counts_differ()
        if reason:
            self._fail(result, "mismatched", reason)

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
        since, column = self.since(), self.lag_column()
        if since is not None and column is not None:
            target_column = next(c.target for c in pair.columns if c.source == column)
            src_where = _and(src_where, _at_least(src, column, since))
            dst_where = _and(dst_where, _at_least(dst, target_column, since))
        return src_where, dst_where

    def comparison_args(self, src: Opened, dst: Opened) -> dict[str, Any]:
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

        args = self.comparison_args
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
            found = column_aggregates(src, dst, **self.comparison_args(src, dst))
        self._take_counts(result, found.source_rows, found.target_rows)
        result.aggregates = [asdict(a) for a in found.differences if a.column != "*"]
        result.tiers["aggregates"] = "failed" if result.aggregates else "passed"
        reason = result.aggregates_differ()
        if reason:
            self._fail(result, "mismatched", reason)
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
                **self.comparison_args(src, dst),
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
        result.options = {
            "aggregation": found.options.get("aggregation"),
            "segments": found.segments_compared,
        }
        if not found.equal and self.run_.settings.rechecks:
            self._recheck(result, found)
        differ = result.rows_differ()
        result.tiers["checksum"] = "failed" if differ else "passed"
        if differ:
            self._fail(result, "mismatched", differ)
            found_total = found.missing_count + found.extra_count + found.changed_count
            if found_total > limit:
                result.notes.append(
                    f"{found_total:,} rows differ; {limit:,} of each kind are kept"
                    " (table-failure-max-count)"
                )
        elif result.suspended_count and result.state == "validated":
            result.state = "suspended"
            result.reason = (
                f"{result.suspended_count:,} rows kept changing on the source between"
                " re-checks: still moving, not failed (--strict fails them)"
            )

    def _recheck(self, result: TableResult, found: Any) -> None:
        """Live CDC: read the differing keys again; only stable mismatches stay."""
        from pytest_cdc.replica.live import apply, recheck

        states = recheck(self, found)
        for name, value in apply(self, found, states).items():
            setattr(result, name, value)
        settle = states.settle
        if settle is not None:
            result.notes.append(
                f"differing rows re-checked {states.checks - 1} times, {settle.seconds:g} s"
                f" apart ({settle.why})"
            )
        if result.in_flight_count:
            result.notes.append(
                f"{result.in_flight_count:,} rows differed in the pass and matched on a"
                " re-check: in flight, not failed"
            )
        if result.mismatches == 0 and result.reason and result.reason == result.counts_differ():
            # The counts were taken while rows were in flight; every differing row is
            # accounted for by the re-checks, so the counts' difference is not a failure.
            result.notes.append(f"{result.reason}: rows in flight when counted")
            result.state, result.reason = "validated", ""
            if result.tiers.get("count") == "failed":
                result.tiers["count"] = "passed"


def _at_least(conn: Opened, column: str, checkpoint: str) -> str:
    """``column >= checkpoint``: a whole number as it is, a timestamp as a string literal the
    column's type converts (parsed and re-rendered by us first, so never the user's text)."""
    from pytest_cdc.replica.checkpoints import parse_checkpoint, to_text

    value = parse_checkpoint(checkpoint, "checkpoint")
    name = conn.dialect.quote_identifier(column)
    if isinstance(value, int):
        return f"{name} >= {value}"
    literal = conn.dialect.checksum_sql(EncodingOptions()).string_literal(to_text(value))
    return f"{name} >= {literal}"


def _part(column: str, job: Job) -> str:
    n = job.parts
    return f"(({column} % {n}) + {n}) % {n} = {job.part}"


def _and(where: str | None, condition: str) -> str:
    return condition if not where else f"({where}) AND {condition}"
