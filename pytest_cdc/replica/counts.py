"""The count tier alone: every table's row count in one statement a side.

Runs whose tiers read no data otherwise (``tiers = ["schema", "count"]``) count every table
at once: one statement a side, each count a scalar subquery, all in one snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pytest_cdc.checksums.connections import Opened
from pytest_cdc.checksums.encoding import EncodingOptions
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.sqlgen import TableRef
from pytest_cdc.errors import CdcError, first_line

if TYPE_CHECKING:
    from pytest_cdc.replica.run import _Run
    from pytest_cdc.replica.tiers import TableCheck

#: Counts in one statement: PostgreSQL allows 1664 result columns.
_COUNT_BATCH = 500


def batch_counts(checks: Sequence[TableCheck], run: _Run) -> None:
    """Row counts of every table in one statement a side (each a scalar subquery, in one
    snapshot), for runs whose tiers read no data otherwise.  When a batch fails (a table
    the user may not read), its tables are counted one at a time so that the error lands on
    the table it belongs to."""
    if not checks:
        return
    first, second = run.sides

    def side(index: int) -> dict[int, int | str]:
        budget = run.sides[index]
        with budget.lease() as conn:
            return _count_side(conn, checks, index, run.timeout, run.lock_timeout)

    if second is first:
        found = [side(0), side(1)]
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(side, 1)
            found = [side(0), later.result()]
    for i, check in enumerate(checks):
        a, b = found[0].get(i), found[1].get(i)
        if isinstance(a, int) and isinstance(b, int):
            check.counts = (a, b)
        else:
            check.count_error = next(x for x in (a, b) if isinstance(x, str))


def _count_side(
    conn: Opened,
    checks: Sequence[TableCheck],
    index: int,
    timeout: float | None,
    lock_timeout: float | None,
) -> dict[int, int | str]:
    label = ("source", "target")[index]
    out: dict[int, int | str] = {}
    gen = conn.dialect.checksum_sql(EncodingOptions())
    queries = []
    for i, check in enumerate(checks):
        pair = check.pair
        parts = pair.source_name if index == 0 else pair.target_name
        where = check.conditions(conn, conn)[index]
        ref = TableRef(parts[0], parts[1]) if len(parts) == 2 else TableRef(None, parts[0])
        queries.append((i, f"({gen.count_query(ref, user_where=where)})"))
    for start in range(0, len(queries), _COUNT_BATCH):
        batch = queries[start : start + _COUNT_BATCH]
        sql = "SELECT " + ", ".join(q for _, q in batch)
        found = _count(conn, sql, label, timeout, lock_timeout)
        if isinstance(found, str):
            # Rolled back; now each table alone, so the error lands on its own table.
            for i, query in batch:
                one = _count(conn, f"SELECT {query}", label, timeout, lock_timeout)
                out[i] = one if isinstance(one, str) else int(one[0])
            continue
        for (i, _), value in zip(batch, found, strict=True):
            out[i] = int(value)
    return out


def _count(
    conn: Opened, sql: str, label: str, timeout: float | None, lock_timeout: float | None
) -> Sequence[Any] | str:
    """The statement's one row, or the error's line (the transaction rolled back)."""
    with contextlib.ExitStack() as stack:
        ex = Executor(label, conn.raw, conn.dialect, conn.paramstyle, timeout)
        try:
            conn.dialect.begin_comparison(stack, ex, timeout=timeout, lock_timeout=lock_timeout)
            return list(ex.run("row counts", sql)[0])
        except CdcError as exc:
            return first_line(exc)
