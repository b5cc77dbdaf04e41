"""PostgreSQL ``EXPLAIN (FORMAT JSON)`` output -> :class:`~pytest_cdc.plans.model.Plan`."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pytest_cdc.errors import PlanFormatError
from pytest_cdc.plans.model import Plan, PlanNode, Statement

# PostgreSQL up to 17 "disables" a path by adding this to its cost; 18 keeps real costs and
# marks the node with "Disabled": true instead.
DISABLE_COST = 1.0e10

_SEEK_TYPES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})
_INDEX_READS = frozenset({"Index Scan", "Index Only Scan"})
_PREDICATE_KEYS = ("Index Cond", "Recheck Cond", "Filter", "Hash Cond", "Merge Cond", "Join Filter")
_DETAIL_KEYS = (
    "Rows Removed by Filter",
    "Sort Method",
    "Join Type",
    "Strategy",
    "Partial Mode",  # parallel aggregates: plan shapes drop the "Partial" half
    "Shared Hit Blocks",
    "Shared Read Blocks",
    "Temp Written Blocks",
)


def parse_explain_json(document: Any, *, source: str | None = None) -> Plan:
    """Parse what ``EXPLAIN (FORMAT JSON[, ANALYZE, BUFFERS])`` returned.

    ``document`` may be the text, bytes, or the value psycopg2 already decoded (a list with
    one object holding ``"Plan"``).
    """
    if isinstance(document, bytes | bytearray):
        document = document.decode("utf-8-sig")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise PlanFormatError(f"not a json plan: {exc}") from None
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise PlanFormatError("not a postgresql json plan: expected a list of objects with 'Plan'")
    statements: list[Statement] = []
    actual = False
    for entry in document:
        if not isinstance(entry, dict) or not isinstance(entry.get("Plan"), dict):
            raise PlanFormatError("not a postgresql json plan: an entry has no 'Plan' object")
        root = _node(entry["Plan"], under_limit=False)
        actual = actual or root.actual_rows is not None
        statements.append(
            Statement(
                root=root,
                text=entry.get("Query Text"),
                statement_type=_statement_type(entry["Plan"]),
                estimated_rows=root.estimated_rows,
                cost=root.cost,
                execution_time_ms=_float(entry.get("Execution Time")),
                planning_time_ms=_float(entry.get("Planning Time")),
                planning_buffers=_buffers(entry.get("Planning") or {}),
            )
        )
    return Plan(dialect="postgresql", statements=tuple(statements), actual=actual, source=source)


def _statement_type(node: dict[str, Any]) -> str:
    if node.get("Node Type") == "ModifyTable":
        return str(node.get("Operation", "MODIFY")).upper()
    return "SELECT"


def _node(raw: dict[str, Any], *, under_limit: bool) -> PlanNode:
    node_type = str(raw.get("Node Type", "?"))
    child_under_limit = under_limit or node_type == "Limit"
    plans = raw.get("Plans")
    children = tuple([_node(c, under_limit=child_under_limit) for c in plans]) if plans else ()
    operator = node_type
    if raw.get("Parallel Aware"):
        operator = f"Parallel {node_type}"
    if node_type == "ModifyTable" and raw.get("Operation"):
        operator = str(raw["Operation"])
    has_cond = "Index Cond" in raw
    # An Index Scan with no Index Cond walks the whole index: the planner picks that when a
    # seq scan is disabled and the index only offers order, so it is a scan in disguise --
    # unless a Limit above stops it early.
    full_index_scan = node_type in _INDEX_READS and not has_cond and not under_limit
    is_scan = node_type == "Seq Scan" or full_index_scan
    cost = _float(raw.get("Total Cost"))
    children_cost = max([c.cost or 0.0 for c in children]) if children else 0.0
    disabled = raw.get("Disabled") is True or (
        cost is not None and cost >= DISABLE_COST and children_cost < DISABLE_COST
    )
    warnings: list[str] = []
    if full_index_scan:
        warnings.append(f"full index scan of {raw.get('Index Name')!r}: no Index Cond")
    if raw.get("Sort Space Type") == "Disk":
        warnings.append(
            f"sort spilled to disk ({raw.get('Sort Method')}, {raw.get('Sort Space Used')} kB)"
        )
    if "Hash Batches" in raw and int(raw["Hash Batches"]) > 1:
        warnings.append(f"hash spilled to disk in {raw['Hash Batches']} batches")
    actual_rows = _float(raw.get("Actual Rows"))
    loops = _float(raw.get("Actual Loops"))
    if actual_rows is not None:
        # EXPLAIN ANALYZE reports rows per loop; the total is what a person compares with.
        actual_rows *= loops if loops is not None else 1.0
    predicate = "; ".join([f"{key}: {raw[key]}" for key in _PREDICATE_KEYS if key in raw]) or None
    details = tuple([(key, str(raw[key])) for key in _DETAIL_KEYS if key in raw])
    return PlanNode(
        operator=operator,
        logical_operator=str(raw["Join Type"]) if "Join Type" in raw else None,
        relation=raw.get("Relation Name"),
        schema=raw.get("Schema"),
        alias=raw.get("Alias"),
        index=raw.get("Index Name"),
        estimated_rows=_float(raw.get("Plan Rows")),
        actual_rows=actual_rows,
        loops=loops,
        cost=cost,
        children=children,
        is_scan=is_scan,
        is_seek=node_type in _SEEK_TYPES and not full_index_scan,
        is_lookup=False,
        disabled=disabled,
        warnings=tuple(warnings),
        predicate=predicate,
        details=details,
        buffers=_buffers(raw),
    )


#: EXPLAIN (BUFFERS) keys, in the order PostgreSQL's text format names them.
_BUFFER_KEYS = tuple(
    (f"{kind.title()} {what.title()} Blocks", f"{kind} {what}")
    for kind, whats in (
        ("shared", ("hit", "read", "dirtied", "written")),
        ("local", ("hit", "read", "dirtied", "written")),
        ("temp", ("read", "written")),
    )
    for what in whats
)


def _buffers(raw: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    found = []
    for key, label in _BUFFER_KEYS:
        value = raw.get(key)
        if isinstance(value, int | float) and value:
            found.append((label, int(value)))
    return tuple(found)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) is float:  # what EXPLAIN JSON holds nearly always
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# Walks pg_inherits upwards, so it covers declarative partitions at any depth and old-style
# inheritance children alike (pg_partition_root only knows the former).
_PARENTS_SQL = """
WITH RECURSIVE rel(name, oid) AS (
    SELECT n, to_regclass(quote_ident(n)) FROM unnest({names}::text[]) AS n
), up(name, cur, depth) AS (
    SELECT name, oid, 0 FROM rel WHERE oid IS NOT NULL
    UNION ALL
    SELECT up.name, i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.cur
)
SELECT DISTINCT ON (name) name, c.relname
FROM up JOIN pg_class c ON c.oid = up.cur
WHERE depth > 0
ORDER BY name, depth DESC
"""


def parents_query(names: list[str]) -> str:
    """The catalog query mapping partition names to their root table (names inlined as a
    quoted array literal so it works with every driver's parameter style)."""
    literal = "ARRAY[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"
    return _PARENTS_SQL.format(names=literal)


def map_partitions(plan: Plan, parents: dict[str, str]) -> Plan:
    """Report partitions as their parent table, keeping the partition name beside it."""
    if not parents:
        return plan

    def fix(node: PlanNode) -> PlanNode:
        children = tuple(fix(child) for child in node.children)
        if node.relation in parents:
            return replace(
                node, relation=parents[node.relation], partition=node.relation, children=children
            )
        return replace(node, children=children) if children != node.children else node

    statements = tuple(
        replace(s, root=fix(s.root)) if s.root is not None else s for s in plan.statements
    )
    return replace(plan, statements=statements)
