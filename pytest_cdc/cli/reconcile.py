"""``pytest-cdc reconcile``: the CI gate command.

Exit 0 when the tables hold the same rows, 1 when they differ, 2 when no verdict could be given
(one line on stderr, passwords masked).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from pytest_cdc.errors import CdcError, QueryFailed, first_line


def whole(low: int) -> Any:
    """An argparse type: a whole number of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is less than {low}")
        return value

    return parse


def seconds(text: str) -> float | None:
    """An argparse type: seconds, more than 0; ``0`` or ``none`` for no bound."""
    if text.strip().lower() in ("0", "none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def register(subparsers: Any) -> None:
    from pytest_cdc.checksums.api import DEFAULT_LOCK_TIMEOUT, DEFAULT_TIMEOUT

    parser = subparsers.add_parser(
        "reconcile",
        help="compare a table on two databases by checksums and list the rows that differ",
        description="Compare a table on two databases (SQL Server or PostgreSQL) by checksums "
        "computed inside each database; exit 0 if equal, 1 if different, 2 when no verdict "
        "can be given.",
    )
    parser.add_argument("--source", required=True, metavar="URL", help="source database URL")
    parser.add_argument("--target", required=True, metavar="URL", help="target database URL")
    parser.add_argument(
        "--table",
        required=True,
        metavar="SOURCE[=TARGET]",
        help="table name, or source=target names (e.g. dbo.orders=public.orders)",
    )
    parser.add_argument(
        "--key", required=True, help="key column(s), comma separated: NOT NULL and unique"
    )
    parser.add_argument(
        "--columns",
        default=None,
        help="compared columns, comma separated; SRC:DST maps a source column to a target name",
    )
    parser.add_argument("--where", default=None, help="SQL condition applied on both sides")
    parser.add_argument("--target-where", default=None, help="condition for the target only")
    parser.add_argument(
        "--float-digits", type=whole(1), default=14, help="float significant digits (1-15)"
    )
    parser.add_argument(
        "--timestamp-precision",
        type=whole(0),
        default=6,
        help="fractional second digits (0-6)",
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
    parser.add_argument(
        "--leaf-rows", type=whole(1), default=10_000, help="rows fetched per leaf (at least 1)"
    )
    parser.add_argument(
        "--show", type=whole(0), default=10, help="changed rows shown side by side (0 or more)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"most seconds one statement may run, 0 for no bound (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--lock-timeout",
        type=seconds,
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="most seconds a read waits for a lock, 0 for no bound"
        f" (default {DEFAULT_LOCK_TIMEOUT:g})",
    )
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


#: The API's keyword arguments as this command spells them.
_OPTIONS = {
    "key": "--key",
    "where": "--where",
    "aggregation": "--aggregation",
    "float_digits": "--float-digits",
    "timestamp_precision": "--timestamp-precision",
    "timestamp_mode": "--timestamp-mode",
    "leaf_rows": "--leaf-rows",
    "show": "--show",
    "timeout": "--timeout",
    "lock_timeout": "--lock-timeout",
}
_KEYWORD = re.compile(r"\b(?P<name>[a-z_]+)=(?P<quote>'?)(?P<value>[^'\s,;)]*)(?P=quote)")


def cli_words(message: str) -> str:
    """A message of the API in this command's words: ``aggregation='sum'`` reads
    ``--aggregation sum``, ``columns=[...]`` reads ``--columns``."""
    message = re.sub(r"column_map=\{[^}]*\}", "--columns SOURCE:TARGET", message)
    message = message.replace("columns=[...]", "--columns").replace("columns=", "--columns")

    def option(match: re.Match[str]) -> str:
        flag = _OPTIONS.get(match["name"])
        if flag is None:
            return match[0]
        return f"{flag} {match['value']}".rstrip()

    return _KEYWORD.sub(option, message)


def run(args: argparse.Namespace) -> int:
    from pytest_cdc.checksums import reconcile
    from pytest_cdc.cli import EXIT_FINDINGS, EXIT_OK, write

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
            timeout=args.timeout,
            lock_timeout=args.lock_timeout,
        )
    except QueryFailed:
        raise  # already one line naming the side and the query
    except CdcError as exc:
        raise CdcError(cli_words(str(exc))) from None
    except Exception as exc:
        if not type(exc).__module__.startswith(("psycopg2", "pyodbc")):
            raise  # a bug: the console script says so
        # A driver error outside any recorded query (a connection that broke while being
        # set up): one line, password masked.
        raise CdcError(f"reconciling {args.table!r} failed: {first_line(exc)}") from None
    status = EXIT_OK if report.equal else EXIT_FINDINGS
    text = report.to_json() if args.format == "json" else report.to_text(limit=args.show)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CdcError(
                f"the comparison finished ({'equal' if report.equal else 'different'}) but the"
                f" report cannot be written to {args.output!r}: {exc.strerror or exc}"
            ) from None
        write(report.summary() + "\n")
    else:
        write(text + "\n")
    return status
