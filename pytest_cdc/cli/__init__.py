"""The ``pytest-cdc`` console script.

Each feature area contributes subcommands from a module with ``register(subparsers)``; the
module is imported only when the script starts, never by the pytest plugin.

Exit codes are what CI gates read, so they never lie: 0 fine (equal, no findings), 1 a finished
check that found something, 2 anything else (bad arguments, an unreachable server, a failed
query, a report that cannot be written, a bug), always with one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pytest_cdc.errors import CdcError, first_line
from pytest_cdc.urls import mask_password

#: Modules that add subcommands, in help order.
SUBCOMMAND_MODULES = (
    "pytest_cdc.cli.plans",
    "pytest_cdc.cli.reconcile",
    "pytest_cdc.cli.schema",
    "pytest_cdc.cli.validate",
    "pytest_cdc.cli.templates",
)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
#: Set to 1 to see the traceback of an unexpected error.
DEBUG_ENV = "PYTEST_CDC_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    from pytest_cdc import __version__

    parser = argparse.ArgumentParser(
        prog="pytest-cdc",
        description="Plans, indexes and cross-engine checksums for SQL Server -> PostgreSQL CDC.",
    )
    parser.add_argument("--version", action="version", version=f"pytest-cdc {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that feature area is not installed in this build
            raise
        module.register(subparsers)
    return parser


def write(text: str) -> None:
    """Write to stdout; a reader that went away (``| head``) ends the output quietly."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit and would complain there: point it at
        # /dev/null.  The exit code still says what the command found.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _tolerant_output() -> None:
    # A report may hold any character a table holds; a terminal or pipe whose encoding cannot
    # show one gets an escape instead of an UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    prefix = f"pytest-cdc {args.command}"
    try:
        return int(args.func(args))
    except CdcError as exc:
        print(f"{prefix}: error: {mask_password(str(exc))}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        write("")  # quiet from here on
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"{prefix}: internal error: {type(exc).__name__}: {first_line(exc)}"
            f" (set {DEBUG_ENV}=1 to see where; please report it)",
            file=sys.stderr,
        )
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
