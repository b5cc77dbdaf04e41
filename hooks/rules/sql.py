"""What several rules read from a statement: predicates, their sides, tables and types."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlglot import exp

from pytest_cdc_hooks.rules.registry import Context

__all__ = [
    "ColumnTypes",
    "aliases",
    "catalog_only",
    "conditions",
    "predicates",
    "sides",
    "string_prefix",
    "wraps_column",
    "written_name",
]

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)


def conditions(tree: exp.Expression) -> Iterator[exp.Expression]:
    """WHERE and JOIN ... ON conditions anywhere in the statement (not a partial index's WHERE:
    that predicate says which rows the index holds, no query seeks with it)."""
    for where in tree.find_all(exp.Where):
        if isinstance(where.parent, exp.IndexParameters):
            continue
        if isinstance(where.this, exp.Expression):
            yield where.this
    for join in tree.find_all(exp.Join):
        on = join.args.get("on")
        if on is not None:
            yield on


def predicates(tree: exp.Expression) -> Iterator[Any]:
    """Comparisons in WHERE / JOIN ON conditions, each once: a WHERE inside a subquery of
    another WHERE is found by both walks."""
    seen: set[int] = set()
    for condition in conditions(tree):
        for predicate in condition.find_all(*_COMPARISONS, exp.In, exp.Between):
            if id(predicate) not in seen:
                seen.add(id(predicate))
                yield predicate


def sides(predicate: exp.Expression) -> list[exp.Expression]:
    sides: list[exp.Expression] = []
    candidates = [predicate.this]
    if not isinstance(predicate, exp.Between):
        candidates.append(predicate.args.get("expression"))
    for side in candidates:
        if isinstance(side, exp.Paren):
            side = side.unnest()
        if isinstance(side, exp.Expression):
            sides.append(side)
    return sides


def wraps_column(node: exp.Expression) -> bool:
    if isinstance(node, exp.Subquery | exp.Select):
        return False
    return node.find(exp.Column) is not None


def aliases(select: exp.Expression) -> dict[str, list[str]]:
    """alias or table name (lower) -> table name parts, for the tables a query reads."""
    out: dict[str, list[str]] = {}
    for table in select.find_all(exp.Table):
        parts = [table.catalog, table.db, table.name]
        out[table.name.lower()] = parts
        if table.alias:
            out[table.alias.lower()] = parts
    return out


class ColumnTypes:
    """Column types for one statement.  The tables it reads are collected once: per column,
    that walk made a rule quadratic in statement size (4,000 OR terms: 88 s)."""

    def __init__(self, ctx: Context, tree: exp.Expression) -> None:
        self.ctx = ctx
        self.aliases = aliases(tree)
        distinct = {tuple(parts): parts for parts in self.aliases.values()}
        self.tables = [ctx.table(parts) for parts in distinct.values()]

    def get(self, column: exp.Column) -> str | None:
        name = column.name.lower()
        if column.table:
            parts = self.aliases.get(column.table.lower())
            tables = [self.ctx.table(parts)] if parts else []
        else:
            tables = self.tables
        types = [t.columns[name] for t in tables if t is not None and name in t.columns]
        return types[0] if len(types) == 1 else None


def string_prefix(node: exp.Expression) -> str | None:
    """The leading string literal of a LIKE pattern (through ``||`` / ``+`` / CONCAT)."""
    while isinstance(node, exp.DPipe | exp.Add | exp.Concat):
        node = node.this if not isinstance(node, exp.Concat) else node.expressions[0]
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, exp.National):
        return str(node.this)
    return None


_CATALOG_SCHEMAS = frozenset({"sys", "pg_catalog", "information_schema"})


def catalog_only(tree: exp.Expression) -> bool:
    """True when every table read is a system catalog view (sys.*, pg_catalog, ...): monitoring
    queries like that have no indexes of yours to miss."""
    tables = list(tree.find_all(exp.Table))
    return bool(tables) and all(
        t.db.lower() in _CATALOG_SCHEMAS or (not t.db and t.name.lower().startswith("pg_"))
        for t in tables
    )


def written_name(ctx: Context, func: exp.Func) -> str:
    """The function's name as the file spells it (``date_trunc``, not sqlglot's
    ``TIMESTAMP_TRUNC``)."""
    meta = func.meta
    start, end = meta.get("start"), meta.get("end")
    if isinstance(start, int) and isinstance(end, int):
        text = ctx.stmt.text[start : end + 1]
        if re.fullmatch(r"[\w.\[\]\"]+", text):
            return text
    return func.name if isinstance(func, exp.Anonymous) else func.sql_name()
