"""The ``pytest-cdc`` console script.

Each feature area contributes subcommands from a module with ``register(subparsers)``; the
module is imported only when the script starts, never by the pytest plugin.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pytest_cdc.errors import CdcError
from pytest_cdc.urls import mask_password

#: Modules that add subcommands, in help order.
SUBCOMMAND_MODULES = ("pytest_cdc.cli.plans", "pytest_cdc.cli.reconcile")

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except CdcError as exc:
        print(f"pytest-cdc {args.command}: error: {mask_password(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"pytest-cdc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
