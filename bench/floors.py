"""Floors the plan benchmarks share: what a helper sends, without any Python around it."""

from __future__ import annotations

from typing import Any


def no_seqscan_explain(cur: Any, sql: str, params: tuple[Any, ...], in_transaction: bool) -> Any:
    """The statements a no-table-scan check or a plan snapshot sends, bare.

    Idle: SET LOCAL and EXPLAIN share one implicit transaction, one round trip.  In a
    transaction the savepoint needs a round trip of its own (a syntax error in the same string
    would abort the caller's transaction before it exists) and the SET LOCAL must be rolled
    back: two more round trips than a bare EXPLAIN (pytest_cdc.dialects.postgres.explain says
    why).  Returns the plan row when idle, None in a transaction.
    """
    if in_transaction:
        cur.execute("SAVEPOINT p; SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        cur.fetchone()
        cur.execute("ROLLBACK TO SAVEPOINT p; RELEASE SAVEPOINT p")
        return None
    cur.execute("SET LOCAL enable_seqscan = off; EXPLAIN (FORMAT JSON) " + sql, params)
    return cur.fetchone()
