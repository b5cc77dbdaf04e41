"""Which index reads of a PostgreSQL plan seek, and on which columns.

A plan without a scan can still read a table badly: through an index whose condition names
only a column after its leading one (the whole index is walked), or through an index on one
of two filtered columns (the other is filtered row by row).  The live index-coverage check
tells them apart with the index's columns from the catalog and the columns its ``Index
Cond`` constrains (PostgreSQL writes an index qualifier with the indexed column on the left,
unqualified).
"""

from __future__ import annotations

import re
from typing import Any

from pytest_cdc.dialects.base import IndexRead
from pytest_cdc.plans.model import Plan, PlanNode

_CONDITION = "Index Cond: "
_HEAP = "Bitmap Heap Scan"

# Names inlined as one quoted array literal, so the query works with every driver's
# parameter style; expression columns (attnum 0) are NULL.
_INDEXES_SQL = """
SELECT c.relname, i.indisunique,
       array(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.n <= i.indnkeyatts
             ORDER BY k.n)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indexrelid IN (SELECT to_regclass(quote_ident(n)) FROM unnest({names}::text[]) AS n)
"""


def _condition(node: PlanNode) -> str:
    for part in (node.predicate or "").split("; "):
        if part.startswith(_CONDITION):
            return part[len(_CONDITION) :]
    return ""


def _reads_of(node: PlanNode, table: str) -> list[tuple[str, str]]:
    """(index, condition) of every index read of ``table`` under ``node``."""
    found: list[tuple[str, str]] = []
    for item in node.walk():
        names = {(item.relation or "").lower(), (item.partition or "").lower()}
        if table not in names:
            continue
        if item.index:
            found.append((item.index, _condition(item)))
        elif item.operator.removeprefix("Parallel ") == _HEAP:
            found += [(n.index, _condition(n)) for n in item.walk() if n.index and not n.relation]
    return found


def _sought(condition: str, columns: tuple[str | None, ...]) -> frozenset[str]:
    sought = set()
    for column in columns:
        if column is None:
            continue
        spelled = re.escape(column) if column == column.lower() else re.escape(f'"{column}"')
        if re.search(rf'(?<![\w."]){spelled}(?![\w"])', condition):
            sought.add(column.lower())
    return frozenset(sought)


def index_reads(raw: Any, plan: Plan, table: str) -> list[IndexRead]:
    """The index reads of ``table`` (its bare name, any case) in ``plan``."""
    name = table.rsplit(".", 1)[-1].strip('"').lower()
    reads = [r for s in plan.statements if s.root for r in _reads_of(s.root, name)]
    if not reads:
        return []
    names = sorted({index for index, _ in reads})
    literal = "ARRAY[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"
    cur = raw.cursor()
    try:
        cur.execute(_INDEXES_SQL.format(names=literal))
        catalog = {str(row[0]): (bool(row[1]), _names(row[2])) for row in cur.fetchall()}
    finally:
        cur.close()
    out = []
    for index, condition in reads:
        unique, columns = catalog.get(index, (False, ()))
        out.append(IndexRead(index, columns, unique, _sought(condition, columns)))
    return out


def _names(value: Any) -> tuple[str | None, ...]:
    if isinstance(value, str):  # psqlODBC returns arrays as their text form
        value = [None if v == "NULL" else v.strip('"') for v in value.strip("{}").split(",") if v]
    return tuple(None if v is None else str(v) for v in value)
