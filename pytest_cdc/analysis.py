"""Query analysis: one call that explains a query and says what is worth fixing.

:func:`analyze_postgres_query` / :func:`analyze_sqlserver_query` return a
:class:`QueryAnalysis`: the plan, estimated and actual rows, execution time, the scan and join
operators used, and warnings a person can act on (estimates off by 10x, scans of big tables,
sorts and hashes spilling to disk, key lookups, missing indexes, implicit conversions).
:func:`row_count` reads table sizes from statistics, counting exactly only when they are
missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_cdc.asserts import _raw, explain
from pytest_cdc.plans.model import Plan
from pytest_cdc.plans.render import figure, render_plan

__all__ = [
    "QueryAnalysis",
    "analyze_postgres_query",
    "analyze_query",
    "analyze_sqlserver_query",
    "row_count",
]

# Below these, a misestimate or a scan costs too little to be worth a warning.
ESTIMATE_FACTOR = 10.0
ESTIMATE_MIN_ROWS = 100.0
BIG_TABLE_ROWS = 10_000

_JOIN_WORDS = ("Join", "Nested Loop", "Hash Match", "Merge")


@dataclass(frozen=True)
class QueryAnalysis:
    plan: Plan
    estimated_rows: float | None
    actual_rows: float | None
    execution_time_ms: float | None
    planning_time_ms: float | None
    scan_types: tuple[str, ...]
    join_types: tuple[str, ...]
    warnings: tuple[str, ...]
    suggested_indexes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimated_rows": self.estimated_rows,
            "actual_rows": self.actual_rows,
            "execution_time_ms": self.execution_time_ms,
            "planning_time_ms": self.planning_time_ms,
            "scan_types": list(self.scan_types),
            "join_types": list(self.join_types),
            "warnings": list(self.warnings),
            "suggested_indexes": list(self.suggested_indexes),
            "plan": self.plan.to_dict(),
        }

    def __str__(self) -> str:
        lines = [render_plan(self.plan, marked=lambda n: n.is_scan or n.is_lookup)]
        lines += [f"note: {note}" for note in self.plan.notes]
        figures = [f"estimated rows {figure(self.estimated_rows)}"]
        if self.actual_rows is not None:
            figures.append(f"actual rows {figure(self.actual_rows)}")
        if self.execution_time_ms is not None:
            figures.append(f"execution {self.execution_time_ms:.3f} ms")
        lines.append(", ".join(figures))
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"suggested: {ddl}" for ddl in self.suggested_indexes]
        return "\n".join(lines)


def _estimate_warnings(plan: Plan) -> list[str]:
    found = []
    for node in plan.nodes():
        if node.actual_rows is None or node.estimated_rows is None:
            continue
        actual = node.actual_rows / node.loops if node.loops else node.actual_rows
        estimated = node.estimated_rows
        low, high = sorted((max(actual, 1.0), max(estimated, 1.0)))
        if high / low >= ESTIMATE_FACTOR and high - low >= ESTIMATE_MIN_ROWS:
            found.append(
                f"row estimate off by {high / low:.0f}x at {node.label}: estimated"
                f" {figure(estimated)}, actual {figure(actual)} per run; run ANALYZE / UPDATE"
                " STATISTICS"
            )
    return found


def _analysis(
    plan: Plan, table_rows: dict[str, float], big_table_rows: int, suggested: Sequence[str]
) -> QueryAnalysis:
    warnings = _estimate_warnings(plan)
    for node in plan.scans():
        rows = table_rows.get(node.relation or "", 0.0)
        if rows >= big_table_rows:
            warnings.append(f"{node.label} reads a table of about {rows:,.0f} rows")
    for node in plan.lookups():
        runs = node.loops or node.estimated_rows or 0
        warnings.append(
            f"{node.label} runs about {figure(runs)} times: add the columns it fetches to the"
            " seeking index as INCLUDE columns"
        )
    warnings += list(plan.warnings)
    for mi in plan.missing_indexes:
        impact = f" ({mi.impact:g}% impact)" if mi.impact is not None else ""
        warnings.append(f"missing index on {mi.qualified_table}{impact}")
    planning = next((s.planning_time_ms for s in plan.statements if s.planning_time_ms), None)
    return QueryAnalysis(
        plan=plan,
        estimated_rows=plan.estimated_rows,
        actual_rows=plan.actual_rows,
        execution_time_ms=plan.execution_time_ms,
        planning_time_ms=planning,
        scan_types=tuple(
            dict.fromkeys(
                n.label
                for n in plan.nodes()
                if n.is_scan or n.is_seek or n.is_lookup or "Scan" in n.operator
            )
        ),
        join_types=tuple(
            dict.fromkeys(
                n.operator + (f" ({n.logical_operator})" if n.logical_operator else "")
                for n in plan.nodes()
                if any(word in n.operator for word in _JOIN_WORDS)
            )
        ),
        warnings=tuple(dict.fromkeys(warnings)),
        suggested_indexes=tuple(suggested),
    )


def analyze_query(
    conn: Any,
    sql: str,
    params: Any = None,
    *,
    analyze: bool = True,
    buffers: bool = False,
    big_table_rows: int = BIG_TABLE_ROWS,
) -> QueryAnalysis:
    """Explain ``sql`` on ``conn``, whatever its engine (with ``analyze`` it runs, its changes
    rolled back), and judge the plan: what ``pytest-cdc explain`` prints.  Table sizes come
    from the plan where it has them, else from statistics; indexes are suggested for the big
    tables it scans, from what the engine can tell (the query's filter columns, the plan's
    missing indexes)."""
    from pytest_cdc.database import dialect_of
    from pytest_cdc.plans.suggest import suggest_ddl

    plan = explain(conn, sql, params, analyze=analyze, buffers=buffers)
    table_rows = _plan_table_rows(plan)
    for name in sorted({n.relation for n in plan.scans() if n.relation} - set(table_rows)):
        table_rows[name] = float(row_count(conn, name))
    big = {name.lower() for name, rows in table_rows.items() if rows >= big_table_rows}
    dialect = dialect_of(conn)
    derived, _ = dialect.index_advice(sql, plan, big) if big else ([], "")
    suggested = suggest_ddl(derived, dialect, reason="filter columns of a big-table scan")
    return _analysis(plan, table_rows, big_table_rows, suggested)


def analyze_postgres_query(
    conn: Any,
    sql: str,
    params: Any = None,
    *,
    analyze: bool = True,
    buffers: bool = True,
    big_table_rows: int = BIG_TABLE_ROWS,
) -> QueryAnalysis:
    """EXPLAIN (ANALYZE, BUFFERS) ``sql`` in a rolled-back savepoint and judge the plan."""
    return analyze_query(
        conn, sql, params, analyze=analyze, buffers=buffers, big_table_rows=big_table_rows
    )


def analyze_sqlserver_query(
    conn: Any,
    sql: str,
    params: Any = None,
    *,
    analyze: bool = True,
    big_table_rows: int = BIG_TABLE_ROWS,
) -> QueryAnalysis:
    """The actual (STATISTICS XML; changes rolled back) or estimated plan, judged."""
    plan = explain(conn, sql, params, analyze=analyze)
    return analyze_plan(plan, big_table_rows=big_table_rows)


def analyze_plan(plan: Plan, *, big_table_rows: int = BIG_TABLE_ROWS) -> QueryAnalysis:
    """Judge a plan on its own (a saved file): table sizes come from the plan if it has them
    (SQL Server's TableCardinality); index suggestions from MissingIndexes."""
    from pytest_cdc.dialects import get_dialect
    from pytest_cdc.plans.suggest import suggest_ddl

    table_rows = _plan_table_rows(plan)
    # Without the statement only what the plan itself reports can be suggested.
    dialect = get_dialect(plan.dialect)
    missing, _ = dialect.index_advice("", plan, set())
    suggested = suggest_ddl(missing, dialect, reason="optimizer missing index")
    return _analysis(plan, table_rows, big_table_rows, suggested)


def _plan_table_rows(plan: Plan) -> dict[str, float]:
    """Table sizes the plan itself reports (SQL Server's TableCardinality)."""
    table_rows: dict[str, float] = {}
    for node in plan.scans():
        cardinality = dict(node.details).get("TableCardinality")
        if node.relation and cardinality is not None:
            table_rows[node.relation] = float(cardinality)
    return table_rows


# -- row counts ----------------------------------------------------------------------------


def row_count(conn: Any, table: str, *, exact: bool = False) -> int:
    """Rows in ``table`` from statistics (PostgreSQL: ``pg_class.reltuples``/``n_live_tup``
    summed over partitions; SQL Server: ``sys.dm_db_partition_stats`` or ``sys.partitions``),
    or ``count(*)`` when ``exact`` or when statistics are missing."""
    from pytest_cdc.database import dialect_of

    return dialect_of(conn).row_count(_raw(conn), table, exact=exact)
