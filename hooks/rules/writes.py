"""Rules about statements that change data or schema: UPDATE/DELETE without WHERE, index DDL
that blocks writes, CONCURRENTLY where a transaction makes it fail (CDC102, CDC106, CDC110)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp

from pytest_cdc_hooks.rules.registry import Context, Hit, Rule
from pytest_cdc_hooks.schema import table_key


def _no_where(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    for node in tree.find_all(exp.Update, exp.Delete):
        if node.args.get("where") is not None:
            continue
        if isinstance(node.parent, exp.When):
            continue  # MERGE ... WHEN MATCHED THEN UPDATE: the ON clause picks the rows
        if node.args.get("from_") is not None or node.args.get("using"):
            continue  # joined: the join restricts the rows
        verb = "UPDATE" if isinstance(node, exp.Update) else "DELETE"
        yield node, f"{verb} without WHERE changes every row: add a WHERE (or use TRUNCATE)"


def _index_options(tree: exp.Expression) -> str:
    parts = [str(tree.meta.get("with_options", ""))]
    index = tree.this if isinstance(tree, exp.Create) else None
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    storage = params.args.get("with_storage") if params is not None else None
    if isinstance(storage, list):
        parts.extend(p.sql() for p in storage)
    return " ".join(parts)


_ONLINE = re.compile(r"\bONLINE\s*=\s*ON\b", re.I)


def _index_locking(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper().endswith("INDEX"):
        index = tree.this
        table = index.args.get("table") if isinstance(index, exp.Index) else None
        doubt = ""
        if isinstance(table, exp.Table):
            key = table_key([table.catalog, table.db, table.name], ctx.dialect)
            if key in ctx.created_tables:
                return  # the table is new in this migration: nothing to block
            if key in ctx.maybe_created:
                doubt = (
                    f" (uncertain: the CREATE TABLE at line {ctx.maybe_created[key]} was not "
                    "understood; if it creates this table, the index blocks nothing)"
                )
        hit = _blocking_create(ctx, tree)
        if hit is not None:
            yield (tree, hit + doubt, "warning") if doubt else (tree, hit)
    elif isinstance(tree, exp.Drop) and str(tree.args.get("kind") or "").upper() == "INDEX":
        if ctx.dialect == "postgres" and not tree.args.get("concurrently"):
            if ctx.stmt.nested:
                yield (
                    tree,
                    (
                        "DROP INDEX takes an exclusive lock on the table, and CONCURRENTLY "
                        "cannot run inside a DO block (a function): move it out of the block as "
                        "DROP INDEX CONCURRENTLY IF EXISTS, in a migration of its own"
                    ),
                )
            else:
                yield (
                    tree,
                    (
                        "DROP INDEX without CONCURRENTLY takes an exclusive lock on the table: "
                        "use DROP INDEX CONCURRENTLY"
                    ),
                )
        elif ctx.dialect == "tsql" and not _ONLINE.search(str(tree.meta.get("with_options", ""))):
            yield tree, "DROP INDEX without ONLINE = ON locks the table: add WITH (ONLINE = ON)"


def _blocking_create(ctx: Context, tree: exp.Create) -> str | None:
    if ctx.dialect == "postgres" and not tree.args.get("concurrently"):
        if ctx.stmt.nested:
            # PostgreSQL refuses CONCURRENTLY inside a function, and a DO block is one
            return (
                "CREATE INDEX blocks writes to the table while it builds, and CONCURRENTLY "
                "cannot run inside a DO block (a function): move it out of the block as "
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS, in a migration of its own"
            )
        return (
            "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds: "
            "use CREATE INDEX CONCURRENTLY (outside a transaction)"
        )
    if ctx.dialect == "tsql" and not _ONLINE.search(_index_options(tree)):
        return (
            "CREATE INDEX without ONLINE = ON locks the table while it builds: "
            "add WITH (ONLINE = ON)"
        )
    return None


_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.I)


_SESSION_SETTING = re.compile(r"(?:SET|RESET)\b(?!\s+LOCAL\b)", re.I)


def _concurrently_in_transaction(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    """CREATE/DROP/REINDEX ... CONCURRENTLY in a file with other statements.

    PostgreSQL refuses CONCURRENTLY inside a transaction block, and ``psql -1`` or a migration
    tool that runs each file in one transaction puts every statement of the file in one.
    """
    if ctx.stmt.nested or not _CONCURRENTLY.search(ctx.stmt.text):
        return
    concurrent = isinstance(tree, exp.Create | exp.Drop) and tree.args.get("concurrently")
    if not concurrent and not isinstance(tree, exp.Command):
        return
    # A file of CONCURRENTLY statements only is meant to run outside a transaction; session
    # settings (SET lock_timeout ...) and psql commands run there as well.
    others = ctx.memo.get("CDC110")
    if others is None:
        others = ctx.memo["CDC110"] = sum(
            1
            for s in ctx.statements
            if not (
                s.nested
                or s.text.startswith(("\\", ":"))
                or _SESSION_SETTING.match(s.text)
                or _CONCURRENTLY.search(s.text)
            )
        )
    if not others:
        return
    verb = " ".join(ctx.stmt.text.split()[:2]).upper()
    yield (
        tree,
        (
            f"{verb} ... CONCURRENTLY cannot run inside a transaction block, and this file has "
            f"{others} other statement{'s' if others > 1 else ''}: under psql -1 or a "
            "migration tool that runs a file in one transaction it fails; give it a migration "
            "file of its own (marked non-transactional where the tool needs that)"
        ),
    )


RULES = (
    Rule("CDC102", "update-delete-without-where", "UPDATE/DELETE without WHERE", _no_where),
    Rule(
        "CDC106",
        "index-blocks-writes",
        "CREATE/DROP INDEX without CONCURRENTLY (PostgreSQL) / ONLINE = ON (SQL Server)",
        _index_locking,
    ),
    Rule(
        "CDC110",
        "concurrently-in-transaction",
        "CREATE/DROP INDEX CONCURRENTLY in a file with other statements (PostgreSQL)",
        _concurrently_in_transaction,
        dialects=frozenset({"postgres"}),
    ),
)
