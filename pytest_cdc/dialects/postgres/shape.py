"""PostgreSQL plans for snapshots: the conventions of its EXPLAIN output that plan shapes
normalise, plans with partitions (and their indexes) named by their parent table, and plans of
statements with ``$1`` parameters (what query files hold), taken as generic plans.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from typing import Any

from pytest_cdc.dialects.postgres.explain import _pg_state, _run_first, pg_sandbox
from pytest_cdc.dialects.postgres.plans import DISABLE_COST, parents_query, parse_explain_json
from pytest_cdc.plans.model import Plan, PlanNode
from pytest_cdc.plans.shape import ShapeConventions

CONVENTIONS = ShapeConventions(
    parallel_prefix="Parallel ",
    # Which of the two the planner picks follows the visibility map, that is, when VACUUM
    # last ran: not something a snapshot should notice.
    operator_aliases={"Index Only Scan": "Index Scan"},
    gather_operators=frozenset({"Gather", "Gather Merge"}),
    # A cache of the inner side (Memoize, 14+), a materialised inner side, and the hash table
    # a Hash Join builds: how the join runs, not what it reads.
    decorations=frozenset({"Memoize", "Materialize", "Hash"}),
    partial_details=frozenset({("Partial Mode", "Partial")}),
    bitmap_pair=("Bitmap Heap Scan", "Bitmap Index Scan"),
    index_condition="Index Cond",
    append_operators=frozenset({"Append", "Merge Append"}),
    join_operators=frozenset({"Nested Loop", "Hash Join", "Merge Join"}),
    # 16 added Right Anti joins and 18 Right Semi joins: the same joins, inputs swapped.
    mirrored_joins={"Right": "Left", "Right Anti": "Anti", "Right Semi": "Semi"},
    disable_cost=DISABLE_COST,
)

#: The name of the prepared statement a generic plan is taken from.
_PREPARED = "cdc_generic_plan"
_DOLLAR_PARAM = re.compile(r"\$\d+\b")


def snapshot_plan(raw: Any, sql: str, params: Any, *, seqscan_off: bool) -> Plan:
    """The plan of ``sql`` as a snapshot records it: partitions and partition indexes named by
    their root table and index.

    The catalog is asked only when the plan reads a relation the statement does not name (a
    partition or inheritance child shows up under its parent's alias): the plan of a statement
    on plain tables, aliased or not, costs one round trip, as a bare EXPLAIN does.
    """
    setup = ["SET LOCAL enable_seqscan = off"] if seqscan_off else []
    if _idle_autocommit(raw):
        # The common case of a marked test's statements, taken without pg_sandbox's context
        # manager: SET LOCAL and EXPLAIN share the implicit transaction of one query string.
        cur = raw.cursor()
        try:
            _run_first(cur, raw, setup, f"EXPLAIN (FORMAT JSON) {sql}", params)
            return _named_by_parents(cur, parse_explain_json(cur.fetchone()[0]), sql)
        finally:
            cur.close()
    with pg_sandbox(raw, setup, read_only=True) as (cur, prelude):
        _run_first(cur, raw, prelude, f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = parse_explain_json(cur.fetchone()[0])
        return _named_by_parents(cur, plan, sql)


def _idle_autocommit(raw: Any) -> bool:
    """A psycopg2 connection in autocommit with nothing running (TRANSACTION_STATUS_IDLE)."""
    if not type(raw).__module__.startswith("psycopg2") or not raw.autocommit:
        return False
    return int(raw.get_transaction_status()) == 0


def generic_plan(raw: Any, sql: str, *, seqscan_off: bool, seek_joins: bool = False) -> Plan:
    """The plan of ``sql`` whatever its ``$1``... parameters hold: PREPARE infers their types
    and ``plan_cache_mode = force_generic_plan`` keeps them parameters (EXPLAIN (GENERIC_PLAN)
    needs 16).  Everything is rolled back, and the prepared statement (which a rollback keeps)
    is deallocated.  ``seek_joins``: no hash or merge joins (see Dialect.generic_plan)."""
    setup = ["SET LOCAL enable_seqscan = off"] if seqscan_off else []
    # Hash and merge joins read their inputs whole; without them the planner must seek the
    # inner side of a join through an index wherever one can serve it.
    setup += ["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"] * seek_joins
    if not _DOLLAR_PARAM.search(sql):
        with pg_sandbox(raw, setup) as (cur, prelude):
            _run_first(cur, raw, prelude, f"EXPLAIN (FORMAT JSON) {sql}", None)
            return _named_by_parents(cur, parse_explain_json(cur.fetchone()[0]), sql)
    setup.append("SET LOCAL plan_cache_mode = force_generic_plan")
    idle = _pg_state(raw) == "idle"
    prepared = False
    try:
        with pg_sandbox(raw, setup) as (cur, prelude):
            for statement in prelude:
                cur.execute(statement)
            cur.execute(f"PREPARE {_PREPARED} AS {sql}")
            prepared = True
            cur.execute(
                "SELECT cardinality(parameter_types) FROM pg_prepared_statements"
                f" WHERE name = '{_PREPARED}'"
            )
            count = int(cur.fetchone()[0] or 0)
            nulls = ", ".join(["NULL"] * count)
            cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {_PREPARED}({nulls})")
            plan = parse_explain_json(cur.fetchone()[0])
            return _named_by_parents(cur, plan, sql)
    finally:
        if prepared:
            # After the rollback: in an aborted transaction DEALLOCATE would fail too.
            cur = raw.cursor()
            try:
                cur.execute(f"DEALLOCATE {_PREPARED}")
            finally:
                cur.close()
            if idle and not getattr(raw, "autocommit", False):
                raw.rollback()  # the driver opened a transaction for DEALLOCATE


@functools.lru_cache(maxsize=4096)
def _named(relation: str, sql: str) -> bool:
    """Whether ``sql`` names ``relation`` itself (bare or double-quoted)."""
    word = rf'(?<![\w$"]){re.escape(relation)}(?![\w$])'
    quoted = re.escape('"' + relation.replace('"', '""') + '"')
    return re.search(word, sql, re.I) is not None or re.search(quoted, sql) is not None


def _named_by_parents(cur: Any, plan: Plan, sql: str) -> Plan:
    nodes = list(plan.nodes())
    if all(n.alias == n.relation or _named(n.relation or "", sql) for n in nodes if n.relation):
        return plan
    names = sorted({n.relation for n in nodes if n.relation} | {n.index for n in nodes if n.index})
    cur.execute(parents_query(names))
    parents = {str(child): str(parent) for child, parent in cur.fetchall()}
    if not parents:
        return plan

    def fix(node: PlanNode) -> PlanNode:
        children = tuple(fix(child) for child in node.children)
        changes: dict[str, Any] = {"children": children}
        if node.relation in parents:
            changes.update(relation=parents[node.relation], partition=node.relation)
        if node.index in parents:
            changes["index"] = parents[node.index]
        return replace(node, **changes)

    statements = tuple(
        replace(s, root=fix(s.root)) if s.root is not None else s for s in plan.statements
    )
    return replace(plan, statements=statements)
