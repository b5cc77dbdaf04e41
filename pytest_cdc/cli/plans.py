"""``pytest-cdc explain | plan | plan diff | recommend-indexes | row-count | export-stats``.

Exit codes follow the console script: 0 fine, 1 findings (a scan with ``--fail-on-scan``, a
changed plan for ``plan diff``), 2 a bad file, an unreachable database or bad arguments --
always with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_cdc.errors import CdcError, DatabaseUnavailable, connect_fix, first_line

T = TypeVar("T")

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the plan subcommands to the ``pytest-cdc`` parser."""
    p = subparsers.add_parser(
        "explain",
        help="explain a query on a live database and show its plan tree, scans and warnings",
        description="Explain SQL on a live database: the plan tree with scans marked, and what"
        " the analysis API (analyze_postgres_query) warns of and suggests.",
    )
    p.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="database URL, e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    p.add_argument(
        "sql",
        help="the statement to explain; $1, $2... parameters give PostgreSQL's generic plan"
        " (EXPLAIN GENERIC_PLAN on 16+, a prepared statement's generic plan before)",
    )
    p.add_argument(
        "--analyze",
        action="store_true",
        help="run it (changes rolled back) and show actual rows and times",
    )
    p.add_argument(
        "--buffers",
        action="store_true",
        help="PostgreSQL: show the blocks each operator hit and read (planning's only, without"
        " --analyze)",
    )
    _common(p)
    p.set_defaults(func=run_explain)

    p = subparsers.add_parser(
        "plan",
        help="analyse saved plan files (.sqlplan/.xml showplans, PostgreSQL .json);"
        " 'plan diff OLD NEW' compares two",
        description="Analyse saved plans: scans, seeks, lookups, missing indexes."
        " 'pytest-cdc plan diff OLD NEW' compares the shapes of two saved plans with the rules"
        " of plan snapshots: exit 0 same, 1 changed, 2 error.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="plan files (or: diff OLD NEW)")
    _common(p)
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ASPECT",
        help="plan diff: what not to compare: join-order, join-method, index-name"
        " (repeatable, or comma-separated)",
    )
    p.add_argument(
        "--max-cost-ratio",
        type=float,
        metavar="RATIO",
        help="plan diff: also fail when NEW's estimated cost exceeds RATIO times OLD's (1.1)",
    )
    p.add_argument(
        "--keep-gather",
        action="store_true",
        help="plan diff: compare gather nodes (Gather, Gather Merge, Parallelism) too",
    )
    p.set_defaults(func=run_plan)

    p = subparsers.add_parser(
        "export-stats",
        help="write the planner statistics of tables as a statistics file (JSON)",
        description="Export planner statistics (PostgreSQL 13+) for loading into a test"
        " database on PostgreSQL 18+ before snapshotting plans in planner mode.",
    )
    p.add_argument("--db", required=True, metavar="URL", help="the database to read them from")
    p.add_argument(
        "--table", required=True, action="append", metavar="TABLE", help="table (repeatable)"
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run_export_stats)

    p = subparsers.add_parser(
        "recommend-indexes",
        help="print CREATE INDEX statements for a reconciliation table",
        description="Indexes that serve reconciliation reads on one table, as DDL.",
    )
    p.add_argument("--table", required=True, help="table name, optionally schema-qualified")
    p.add_argument(
        "--key",
        required=True,
        action="append",
        metavar="COLUMN",
        help="primary key column (repeat or comma-separate for composite keys)",
    )
    p.add_argument(
        "--no-primary-key",
        action="store_true",
        help="the table has no primary key or unique constraint on --key: propose a unique "
        "index (by default the key's own index is assumed, and not duplicated)",
    )
    p.add_argument("--timestamp", metavar="COLUMN", help="change timestamp / watermark column")
    p.add_argument("--status", metavar="COLUMN", help="status column filtered by equality")
    p.add_argument(
        "--checksum-columns",
        metavar="A,B",
        default="",
        help="columns the checksum pass reads (INCLUDE columns)",
    )
    p.add_argument(
        "--active-filter",
        metavar="PREDICATE",
        help='predicate of the rows reconciliation reads, e.g. "deleted = false"',
    )
    p.add_argument(
        "--dialect",
        required=True,
        type=_dialect,
        help="the target engine: postgresql (postgres, pg) or mssql (sqlserver, tsql)",
    )
    p.add_argument("--fillfactor", type=int, help="fill factor percentage (10..100)")
    p.add_argument(
        "--no-concurrently",
        action="store_true",
        help="PostgreSQL: plain CREATE INDEX (e.g. inside a transaction)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run_recommend)

    p = subparsers.add_parser(
        "row-count",
        help="rows in a table from statistics (or exact with --exact)",
        description="Row count from planner statistics; exact count when they are missing.",
    )
    p.add_argument("--db", required=True, metavar="URL")
    p.add_argument("--table", required=True)
    p.add_argument("--exact", action="store_true", help="count(*) instead of statistics")
    p.set_defaults(func=run_row_count)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    p.add_argument(
        "--fail-on-scan",
        action="store_true",
        help="exit 1 when a plan contains a table or index scan",
    )


def _dialect(name: str) -> Any:
    """An argparse type: any name the dialect registry knows (aliases too)."""
    from pytest_cdc.dialects import get_dialect

    try:
        return get_dialect(name)
    except CdcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- database connections ------------------------------------------------------------------


def _on_db(spec: str, doing: str, work: Callable[[Any], T]) -> T:
    """``work`` on a connection to ``spec``, closed afterwards; a failure that is not one of
    ours becomes one line saying what could not be done."""
    conn = _connect(spec)
    try:
        return work(conn)
    except CdcError:
        raise
    except Exception as exc:
        raise CdcError(f"cannot {doing}: {first_line(exc)}") from None
    finally:
        conn.close()


def _connect(spec: str) -> Any:
    from pytest_cdc.dialects import default_registry

    registry = default_registry()
    url = registry.parse(spec, name="--db")
    if url.scheme in ("embedded", "docker"):
        raise CdcError(
            f"--db {url.masked!r}: give a server URL such as postgresql://USER@HOST:PORT/DB"
        )
    dialect = registry.for_scheme(url.scheme)
    try:
        return dialect.connector(url).connect(timeout=10)
    except CdcError:
        raise
    except Exception as exc:
        reason = first_line(exc)
        fix = connect_fix(reason) or "check that it runs and that the host and port are right"
        raise DatabaseUnavailable(
            f"the database at {url.masked} is not reachable: {reason}; {fix}"
        ) from None


# -- output --------------------------------------------------------------------------------


def _summary(analysis: Any) -> dict[str, Any]:
    """What the analysis API says of a plan (:mod:`pytest_cdc.analysis`), as the CLI shows it."""
    plan = analysis.plan
    return {
        "scans": [n.label for n in plan.scans()],
        "seeks": [n.label for n in plan.seeks()],
        "lookups": [n.label for n in plan.lookups()],
        "missing_indexes": [mi.to_dict() for mi in plan.missing_indexes],
        "index_ddl": list(analysis.suggested_indexes),
        "warnings": list(analysis.warnings),
        "notes": list(plan.notes),
        "estimated_rows": analysis.estimated_rows,
        "actual_rows": analysis.actual_rows,
        "execution_time_ms": analysis.execution_time_ms,
        "planning_time_ms": analysis.planning_time_ms,
    }


def _print_text(title: str, analysis: Any, summary: dict[str, Any]) -> None:
    from pytest_cdc.plans.render import render_plan

    plan = analysis.plan
    print(title)
    for note in summary["notes"]:
        print(f"note: {note}")
    print(render_plan(plan, marked=plan.scans()))
    timings = [
        f"{label} {summary[key]:.3f} ms"
        for label, key in (("planning", "planning_time_ms"), ("execution", "execution_time_ms"))
        if summary[key] is not None
    ]
    if timings:
        print(", ".join(timings))
    for key in ("scans", "seeks", "lookups", "warnings"):
        items = summary[key]
        print(f"{key}: {len(items)}")
        for item in items:
            print(f"  {item}")
    for ddl in summary["index_ddl"]:
        print(f"missing index: {ddl}")


def run_explain(args: argparse.Namespace) -> int:
    from pytest_cdc.analysis import analyze_query

    analysis = _on_db(
        args.db,
        "explain the statement",
        lambda conn: analyze_query(conn, args.sql, analyze=args.analyze, buffers=args.buffers),
    )
    plan = analysis.plan
    summary = _summary(analysis)
    if args.format == "json":
        print(json.dumps({**summary, "plan": plan.to_dict()}, indent=2))
    else:
        _print_text(f"plan ({plan.dialect}):", analysis, summary)
    return EXIT_FINDINGS if args.fail_on_scan and plan.scans() else EXIT_OK


def run_plan(args: argparse.Namespace) -> int:
    from pytest_cdc.analysis import analyze_plan
    from pytest_cdc.errors import PlanFileError
    from pytest_cdc.plans.load import load_plan

    if args.files[0] == "diff":  # a file called "diff" is ./diff
        return run_plan_diff(args, args.files[1:])
    status = EXIT_OK
    results = []
    for path in args.files:
        try:
            plan = load_plan(path)
        except PlanFileError as exc:
            print(f"pytest-cdc plan: error: {exc}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        analysis = analyze_plan(plan)
        summary = _summary(analysis)
        if args.format == "json":
            results.append(
                {"file": path, "dialect": plan.dialect, **summary, "plan": plan.to_dict()}
            )
        else:
            _print_text(
                f"{path} ({plan.dialect}, {len(plan.statements)} statements):", analysis, summary
            )
        if args.fail_on_scan and plan.scans() and status == EXIT_OK:
            status = EXIT_FINDINGS
    if args.format == "json":
        print(json.dumps(results, indent=2))
    return status


def run_plan_diff(args: argparse.Namespace, files: list[str]) -> int:
    """``plan diff OLD NEW``: 0 the same shape, 1 changed (worst change first), 2 an error."""
    from pytest_cdc.dialects import get_dialect
    from pytest_cdc.plans.load import load_plan
    from pytest_cdc.plans.shape import ShapeRules, shape_of
    from pytest_cdc.plans.shape_diff import compare_shapes, render_side_by_side

    if len(files) != 2:
        raise CdcError(f"plan diff takes two plan files, got {len(files)}: plan diff OLD NEW")
    aspects = [a.strip() for value in args.ignore for a in value.split(",") if a.strip()]
    rules = ShapeRules.of(
        ignore=aspects, keep_gather=args.keep_gather, max_cost_ratio=args.max_cost_ratio
    )
    old, new = (load_plan(path) for path in files)
    if old.dialect != new.dialect:
        raise CdcError(
            f"cannot compare a {old.dialect} plan ({files[0]}) with a {new.dialect} plan"
            f" ({files[1]})"
        )
    conventions = get_dialect(old.dialect).shape_conventions()
    before, after = (shape_of(p, conventions, keep_gather=rules.keep_gather) for p in (old, new))
    changes = compare_shapes(before, after, rules)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "same": not changes,
                    "changes": [{"severity": c.severity, "text": c.text} for c in changes],
                    "old": {"file": files[0], "tree": before.lines(), "cost": before.cost},
                    "new": {"file": files[1], "tree": after.lines(), "cost": after.cost},
                },
                indent=2,
            )
        )
    elif not changes:
        print(f"same plan shape: {files[0]} and {files[1]}")
    else:
        print(f"plan changed: {files[0]} -> {files[1]}")
        print("\n".join(f"    {change.text}" for change in changes))
        print()
        print(render_side_by_side(before, after, titles=(files[0], files[1])))
    return EXIT_FINDINGS if changes else EXIT_OK


def run_export_stats(args: argparse.Namespace) -> int:
    from pytest_cdc.plans.statistics import export_statistics

    stats = _on_db(args.db, "read the statistics", lambda conn: export_statistics(conn, args.table))
    text = json.dumps(stats, indent=2, sort_keys=True, default=str) + "\n"
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise CdcError(f"cannot write {args.output!r}: {exc.strerror}") from None
    return EXIT_OK


def run_recommend(args: argparse.Namespace) -> int:
    from pytest_cdc.indexes import generate_index_ddl, recommend_indexes_for_reconciliation

    keys = [k.strip() for value in args.key for k in value.split(",") if k.strip()]
    checksum = [c.strip() for c in args.checksum_columns.split(",") if c.strip()]
    recs = recommend_indexes_for_reconciliation(
        args.table,
        keys,
        timestamp_column=args.timestamp,
        status_column=args.status,
        checksum_columns=checksum,
        active_filter=args.active_filter,
        primary_key_exists=not args.no_primary_key,
    )
    rows = [
        (
            rec,
            generate_index_ddl(
                rec, args.dialect, concurrently=not args.no_concurrently, fillfactor=args.fillfactor
            ),
        )
        for rec in recs
    ]
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "kind": rec.kind,
                        "table": rec.table,
                        "columns": list(rec.columns),
                        "include": list(rec.include),
                        "where": rec.where,
                        "unique": rec.unique,
                        "reason": rec.reason,
                        "estimated_impact": rec.estimated_impact,
                        "ddl": ddl,
                    }
                    for rec, ddl in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    if not args.no_primary_key:
        print(
            f"-- primary_key: ({', '.join(keys)}) is the table's primary key: its own index "
            "serves lookups by key (--no-primary-key if the table has none)"
        )
        print()
    for rec, ddl in rows:
        print(f"-- {rec.kind}: {rec.reason}")
        print(f"-- impact: {rec.estimated_impact}")
        print(f"{ddl};")
        print()
    return EXIT_OK


def run_row_count(args: argparse.Namespace) -> int:
    from pytest_cdc.analysis import row_count

    print(
        _on_db(
            args.db,
            f"count the rows of {args.table!r}",
            lambda conn: row_count(conn, args.table, exact=args.exact),
        )
    )
    return EXIT_OK
