"""Plan assertions: ``assert_no_table_scan``, ``assert_uses_index``, ``assert_plan``, ``explain``.

``db`` is a :class:`~pytest_cdc.database.CdcConnection` or a raw psycopg2/pyodbc connection.
The engine object takes the plan (:meth:`~pytest_cdc.dialects.base.Dialect.explain`) without
disturbing the caller's transaction; this module judges it and writes the failure message.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pytest_cdc.database import CdcConnection, dialect_of
from pytest_cdc.errors import ConfigError, PlanError, fail
from pytest_cdc.plans.model import Plan, PlanNode

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect

Mode = Literal["index-possible", "planner"]
MODES: tuple[str, ...] = ("index-possible", "planner")

__all__ = [
    "MODES",
    "Mode",
    "PlanError",
    "assert_no_table_scan",
    "assert_plan",
    "assert_uses_index",
    "explain",
    "offending_scans",
    "scan_failure",
]


# -- connections ---------------------------------------------------------------------------


def _raw(db: Any) -> Any:
    return db.raw if isinstance(db, CdcConnection) else db


def _dialect(db: Any) -> Dialect:
    try:
        return dialect_of(db)
    except TypeError as exc:
        raise PlanError(f"{exc}: pass a CdcConnection, psycopg2 or pyodbc connection") from None


def explain(
    db: Any, sql: str, params: Any = None, *, analyze: bool = False, buffers: bool = False
) -> Plan:
    """The plan of ``sql`` on ``db``; with ``analyze`` the statement runs (its changes rolled
    back) and the plan carries actual rows and times."""
    return _dialect(db).explain(_raw(db), sql, params, analyze=analyze, buffers=buffers)


# -- checks -------------------------------------------------------------------------------


def _names(value: str | Collection[str] | None) -> set[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return {item.lower().replace('"', "").replace("[", "").replace("]", "") for item in items}


def _matches(node: PlanNode, names: set[str]) -> bool:
    for rel in (node.relation, node.partition):
        if not rel:
            continue
        rel = rel.lower()
        for name in names:
            schema, _, table = name.rpartition(".")
            # PostgreSQL plans name the schema only with VERBOSE: then a qualified name is
            # matched on its table part alone.
            if table == rel and (
                not schema or node.schema is None or schema == node.schema.lower()
            ):
                return True
    return False


def offending_scans(
    plan: Plan,
    *,
    tables: str | Collection[str] | None = None,
    allow: str | Collection[str] = (),
    disabled: bool = False,
) -> list[PlanNode]:
    """The scan nodes an ``assert_no_table_scan`` with these arguments would fail on.

    With ``disabled``, any node reading a table that the planner had to keep although it was
    disabled counts too (PostgreSQL 18 marks them ``"Disabled": true``, older versions add
    1e10 to their cost).
    """
    wanted, allowed = _names(tables), _names(allow) or set()
    return [
        node
        for node in plan.nodes()
        if (node.is_scan or (disabled and node.disabled and node.relation is not None))
        and (wanted is None or _matches(node, wanted))
        and not _matches(node, allowed)
    ]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown plan mode {mode!r}: use 'index-possible' or 'planner'")


def _fail(lines: list[str]) -> None:
    __tracebackhide__ = True
    fail("\n".join(lines))


def _statement_lines(sql: str) -> list[str]:
    return ["", "statement:", *("    " + line for line in sql.strip().splitlines())]


def _plan_lines(plan: Plan, marked: Sequence[PlanNode], what: str) -> list[str]:
    from pytest_cdc.plans.render import render_plan

    return ["", f"plan ({what} marked >>):", render_plan(plan, marked=marked)]


def _index_lines(dialect: Dialect, sql: str, plan: Plan, nodes: Sequence[PlanNode]) -> list[str]:
    from pytest_cdc.plans.suggest import suggest_ddl

    relations = {n.relation.lower() for n in nodes if n.relation}
    missing, source = dialect.index_advice(sql, plan, relations)
    ddl = suggest_ddl(missing, dialect, reason="serves the query's predicate")
    if not ddl:
        return [
            "",
            "no index can be derived: the query does not filter the scanned tables on a"
            " column (add a selective WHERE, or allow= the table if a scan is intended)",
        ]
    return ["", f"an index that would serve it ({source}):", *("    " + s for s in ddl)]


def scan_failure(
    db: Any,
    sql: str,
    params: Any = None,
    *,
    tables: str | Collection[str] | None = None,
    allow: str | Collection[str] = (),
    mode: str = "index-possible",
) -> tuple[Plan, str | None]:
    """The plan checked and, when it scans a table, the failure message (else ``None``).

    Shared by :func:`assert_no_table_scan` and the ``cdc_no_table_scan`` marker.
    """
    _check_mode(mode)
    dialect = _dialect(db)
    plan, note = dialect.scan_check_plan(_raw(db), sql, params, mode)
    bad = offending_scans(plan, tables=tables, allow=allow, disabled=mode == "index-possible")
    if note is not None and not bad:
        bad = [n for n in plan.scans() if n.relation] or list(plan.nodes())[:1]
    if not bad:
        return plan, None
    names = sorted({n.label for n in bad})
    how = (
        "no index can serve it"
        if mode == "index-possible"
        else "the planner chose it with current statistics"
    )
    lines = [f"table scan: {'; '.join(names)} ({how})"]
    if note:
        lines.append(note)
    elif mode == "index-possible":
        lines.append(f"planned with {dialect.index_possible_how}, so a scan means no usable index")
    lines += _statement_lines(sql)
    lines += _plan_lines(plan, bad, "scans")
    lines += _index_lines(dialect, sql, plan, bad)
    return plan, "\n".join(lines)


def assert_no_table_scan(
    db: Any,
    sql: str,
    params: Any = None,
    *,
    tables: str | Collection[str] | None = None,
    allow: str | Collection[str] = (),
    mode: Mode = "index-possible",
) -> Plan:
    """Fail unless ``sql`` can be answered without scanning a whole table.

    ``mode="index-possible"`` (default) proves an index *can* serve the query, which is
    deterministic on tiny test tables where planners rightly prefer scans: PostgreSQL plans
    with ``enable_seqscan = off`` (rolled back), SQL Server with ``WITH (FORCESEEK)`` hints.
    ``mode="planner"`` checks what the planner chooses with the current statistics.
    ``tables`` limits the check to those tables; ``allow`` names tables that may be scanned.
    Returns the plan checked.
    """
    __tracebackhide__ = True
    plan, message = scan_failure(db, sql, params, tables=tables, allow=allow, mode=mode)
    if message is not None:
        _fail([message])
    return plan


def assert_uses_index(
    db: Any,
    sql: str,
    params: Any = None,
    *,
    index: str,
    mode: Mode = "index-possible",
) -> Plan:
    """Fail unless the plan reads index ``index`` (name, case-insensitive, unquoted)."""
    __tracebackhide__ = True
    _check_mode(mode)
    dialect = _dialect(db)
    plan, note = dialect.scan_check_plan(_raw(db), sql, params, mode)
    wanted = index.lower().strip('"[]')
    used = {name.lower() for name in plan.indexes()}
    if wanted in used and note is None:
        return plan
    shown = ", ".join(sorted(plan.indexes())) or "none"
    lines = [f"index {index!r} is not used; indexes in the plan: {shown}"]
    if note:
        lines.append(note)
    lines += _statement_lines(sql)
    lines += _plan_lines(plan, plan.scans(), "scans")
    if plan.scans():
        lines += _index_lines(dialect, sql, plan, plan.scans())
    _fail(lines)
    return plan  # pragma: no cover


def assert_plan(
    db: Any,
    sql: str,
    params: Any = None,
    *,
    max_cost: float | None = None,
    max_rows: float | None = None,
    analyze: bool = False,
) -> Plan:
    """Fail when the planner's total cost exceeds ``max_cost`` or any operator handles more
    than ``max_rows`` rows (estimated; actual with ``analyze``)."""
    __tracebackhide__ = True
    from pytest_cdc.plans.render import figure

    if max_cost is None and max_rows is None:
        raise ConfigError("assert_plan needs max_cost=... or max_rows=...")
    plan = explain(db, sql, params, analyze=analyze)
    problems: list[str] = []
    bad: list[PlanNode] = []
    if max_cost is not None and (plan.cost or 0.0) > max_cost:
        problems.append(f"estimated cost {figure(plan.cost)} > max_cost {figure(max_cost)}")
        if plan.root is not None:
            bad.append(plan.root)
    if max_rows is not None:

        def rows(node: PlanNode) -> float:
            value = node.actual_rows if analyze else node.estimated_rows
            return value or 0.0

        heavy = [n for n in plan.nodes() if rows(n) > max_rows]
        if heavy:
            kind = "actual" if analyze else "estimated"
            worst = max(heavy, key=rows)
            problems.append(
                f"{worst.label} handles {figure(rows(worst))} {kind} rows"
                f" > max_rows {figure(max_rows)}"
            )
            bad.extend(heavy)
    if not problems:
        return plan
    dialect = _dialect(db)
    lines = ["; ".join(problems), *_statement_lines(sql), *_plan_lines(plan, bad, "over the limit")]
    if plan.scans():
        lines += _index_lines(dialect, sql, plan, plan.scans())
    _fail(lines)
    return plan  # pragma: no cover
