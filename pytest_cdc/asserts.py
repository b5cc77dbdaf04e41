"""Plan assertions: ``assert_no_table_scan``, ``assert_uses_index``, ``assert_plan``, ``explain``.

``db`` is a :class:`~pytest_cdc.database.CdcConnection` or a raw psycopg2/pyodbc connection.
The helpers never disturb the caller's transaction: on PostgreSQL they work inside a SAVEPOINT
when a transaction is open (BEGIN ... ROLLBACK otherwise) that is always rolled back, so
``EXPLAIN ANALYZE`` of a write and ``SET LOCAL enable_seqscan`` leave nothing behind.  Their own
statements go through driver cursors, so ``cdc_queries`` does not count them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import pytest

from pytest_cdc.database import CdcConnection, dialect_of
from pytest_cdc.errors import ConfigError, PlanError, UnsupportedDialect
from pytest_cdc.plans.model import Plan, PlanNode
from pytest_cdc.plans.postgres import map_partitions, parents_query, parse_explain_json

Mode = Literal["index-possible", "planner"]
MODES: tuple[str, ...] = ("index-possible", "planner")
_SAVEPOINT = "cdc_plan"

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


def _dialect_name(db: Any) -> str:
    if isinstance(db, CdcConnection):
        return str(db.dialect.name)
    if type(db).__module__.startswith("psycopg"):
        return "postgresql"  # the common case, without a registry lookup per assertion
    try:
        name = dialect_of(db).name
    except TypeError as exc:
        raise PlanError(f"{exc}: pass a CdcConnection, psycopg2 or pyodbc connection") from None
    if name not in ("postgresql", "mssql"):
        raise UnsupportedDialect(
            f"plans for dialect {name!r} are not available: use postgresql or mssql"
        )
    return name


def _pg_state(raw: Any) -> str:
    status = getattr(getattr(raw, "info", None), "transaction_status", None)
    if status is not None:
        return {0: "idle", 1: "active", 2: "intrans", 3: "inerror"}.get(int(status), "unknown")
    # pyodbc (psqlODBC) reports nothing; in manual-commit mode the driver has a transaction
    # open or opens one before our first statement, so a savepoint is the safe choice.
    return "idle" if getattr(raw, "autocommit", False) else "intrans"


@contextmanager
def _pg_sandbox(
    raw: Any, setup: Sequence[str], *, read_only: bool = False
) -> Iterator[tuple[Any, list[str]]]:
    """A cursor inside a savepoint (or transaction) that is rolled back on exit.

    Yields the cursor and the statements that must precede the caller's first one; psycopg2
    can send them in the same round trip, which keeps the overhead near a bare EXPLAIN.
    """
    state = _pg_state(raw)
    if state == "inerror":
        raise PlanError(
            "the connection's transaction is aborted by an earlier error: roll it back"
            " before explaining"
        )
    if state == "active":
        raise PlanError("the connection is busy with another statement: explain after it ends")
    if state == "idle" and read_only and _is_psycopg2(raw):
        # Several statements in one query string run as one implicit transaction, and SET
        # LOCAL ends with it: a read-only EXPLAIN on an idle connection needs no BEGIN and no
        # ROLLBACK round trips.  Autocommit is off only while nothing is open, so flipping it
        # for the call changes nothing the caller can see.
        manual = not raw.autocommit
        if manual:
            raw.autocommit = True
        cur = raw.cursor()
        try:
            yield cur, list(setup)
        finally:
            cur.close()
            if manual:
                raw.autocommit = False
        return
    end: list[str] = []
    cur = raw.cursor()
    if state == "intrans":
        # The savepoint gets a round trip of its own: the server parses a whole query string
        # before running any of it, so a syntax error in the caller's SQL sent along with
        # SAVEPOINT would abort the caller's transaction with no savepoint to return to.
        try:
            _run_all(cur, raw, [f"SAVEPOINT {_SAVEPOINT}", *setup])
        except BaseException:
            cur.close()
            raise
        begin: list[str] = []
        setup = []
        end = [f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}", f"RELEASE SAVEPOINT {_SAVEPOINT}"]
    elif getattr(raw, "autocommit", False):
        # A syntax error rejects the whole string, BEGIN included: the ROLLBACK then only
        # draws a "no transaction in progress" warning.
        begin, end = ["BEGIN"], ["ROLLBACK"]
    else:
        begin = []  # the driver opens the transaction itself; raw.rollback() ends it
    try:
        yield cur, [*begin, *setup]
    finally:
        try:
            if end:
                _run_all(cur, raw, end)
            else:
                raw.rollback()
        finally:
            cur.close()


def _is_psycopg2(raw: Any) -> bool:
    return type(raw).__module__.startswith("psycopg2")


def _run_all(cur: Any, raw: Any, statements: Sequence[str]) -> None:
    """Fixed statements of our own, in one round trip where the driver allows it."""
    if _is_psycopg2(raw):
        cur.execute("; ".join(statements))
    else:
        for statement in statements:
            cur.execute(statement)


def _run_first(cur: Any, raw: Any, prelude: list[str], sql: str, params: Any) -> None:
    if _is_psycopg2(raw):
        # One round trip: psycopg2 interpolates client-side and libpq returns the last result.
        text = "; ".join([*prelude, sql])
        cur.execute(text, params) if params is not None else cur.execute(text)
        return
    for statement in prelude:
        cur.execute(statement)
    cur.execute(sql, params) if params is not None else cur.execute(sql)


# -- explain ------------------------------------------------------------------------------


def _pg_plan(
    raw: Any,
    sql: str,
    params: Any,
    *,
    analyze: bool = False,
    buffers: bool = False,
    seqscan_off: bool = False,
    map_all: bool = True,
) -> Plan:
    options = "FORMAT JSON" + (", ANALYZE" if analyze else "") + (", BUFFERS" if buffers else "")
    setup = ["SET LOCAL enable_seqscan = off"] if seqscan_off else []
    with _pg_sandbox(raw, setup, read_only=not analyze) as (cur, prelude):
        _run_first(cur, raw, prelude, f"EXPLAIN ({options}) {sql}", params)
        row = cur.fetchone()
        plan = parse_explain_json(row[0])
        # Partitions are reported as their parent; the catalog lookup costs a round trip, so
        # the assertion's fast path only pays it when there are scans to name.
        nodes = list(plan.nodes()) if map_all else plan.scans()
        names = sorted({n.relation for n in nodes if n.relation}) if nodes else []
        if names:
            cur.execute(parents_query(names))
            plan = map_partitions(plan, {str(a): str(b) for a, b in cur.fetchall()})
    return plan


def _mssql_plan(raw: Any, sql: str, params: Any, *, analyze: bool = False) -> Plan:
    from pytest_cdc.plans.mssql import explain_sqlserver

    return explain_sqlserver(raw, sql, params, actual=analyze)


def explain(
    db: Any, sql: str, params: Any = None, *, analyze: bool = False, buffers: bool = False
) -> Plan:
    """The plan of ``sql`` on ``db``; with ``analyze`` the statement runs (rolled back on
    PostgreSQL) and the plan carries actual rows and times."""
    raw = _raw(db)
    if _dialect_name(db) == "postgresql":
        return _pg_plan(raw, sql, params, analyze=analyze, buffers=buffers)
    return _mssql_plan(raw, sql, params, analyze=analyze)


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
    pytest.fail("\n".join(lines), pytrace=False)


def _statement_lines(sql: str) -> list[str]:
    return ["", "statement:", *("    " + line for line in sql.strip().splitlines())]


def _plan_lines(plan: Plan, marked: Sequence[PlanNode], what: str) -> list[str]:
    from pytest_cdc.plans.render import render_plan

    return ["", f"plan ({what} marked >>):", render_plan(plan, marked=marked)]


def _index_lines(dialect: str, sql: str, plan: Plan, nodes: Sequence[PlanNode]) -> list[str]:
    from pytest_cdc.plans.suggest import filter_columns, suggest_ddl

    relations = {n.relation.lower() for n in nodes if n.relation}
    if dialect == "mssql":
        missing = [
            mi for mi in plan.missing_indexes if not relations or mi.table.lower() in relations
        ]
        source = "from the plan's MissingIndexes"
    else:
        derived = filter_columns(sql, "postgres")
        missing = [mi for name, mi in derived.items() if name.lower() in relations]
        source = "from the query's filter columns: equality first, then range"
    ddl = suggest_ddl(missing, dialect, reason="serves the query's predicate")
    if not ddl:
        return [
            "",
            "no index can be derived: the query does not filter the scanned tables on a"
            " column (add a selective WHERE, or allow= the table if a scan is intended)",
        ]
    return ["", f"an index that would serve it ({source}):", *("    " + s for s in ddl)]


def _scan_plan(db: Any, sql: str, params: Any, mode: str) -> tuple[str, Plan, str | None]:
    """(dialect, plan, note); note explains a SQL Server 8622 "no index can seek"."""
    raw = _raw(db)
    dialect = _dialect_name(db)
    if dialect == "postgresql":
        plan = _pg_plan(raw, sql, params, seqscan_off=mode == "index-possible", map_all=False)
        return dialect, plan, None
    if mode == "planner":
        return dialect, _mssql_plan(raw, sql, params), None
    from pytest_cdc.plans.mssql import is_no_plan_with_hints
    from pytest_cdc.plans.suggest import add_forceseek

    try:
        hinted = add_forceseek(sql)
    except ValueError as exc:
        raise PlanError(f"{exc}; use mode='planner' for this statement") from None
    try:
        return dialect, _mssql_plan(raw, hinted, params), None
    except Exception as exc:
        if not is_no_plan_with_hints(exc):
            raise
    # FORCESEEK found no index to seek: show what the planner does instead, with its
    # MissingIndexes, and mark every scan.
    note = "sql server error 8622 with WITH (FORCESEEK): no index can seek this predicate"
    return dialect, _mssql_plan(raw, sql, params), note


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
    dialect, plan, note = _scan_plan(db, sql, params, mode)
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
        how_planned = "enable_seqscan = off" if dialect == "postgresql" else "WITH (FORCESEEK)"
        lines.append(f"planned with {how_planned}, so a scan means no usable index")
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
    dialect, plan, note = _scan_plan(db, sql, params, mode)
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
    if max_cost is None and max_rows is None:
        raise ConfigError("assert_plan needs max_cost=... or max_rows=...")
    plan = explain(db, sql, params, analyze=analyze)
    problems: list[str] = []
    bad: list[PlanNode] = []
    if max_cost is not None and (plan.cost or 0.0) > max_cost:
        problems.append(f"estimated cost {plan.cost:.6g} > max_cost {max_cost:g}")
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
                f"{worst.label} handles {rows(worst):.6g} {kind} rows > max_rows {max_rows:g}"
            )
            bad.extend(heavy)
    if not problems:
        return plan
    dialect = plan.dialect
    lines = ["; ".join(problems), *_statement_lines(sql), *_plan_lines(plan, bad, "over the limit")]
    if plan.scans():
        lines += _index_lines(dialect, sql, plan, plan.scans())
    _fail(lines)
    return plan  # pragma: no cover
