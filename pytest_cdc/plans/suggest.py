"""Index suggestions: from a query's filter columns, or a plan's MissingIndexes.

PostgreSQL has no "missing index" report, so the suggestion is derived from the SQL itself:
columns compared by equality to a value or to another table's column (join keys) come first,
then columns used in a range; that order lets one B-tree seek find the whole range.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from pytest_cdc.dialects.base import Dialect
from pytest_cdc.indexes import IndexRecommendation, generate_index_ddl
from pytest_cdc.plans.model import MissingIndex

_EQUALITY = (exp.EQ, exp.In, exp.Is, exp.NullSafeEQ)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.Like, exp.ILike)


def filter_columns(
    sql: str, dialect: str, *, indexable: frozenset[str] = frozenset()
) -> dict[str, MissingIndex]:
    """Table name -> the columns the query filters or joins it on (as a MissingIndex).

    ``dialect`` is sqlglot's name; ``indexable`` the functions (upper case) an expression
    index of that engine can hold, so that ``lower(email) = ...`` gives the key
    ``(LOWER(email))``.  Keys are the bare table names as written in the query, lower-cased
    where unquoted.  Unparseable SQL gives ``{}``: a suggestion is a courtesy, never a reason
    to crash.
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return {}
    if tree is None:
        return {}
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables: dict[str, exp.Table] = {}
    for table in tree.find_all(exp.Table):
        if table.name and table.name not in ctes:
            tables[table.alias_or_name] = table
    equality: dict[str, list[str]] = {}
    ranges: dict[str, list[str]] = {}
    conditions: list[exp.Expr] = [w.this for w in tree.find_all(exp.Where)]
    conditions += [j.args["on"] for j in tree.find_all(exp.Join) if j.args.get("on") is not None]
    for condition in conditions:
        for predicate in _conjuncts(condition):
            bucket = (
                equality
                if isinstance(predicate, _EQUALITY)
                else (ranges if isinstance(predicate, _RANGE) else None)
            )
            if bucket is None:
                continue
            for column, key in _compared_keys(predicate, dialect, indexable):
                owner = _owner(column, tables)
                if owner is not None and key not in bucket.setdefault(owner, []):
                    bucket[owner].append(key)
    found: dict[str, MissingIndex] = {}
    for alias, table in tables.items():
        eq = tuple(equality.get(alias, ()))
        rng = tuple(c for c in ranges.get(alias, ()) if c not in eq)
        if not eq and not rng:
            continue
        name = table.name
        previous = found.get(name)
        if previous is not None:  # a self-join: merge what both aliases filter on
            eq = tuple(dict.fromkeys(previous.equality + eq))
            rng = tuple(c for c in dict.fromkeys(previous.inequality + rng) if c not in eq)
        found[name] = MissingIndex(table=name, schema=table.db or None, equality=eq, inequality=rng)
    return found


def _conjuncts(condition: exp.Expr) -> Iterable[exp.Expr]:
    # Only AND-ed predicates can all be served by one index; an OR needs one index per branch,
    # so its branches are still worth naming but each on its own.
    if isinstance(condition, exp.And | exp.Or):
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    elif isinstance(condition, exp.Paren):
        yield from _conjuncts(condition.this)
    else:
        yield condition


def _compared_keys(
    predicate: exp.Expr, dialect: str, indexable: frozenset[str]
) -> list[tuple[exp.Column, str]]:
    """(column, index key) for each side that an index can serve: a bare column (its name),
    or an ``indexable`` function of one column (``lower(email)`` -> the expression key
    ``(LOWER(email))``: an expression index serves it where a plain one cannot)."""
    sides = (
        [predicate.this]
        if not isinstance(predicate, exp.Binary)
        else [predicate.left, predicate.right]
    )
    keys = []
    for side in sides:
        if isinstance(side, exp.Column):
            keys.append((side, side.name))
        elif indexable and isinstance(side, exp.Func):
            name = side.name if isinstance(side, exp.Anonymous) else side.sql_name()
            columns = list(side.find_all(exp.Column))
            if (
                columns
                and name.upper() in indexable
                and side.find(exp.Select) is None
                and len({(c.table, c.name) for c in columns}) == 1
            ):
                bare = side.transform(
                    lambda n: (
                        exp.column(n.name, quoted=n.this.quoted) if isinstance(n, exp.Column) else n
                    )
                )
                keys.append((columns[0], f"({bare.sql(dialect=dialect)})"))
    return keys


def _owner(column: exp.Column, tables: dict[str, exp.Table]) -> str | None:
    if column.table:
        return column.table if column.table in tables else None
    # An unqualified column is unambiguous only when one table is in scope.
    return next(iter(tables)) if len(tables) == 1 else None


def recommendation_for(missing: MissingIndex, *, reason: str) -> IndexRecommendation:
    table = f"{missing.schema}.{missing.table}" if missing.schema else missing.table
    return IndexRecommendation(
        table=table,
        columns=missing.key_columns,
        include=tuple(c for c in missing.include if c not in missing.key_columns),
        reason=reason,
        estimated_impact=f"{missing.impact:.0f}% lower cost (optimizer estimate)"
        if missing.impact is not None
        else "",
        kind="query",
    )


def suggest_ddl(
    missing: Iterable[MissingIndex], dialect: str | Dialect, *, reason: str
) -> list[str]:
    """``CREATE INDEX`` statements for the suggestions, duplicates removed, in order."""
    statements: dict[str, None] = {}
    for mi in missing:
        if mi.key_columns:
            rec = recommendation_for(mi, reason=reason)
            statements.setdefault(generate_index_ddl(rec, dialect), None)
    return list(statements)
