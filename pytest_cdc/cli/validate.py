"""``pytest-cdc validate`` (a whole replica, table by table) and ``pytest-cdc merge-reports``
(the shards' JSON reports as one).

Exit 0 when every table is validated, 1 when a table is mismatched, missing or incompatible
(or suspended, with ``--strict``), 2 when a table or the run could not be checked.  The report
goes to stdout in ``--format`` (or to ``--output``, with the summary line on stdout); extra
copies in other formats go to ``--json``, ``--junitxml`` and ``--markdown`` (the last for
``$GITHUB_STEP_SUMMARY``).  On a terminal a progress line on stderr counts the tables; it is
erased when the run ends and never written to a pipe or a file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pytest_cdc.errors import CdcError, ConfigError

if TYPE_CHECKING:
    from pytest_cdc.replica.report import ReplicaReport, TableResult

FORMATS = ("text", "json", "junit", "markdown")


class ValidateCommandError(CdcError):
    """The run could not start or its report could not be written."""


def register(subparsers: Any) -> None:
    from pytest_cdc.replica.run import DEFAULT_LOCK_TIMEOUT, DEFAULT_TIMEOUT
    from pytest_cdc.replica.settings import TIERS

    parser = subparsers.add_parser(
        "validate",
        help="validate a whole replica: every table pair, tier by tier",
        description="Pair the tables of a source and a target through a mapping and check"
        " each pair: schema verdicts, row counts, column aggregates, segment checksums with the"
        " exact differing rows.  Exit 0 all validated, 1 a table differs (or is suspended, with"
        " --strict), 2 a table or the run could not be checked.",
    )
    parser.add_argument("--source", required=True, metavar="URL", help="source database URL")
    parser.add_argument("--target", required=True, metavar="URL", help="target database URL")
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="mapping file: a pyproject.toml with [tool.pytest-cdc.replica] (and its"
        " .validation table), or a TOML file with its keys (default: the nearest"
        " pyproject.toml, if it has that table)",
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        default=None,
        metavar="GLOB",
        help="only these source tables: schema.table or table globs (dbo.*, order*)",
    )
    parser.add_argument(
        "--tiers",
        default=None,
        metavar="TIERS",
        help=f"comma-separated, cheapest first: {','.join(TIERS)} (default: the mapping's, or"
        " schema,count,checksum)",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run the I-th of N slices of the work (tables, and key classes of large tables);"
        " merge the N JSON reports with pytest-cdc merge-reports",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="most connections to each database, and tables checked at once (default 4)",
    )
    parser.add_argument("--profile", default=None, help="what the pipeline creates (see schema)")
    parser.add_argument(
        "--allow",
        default=None,
        metavar="VERDICTS",
        help="schema verdicts whose columns are still compared (default:"
        " widened,representation,lossy)",
    )
    parser.add_argument(
        "--no-stop-early",
        dest="stop_early",
        action="store_false",
        default=None,
        help="run every tier of a table even when an earlier one failed",
    )
    parser.add_argument(
        "--failure-max-count",
        type=int,
        default=None,
        metavar="N",
        help="stop the run once N rows mismatched (default 10000; the rest stay pending)",
    )
    parser.add_argument(
        "--table-failure-max-count",
        type=int,
        default=None,
        metavar="N",
        help="keep at most N differing keys a table in the report (default 1000)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="a suspended table fails the run (exit 1)"
    )
    live = parser.add_argument_group(
        "live CDC", "differing rows are re-checked before they count (docs/replica.md)"
    )
    live.add_argument(
        "--rechecks",
        type=int,
        default=None,
        metavar="N",
        help="re-checks of the differing rows before they are reported (default 2; 0: none)",
    )
    live.add_argument(
        "--settle-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between checks, at least the measured lag (default 0)",
    )
    live.add_argument(
        "--settle-max",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the longest wait between checks, whatever the lag (default 120)",
    )
    live.add_argument(
        "--lag", type=float, default=None, metavar="SECONDS", help="the replication lag, if known"
    )
    live.add_argument(
        "--lag-column",
        default=None,
        metavar="COLUMN",
        help="a column set at each change (updated_at): measures the lag, selects --since rows",
    )
    live.add_argument(
        "--heartbeat-table",
        default=None,
        metavar="TABLE",
        help="Debezium's heartbeat table, replicated: its newest row on each side gives the lag",
    )
    live.add_argument(
        "--heartbeat-column",
        default=None,
        metavar="COLUMN",
        help="the heartbeat table's timestamp column (default ts)",
    )
    live.add_argument(
        "--since",
        default=None,
        metavar="CHECKPOINT",
        help="only rows whose lag column is at least this (ISO timestamp or epoch number)",
    )
    live.add_argument(
        "--state-file",
        default=None,
        metavar="FILE",
        help="read from the checkpoints kept here; a clean run advances them",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"most seconds one statement may run (default {DEFAULT_TIMEOUT:g}; 0: no bound)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help=f"most seconds a read waits for a lock (default {DEFAULT_LOCK_TIMEOUT:g})",
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--output", default=None, metavar="FILE", help="write the report here")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write JSON here")
    parser.add_argument(
        "--junitxml", default=None, metavar="FILE", help="also write JUnit XML here"
    )
    parser.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="also write Markdown here (append: $GITHUB_STEP_SUMMARY works as is)",
    )
    parser.add_argument(
        "--metrics",
        default=None,
        metavar="FILE",
        help="write per-table Prometheus gauges here (a textfile collector's .prom file)",
    )
    parser.add_argument(
        "--repair-sql",
        default=None,
        metavar="FILE",
        help="write here SQL that makes the target equal the source for the stable"
        " mismatches (PostgreSQL target; reviewed and applied by you, never run)",
    )
    parser.add_argument(
        "--signal-table",
        default=None,
        metavar="NAME",
        help="with --repair-sql: also Debezium execute-snapshot signal rows for this source"
        " signaling table (an incremental snapshot of just those keys)",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress line on a terminal",
    )
    parser.set_defaults(func=run)

    merge = subparsers.add_parser(
        "merge-reports",
        help="merge the JSON reports of a sharded validate run into one",
        description="Read the JSON reports of the N shards of one pytest-cdc validate run and"
        " write one report (a table split over shards appears once, its counts summed).  Exit"
        " as validate would have for the whole run.",
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("--strict", action="store_true", help="a suspended table fails (exit 1)")
    merge.add_argument("--format", choices=FORMATS, default="text")
    merge.add_argument("--output", default=None, metavar="FILE", help="write the report here")
    merge.add_argument("--json", default=None, metavar="FILE", help="also write JSON here")
    merge.add_argument("--junitxml", default=None, metavar="FILE", help="also JUnit XML")
    merge.add_argument("--markdown", default=None, metavar="FILE", help="also Markdown (append)")
    merge.set_defaults(func=run_merge)


def _positive(name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ConfigError(f"{name} {value} must be at least 1")
    return value


def _seconds(value: float) -> float | None:
    return value if value and value > 0 else None


def run(args: argparse.Namespace) -> int:
    from pytest_cdc.cli.schema import verdict_list
    from pytest_cdc.replica.run import validate_replica
    from pytest_cdc.schema.mapping import load_mapping

    if args.signal_table is not None and args.repair_sql is None:
        raise ConfigError("--signal-table is written into the repair SQL: pass --repair-sql FILE")
    mapping = load_mapping(args.config)
    progress = Progress(sys.stderr) if args.progress and sys.stderr.isatty() else None
    report = validate_replica(
        args.source,
        args.target,
        mapping=mapping,
        tables=args.tables,
        tiers=args.tiers,
        concurrency=_positive("--concurrency", args.concurrency),
        stop_early=args.stop_early,
        allow=verdict_list(args.allow),
        failure_max_count=_positive("--failure-max-count", args.failure_max_count),
        table_failure_max_count=_positive(
            "--table-failure-max-count", args.table_failure_max_count
        ),
        shard=args.shard,
        profile=args.profile,
        timeout=_seconds(args.timeout),
        lock_timeout=_seconds(args.lock_timeout),
        on_table=progress.update if progress else None,
        rechecks=args.rechecks,
        settle_delay=args.settle_delay,
        settle_max=args.settle_max,
        lag=args.lag,
        lag_column=args.lag_column,
        heartbeat_table=args.heartbeat_table,
        heartbeat_column=args.heartbeat_column,
        since=args.since,
        state_file=args.state_file,
        repair_sql=args.repair_sql,
        signal_table=args.signal_table,
    )
    if progress:
        progress.clear()
    if report.error:
        print(f"pytest-cdc validate: error: {report.error}", file=sys.stderr)
    if args.metrics:
        from pytest_cdc.replica.metrics import write_metrics

        _write(args.metrics, report, lambda path: write_metrics(path, report.tables))
    return emit(report, args)


def run_merge(args: argparse.Namespace) -> int:
    from pytest_cdc.replica.report import ReplicaReport, merge_reports

    reports = []
    for name in args.reports:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidateCommandError(f"cannot read {name!r}: {exc.strerror or exc}") from None
        try:
            reports.append(ReplicaReport.from_json(text))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidateCommandError(
                f"{name!r} is not a pytest-cdc validate JSON report ({exc}): write the shards'"
                " reports with --format json or --json FILE"
            ) from None
    return emit(merge_reports(reports), args)


def emit(report: ReplicaReport, args: argparse.Namespace) -> int:
    """Write the report where asked and return the exit code."""
    from pytest_cdc.cli import write

    status = report.exit_code(strict=args.strict)
    text = render(report, args.format)
    extra = ((args.json, "json"), (args.junitxml, "junit"), (args.markdown, "markdown"))
    for path, fmt in extra:
        if path:
            append = fmt == "markdown"
            _write(path, report, lambda p, f=fmt, a=append: _save(p, render(report, f), a))
    if args.output:
        _write(args.output, report, lambda p: _save(p, text, False))
        write(report.summary() + "\n")
    else:
        write(text + "\n")
    return status


def render(report: ReplicaReport, fmt: str) -> str:
    if fmt == "json":
        return report.to_json()
    if fmt == "junit":
        return report.to_junit()
    if fmt == "markdown":
        return report.to_markdown()
    return report.to_text()


def _save(path: str, text: str, append: bool) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as out:
        out.write(text + "\n")


def _write(path: str, report: ReplicaReport, save: Any) -> None:
    try:
        save(path)
    except OSError as exc:
        state = "validated" if report.exit_code() == 0 else "not validated"
        raise ValidateCommandError(
            f"the run finished ({state}) but {path!r} cannot be written: {exc.strerror or exc}"
        ) from None


class Progress:
    """One line on a terminal: tables done of the total, rows a second, the last table."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.rows = 0
        self.width = 0

    def update(self, result: TableResult, done: int, total: int) -> None:
        self.rows += result.rows_checked
        seconds = max(time.perf_counter() - self.started, 1e-9)
        line = (
            f"{done}/{total} tables, {self.rows / seconds:,.0f} rows/s;"
            f" {result.name}: {result.state.replace('_', ' ')}"
        )
        self._show(line)

    def clear(self) -> None:
        self._show("")

    def _show(self, line: str) -> None:
        self.width = max(self.width, len(line))
        try:
            self.stream.write("\r" + line.ljust(self.width) + ("\r" if not line else ""))
            self.stream.flush()
        except OSError:
            pass
