"""Rules about how reconciliation queries read: what they select, how they filter, and what
they compare (CDC101, CDC103-CDC105, CDC107-CDC109)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from pytest_cdc_hooks.rules.registry import Context, Hit, Rule
from pytest_cdc_hooks.rules.sql import (
    ColumnTypes,
    aliases,
    catalog_only,
    predicates,
    sides,
    string_prefix,
    wraps_column,
    written_name,
)


def _select_star(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    # EXISTS (SELECT * ...) reads no columns.  Collected once: looking up from every SELECT
    # costs the depth of the tree each time (quadratic for a long OR of subqueries).
    in_exists = {id(s) for e in tree.find_all(exp.Exists) for s in e.find_all(exp.Select)}
    for select in tree.find_all(exp.Select):
        if id(select) in in_exists:
            continue
        for projection in select.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                yield projection, None


def _function_on_column(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if catalog_only(tree):
        return
    tables: dict[str, list[str]] | None = None
    for predicate in predicates(tree):
        for side in sides(predicate):
            if isinstance(side, exp.Cast | exp.TryCast) and wraps_column(side):
                yield (
                    side,
                    (
                        f"cast of a column in a predicate ({side.sql(dialect=ctx.dialect)[:60]}) "
                        "cannot use an index: cast the other side instead"
                    ),
                )
            elif (
                isinstance(side, exp.Func)
                and not isinstance(side, exp.AggFunc)
                and (wraps_column(side))
            ):
                tables = tables if tables is not None else aliases(tree)
                fix = _expression_index(ctx, side, tables)
                yield (
                    side,
                    (
                        f"function {written_name(ctx, side)}() on a column in a predicate cannot "
                        f"use an index: compare the bare column, {fix}"
                    ),
                )


def _expression_index(ctx: Context, func: exp.Func, tables: dict[str, list[str]]) -> str:
    """Advice to index the expression itself, with the DDL where it can be written."""
    columns = list(func.find_all(exp.Column))
    if ctx.dialect != "postgres":
        return "or index a computed column holding the expression"
    parts = tables.get(columns[0].table.lower()) if columns[0].table else None
    if parts is None and not columns[0].table and len({tuple(p) for p in tables.values()}) == 1:
        parts = next(iter(tables.values()))
    if parts is None or len({c.name.lower() for c in columns}) != 1:
        return "or index the expression"
    from pytest_cdc.dialects import get_dialect

    if written_name(ctx, func).upper() not in get_dialect(ctx.dialect).indexable_functions:
        # PostgreSQL indexes only IMMUTABLE expressions: date_trunc() of a timestamptz is not
        return "or index the expression (PostgreSQL needs it IMMUTABLE)"
    from pytest_cdc.indexes import IndexRecommendation, generate_index_ddl

    bare = func.transform(
        lambda n: exp.column(n.name, quoted=n.this.quoted) if isinstance(n, exp.Column) else n
    )
    table = ".".join(p for p in parts if p)
    key = f"({bare.sql(dialect='postgres')})"
    return "or index the expression: " + generate_index_ddl(
        IndexRecommendation(table=table, columns=(key,)), "postgresql"
    )


def _leading_wildcard(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if catalog_only(tree):
        return
    for node in tree.find_all(exp.Like, exp.ILike):
        pattern = node.args.get("expression")
        prefix = string_prefix(pattern) if pattern is not None else None
        if prefix is not None and prefix[:1] in ("%", "_"):
            yield node, f"LIKE {prefix[:20]!r} starts with a wildcard and cannot seek an index"


_STRING_TYPES = ("CHAR", "VARCHAR", "TEXT", "NCHAR", "NVARCHAR", "NTEXT", "CHARACTER", "CITEXT")


def _implicit_conversion(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    types: ColumnTypes | None = None
    for predicate in predicates(tree):
        pair = sides(predicate)
        if len(pair) != 2:
            continue
        for column, other in (pair, pair[::-1]):
            if not isinstance(column, exp.Column):
                continue
            types = types or ColumnTypes(ctx, tree)
            type_ = types.get(column)
            if not type_:
                continue
            base = type_.split("(")[0].strip()
            is_string = base in _STRING_TYPES or base.startswith(("VARCHAR", "CHAR"))
            if not is_string:
                continue
            if isinstance(other, exp.Literal) and not other.is_string:
                yield (
                    column,
                    (
                        f"column {column.name!r} ({type_}) compared with a number: the column is "
                        "converted row by row and no index is used; quote the literal"
                    ),
                )
            elif (
                ctx.dialect == "tsql"
                and isinstance(other, exp.National)
                and not base.startswith("N")
            ):
                yield (
                    column,
                    (
                        f"column {column.name!r} ({type_}) compared with N'...': the column is "
                        "converted to nvarchar and no index is used; drop the N prefix"
                    ),
                )


_DIRTY_HINTS = {"NOLOCK", "READUNCOMMITTED"}


def _dirty_reads(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if isinstance(tree, exp.Command) and tree.this == "ISOLATION LEVEL":
        level = tree.expression.name if tree.expression is not None else ""
        if level == "READ UNCOMMITTED":
            yield (
                None,
                (
                    "READ UNCOMMITTED reads rows that may be rolled back: reconciliation results "
                    "would be wrong; use READ COMMITTED or SNAPSHOT"
                ),
            )
        return
    for hint in tree.find_all(exp.WithTableHint):
        for item in hint.expressions:
            if item.name.upper() in _DIRTY_HINTS:
                table = hint.find_ancestor(exp.Table)
                yield (
                    table,
                    (
                        f"{item.name.upper()} reads uncommitted rows: reconciliation would compare "
                        "data that may be rolled back; remove the hint (use SNAPSHOT isolation)"
                    ),
                )


_CHECKSUMS = {"CHECKSUM", "BINARY_CHECKSUM", "CHECKSUM_AGG"}


def _checksum(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    found = [f for f in tree.find_all(exp.Anonymous) if f.name.upper() in _CHECKSUMS]
    # CHECKSUM_AGG(BINARY_CHECKSUM(*)) is one checksum: report the outermost call only
    inner = {id(i) for f in found for i in f.find_all(exp.Anonymous) if i is not f}
    for func in found:
        if id(func) in inner:
            continue
        yield (
            func,
            (
                f"{written_name(ctx, func)}() collides easily (32-bit, order- and "
                "case-insensitive cases): do not reconcile with it; compare a cryptographic hash "
                "such as HASHBYTES('SHA2_256', ...) / md5() or the rows themselves"
            ),
        )


def _offset_pagination(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    for select in tree.find_all(exp.Select):
        if select.args.get("offset") is None:
            continue
        order = select.args.get("order")
        if order is None:
            yield (
                select,
                (
                    "OFFSET without ORDER BY returns rows in no defined order: pages overlap and "
                    "skip rows; ORDER BY a unique key"
                ),
            )
            continue
        source = select.args.get("from_")
        table = source.this if source is not None else None
        if not isinstance(table, exp.Table) or select.args.get("joins"):
            continue
        known = ctx.table([table.catalog, table.db, table.name])
        if known is None or not known.unique_keys():
            continue
        ordered = {o.this.name.lower() for o in order.expressions if isinstance(o.this, exp.Column)}
        if not any(set(key) <= ordered for key in known.unique_keys()):
            keys = " or ".join("(" + ", ".join(k) + ")" for k in known.unique_keys())
            yield (
                order,
                (
                    f"OFFSET pagination ordered by non-unique columns: rows with equal values move "
                    f"between pages; add the unique key {keys} to ORDER BY"
                ),
            )


RULES = (
    Rule(
        "CDC101",
        "select-star",
        "SELECT * in a query: name the columns",
        _select_star,
        applies_to="query",
    ),
    Rule(
        "CDC103",
        "function-on-column",
        "function or cast on a column in a predicate",
        _function_on_column,
        applies_to="query",
    ),
    Rule(
        "CDC104",
        "leading-wildcard-like",
        "LIKE pattern starting with a wildcard",
        _leading_wildcard,
        applies_to="query",
    ),
    Rule(
        "CDC105",
        "implicit-conversion",
        "implicit conversion of a column in a predicate",
        _implicit_conversion,
        applies_to="query",
    ),
    Rule(
        "CDC107",
        "dirty-read",
        "NOLOCK / READ UNCOMMITTED in a reconciliation query",
        _dirty_reads,
        applies_to="query",
    ),
    Rule(
        "CDC108",
        "checksum-reconciliation",
        "CHECKSUM/BINARY_CHECKSUM/CHECKSUM_AGG",
        _checksum,
        applies_to="query",
    ),
    Rule(
        "CDC109",
        "offset-without-unique-order",
        "OFFSET pagination without ORDER BY a unique key",
        _offset_pagination,
        applies_to="query",
    ),
)
