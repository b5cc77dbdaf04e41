"""``pytest-cdc sql-template [NAME]``: the SQL templates that ship with pytest-cdc.

Reconciliation indexes, index usage, statistics freshness, bloat and fragmentation queries
for both engines, kept in the repository's ``scripts/sql/`` and installed in the package as
``pytest_cdc/sql/``.  Without a name the command lists them; with one it prints it, to pipe
into ``psql -f -`` or save.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from pytest_cdc.errors import ConfigError, did_you_mean

EXIT_OK = 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sql-template",
        help="list the SQL templates that ship with pytest-cdc, or print one",
        description="The SQL templates (reconciliation indexes, index usage, statistics"
        " freshness, bloat, fragmentation): listed without NAME, printed with it, e.g."
        " pytest-cdc sql-template postgresql_bloat | psql -v schema=public -f -",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="the template to print")
    p.set_defaults(func=run)


def template_dir() -> Path:
    """Where the templates are: in the installed package, or in a source checkout."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "sql", here.parent / "scripts" / "sql"):
        if candidate.is_dir() and any(candidate.glob("*.sql")):
            return candidate
    raise ConfigError(
        f"the SQL templates are not installed beside pytest-cdc ({here / 'sql'}): reinstall it"
    )


def templates() -> dict[str, Path]:
    return {path.stem: path for path in sorted(template_dir().glob("*.sql"))}


def summary(path: Path) -> str:
    """The first sentence of the template's opening comment."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--") or not line[2:].strip():
            break
        lines.append(line[2:].strip())
    text = " ".join(lines)
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match[1] if match else text


def run(args: argparse.Namespace) -> int:
    from pytest_cdc.cli import write

    found = templates()
    if args.name is None:
        width = max(len(name) for name in found)
        listing = [f"{name:<{width}}  {summary(path)}" for name, path in found.items()]
        listing.append("")
        listing.append("print one with: pytest-cdc sql-template NAME")
        write("\n".join(listing) + "\n")
        return EXIT_OK
    name = args.name.removesuffix(".sql")
    if name not in found:
        raise ConfigError(
            f"no SQL template named {args.name!r}{did_you_mean(name, found)}; run"
            " pytest-cdc sql-template to list them"
        )
    write(found[name].read_text(encoding="utf-8"))
    return EXIT_OK
