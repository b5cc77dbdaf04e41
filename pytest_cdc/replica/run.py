"""validate_replica(): every table pair of a replica, checked tier by tier within a
connection budget, in this shard's slice of the work.

The schema comparison pairs the tables and says, per table, its key, the columns the data
check can compare and the encoding options its lossy columns need; this module turns that
into jobs and runs them.  A clean table costs one pass a side with the default tiers: its
row counts come from the checksum pass.  The separate count statement (one a side for every
table, each count a scalar subquery) runs only when no data tier does.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cdc.checksums.connections import Opened
from pytest_cdc.errors import CdcError, ConfigError, first_line
from pytest_cdc.replica.budget import Budget
from pytest_cdc.replica.plan import Job, fingerprint, selected, shard_plan
from pytest_cdc.replica.report import ReplicaReport, TableResult
from pytest_cdc.replica.settings import Shard, ValidationSettings, validation_settings
from pytest_cdc.schema.mapping import ReplicaMapping
from pytest_cdc.schema.report import SchemaReport

if TYPE_CHECKING:
    from pytest_cdc.replica.tiers import TableCheck

#: Default bounds, as for reconcile(): a statement may run 15 minutes, a read waits 30 s for a
#: lock.
DEFAULT_TIMEOUT = 900.0
DEFAULT_LOCK_TIMEOUT = 30.0
OnTable = Callable[[TableResult, int, int], None]


def validate_replica(
    source: Any,
    target: Any,
    *,
    mapping: ReplicaMapping | Mapping[str, Any] | str | Path | None = None,
    tables: Iterable[str] | None = None,
    tiers: Iterable[str] | str | None = None,
    concurrency: int | None = None,
    stop_early: bool | None = None,
    allow: Iterable[str] | None = None,
    failure_max_count: int | None = None,
    table_failure_max_count: int | None = None,
    shard: Shard | str | None = None,
    profile: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    on_table: OnTable | None = None,
    repair_sql: str | Path | None = None,
    signal_table: str | None = None,
    **live: Any,
) -> ReplicaReport:
    """Check every table pair of the replica and return a :class:`ReplicaReport`.

    ``source``/``target``: URLs (the run opens at most ``concurrency`` connections to each),
    pools or handles (borrowed from as they allow), or connections (used one table at a
    time).  ``mapping``: the ``[tool.pytest-cdc.replica]`` table (a file, a dict or a
    :class:`ReplicaMapping`); its ``validation`` table gives the defaults of every other
    keyword.  ``tables``: globs of source tables (``dbo.*``, ``orders``).  ``on_table`` is
    called as each table finishes, with the count done and the total (progress displays).
    ``live``: the live-CDC settings (``rechecks``, ``settle_delay``, ``settle_max``, ``lag``,
    ``lag_column``, ``heartbeat_table``, ``heartbeat_column``, ``since``, ``state_file``; see
    :class:`~pytest_cdc.replica.settings.ValidationSettings`).

    A table that cannot be checked (missing, no key, an unsupported type, a failed query)
    gets its state and a one-line reason; the others are still checked.  A source or target
    that cannot be reached gives a report whose ``error`` says so.

    ``repair_sql``: write there the repair SQL of the mismatched tables (never run; see
    :mod:`pytest_cdc.replica.repair`); ``signal_table``: add Debezium snapshot signals for it.
    """
    from pytest_cdc.schema.api import _mapping

    if signal_table is not None and repair_sql is None:
        raise ConfigError("signal_table is written into the repair SQL: pass repair_sql too")

    started = time.perf_counter()
    # A wrong setting is the caller's mistake: raised (ConfigError) before anything connects.
    replica = _mapping(mapping)
    settings = validation_settings(
        replica.validation,
        tiers=tiers,
        concurrency=concurrency,
        stop_early=stop_early,
        allow=tuple(allow) if allow is not None else None,
        failure_max_count=failure_max_count,
        table_failure_max_count=table_failure_max_count,
        shard=shard,
        **live,
    )
    checkpoints = None
    if settings.state_file:
        from pytest_cdc.replica.checkpoints import load_state

        # A broken file is the caller's to fix: raised here, before anything connects.
        checkpoints = load_state(settings.state_file)
    report = ReplicaReport(source=_label(source), target=_label(target))
    run: _Run | None = None
    try:
        run = start_run(
            source,
            target,
            report,
            mapping=replica,
            settings=settings,
            tables=tables,
            profile=profile,
            timeout=timeout,
            lock_timeout=lock_timeout,
            on_table=on_table,
            checkpoints=checkpoints,
        )
        report.timings["schema"] = round(time.perf_counter() - started, 6)
        report.tables = run.execute()
        report.stopped = run.stopped
        run.save_checkpoints(report)
        if repair_sql is not None:
            _repair(run, report, repair_sql, signal_table)
    except CdcError as exc:
        report.error = first_line(exc)
    finally:
        if run is not None:
            run.close()
    report.timings["total"] = round(time.perf_counter() - started, 6)
    return report


def _repair(run: _Run, report: ReplicaReport, path: str | Path, signal_table: str | None) -> None:
    """The repair SQL of the finished run, on its connections (the run's only hook for it)."""
    from pytest_cdc.replica.repair import write_run_repair

    started = time.perf_counter()
    write_run_repair(run, report, path, signal_table=signal_table)
    report.timings["repair"] = round(time.perf_counter() - started, 6)


def start_run(
    source: Any,
    target: Any,
    report: ReplicaReport,
    *,
    mapping: ReplicaMapping | Mapping[str, Any] | str | Path | None = None,
    settings: ValidationSettings | None = None,
    tables: Iterable[str] | None = None,
    profile: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    on_table: OnTable | None = None,
    checkpoints: dict[str, str] | None = None,
    **given: Any,
) -> _Run:
    """Compare the schemas and plan this shard's jobs (filling ``report``'s header): what
    :func:`validate_replica` and the pytest items run.  ``given``: the validation settings
    (keyword names of :class:`ValidationSettings`; None keeps the mapping's), unless
    ``settings`` gives them all.  ``checkpoints``: the state file's, when the caller has
    read it already.  Raises CdcError when the mapping is wrong or a side cannot be
    reached."""
    from pytest_cdc.schema.api import _mapping, compare_schemas

    replica = _mapping(mapping)
    if settings is None:
        settings = validation_settings(replica.validation, **given)
    report.tiers = list(settings.tiers)
    report.shards = [str(settings.shard)]
    report.settings = _settings_dict(settings)
    sides = [Budget(source, "source", settings.concurrency)]
    sides.append(
        sides[0] if _same(source, target) else Budget(target, "target", settings.concurrency)
    )
    run = _Run(settings, sides, timeout, lock_timeout, on_table)
    if checkpoints is not None:
        run.state = checkpoints
    elif settings.state_file:
        from pytest_cdc.replica.checkpoints import load_state

        run.state = load_state(settings.state_file)
    try:
        with run.leases() as (src, dst):
            report.source, report.target = src.label, dst.label
            run.schema = compare_schemas(
                src, dst, mapping=replica, profile=profile, allow=settings.allow
            )
        run.plan(list(tables) if tables is not None else None)
        run.heartbeat_lag()  # once a run, before any table: a wrong heartbeat table shows here
    except BaseException:
        run.close()
        raise
    report.settings["plan"] = run.fingerprint
    report.target_only_tables = run.target_only
    report.excluded_tables = list(run.schema.excluded_tables)
    return run


def assert_replica_matches(
    source: Any, target: Any, *, strict: bool = False, **kwargs: Any
) -> ReplicaReport:
    """Fail the test (no traceback) unless every table is validated (``strict``: and none
    is suspended).  Takes the keyword arguments of :func:`validate_replica`; the message is
    the report's summary table, failures first, and what differs in each."""
    from pytest_cdc.errors import fail

    __tracebackhide__ = True
    report = validate_replica(source, target, **kwargs)
    if report.exit_code(strict=strict):
        fail("replica differs: " + report.to_text())
    return report


# -- connections ----------------------------------------------------------------------------
def _label(obj: Any) -> str:
    if isinstance(obj, str):
        from pytest_cdc.masking import mask_password

        return mask_password(obj)
    return type(obj).__name__


def _same(source: Any, target: Any) -> bool:
    return source is target and not isinstance(source, str)


# -- planning -------------------------------------------------------------------------------
def _settings_dict(settings: ValidationSettings) -> dict[str, Any]:
    return {
        "tiers": list(settings.tiers),
        "concurrency": settings.concurrency,
        "stop_early": settings.stop_early,
        "allow": list(settings.allow),
        "failure_max_count": settings.failure_max_count,
        "table_failure_max_count": settings.table_failure_max_count,
        "shard": str(settings.shard),
        "rechecks": settings.rechecks,
        "settle_delay": settings.settle_delay,
        "settle_max": settings.settle_max,
        "lag": settings.lag,
        "lag_column": settings.lag_column,
        "heartbeat_table": settings.heartbeat_table,
        "since": settings.since,
        "state_file": settings.state_file,
    }


# -- running --------------------------------------------------------------------------------
class _Run:
    """One replica run: its settings, the schema comparison, this shard's jobs, and the
    connection budgets of both sides."""

    schema: SchemaReport

    def __init__(
        self,
        settings: ValidationSettings,
        sides: list[Budget],
        timeout: float | None,
        lock_timeout: float | None,
        on_table: OnTable | None,
    ) -> None:
        self.settings, self.sides = settings, sides
        self.timeout, self.lock_timeout = timeout, lock_timeout
        self.on_table = on_table
        self.jobs: list[Job] = []
        self.missing: list[str] = []
        self.target_only: list[str] = []
        self.fingerprint = ""
        self.stopped = ""
        self._lock = threading.Lock()
        self._mismatches = 0
        self._done = 0
        #: The state file's checkpoints (table -> checkpoint text).
        self.state: dict[str, str] = {}
        self._heartbeat: tuple[float | None] | None = None
        # Its own lock: measuring reads both databases, which _finished must not wait for.
        self._heartbeat_lock = threading.Lock()

    @contextlib.contextmanager
    def leases(self) -> Iterator[tuple[Opened, Opened]]:
        """A connection to each side (one, given twice, when both sides are one object)."""
        first, second = self.sides
        with first.lease() as src:
            if second is first:
                yield src, src
                return
            with second.lease() as dst:
                yield src, dst

    def close(self) -> None:
        for budget in {id(b): b for b in self.sides}.values():
            budget.close()

    # -- live CDC ---------------------------------------------------------------------------
    def since_for(self, table: str) -> str | None:
        return self.settings.since or self.state.get(table)

    def heartbeat_lag(self) -> float | None:
        """The lag Debezium's heartbeat table shows (its newest value on the source less its
        newest on the target), measured once a run; None without a heartbeat table."""
        name = self.settings.heartbeat_table
        if not name:
            return None
        with self._heartbeat_lock:
            if self._heartbeat is None:
                self._heartbeat = (self._measure_heartbeat(name),)
            return self._heartbeat[0]

    def _measure_heartbeat(self, name: str) -> float | None:
        from pytest_cdc.errors import ReconcileError
        from pytest_cdc.replica.live import lag_seconds, newest_on_both
        from pytest_cdc.replica.tiers import quoted_name

        pair = next((p for p in self.schema.pairs if p.source_table == name), None)
        source = quoted_name(pair.source_name) if pair and pair.source_name else name
        target = quoted_name(pair.target_name) if pair and pair.target_name else name
        column = self.settings.heartbeat_column
        with self.leases() as (src, dst):
            try:
                values = newest_on_both(
                    src,
                    dst,
                    (source, target),
                    (column, column),
                    timeout=self.timeout,
                    lock_timeout=self.lock_timeout,
                    required=True,
                )
            except ReconcileError as exc:
                raise ConfigError(
                    f"{first_line(exc)} (the heartbeat table): check heartbeat-table and"
                    " heartbeat-column"
                ) from None
        return lag_seconds(*values)

    def save_checkpoints(self, report: ReplicaReport) -> None:
        """Store each table's checkpoint in the state file, only after a clean run."""
        path = self.settings.state_file
        if not path:
            return
        from pytest_cdc.replica.checkpoints import save_state

        if report.exit_code() or report.stopped or report.error:
            report.checkpoints = (
                f"not advanced: the run was not clean, so {path} keeps the checkpoints it had"
            )
            return
        found = {t.source_table: t.checkpoint for t in report.tables if t.checkpoint}
        save_state(path, found, self.settings.lag_column or "")
        report.checkpoints = f"{len(found)} saved to {path}"

    def checks(self) -> list[TableCheck]:
        from pytest_cdc.replica.tiers import TableCheck

        return [TableCheck(job, self) for job in self.jobs]

    def missing_results(self) -> list[TableResult]:
        return [self._missing(name) for name in self.missing]

    def plan(self, patterns: Sequence[str] | None) -> None:
        pairs = [
            p
            for p in self.schema.pairs
            if selected(p.source_table, patterns, p.source_name[-1] if p.source_name else None)
        ]
        shards = shard_plan(pairs, self.settings.shard)
        self.fingerprint = fingerprint(shards)
        self.jobs = shards[self.settings.shard.index - 1]
        # Tables that need no reading are reported once, by the first shard.
        if self.settings.shard.index == 1:
            self.missing = [t for t in self.schema.source_only_tables if selected(t, patterns)]
            self.target_only = [t for t in self.schema.target_only_tables if selected(t, patterns)]

    def execute(self) -> list[TableResult]:
        from pytest_cdc.replica.counts import batch_counts

        results = self.missing_results()
        total = len(results) + len(self.jobs)
        for result in results:
            self._finished(result, total)
        checks = self.checks()
        if self.settings.tier("count") and not (
            self.settings.tier("checksum") or self.settings.tier("aggregates")
        ):
            batch_counts(checks, self)
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            pending: dict[Future[TableResult], TableCheck] = {}
            queue = list(checks)  # largest first: the plan's order
            while queue or pending:
                while queue and len(pending) < self.settings.concurrency and not self.stopped:
                    check = queue.pop(0)
                    pending[pool.submit(check.run)] = check
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    check = pending.pop(future)
                    result = future.result()
                    results.append(result)
                    self._finished(result, total)
            for check in queue:
                results.append(check.pending(self.stopped))
            if not queue:
                # The threshold was reached by the last tables: every table was checked, so
                # the run is complete (its mismatches fail it), not stopped.
                self.stopped = ""
        return sorted(results, key=lambda r: r.source_table)

    def _missing(self, name: str) -> TableResult:
        return TableResult(
            source_table=name,
            target_table=None,
            state="missing",
            reason=(
                "the target has no table of this name (nor one the mapping pairs it with):"
                " create it, map it with target = ... in the mapping, or exclude it"
            ),
            tiers={"schema": "failed"},
        )

    def _finished(self, result: TableResult, total: int) -> None:
        with self._lock:
            self._done += 1
            self._mismatches += result.mismatches
            limit = self.settings.failure_max_count
            if self._mismatches >= limit and not self.stopped:
                self.stopped = (
                    f"{self._mismatches:,} mismatched rows reached failure-max-count ({limit:,}):"
                    " the tables not yet checked were left pending"
                )
            done = self._done
        if self.on_table is not None:
            self.on_table(result, done, total)
