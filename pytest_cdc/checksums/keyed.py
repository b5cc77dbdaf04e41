"""Rows by key: the canonical row hash of given keys on both sides.

A live replica's re-checks ask, for the few keys a pass found differing, what each side holds
now.  The hashes are the leaf diff's own (the same canonical row text, the same key texts), so
"equal" here means what it means in :func:`~pytest_cdc.checksums.reconcile`.  Keys arrive as
the canonical texts a report holds and go back into SQL only as typed literals of the key
column's own type (never as text pasted into the statement).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_cdc.checksums.connections import Opened
from pytest_cdc.checksums.encoding import EncodingOptions
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.report import QueryRecord
from pytest_cdc.checksums.sqlgen import TableRef
from pytest_cdc.checksums.tables import prepare_sides, read_columns, table_ref
from pytest_cdc.errors import ReconcileError

KeyText = tuple[str | None, ...]
#: Keys a statement: a condition of 500 ORed key comparisons plans in milliseconds on both
#: engines, and a table's kept keys (table-failure-max-count, 1,000) take two statements.
CHUNK = 500


@dataclass
class KeyedRows:
    """Each side's row hash by key text; a key absent from a side has no row there."""

    source: dict[KeyText, str | None] = field(default_factory=dict)
    target: dict[KeyText, str | None] = field(default_factory=dict)
    queries: list[QueryRecord] = field(default_factory=list)

    def state(self, key: KeyText) -> tuple[str | None, str | None, bool, bool]:
        """(source hash, target hash, on the source, on the target)."""
        return (
            self.source.get(key),
            self.target.get(key),
            key in self.source,
            key in self.target,
        )


def row_hashes(
    src: Opened,
    dst: Opened,
    *,
    table: str,
    key: Sequence[str],
    keys: Sequence[Sequence[str | None]],
    target_table: str | None = None,
    columns: Sequence[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    where: str | None = None,
    target_where: str | None = None,
    options: EncodingOptions | None = None,
    timeout: float | None = None,
    lock_timeout: float | None = None,
) -> KeyedRows:
    """The row hash of each of ``keys`` (canonical key texts) on each side, read in one
    snapshot a side.  Arguments as for :func:`~pytest_cdc.checksums.reconcile`."""
    options = options or EncodingOptions()
    out = KeyedRows()
    wanted = [tuple(k) for k in keys]
    if not wanted:
        return out
    with contextlib.ExitStack() as stack:
        ready = prepare_sides(
            stack,
            src,
            dst,
            table=table,
            target_table=target_table,
            key=key,
            columns=columns,
            column_map=column_map or {},
            options=options,
            timeout=timeout,
            lock_timeout=lock_timeout,
        )
        dst_where = target_where if target_where is not None else where
        for side, ex, gen, ref, user_where, found in (
            ("source", ready.src_ex, ready.src_gen, ready.src_ref, where, out.source),
            ("target", ready.dst_ex, ready.dst_gen, ready.dst_ref, dst_where, out.target),
        ):
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                sql = gen.fetch_query(
                    ref,
                    ready.key_pairs,
                    ready.pairs,
                    side,
                    user_where=user_where,
                    restrict=gen.key_match(
                        ready.key_pairs, side, [[str(v) for v in k] for k in chunk]
                    ),
                )
                for row in ex.run("re-check", sql):
                    found[tuple(row[:-1])] = row[-1]
        out.queries = [*ready.src_ex.queries, *ready.dst_ex.queries]
    return out


def newest(
    conn: Opened,
    table: TableRef | str,
    column: str,
    *,
    where: str | None = None,
    timeout: float | None = None,
    lock_timeout: float | None = None,
    label: str = "source",
    required: bool = False,
) -> Any:
    """The greatest value of ``column`` (the lag column, a heartbeat's timestamp), or None
    when the table is empty or has no such column (``required``: then a ReconcileError)."""
    gen = conn.dialect.checksum_sql(EncodingOptions())
    with contextlib.ExitStack() as stack:
        ex = Executor(label, conn.raw, conn.dialect, conn.paramstyle, timeout)
        conn.dialect.begin_comparison(stack, ex, timeout=timeout, lock_timeout=lock_timeout)
        ref = table if isinstance(table, TableRef) else table_ref(ex, gen, table)
        if column not in {c.name for c in read_columns(ex, gen, ref)}:
            if required:
                raise ReconcileError(
                    f"the {label} has no table {str(ref)!r} with a column {column!r}"
                )
            return None
        sql = (
            f"SELECT MAX({conn.dialect.quote_identifier(column)}) FROM {gen.table(ref)}"
            f"{gen.where(where)}"
        )
        return ex.run("newest lag value", sql)[0][0]
