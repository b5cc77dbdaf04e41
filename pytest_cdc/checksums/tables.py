"""The tables a comparison reads: names resolved on each side, columns from the catalog, and
the source and target columns paired (with the checks that refuse what cannot be compared)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_cdc.checksums.connections import Opened
from pytest_cdc.checksums.encoding import Column, ColumnPair, EncodingOptions, pair_format
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.sqlgen import ServerFacts, SqlGenerator, TableRef
from pytest_cdc.errors import ReconcileError


def names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def table_ref(ex: Executor, gen: SqlGenerator, spec: str) -> TableRef:
    from pytest_cdc.dialects.base import split_qualified

    try:
        parts = split_qualified(spec)
    except ValueError as exc:
        raise ReconcileError(f"table {spec!r}: {exc}; pass 'schema.table' or 'table'") from None
    if len(parts) == 1:
        return TableRef(str(ex.run("default schema", gen.current_schema_sql)[0][0]), parts[0])
    if len(parts) == 2:
        return TableRef(parts[0], parts[1])
    raise ReconcileError(f"table {spec!r} is not 'schema.table' or 'table': pass one of those")


def read_columns(ex: Executor, gen: SqlGenerator, ref: TableRef) -> list[Column]:
    rows = ex.run("columns", gen.columns_sql(ex.paramstyle), (ref.schema or "", ref.name))
    return gen.columns(rows)


def column_pairs(
    src_cols: list[Column],
    dst_cols: list[Column],
    keys: list[str],
    columns: list[str] | None,
    column_map: Mapping[str, str],
    src_table: TableRef,
    dst_table: TableRef,
) -> tuple[list[ColumnPair], list[ColumnPair]]:
    by_src = {c.name: c for c in src_cols}
    by_dst = {c.name: c for c in dst_cols}
    wanted = columns if columns is not None else [c.name for c in src_cols]
    ordered = keys + [c for c in wanted if c not in keys]
    out: list[ColumnPair] = []
    for name in ordered:
        if name not in by_src:
            raise ReconcileError(
                f"column {name!r} is not in source table {str(src_table)!r}: check key= / columns="
            )
        dst_name = column_map.get(name, name)
        if dst_name not in by_dst:
            raise ReconcileError(
                f"column {dst_name!r} is not in target table {str(dst_table)!r}: pass "
                f"column_map={{{name!r}: '<target column>'}} or leave it out with columns=[...]"
            )
        a, b = by_src[name], by_dst[dst_name]
        for col, where in ((a, src_table), (b, dst_table)):
            if col.type_class is None:
                raise ReconcileError(
                    f"column {col.name!r} of {str(where)!r} has type {col.data_type!r}, which "
                    "has no canonical format: leave it out with columns=[...]"
                )
        fmt = pair_format(a.type_class, b.type_class)
        if fmt is None:
            raise ReconcileError(
                f"column {name!r} is {a.data_type!r} in the source but {b.data_type!r} in the "
                "target, which cannot be compared: leave it out with columns=[...]"
            )
        if name in keys and fmt.value == "float":
            raise ReconcileError(f"key column {name!r} is a float: use an exact key column")
        out.append(ColumnPair(a, b, fmt, is_key=name in keys))
    return out[: len(keys)], out


@dataclass
class Sides:
    """Both sides of a comparison, ready: an executor each (one lock when both share one
    connection), the generators, the resolved tables, what begin_comparison learned of each
    server, and the paired columns (the key's first)."""

    src_ex: Executor
    dst_ex: Executor
    src_gen: SqlGenerator
    dst_gen: SqlGenerator
    src_ref: TableRef
    dst_ref: TableRef
    src_facts: ServerFacts
    dst_facts: ServerFacts
    key_pairs: list[ColumnPair]
    pairs: list[ColumnPair]


def prepare_sides(
    stack: contextlib.ExitStack,
    src: Opened,
    dst: Opened,
    *,
    table: str,
    target_table: str | None,
    key: Sequence[str],
    columns: str | Sequence[str] | None,
    column_map: Mapping[str, str],
    options: EncodingOptions,
    timeout: float | None,
    lock_timeout: float | None,
) -> Sides:
    """What every comparison does before its own SQL: begin it on each connection (undone
    when ``stack`` closes), resolve both tables, read and pair their columns.  Raises
    ReconcileError when a table is missing or a column cannot be paired."""
    src_ex = Executor("source", src.raw, src.dialect, src.paramstyle, timeout)
    dst_ex = Executor("target", dst.raw, dst.dialect, dst.paramstyle, timeout)
    if dst.raw is src.raw:
        dst_ex.lock = src_ex.lock
    src_gen, dst_gen = src.dialect.checksum_sql(options), dst.dialect.checksum_sql(options)
    src_facts = src.dialect.begin_comparison(
        stack, src_ex, timeout=timeout, lock_timeout=lock_timeout
    )
    dst_facts = src_facts
    if dst.raw is not src.raw:
        dst_facts = dst.dialect.begin_comparison(
            stack, dst_ex, timeout=timeout, lock_timeout=lock_timeout
        )
    src_ref = table_ref(src_ex, src_gen, table)
    dst_ref = table_ref(dst_ex, dst_gen, target_table or table)
    src_cols = read_columns(src_ex, src_gen, src_ref)
    dst_cols = read_columns(dst_ex, dst_gen, dst_ref)
    for cols, ref, conn, label in (
        (src_cols, src_ref, src, "source"),
        (dst_cols, dst_ref, dst, "target"),
    ):
        if not cols:
            raise ReconcileError(
                f"table {str(ref)!r} does not exist on the {label} ({conn.label}) or has no"
                " columns you may read: check the table name"
            )
    key_pairs, pairs = column_pairs(
        src_cols, dst_cols, list(key), names(columns), column_map, src_ref, dst_ref
    )
    return Sides(
        src_ex, dst_ex, src_gen, dst_gen, src_ref, dst_ref, src_facts, dst_facts, key_pairs, pairs
    )
