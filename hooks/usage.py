"""How queries use tables: which columns they filter, join and order by, per table reference.

Only bare columns count: a column inside a function or cast cannot seek an index (cdc-sql-lint
reports those as CDC103), so it does not make an index "needed" either.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from pytest_cdc_hooks import workers
from pytest_cdc_hooks.findings import fingerprint, line_col, line_starts
from pytest_cdc_hooks.lint import analyze, node_offset
from pytest_cdc_hooks.schema import table_key

__all__ = ["file_uses", "normalize_predicate", "select_uses"]

_EQUALITY = (exp.EQ, exp.In, exp.Is)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.Like)


def normalize_predicate(sql: str) -> str:
    """Compare predicates loosely: case, spaces, quotes and outer parentheses do not matter."""
    text = re.sub(r'[\s"\[\]`]', "", sql.lower())
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return text


def _unqualified(node: exp.Expression) -> exp.Expression:
    return node.transform(
        lambda n: exp.column(n.name) if isinstance(n, exp.Column) and n.table else n
    )


def _flatten_and(node: exp.Expression | None) -> list[exp.Expression]:
    """The AND-ed predicates, in order; a loop, not recursion: a generated query may AND
    thousands of them."""
    out: list[exp.Expression] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, exp.And):
            stack.extend((item.expression, item.this))
        elif isinstance(item, exp.Paren):
            stack.append(item.this)
        elif item is not None:
            out.append(item)
    return out


def select_uses(select: exp.Expression, dialect: str) -> list[dict[str, Any]]:
    """One entry per table read directly by ``select`` (an exp.Select, Update or Delete)."""
    tables: list[exp.Table] = []
    source = select.args.get("from_")
    if isinstance(select, exp.Update | exp.Delete) and isinstance(select.this, exp.Table):
        tables.append(select.this)
    if source is not None and isinstance(source.this, exp.Table):
        tables.append(source.this)
    joins = list(select.args.get("joins") or [])
    if source is not None:
        joins.extend(source.this.args.get("joins") or [])  # T-SQL UPDATE ... FROM a JOIN b
    for join in joins:
        if isinstance(join.this, exp.Table):
            tables.append(join.this)
    if not tables:
        return []
    by_alias: dict[str, exp.Table] = {}
    for table in tables:
        by_alias[(table.alias or table.name).lower()] = table
        by_alias.setdefault(table.name.lower(), table)

    def owner(column: exp.Column) -> exp.Table | None:
        if column.table:
            return by_alias.get(column.table.lower())
        return tables[0] if len(tables) == 1 else None

    uses: dict[int, dict[str, Any]] = {
        id(t): {"eq": [], "range": [], "join": [], "order": []} for t in tables
    }
    # The conjuncts of this statement's own WHERE and ON: flattening stops at subqueries (their
    # own scope), so every predicate here belongs to ``select``.
    where = select.args.get("where")
    conjuncts = _flatten_and(where.this) if where is not None else []
    for predicate in conjuncts:
        _classify(predicate, owner, uses, "eq")
    for join in joins:
        for predicate in _flatten_and(join.args.get("on")):
            _classify(predicate, owner, uses, "join")
    order = select.args.get("order")
    if order is not None:
        for item in order.expressions:
            column = item.this
            if isinstance(column, exp.Column):
                order_table = owner(column)
                if order_table is not None:
                    uses[id(order_table)]["order"].append(column.name)
    normalized = [normalize_predicate(_unqualified(p).sql(dialect=dialect)) for p in conjuncts]
    out = []
    for table in tables:
        use = uses[id(table)]
        use["table"] = table_key([table.catalog, table.db, table.name], dialect)
        use["conjuncts"] = normalized
        use["node"] = table
        out.append(use)
    return out


def _classify(
    predicate: exp.Expression, owner: Any, uses: dict[int, dict[str, Any]], kind: str
) -> None:
    if isinstance(predicate, exp.Not | exp.Or):
        return
    if not isinstance(predicate, _EQUALITY + _RANGE):
        return
    left = predicate.this
    right = predicate.args.get("expression")
    for column, other in ((left, right), (right, left)):
        if not isinstance(column, exp.Column):
            continue
        table = owner(column)
        if table is None:
            continue
        name = column.name
        if isinstance(predicate, exp.Like):
            pattern = other
            if not (isinstance(pattern, exp.Literal) and str(pattern.this)[:1] not in "%_"):
                continue  # only a constant prefix can seek
            bucket = "range"
        elif isinstance(predicate, _RANGE):
            bucket = "range"
        elif isinstance(other, exp.Column) and owner(other) is not table:
            bucket = "join"
        else:
            bucket = kind
        uses[id(table)][bucket].append(name)


def file_uses(text: str, dialect: str) -> dict[str, Any]:
    parsed, _issues, stats = analyze(text, dialect)
    starts = line_starts(text)
    uses: list[dict[str, Any]] = []
    not_understood: list[tuple[int, int, str, str]] = []
    for p in parsed:
        if p.status == "not_understood":
            line, col = line_col(text, p.offset, starts)
            not_understood.append((line, col, p.reason, fingerprint(p.stmt.text)))
            continue
        workers.statement(p.stmt.start)
        about = ""  # the statement's fingerprint, once: hashing it per use is quadratic
        for tree in p.trees:
            for scope in tree.find_all(exp.Select, exp.Update, exp.Delete):
                for use in select_uses(scope, dialect):
                    node = use.pop("node")
                    line, col = line_col(text, node_offset(node, p.stmt), starts)
                    about = about or fingerprint(p.stmt.text)
                    use.update(line=line, col=col, fingerprint=about)
                    uses.append(use)
    return {"uses": uses, "not_understood": not_understood, "stats": stats.as_list()}


def index_need(use: dict[str, Any]) -> tuple[list[str], list[str], str]:
    """What one table use (an item of :func:`file_uses`) asks of an index.

    Returns the columns it filters or joins on (an index leading with any of them serves it;
    empty when it only orders), the columns an index made for it should lead with (equality
    and join columns, then one range column or else the ORDER BY columns; for an ORDER BY
    alone, its columns), and the words a finding says it with.
    """
    filtered = unique_names([*use["eq"], *use["join"], *use["range"]])
    if filtered:
        lead = unique_names([*use["eq"], *use["join"], *(use["range"][:1] or use["order"])])
        return filtered, lead, f"filters or joins on {', '.join(filtered)}"
    return [], unique_names(use["order"]), f"orders by {', '.join(use['order'])}"


def unique_names(items: list[str]) -> list[str]:
    """Unique names, case-insensitively, first spelling and order kept."""
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.lower(), item)
    return list(seen.values())
