"""``pytest-cdc reconcile``: the CI gate command.

Exit 0 when the tables hold the same rows, 1 when they differ, 2 on any error (one line on
stderr, passwords masked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pytest_cdc.errors import CdcError
from pytest_cdc.urls import mask_password


class ReconcileCommandError(CdcError):
    """The reconciliation could not run (bad table, unreachable server, SQL error)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="compare a table on two databases by checksums and list the rows that differ",
        description="Compare a table on two databases (SQL Server or PostgreSQL) by checksums "
        "computed inside each database; exit 0 if equal, 1 if different, 2 on error.",
    )
    parser.add_argument("--source", required=True, metavar="URL", help="source database URL")
    parser.add_argument("--target", required=True, metavar="URL", help="target database URL")
    parser.add_argument(
        "--table",
        required=True,
        metavar="SOURCE[=TARGET]",
        help="table name, or source=target names (e.g. dbo.orders=public.orders)",
    )
    parser.add_argument("--key", required=True, help="key column(s), comma separated")
    parser.add_argument(
        "--columns",
        default=None,
        help="compared columns, comma separated; SRC:DST maps a source column to a target name",
    )
    parser.add_argument("--where", default=None, help="SQL condition applied on both sides")
    parser.add_argument("--target-where", default=None, help="condition for the target only")
    parser.add_argument("--float-digits", type=int, default=14, help="float significant digits")
    parser.add_argument(
        "--timestamp-precision", type=int, default=6, help="fractional second digits (0-6)"
    )
    parser.add_argument(
        "--timestamp-mode",
        choices=("truncate", "round"),
        default="truncate",
        help="how extra fractional digits are dropped",
    )
    parser.add_argument(
        "--aggregation",
        choices=("auto", "sum", "ordered"),
        default="auto",
        help="segment checksums: one MD5 a segment in key order (ordered, needs an indexed"
        " single-column key), additive per-row sums (sum), or the faster one that applies (auto)",
    )
    parser.add_argument("--leaf-rows", type=int, default=10_000, help="rows fetched per leaf")
    parser.add_argument("--show", type=int, default=10, help="changed rows shown side by side")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--output", default=None, metavar="FILE", help="write the report here")
    parser.set_defaults(func=run)


def _columns(spec: str | None) -> tuple[list[str] | None, dict[str, str]]:
    if spec is None:
        return None, {}
    names, mapping = [], {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        src, _, dst = item.partition(":")
        names.append(src)
        if dst:
            mapping[src] = dst
    return names, mapping


def run(args: argparse.Namespace) -> int:
    from pytest_cdc.checksums import reconcile

    source_table, _, target_table = args.table.partition("=")
    columns, column_map = _columns(args.columns)
    try:
        report = reconcile(
            args.source,
            args.target,
            table=source_table,
            target_table=target_table or None,
            key=args.key,
            columns=columns,
            column_map=column_map,
            where=args.where,
            target_where=args.target_where,
            float_digits=args.float_digits,
            timestamp_precision=args.timestamp_precision,
            timestamp_mode=args.timestamp_mode,
            leaf_rows=args.leaf_rows,
            show=args.show,
            aggregation=args.aggregation,
        )
    except CdcError:
        raise
    except Exception as exc:  # driver errors: one line, no traceback, password masked
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReconcileCommandError(
            f"reconciling {args.table!r} failed: {mask_password(first)}"
        ) from None
    text = report.to_json() if args.format == "json" else report.to_text(limit=args.show)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(report.summary())
    else:
        sys.stdout.write(text + "\n")
    return 0 if report.equal else 1
