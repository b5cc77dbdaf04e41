"""Repair SQL: for the stable mismatches of a replica run, statements that make the target
equal the source for exactly those keys, written to a file a person reviews and applies.
pytest-cdc never runs them.

Per mismatched table, one transaction on the target: the source rows of the keys missing in
the target or changed (read from the source now, by key) as ``INSERT ... ON CONFLICT (key) DO
UPDATE``, and ``DELETE`` for the extra keys and for keys the source no longer has.  Only the
compared columns are written: a target column the mapping leaves out keeps its value, one the
target generates is left to it.  Optionally, Debezium ``execute-snapshot`` signal rows for
the source, to repair through the pipeline instead (an incremental snapshot of those keys).

Keys are the canonical texts of the comparison; the generators turn them back into typed
literals of each engine (never text pasted into SQL), and the values written are quoted by
the target's driver.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_cdc.checksums.connections import Opened, open_both
from pytest_cdc.checksums.encoding import EncodingOptions
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.sqlgen import SqlGenerator, TableRef
from pytest_cdc.checksums.tables import column_pairs, read_columns
from pytest_cdc.errors import CdcError, ConfigError, first_line
from pytest_cdc.replica.report import ReplicaReport, TableResult
from pytest_cdc.schema.report import TableReport

if TYPE_CHECKING:
    from pytest_cdc.dialects.postgres.repair import TargetTable
    from pytest_cdc.replica.run import _Run

#: Keys a statement (a read of the source, an INSERT, a DELETE) handles at most.
CHUNK = 200
#: Characters of a signal's ``data``: Debezium's documented signaling table has
#: ``data VARCHAR(2048)``.
SIGNAL_DATA_LIMIT = 2048
_ENCODING_KEYS = ("float_digits", "timestamp_precision", "timestamp_mode")


class RepairWriter(Protocol):
    """What a target engine provides to write repair SQL (``Dialect.repair_writer()``)."""

    def check(self, raw: Any) -> None: ...

    def table(self, ex: Executor, schema: str, name: str, key: Sequence[str]) -> TargetTable: ...

    def conforming_strings(self, raw: Any) -> str: ...

    def literal(self, cur: Any, value: Any, type_name: str) -> str: ...

    def begin(self) -> list[str]: ...

    def commit(self) -> list[str]: ...

    def upsert(
        self,
        table: str,
        target: TargetTable,
        columns: Sequence[str],
        key: Sequence[str],
        rows: Sequence[Sequence[str]],
    ) -> list[str]: ...

    def delete(self, table: str, key: Sequence[str], keys: Sequence[Sequence[str]]) -> str: ...


@dataclass
class TableRepair:
    """One table's repair: its statements and what they do."""

    result: TableResult
    upserts: int = 0
    deletes: int = 0
    #: Keys the source no longer has (deleted from the target too).
    gone: int = 0
    statements: list[str] = field(default_factory=list)
    #: Source key conditions for the Debezium signals (source SQL, bare column names).
    conditions: list[str] = field(default_factory=list)
    collection: str = ""
    notes: list[str] = field(default_factory=list)
    error: str = ""


def repair_script(
    source: Any,
    target: Any,
    report: ReplicaReport,
    pairs: Sequence[TableReport],
    *,
    signal_table: str | None = None,
    generated_at: datetime.datetime | None = None,
) -> str:
    """The repair SQL of ``report``'s mismatched tables (``pairs``: the schema comparison's
    table pairs, ``run.schema.pairs``), reading the source rows from ``source`` now.

    ``source``/``target`` are what :func:`~pytest_cdc.replica.validate_replica` takes (a URL,
    a pool or handle, a connection).  ``signal_table``: also write Debezium execute-snapshot
    signal rows for that source table.  Raises :class:`~pytest_cdc.errors.ConfigError` when
    the target is not PostgreSQL driven by psycopg2."""
    with contextlib.ExitStack() as stack:
        src, dst = open_both(stack, source, target)
        return _script(src, dst, report, pairs, signal_table, generated_at)


def write_repair_sql(
    path: str | Path,
    source: Any,
    target: Any,
    report: ReplicaReport,
    pairs: Sequence[TableReport],
    *,
    signal_table: str | None = None,
) -> Path:
    """:func:`repair_script` written to ``path`` (UTF-8)."""
    text = repair_script(source, target, report, pairs, signal_table=signal_table)
    return _save(path, text)


def write_run_repair(
    run: _Run, report: ReplicaReport, path: str | Path, *, signal_table: str | None
) -> Path:
    """The repair SQL of a finished run, on the run's own connections (validate_replica's
    ``repair_sql=``)."""
    with run.leases() as (src, dst):
        text = _script(src, dst, report, run.schema.pairs, signal_table, None)
    return _save(path, text)


def _save(path: str | Path, text: str) -> Path:
    out = Path(path)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the repair SQL to {str(out)!r}: {exc.strerror}") from None
    return out


# -- the script -----------------------------------------------------------------------------
def _script(
    src: Opened,
    dst: Opened,
    report: ReplicaReport,
    pairs: Sequence[TableReport],
    signal_table: str | None,
    generated_at: datetime.datetime | None,
) -> str:
    writer = dst.dialect.repair_writer()
    writer.check(dst.raw)
    when = (generated_at or datetime.datetime.now(datetime.timezone.utc)).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    by_name = {p.source_table: p for p in pairs}
    repairs: list[TableRepair] = []
    left_out: list[str] = []
    for result in sorted(report.tables, key=lambda r: r.source_table):
        why = _left_out(result, by_name)
        if why:
            if result.state != "validated":
                left_out.append(f"{result.name} ({result.state}): {why}")
            continue
        repair = TableRepair(result)
        try:
            _table(src, dst, writer, by_name[result.source_table], repair, signal_table)
        except CdcError as exc:
            repair.error = first_line(exc)
        repairs.append(repair)
    lines = [
        "-- pytest-cdc repair SQL: makes the target equal the source for the rows a validation"
        " found stably different",
        f"-- replica: {report.source} -> {report.target}",
        f"-- generated at {when}; REVIEW BEFORE APPLYING: pytest-cdc never runs it",
        "-- apply to the TARGET database, e.g. psql -v ON_ERROR_STOP=1 -f this-file.sql",
        f"-- literals are quoted for standard_conforming_strings ="
        f" {writer.conforming_strings(dst.raw)} (the target's setting when written)",
        "-- each table is one transaction; every statement is idempotent (apply twice: same"
        " result)",
    ]
    if report.stopped:
        lines.append(f"-- the run stopped early ({report.stopped}): tables not checked are absent")
    done = [r for r in repairs if not r.error]
    lines.append(f"-- tables repaired: {len(done)}")
    for repair in repairs:
        if repair.error:
            left_out.append(f"{repair.result.name}: could not be written: {repair.error}")
    if left_out:
        lines.append("-- tables left out:")
        lines.extend(f"--   {line}" for line in left_out)
    for repair in done:
        lines += ["", *_table_text(repair, when), *writer.begin(), *repair.statements]
        lines += writer.commit()
    if signal_table is not None:
        lines += ["", *_signals(src, signal_table, done)]
    return "\n".join(lines) + "\n"


def _left_out(result: TableResult, pairs: dict[str, TableReport]) -> str:
    """Why a table gets no statements ("" when it gets some)."""
    if result.state == "validated":
        return "validated"
    if result.state == "suspended":
        return "rows still changing on the source are not repaired: validate again later"
    if result.state != "mismatched":
        return f"only mismatched tables are repaired ({result.reason or result.state})"
    if result.source_table not in pairs or not result.key:
        return "no table pair with a key to write by"
    if not (result.missing or result.extra or result.changed):
        return "no differing keys named (the checksum tier did not run, or found none)"
    return ""


def _table_text(repair: TableRepair, when: str) -> list[str]:
    r = repair.result
    kept = len(r.missing) + len(r.extra) + len(r.changed)
    lines = [
        f"-- table {r.name}",
        f"--   {r.missing_count:,} missing in the target, {r.extra_count:,} extra,"
        f" {r.changed_count:,} changed: {repair.upserts:,} rows written from the source,"
        f" {repair.deletes:,} deleted",
        f"--   generated at {when}; review before applying",
    ]
    if repair.gone:
        lines.append(f"--   {repair.gone:,} of the keys are gone from the source: deleted")
    if r.mismatches > kept:
        lines.append(
            f"--   the report kept {kept:,} of {r.mismatches:,} differing keys"
            " (table-failure-max-count): validate again after applying"
        )
    if r.suspended_count:
        lines.append(f"--   {r.suspended_count:,} keys still changing on the source: not repaired")
    lines.extend(f"--   note: {note}" for note in repair.notes)
    return lines


# -- one table ------------------------------------------------------------------------------
def _keys(result: TableResult) -> list[tuple[str, ...]]:
    found: dict[tuple[str, ...], None] = {}
    rows = [*result.missing, *result.extra, *(c["key"] for c in result.changed)]
    for key in rows:
        found[tuple(str(k) for k in key)] = None
    return list(found)


def _ref(parts: Sequence[str]) -> TableRef:
    return TableRef(parts[0], parts[1]) if len(parts) == 2 else TableRef(None, parts[0])


def _table(
    src: Opened,
    dst: Opened,
    writer: RepairWriter,
    pair: TableReport,
    repair: TableRepair,
    signal_table: str | None,
) -> None:
    options = EncodingOptions(
        **{k: v for k, v in pair.encoding_options.items() if k in _ENCODING_KEYS}
    )
    src_gen, dst_gen = src.dialect.checksum_sql(options), dst.dialect.checksum_sql(options)
    src_ref = _ref(pair.source_name or [pair.source_table])
    dst_ref = _ref(pair.target_name or [pair.target_table])
    dst_where = pair.target_where if pair.target_where is not None else pair.where
    keys = _keys(repair.result)
    comparable = [c for c in pair.columns if c.comparable]
    column_map = {c.source: c.target for c in comparable}
    with contextlib.ExitStack() as stack:
        src_ex = _reader(stack, src, "source")
        dst_ex = src_ex if dst.raw is src.raw else _reader(stack, dst, "target")
        if dst_ref.schema is None:
            dst_ref = TableRef(
                str(dst_ex.run("schema", dst_gen.current_schema_sql)[0][0]), dst_ref.name
            )
        key_pairs, all_pairs = column_pairs(
            read_columns(src_ex, src_gen, src_ref),
            read_columns(dst_ex, dst_gen, dst_ref),
            list(pair.key),
            [c.source for c in comparable],
            column_map,
            src_ref,
            dst_ref,
        )
        target_key = [k.target.name for k in key_pairs]
        target = writer.table(dst_ex, dst_ref.schema or "", dst_ref.name, target_key)
        rows: dict[tuple[str, ...], list[Any]] = {}
        for chunk in _chunks(keys):
            sql = src_gen.repair_query(
                src_ref, key_pairs, all_pairs, "source", chunk, user_where=pair.where
            )
            for row in src_ex.run("repair rows", sql):
                rows[tuple(str(v) for v in row[: len(key_pairs)])] = list(row[len(key_pairs) :])
        gone = [k for k in keys if k not in rows]
        doomed: list[list[Any]] = []
        for chunk in _chunks(gone):
            sql = dst_gen.repair_query(
                dst_ref, key_pairs, key_pairs, "target", chunk, user_where=dst_where
            )
            doomed += [list(row[len(key_pairs) :]) for row in dst_ex.run("repair keys", sql)]
        database = ""
        query = src.dialect.debezium_database_query
        if signal_table is not None and query:
            database = str(src_ex.run("database name", query)[0][0])
    # Quoted only now: the comparison's session settings (standard_conforming_strings among
    # them) are undone, so the literals are written for the target's own settings.
    columns = [p.target.name for p in all_pairs]
    missing = [c for c in columns if c not in target.columns]
    if missing:
        raise ConfigError(f"the target has no column {missing[0]!r} any more: validate again")
    types = [target.columns[c].type for c in columns]
    generated = [c for c in columns if target.columns[c].generated]
    if generated:
        repair.notes.append(f"generated by the target, not written: {', '.join(generated)}")
    table_sql = dst_gen.table(dst_ref)
    cur = dst.raw.cursor()
    try:
        written = [
            [writer.literal(cur, v, t) for v, t in zip(rows[k], types, strict=True)]
            for k in keys
            if k in rows
        ]
        key_types = types[: len(key_pairs)]
        deleted = [
            [writer.literal(cur, v, t) for v, t in zip(row, key_types, strict=True)]
            for row in doomed
        ]
    finally:
        cur.close()
    for chunk_rows in _chunks(written):
        repair.statements += writer.upsert(table_sql, target, columns, target_key, chunk_rows)
    for chunk_keys in _chunks(deleted):
        repair.statements.append(writer.delete(table_sql, target_key, chunk_keys))
    repair.upserts, repair.deletes = len(written), len(deleted)
    extra = {tuple(str(v) for v in k) for k in repair.result.extra}
    repair.gone = sum(1 for k in gone if k not in extra)
    if signal_table is not None:
        bare = src_gen.bare()
        present = [k for k in keys if k in rows]
        repair.conditions = [bare.key_match(key_pairs, "source", [k]) for k in present]
        if pair.where:
            repair.notes.append("the snapshot's filter leaves out the table's where")
        repair.collection = _collection(database, pair)


def _collection(database: str, pair: TableReport) -> str:
    parts = [*([database] if database else []), *(pair.source_name or [pair.source_table])]
    # data-collections are regular expressions: a plain name reads the same either way, and
    # any other character is escaped (the dot between parts matches itself too).
    return ".".join(re.escape(p) for p in parts)


def _reader(stack: contextlib.ExitStack, conn: Opened, side: str) -> Executor:
    ex = Executor(side, conn.raw, conn.dialect, conn.paramstyle, None)
    conn.dialect.begin_comparison(stack, ex, timeout=None, lock_timeout=None)
    return ex


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- Debezium signals -----------------------------------------------------------------------
def _signals(src: Opened, signal_table: str, repairs: Sequence[TableRepair]) -> list[str]:
    """Debezium ``execute-snapshot`` signal rows: an incremental snapshot of just the keys
    written above, for teams that repair through the pipeline.

    The data's shape is Debezium's (2.4 and later; "Sending signals to a Debezium connector",
    https://debezium.io/documentation/reference/stable/configuration/signalling.html, the
    execute-snapshot data fields): ``data-collections``, ``type`` and ``additional-conditions``,
    a list of ``{"data-collection", "filter"}`` (2.4 replaced the single
    ``additional-condition`` string by that list, DBZ-6731).  A snapshot re-sends rows the
    source has; it cannot remove the target's extra rows.
    """
    gen: SqlGenerator = src.dialect.checksum_sql(EncodingOptions())
    try:
        table = src.dialect.quote_table(signal_table)
    except ValueError as exc:
        raise ConfigError(f"signal table {signal_table!r}: {exc}; pass schema.table") from None
    lines = [
        "-- Debezium execute-snapshot signals: run on the SOURCE database (not the target), as",
        "-- an alternative to the statements above; each re-reads the listed keys through the",
        "-- pipeline (an incremental snapshot). Extra target rows are not removed by a snapshot.",
    ]
    count = 0
    for repair in repairs:
        for filter_sql in _packed(repair.conditions, repair.collection):
            data = _signal_data(repair.collection, filter_sql)
            ident = "pytest-cdc-" + hashlib.sha256(data.encode()).hexdigest()[:24]
            values = ", ".join(gen.string_literal(v) for v in (ident, "execute-snapshot", data))
            lines.append(f"INSERT INTO {table} VALUES ({values});")
            count += 1
    if not count:
        lines.append("-- (no keys the source has: no signal)")
    return lines


def _signal_data(collection: str, filter_sql: str) -> str:
    return json.dumps(
        {
            "data-collections": [collection],
            "type": "incremental",
            "additional-conditions": [{"data-collection": collection, "filter": filter_sql}],
        }
    )


def _packed(conditions: Sequence[str], collection: str) -> list[str]:
    """Key conditions joined with OR into filters whose signal data fits the signaling
    table's column (a single key too long for it goes alone)."""
    out: list[str] = []
    current: list[str] = []
    for cond in conditions:
        trial = [*current, cond]
        if current and len(_signal_data(collection, " OR ".join(trial))) > SIGNAL_DATA_LIMIT:
            out.append(" OR ".join(current))
            trial = [cond]
        current = trial
    if current:
        out.append(" OR ".join(current))
    return out
