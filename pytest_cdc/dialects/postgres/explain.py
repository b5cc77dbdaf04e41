"""Running EXPLAIN and counting rows on PostgreSQL, without disturbing the caller.

Everything works inside a SAVEPOINT when a transaction is open (BEGIN ... ROLLBACK otherwise)
that is always rolled back, so ``EXPLAIN ANALYZE`` of a write and ``SET LOCAL enable_seqscan``
leave nothing behind.  The statements go through driver cursors, so ``cdc_queries`` does not
count them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pytest_cdc.dialects.postgres.plans import map_partitions, parents_query, parse_explain_json
from pytest_cdc.errors import CdcError, PlanError
from pytest_cdc.plans.model import Plan

_SAVEPOINT = "cdc_plan"


def _pg_state(raw: Any) -> str:
    status = getattr(getattr(raw, "info", None), "transaction_status", None)
    if status is not None:
        return {0: "idle", 1: "active", 2: "intrans", 3: "inerror"}.get(int(status), "unknown")
    # pyodbc (psqlODBC) reports nothing; in manual-commit mode the driver has a transaction
    # open or opens one before our first statement, so a savepoint is the safe choice.
    return "idle" if getattr(raw, "autocommit", False) else "intrans"


@contextmanager
def pg_sandbox(
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


def explain_plan(
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
    count = placeholders(sql) if params is None else 0
    if count and analyze:
        raise PlanError(
            f"the statement has parameters ({_span(count)}) and ANALYZE runs it, which needs"
            " values for them: pass them as params, or explain without ANALYZE"
        )
    notes: tuple[str, ...] = ()
    prepared = None
    if count:
        version = server_version_num(raw)
        if version >= GENERIC_PLAN_VERSION:
            options += ", GENERIC_PLAN"
            notes = (f"generic plan (EXPLAIN GENERIC_PLAN): {_span(count)} unknown to the planner",)
        else:
            # What a prepared statement runs once its plan is cached: the same plan
            # GENERIC_PLAN shows on 16 and later.
            prepared = f"cdc_generic_{secrets.token_hex(4)}"
            setup += ["SET LOCAL plan_cache_mode = force_generic_plan"]
            setup += [f"PREPARE {prepared} AS {sql}"]
            sql = f"EXECUTE {prepared}({', '.join(['NULL'] * count)})"
            notes = (
                f"generic plan: PostgreSQL {version // 10000} has no EXPLAIN GENERIC_PLAN (16+),"
                " so this is the plan PREPARE makes under plan_cache_mode = force_generic_plan;"
                f" {_span(count)} unknown to the planner",
            )
    try:
        with pg_sandbox(raw, setup, read_only=not analyze) as (cur, prelude):
            _run_first(cur, raw, prelude, f"EXPLAIN ({options}) {sql}", None if count else params)
            row = cur.fetchone()
            plan = parse_explain_json(row[0])
            plan = replace(plan, notes=notes) if notes else plan
            plan = _parents(cur, plan, map_all=map_all)
    finally:
        if prepared is not None:
            # PREPARE outlives the rollback that ends the sandbox.
            _deallocate(raw, prepared)
    return plan


#: The first server_version_num with EXPLAIN (GENERIC_PLAN).
GENERIC_PLAN_VERSION = 160000


def server_version_num(raw: Any) -> int:
    """The server's version as a number (150004): from the driver when it knows it."""
    known = getattr(raw, "server_version", None)
    if isinstance(known, int) and known:
        return known
    cur = raw.cursor()
    try:
        cur.execute("SHOW server_version_num")
        return int(cur.fetchone()[0])
    finally:
        cur.close()


def _deallocate(raw: Any, name: str) -> None:
    import contextlib

    with contextlib.suppress(Exception):
        cur = raw.cursor()
        try:
            cur.execute(f"DEALLOCATE {name}")
        finally:
            cur.close()


def placeholders(sql: str) -> int:
    """The highest ``$n`` parameter in ``sql``, outside literals, quoted names and comments
    (0: none); ``a$1`` is a name, not a parameter."""
    highest = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch in "'\"":
            escapes = ch == "'" and i > 0 and sql[i - 1] in "eE" and not _name_char(sql, i - 2)
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                elif sql[i] == ch:
                    if sql.startswith(ch * 2, i):
                        i += 2
                        continue
                    i += 1
                    break
                else:
                    i += 1
        elif ch == "$" and not _name_char(sql, i - 1):
            tag = _DOLLAR_TAG.match(sql, i)
            number = _PARAMETER.match(sql, i)
            if number is not None:
                highest = max(highest, int(number[1]))
                i = number.end()
            elif tag is not None:
                end = sql.find(tag[0], tag.end())
                i = n if end < 0 else end + len(tag[0])
            else:
                i += 1
        else:
            i += 1
    return highest


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_PARAMETER = re.compile(r"\$(\d+)")


def _span(count: int) -> str:
    return "$1" if count == 1 else f"$1..${count}"


def _name_char(sql: str, i: int) -> bool:
    return i >= 0 and (sql[i].isalnum() or sql[i] in "_$")


def _parents(cur: Any, plan: Plan, *, map_all: bool) -> Plan:
    # Partitions are reported as their parent; the catalog lookup costs a round trip, so
    # the assertion's fast path only pays it when there are scans to name.
    nodes = list(plan.nodes()) if map_all else plan.scans()
    names = sorted({n.relation for n in nodes if n.relation}) if nodes else []
    if names:
        cur.execute(parents_query(names))
        plan = map_partitions(plan, {str(a): str(b) for a, b in cur.fetchall()})
    return plan


# Sums over the inheritance tree so a partitioned table counts its partitions' rows.  The one
# parameter is the table name as given (bound, never spliced into the text).
_PG_STATS = """
WITH RECURSIVE tree(oid) AS (
    SELECT to_regclass(%(name)s)::oid
    UNION ALL
    SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid
)
SELECT to_regclass(%(name)s)::text,
       count(*) FILTER (WHERE c.relkind IN ('r', 'm') AND c.reltuples <= 0
                        AND coalesce(s.n_live_tup, 0) = 0),
       -- reltuples is what ANALYZE/VACUUM measured; n_live_tup only a running tally, so it
       -- stands in only where the table was never analyzed.
       coalesce(sum(CASE WHEN c.reltuples > 0 THEN c.reltuples
                         ELSE coalesce(s.n_live_tup, 0) END)
                FILTER (WHERE c.relkind IN ('r', 'm')), 0)::bigint
FROM tree t JOIN pg_class c ON c.oid = t.oid
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
"""


def row_count(raw: Any, table: str, *, exact: bool = False) -> int:
    """Rows in ``table`` from statistics (``pg_class.reltuples``, or ``n_live_tup`` where the
    table was never analysed; summed over partitions), or ``count(*)`` when ``exact`` or
    when there are none (a table never analysed has reltuples -1, or 0 before PostgreSQL 14)."""
    with pg_sandbox(raw, [], read_only=True) as (cur, prelude):
        for statement in prelude:
            cur.execute(statement)
        if type(raw).__module__ == "pyodbc":
            cur.execute(_PG_STATS.replace("%(name)s", "?"), (table, table))
        else:
            cur.execute(_PG_STATS, {"name": table})
        regclass, unknown, estimate = cur.fetchone()
        if regclass is None:
            raise CdcError(f"table {table!r} does not exist: check the name and search_path")
        if exact or unknown:
            cur.execute(f"SELECT count(*) FROM {regclass}")
            return int(cur.fetchone()[0])
        return int(estimate)
