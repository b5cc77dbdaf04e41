"""Public entry points: reconcile(), assert_checksums_match(), assert_row_counts_match().

``source`` and ``target`` may each be a database URL string, a CdcConnection, anything with a
``connection()`` context manager (a DatabaseHandle or ConnectionPool), or a raw psycopg2 /
pyodbc connection.  Connections opened here are closed here; borrowed ones are left as found
(only SELECTs run on them).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from pytest_cdc.checksums import postgres, tsql
from pytest_cdc.checksums.diff import Reconciler, Settings, Side
from pytest_cdc.checksums.encoding import (
    LENGTH_PREFIXED,
    Column,
    ColumnPair,
    EncodingOptions,
    ReconcileError,
    pair_format,
)
from pytest_cdc.checksums.report import ReconcileReport
from pytest_cdc.checksums.sqlgen import SqlGenerator, TableRef
from pytest_cdc.urls import mask_password


@dataclass
class _Conn:
    raw: Any
    dialect: str
    paramstyle: str
    label: str


@contextlib.contextmanager
def _opened(obj: Any) -> Iterator[_Conn]:
    """Adapt whatever the caller passed into a raw DB-API connection plus its dialect."""
    from pytest_cdc.database import CdcConnection, dialect_of

    if isinstance(obj, str):
        from pytest_cdc.dialects import default_registry
        from pytest_cdc.urls import parse_url

        url = parse_url(obj)
        dialect = default_registry().for_scheme(url.scheme)
        raw = dialect.connect(url)
        try:
            yield _adapt(raw, url.masked)
        finally:
            with contextlib.suppress(Exception):
                raw.close()
        return
    if isinstance(obj, CdcConnection):
        yield _adapt(obj.raw, f"{obj.name} ({obj.dialect.name})", dialect_of(obj).name)
        return
    opener = getattr(obj, "connection", None)
    if callable(opener):
        with opener() as conn, _opened(conn) as adapted:
            yield adapted
        return
    yield _adapt(obj, None)


def _shared(source: Any, target: Any) -> bool:
    """Whether both sides must use one connection: the same connection, pool or handle."""
    return target is source and not isinstance(source, str)


def _adapt(raw: Any, label: str | None, dialect: str | None = None) -> _Conn:
    from pytest_cdc.database import dialect_of, paramstyle_of

    name = dialect or dialect_of(raw).name
    if label is None:
        dsn = getattr(raw, "dsn", None)
        label = mask_password(f"{name}: {dsn}" if dsn else name)
    return _Conn(raw, name, paramstyle_of(raw), label)


def _generator(conn: _Conn, options: EncodingOptions) -> SqlGenerator:
    if conn.dialect == "postgresql":
        return postgres.PostgresGenerator(options)
    if conn.dialect == "mssql":
        return tsql.TsqlGenerator(options)
    raise ReconcileError(
        f"reconciliation does not support the {conn.dialect!r} dialect: use postgresql or mssql"
    )


def _query(conn: _Conn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    cur = conn.raw.cursor()
    try:
        cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def _table_ref(conn: _Conn, spec: str) -> TableRef:
    from pytest_cdc.dialects.base import split_qualified

    parts = split_qualified(spec)
    if len(parts) == 1:
        sql = "SELECT current_schema()" if conn.dialect == "postgresql" else "SELECT SCHEMA_NAME()"
        return TableRef(str(_query(conn, sql)[0][0]), parts[0])
    if len(parts) == 2:
        return TableRef(parts[0], parts[1])
    raise ReconcileError(f"table {spec!r} is not 'schema.table' or 'table': pass one of those")


def _columns(conn: _Conn, ref: TableRef) -> list[Column]:
    cur = conn.raw.cursor()
    try:
        if conn.dialect == "postgresql":
            return postgres.read_columns(cur, ref.schema or "", ref.name, conn.paramstyle)
        return tsql.read_columns(cur, ref.schema or "", ref.name)
    finally:
        cur.close()


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _pairs(
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


def _prepare(conn: _Conn, pairs: Sequence[ColumnPair], side: str) -> dict[str, str] | None:
    """Check the server can encode like the others; returns a setting to restore."""
    if conn.dialect == "postgresql":
        cur = conn.raw.cursor()
        try:
            cur.execute("SELECT current_setting('server_encoding')")
            encoding = str(cur.fetchone()[0])
            if encoding.upper() not in ("UTF8", "SQL_ASCII"):
                raise ReconcileError(
                    f"the {side} database uses server encoding {encoding!r}: checksums need "
                    "UTF8 text; reconcile a UTF8 database"
                )
            return postgres.prepare_session(cur, conn.paramstyle)
        finally:
            cur.close()
    needs_utf8 = any(p.on(side).type_class in LENGTH_PREFIXED for p in pairs)
    cur = conn.raw.cursor()
    try:
        tsql.check_server(cur, needs_utf8)
    finally:
        cur.close()
    return None


def _restore(conn: _Conn, old: dict[str, str] | None) -> None:
    if conn.dialect == "postgresql" and old:
        cur = conn.raw.cursor()
        try:
            postgres.set_session(cur, conn.paramstyle, old)
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                cur.close()


def _share_workers(src: _Conn, dst: _Conn) -> list[tuple[_Conn, dict[str, str]]]:
    """Both sides on one PostgreSQL server run at once: split its parallel workers.

    Each pass is CPU-bound, so two concurrent passes with a full set of workers each only add
    processes (and one JIT compilation each) that compete for the same cores. Returns the
    settings to restore. Only speed depends on this, never a checksum.
    """
    if src.dialect != "postgresql" or dst.dialect != "postgresql":
        return []
    ids = [_query(conn, postgres.SERVER_IDENTITY)[0] for conn in (src, dst)]
    if tuple(ids[0][:2]) != tuple(ids[1][:2]):
        return []
    out = []
    for conn, row in zip((src, dst), ids, strict=True):
        workers = {"max_parallel_workers_per_gather": str(int(row[2]) // 2)}
        cur = conn.raw.cursor()
        try:
            out.append((conn, postgres.set_session(cur, conn.paramstyle, workers)))
        finally:
            cur.close()
    return out


def _estimate(conn: _Conn, gen: SqlGenerator, ref: TableRef, where: str | None) -> int:
    """Rows to plan segments for: planner statistics, or COUNT(*) when there are none."""
    if not where:
        module = postgres if conn.dialect == "postgresql" else tsql
        rows = _query(conn, module.estimate_sql(conn.paramstyle), (gen.table(ref),))
        if rows and rows[0][0] is not None and int(rows[0][0]) > 0:
            return int(rows[0][0])
    return int(_query(conn, gen.count_query(ref, user_where=where))[0][0])


AGGREGATIONS = ("auto", "sum", "ordered")


def _aggregation(
    wanted: str,
    sides: Sequence[tuple[_Conn, SqlGenerator, TableRef, str]],
    key_pairs: Sequence[ColumnPair],
) -> str:
    """The segment aggregation both sides can run: docs/checksum.md, "Aggregation".

    "ordered" (one MD5 a segment over its rows in key order) needs a single key column that
    both engines order alike and that leads an index on both sides; "auto" takes it when it
    can and otherwise falls back to the additive per-row sums, which work for any key.
    """
    if wanted not in AGGREGATIONS:
        raise ReconcileError(
            f"aggregation={wanted!r} is not one of {', '.join(AGGREGATIONS)}: pass one of those"
        )
    if wanted == "sum":
        return "sum"
    why = None
    for conn, gen, ref, label in sides:
        names = [k.on(label).name for k in key_pairs]
        if not gen.ordered_key(key_pairs, label):
            types = ", ".join(repr(k.on(label).data_type) for k in key_pairs)
            kinds = ", ".join(sorted(gen.ordered_key_types))
            many = "" if gen.composite_ordered_keys else " one"
            why = f"it needs{many} key column(s) of type {kinds}; the {label} key is {types}"
            break
        if conn.dialect == "mssql":
            major = int(_query(conn, tsql.VERSION_QUERY)[0][0])
            if major < tsql.MIN_STRING_AGG_VERSION:
                why = f"it needs STRING_AGG (SQL Server 2017), and the {label} is version {major}"
                break
        module = postgres if conn.dialect == "postgresql" else tsql
        rows = _query(conn, module.key_indexes_sql(conn.paramstyle), (gen.table(ref),))
        if not _leads_an_index(rows, names):
            why = (
                f"the {label} key ({', '.join(names)}) of {str(ref)!r} must be NOT NULL and"
                " lead an index, in that order"
            )
            break
    if why is None:
        return "ordered"
    if wanted == "ordered":
        raise ReconcileError(f"aggregation='ordered' cannot be used: {why}; pass aggregation='sum'")
    return "sum"


def _leads_an_index(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> bool:
    """Whether ``names`` are NOT NULL and, in this order, the leading columns of one index
    whose leading positions all sort the same way (it can then be read in key order).

    ``rows``: the ``key_indexes_sql`` rows (index, position, column, not null, descending).
    """
    indexes: dict[Any, dict[int, tuple[str, int, int]]] = {}
    for index, position, column, not_null, descending in rows:
        indexes.setdefault(index, {})[int(position)] = (str(column), int(not_null), int(descending))
    for positions in indexes.values():
        lead = [positions[i] for i in range(1, len(names) + 1) if i in positions]
        if (
            [column for column, _, _ in lead] == list(names)
            and all(not_null for _, not_null, _ in lead)
            and len({descending for _, _, descending in lead}) == 1
        ):
            return True
    return False


def _size_segments(
    settings: Settings,
    wanted: str,
    conn: _Conn,
    gen: SqlGenerator,
    ref: TableRef,
    pairs: Sequence[ColumnPair],
    where: str | None,
    estimated_rows: int,
) -> None:
    """Measure the row text the ordered segments will hold; too wide a table takes the sums.

    string_agg holds one segment's text at once, so the pass cuts the table into segments of
    at most ``segment_bytes``.  Where even ``max_ordered_segments`` segments would be bigger,
    "auto" keeps the sums, which hold nothing per row; an explicit "ordered" is refused.
    """
    rows = _query(conn, gen.width_query(ref, pairs, "source", 1000, user_where=where))
    width = float(rows[0][0]) if rows and rows[0][0] is not None else 0.0
    settings.row_bytes = width
    total = estimated_rows * width
    if total <= settings.segment_bytes * settings.max_ordered_segments:
        return
    if wanted == "ordered":
        raise ReconcileError(
            f"aggregation='ordered' cannot be used: rows of about {width:,.0f} bytes would make"
            f" segments of more than {settings.segment_bytes >> 20} MB even cut into"
            f" {settings.max_ordered_segments:,} segments; pass aggregation='sum'"
        )
    settings.aggregation = "sum"


def _lanes(
    stack: contextlib.ExitStack,
    obj: Any,
    conn: _Conn,
    side: Side,
    pairs: Sequence[ColumnPair],
) -> None:
    """Extra connections for an ordered pass over a PostgreSQL URL.

    The ordered pass is one backend per query (PostgreSQL plans no parallel workers for a
    LATERAL over VALUES), so the side gets ``max_parallel_workers_per_gather`` connections
    in all (already halved when both sides share one server), each scanning a contiguous
    run of segments.  Not one more for the leader, as a parallel plan would have: on this
    2-core machine, two lanes a side over one shared server took 7.9 s instead of 6.5 s.
    Borrowed connections, pools and handles are used as given, alone.
    """
    if not isinstance(obj, str) or conn.dialect != "postgresql":
        return
    workers = int(_query(conn, "SELECT current_setting('max_parallel_workers_per_gather')")[0][0])
    for _ in range(max(0, workers - 1)):
        extra = stack.enter_context(_opened(obj))
        _prepare(extra, pairs, side.label)  # closed afterwards: nothing to restore
        side.extra.append(
            Side(side.label, extra.raw, side.gen, side.table, side.where, threading.Lock())
        )


def reconcile(
    source: Any,
    target: Any,
    *,
    table: str,
    key: str | Sequence[str],
    columns: str | Sequence[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    target_table: str | None = None,
    where: str | None = None,
    target_where: str | None = None,
    float_digits: int = 14,
    timestamp_precision: int = 6,
    timestamp_mode: str = "truncate",
    leaf_rows: int = 10_000,
    show: int = 10,
    max_keys: int = 1000,
    aggregation: str = "auto",
) -> ReconcileReport:
    """Compare ``table`` on ``source`` with ``target_table`` (default: same name) on ``target``.

    ``key``: the key column(s) (source names).  ``columns``: compared columns (default: all of
    the source's).  ``column_map``: source name -> target name.  ``where``: a SQL condition
    applied on both sides (``target_where`` overrides it for the target), e.g. to leave out
    rows younger than the replication lag.  Returns a :class:`ReconcileReport`.
    """
    keys = _names(key) or []
    if not keys:
        raise ReconcileError("no key column given: pass key='id' (or a list for a composite key)")
    options = EncodingOptions(float_digits, timestamp_precision, timestamp_mode)
    settings = Settings(leaf_rows=max(1, leaf_rows), show=show, max_keys=max_keys)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(_opened(source))
        # The same pool or handle on both sides: borrow once (a pool of one would block).
        # The same URL string opens a second connection, so the sides run concurrently.
        dst = src if _shared(source, target) else stack.enter_context(_opened(target))
        src_gen, dst_gen = _generator(src, options), _generator(dst, options)
        src_ref = _table_ref(src, table)
        dst_ref = _table_ref(dst, target_table or table)
        src_cols, dst_cols = _columns(src, src_ref), _columns(dst, dst_ref)
        for cols, ref, conn in ((src_cols, src_ref, src), (dst_cols, dst_ref, dst)):
            if not cols:
                raise ReconcileError(
                    f"table {str(ref)!r} does not exist on {conn.label!r} (or has no columns "
                    "you may read): check the table name"
                )
        key_pairs, pairs = _pairs(
            src_cols, dst_cols, keys, _names(columns), column_map or {}, src_ref, dst_ref
        )
        restore_src = _prepare(src, pairs, "source")
        stack.callback(_restore, src, restore_src)
        if dst.raw is not src.raw:
            restore_dst = _prepare(dst, pairs, "target")
            stack.callback(_restore, dst, restore_dst)
            for conn, old in _share_workers(src, dst):
                stack.callback(_restore, conn, old)
        settings.aggregation = _aggregation(
            aggregation,
            [(src, src_gen, src_ref, "source"), (dst, dst_gen, dst_ref, "target")],
            key_pairs,
        )
        # Planner statistics, or a COUNT(*) with a where=: asked once.
        estimate = functools.cache(lambda: _estimate(src, src_gen, src_ref, where))
        if settings.aggregation == "ordered":
            _size_segments(settings, aggregation, src, src_gen, src_ref, pairs, where, estimate())
        shared = threading.Lock()
        src_side = Side("source", src.raw, src_gen, src_ref, where, shared)
        dst_lock = shared if dst.raw is src.raw else threading.Lock()
        dst_where = target_where if target_where is not None else where
        dst_side = Side("target", dst.raw, dst_gen, dst_ref, dst_where, dst_lock)
        if settings.aggregation == "ordered" and dst.raw is not src.raw:
            _lanes(stack, source, src, src_side, pairs)
            _lanes(stack, target, dst, dst_side, pairs)
        report = ReconcileReport(
            source=src.label,
            target=dst.label,
            source_table=str(src_ref),
            target_table=str(dst_ref),
            key=keys,
            columns=[p.name for p in pairs],
            options={
                **asdict(options),
                "leaf_rows": settings.leaf_rows,
                "aggregation": settings.aggregation,
            },
        )
        engine = Reconciler(
            src_side,
            dst_side,
            key_pairs,
            pairs,
            settings,
            estimate,
        )
        try:
            engine.compare(engine.initial_bounds(), None, 0)
            engine.finish()
            engine.report(report)
        finally:
            engine.close()
    report.timings["total"] = round(time.perf_counter() - started, 6)
    return report


def assert_checksums_match(
    source: Any, target: Any, *, table: str, key: str | Sequence[str], **kwargs: Any
) -> ReconcileReport:
    """Fail the test (no traceback) unless ``table`` holds the same rows on both sides.

    The message gives the counts first, then the first differing keys with their column
    values side by side.  Takes the keyword arguments of :func:`reconcile`.
    """
    import pytest

    report = reconcile(source, target, table=table, key=key, **kwargs)
    if not report.equal:
        pytest.fail(
            "checksums differ: " + report.to_text(limit=kwargs.get("show", 10)), pytrace=False
        )
    return report


def assert_row_counts_match(
    source: Any,
    target: Any,
    *,
    table: str,
    target_table: str | None = None,
    where: str | None = None,
    exact: bool = True,
) -> tuple[int, int]:
    """Fail unless both sides hold as many rows; ``exact=False`` compares statistics only."""
    import pytest

    with contextlib.ExitStack() as stack:
        src = stack.enter_context(_opened(source))
        dst = src if _shared(source, target) else stack.enter_context(_opened(target))
        options = EncodingOptions()
        gens = (_generator(src, options), _generator(dst, options))
        refs = (_table_ref(src, table), _table_ref(dst, target_table or table))

        def count(i: int) -> int:
            conn, gen, ref = (src, dst)[i], gens[i], refs[i]
            if exact:
                return int(_query(conn, gen.count_query(ref, user_where=where))[0][0])
            module = postgres if conn.dialect == "postgresql" else tsql
            rows = _query(conn, module.estimate_sql(conn.paramstyle), (gen.table(ref),))
            return int(rows[0][0]) if rows and rows[0][0] is not None else 0

        if src.raw is dst.raw:
            counts = (count(0), count(1))
        else:
            with ThreadPoolExecutor(max_workers=2) as pool:
                later = pool.submit(count, 1)
                counts = (count(0), later.result())
    if counts[0] != counts[1]:
        how = "rows" if exact else "rows (planner statistics; pass exact=True to count)"
        pytest.fail(
            f"row counts differ: source {refs[0]} has {counts[0]} {how}, target {refs[1]} "
            f"has {counts[1]} (difference {counts[1] - counts[0]:+d})",
            pytrace=False,
        )
    return counts
