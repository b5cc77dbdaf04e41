"""``pytest-cdc schema``: check that a replica's schema can hold the source's data.

Exit 0 when every finding is allowed, 1 when some finding's verdict is not, 2 when no
verdict could be given (one line on stderr, passwords masked).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_cdc.errors import CdcError, QueryFailed, first_line


class SchemaCommandError(CdcError):
    """The comparison could not run (bad mapping, unreachable server, SQL error)."""


def verdict_list(text: str | None) -> tuple[str, ...] | None:
    """``--allow``: comma-separated verdicts; ``none`` for none but ``same``."""
    from pytest_cdc.schema.mapping import check_verdicts

    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if names == ("none",):
        return ()
    return check_verdicts(names, "--allow")


def register(subparsers: Any) -> None:
    from pytest_cdc.schema.api import DEFAULT_TIMEOUT
    from pytest_cdc.schema.profiles import PROFILES

    parser = subparsers.add_parser(
        "schema",
        help="compare two databases' schemas: pair tables and columns, judge every type",
        description="Read the catalogs of a source (SQL Server or PostgreSQL) and a target,"
        " pair their tables and columns through a mapping, and give every column pair a"
        " verdict (same, widened, representation, lossy, incompatible); exit 0 if every"
        " finding is allowed, 1 if not, 2 when no verdict can be given.",
    )
    parser.add_argument("--source", required=True, metavar="URL", help="source database URL")
    parser.add_argument("--target", required=True, metavar="URL", help="target database URL")
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="mapping file: a pyproject.toml with [tool.pytest-cdc.replica], or a TOML file"
        " with its keys (default: the nearest pyproject.toml, if it has that table)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help=f"what the pipeline creates: {', '.join(PROFILES)} or none"
        " (default: the mapping's; identity between two PostgreSQL databases)",
    )
    parser.add_argument(
        "--allow",
        default=None,
        metavar="VERDICTS",
        help="verdicts that do not fail, comma separated (default: the mapping's, or"
        " widened,representation; none: only same)",
    )
    parser.add_argument(
        "--allow-list",
        default=None,
        metavar="FILE",
        help="TOML file of [[allow]] source/target type pairs to accept",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"most seconds one catalog query may run (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--output", default=None, metavar="FILE", help="write the report here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pytest_cdc.cli import EXIT_FINDINGS, EXIT_OK, write
    from pytest_cdc.schema.api import compare_schemas
    from pytest_cdc.schema.mapping import load_mapping

    try:
        mapping = load_mapping(args.config)
        report = compare_schemas(
            args.source,
            args.target,
            mapping=mapping,
            profile=args.profile,
            allow=verdict_list(args.allow),
            allow_list=args.allow_list,
            timeout=args.timeout if args.timeout and args.timeout > 0 else None,
        )
    except QueryFailed:
        raise  # already one line naming the side and the query
    except CdcError as exc:
        raise SchemaCommandError(str(exc)) from None
    except Exception as exc:
        if not type(exc).__module__.startswith(("psycopg2", "pyodbc")):
            raise  # a bug: the console script says so
        raise SchemaCommandError(f"the schema comparison failed: {first_line(exc)}") from None
    status = EXIT_OK if report.compatible() else EXIT_FINDINGS
    text = report.to_json() if args.format == "json" else report.to_text()
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise SchemaCommandError(
                f"the comparison finished ({'compatible' if status == EXIT_OK else 'findings'})"
                f" but the report cannot be written to {args.output!r}: {exc.strerror or exc}"
            ) from None
        write(report.summary() + "\n")
    else:
        write(text + "\n")
    return status
