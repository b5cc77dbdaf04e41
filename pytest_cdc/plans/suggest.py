"""Index suggestions: from a query's filter columns (PostgreSQL) or a plan's MissingIndexes.

PostgreSQL has no "missing index" report, so the suggestion is derived from the SQL itself:
columns compared by equality to a value or to another table's column (join keys) come first,
then columns used in a range; that order lets one B-tree seek find the whole range.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from pytest_cdc.indexes import IndexRecommendation, generate_index_ddl
from pytest_cdc.plans.model import MissingIndex

_EQUALITY = (exp.EQ, exp.In, exp.Is, exp.NullSafeEQ)
#: Functions PostgreSQL can index whatever the column's type (IMMUTABLE); date_trunc() or a
#: cast of a timestamptz is not, and an index on it would be refused.
INDEXABLE_FUNCTIONS = frozenset(
    {
        "LOWER",
        "UPPER",
        "TRIM",
        "BTRIM",
        "LTRIM",
        "RTRIM",
        "ABS",
        "LENGTH",
        "MD5",
        "SUBSTRING",
        "SUBSTR",
        "LEFT",
        "RIGHT",
        "REPLACE",
        "COALESCE",
    }
)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.Like, exp.ILike)


def filter_columns(sql: str, dialect: str = "postgres") -> dict[str, MissingIndex]:
    """Table name -> the columns the query filters or joins it on (as a MissingIndex).

    Keys are the bare table names as written in the query, lower-cased where unquoted.
    Unparseable SQL gives ``{}``: a suggestion is a courtesy, never a reason to crash.
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
            for column, key in _compared_keys(predicate, dialect):
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


def _compared_keys(predicate: exp.Expr, dialect: str) -> list[tuple[exp.Column, str]]:
    """(column, index key) for each side that an index can serve: a bare column (its name),
    or on PostgreSQL a function of one column (``lower(email)`` -> the expression key
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
        elif dialect == "postgres" and isinstance(side, exp.Func):
            name = side.name if isinstance(side, exp.Anonymous) else side.sql_name()
            columns = list(side.find_all(exp.Column))
            if (
                columns
                and name.upper() in INDEXABLE_FUNCTIONS
                and side.find(exp.Select) is None
                and len({(c.table, c.name) for c in columns}) == 1
            ):
                bare = side.transform(
                    lambda n: (
                        exp.column(n.name, quoted=n.this.quoted) if isinstance(n, exp.Column) else n
                    )
                )
                keys.append((columns[0], f"({bare.sql(dialect='postgres')})"))
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


def suggest_ddl(missing: Iterable[MissingIndex], dialect: str, *, reason: str) -> list[str]:
    """``CREATE INDEX`` statements for the suggestions, duplicates removed, in order."""
    statements: dict[str, None] = {}
    for mi in missing:
        if mi.key_columns:
            rec = recommendation_for(mi, reason=reason)
            statements.setdefault(generate_index_ddl(rec, dialect), None)
    return list(statements)


def add_forceseek(sql: str) -> str:
    """The T-SQL with ``WITH (FORCESEEK)`` on every base table it reads.

    FORCESEEK makes SQL Server fail with error 8622 when no index can seek the predicate,
    which proves the absence of a usable index on a table of any size.  CTE references and
    derived tables take no hint; tables that already carry hints keep them.
    """
    try:
        statements = sqlglot.parse(sql, read="tsql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise ValueError(
            f"cannot add FORCESEEK to a statement sqlglot cannot parse: {exc}"
        ) from None
    out = []
    for tree in statements:
        if tree is None:
            continue
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        target = tree.this if isinstance(tree, exp.Insert) else None
        if isinstance(target, exp.Schema):
            target = target.this
        for table in tree.find_all(exp.Table):
            if not table.name or table.name.lower() in ctes:
                continue
            if isinstance(table.this, exp.Anonymous):  # a table-valued function
                continue
            if table is target:
                continue  # the INSERT target is written, not read
            hints = list(table.args.get("hints") or [])
            words = {h.sql("tsql").upper() for hint in hints for h in hint.expressions}
            if "FORCESEEK" in words:
                continue
            if hints and isinstance(hints[0], exp.WithTableHint):
                hints[0].append("expressions", exp.Var(this="FORCESEEK"))
            else:
                hints.append(exp.WithTableHint(expressions=[exp.Var(this="FORCESEEK")]))
            table.set("hints", hints)
        out.append(tree.sql("tsql"))
    return ";\n".join(out)
