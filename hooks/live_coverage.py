"""``cdc-index-coverage --live``: the coverage check with the real planner.

The static check infers from the DDL which indexes exist and whether one leads with the
columns a query filters on.  The live check loads the same DDL files (the ``ddl`` globs, in
migration order) into a throwaway embedded PostgreSQL and asks the planner, in the
``index-possible`` mode of ``assert_no_table_scan`` (``enable_seqscan = off``, so a scan
left in the plan means no index can serve it):

- CDC201 a configured reconciliation table that does not exist once the DDL is loaded;
- CDC202/CDC203/CDC204 the configured table's reconciliation reads (one row by its key, the
  incremental read by timestamp, the read by status and timestamp) that need a table scan;
- CDC205 a statement of a query file that filters, joins or orders a configured table (the
  same statements the static check judges, at the same locations) and needs a scan of it;
- CDC207 a configured column the loaded table does not have;
- CDC000 (warning) a DDL statement the server refused, or a query it could not plan.

Query files hold parameters as ``$1``: they are planned as generic plans (the plan for any
value).  PostgreSQL files only: T-SQL files cannot be loaded into PostgreSQL, and are left to
the static check.
"""

from __future__ import annotations

import bisect
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_cdc_hooks.config import HookConfig, ReconciliationTable
from pytest_cdc_hooks.findings import Finding, fingerprint, line_starts
from pytest_cdc_hooks.project import read_text

__all__ = ["check_live"]

#: The embedded server's binaries: a directory, "system" or "wheel" (as --cdc-pg-bin).
ENV_PG_BIN = "PYTEST_CDC_PG_BIN"
MODE = "index-possible"


def _postgres() -> Any:
    from pytest_cdc.dialects import get_dialect

    return get_dialect("postgresql")


def check_live(
    config: HookConfig, *, dialect: str | None = None, pg_bin: str | None = None
) -> tuple[list[Finding], list[str]]:
    """Findings of the live check, and notes for stderr (files left to the static check)."""
    from pytest_cdc.errors import ConfigError

    pg = _postgres()
    if dialect is not None and dialect != pg.sqlglot_dialect:
        raise ConfigError(
            f"--live loads the DDL into PostgreSQL: --dialect {dialect!r} files cannot be"
            " loaded; run the static check for them"
        )

    def ours(path: Path, table_dialect: str | None = None) -> bool:
        return bool((dialect or table_dialect or config.dialect_for(path)) == pg.sqlglot_dialect)

    ddl = config.ddl_files()
    queries = config.query_files()
    left = [p for p in [*ddl, *queries] if not ours(p)]
    notes = (
        [f"{len(left)} files in other dialects are left to the static check (--live runs on"]
        if left
        else []
    )
    if notes:
        notes[0] += " PostgreSQL): " + ", ".join(config.relative(p) for p in left)
    findings: list[Finding] = []
    with _server(pg_bin or os.environ.get(ENV_PG_BIN)) as raw:
        for path in ddl:
            if ours(path):
                findings.extend(_load(config, raw, path))
        for table in config.tables:
            if (dialect or table.dialect or config.default_dialect) == pg.sqlglot_dialect:
                findings.extend(_table_reads(config, raw, table))
        for path in queries:
            if ours(path) and not config.is_ddl(path):
                findings.extend(_query_file(config, raw, path))
    return findings, notes


@contextmanager
def _server(pg_bin: str | None) -> Iterator[Any]:
    from pytest_cdc.embedded import embedded_postgres

    with embedded_postgres(bindir=pg_bin, name="live-coverage") as server:
        raw = _postgres().connect(server.url)
        try:
            yield raw
        finally:
            raw.close()


def _first_line(exc: BaseException) -> str:
    from pytest_cdc.errors import first_line

    return first_line(exc)


def _load(config: HookConfig, raw: Any, path: Path) -> list[Finding]:
    """Run one DDL file statement by statement (autocommit: CREATE INDEX CONCURRENTLY runs)."""
    shown = config.relative(path)
    _data, text, problem = read_text(path, shown)
    if problem is not None:
        return [problem]
    findings = []
    cur = raw.cursor()
    try:
        for batch in _postgres().split_script(text or ""):
            try:
                cur.execute(batch.text)
            except Exception as exc:
                findings.append(
                    Finding(
                        shown,
                        batch.line,
                        1,
                        "CDC000",
                        f"not loaded into the embedded PostgreSQL: {_first_line(exc)}",
                        "warning",
                        fingerprint(batch.text),
                    )
                )
    finally:
        cur.close()
    return findings


def _unserved(
    raw: Any,
    sql: str,
    table: str,
    *,
    every: Sequence[str] = (),
    any_of: Sequence[str] = (),
    order: str | None = None,
    unique: bool = False,
) -> str | None:
    """None when the planner serves ``table`` in ``sql`` as the static check asks, else what
    the plan does instead.  Planned so that any usable index is used: a scan left in the plan
    means no index can serve the statement, and an index read must seek on its leading
    column, on ``every`` column, on one of ``any_of``; ``order``: read in that column's order
    (a walk of an index leading with it); ``unique``: through a unique index of those columns.
    """
    from pytest_cdc.asserts import offending_scans

    pg = _postgres()
    plan = pg.generic_plan(raw, sql, MODE, seek_joins=True)
    scans = offending_scans(plan, tables=table, disabled=True)
    reads = pg.index_reads(raw, plan, table)
    if order is not None:
        scans = [n for n in scans if n.index is None]
        if not scans and any(r.columns[:1] == (order.lower(),) for r in reads):
            return None
    elif not scans:
        wanted = {c.lower() for c in every}
        for read in reads:
            keys = {c.lower() for c in read.columns if c is not None}
            if not read.seeks or not wanted <= read.sought:
                continue
            if any_of and not read.sought & {c.lower() for c in any_of}:
                continue
            if unique and not (read.unique and keys <= wanted):
                continue
            return None
    if scans:
        return f"needs a table scan ({_labels(scans)}, planned with enable_seqscan = off)"
    if not reads:
        return "reads the table without an index"
    shown = "; ".join(
        f"{r.name} ({', '.join(c or '(expression)' for c in r.columns)}), "
        + (f"which seeks on {', '.join(sorted(r.sought))} only" if r.seeks else "walked whole")
        for r in reads
    )
    return f"goes through {shown}"


def _fix(table: str, columns: Sequence[str], **kw: Any) -> str:
    from pytest_cdc.indexes import IndexRecommendation, generate_index_ddl

    recommendation = IndexRecommendation(table=table, columns=tuple(columns), **kw)
    return generate_index_ddl(recommendation, _postgres().name)


def _labels(nodes: Sequence[Any]) -> str:
    return "; ".join(sorted({n.label for n in nodes}))


def _pyproject(config: HookConfig) -> str:
    return config.relative(config.pyproject) if config.pyproject else "pyproject.toml"


def _table_reads(config: HookConfig, raw: Any, table: ReconciliationTable) -> list[Finding]:
    pg = _postgres()
    where = (_pyproject(config), table.line, 1)
    about = fingerprint(table.name)
    cur = raw.cursor()
    try:
        cur.execute("SELECT to_regclass(%s)", (pg.quote_table(table.name),))
        exists = cur.fetchone()[0] is not None
    except Exception:
        exists = False  # a name that is not even a valid identifier
    finally:
        cur.close()
    if not exists:
        return [
            Finding(
                *where,
                "CDC201",
                f"reconciliation table {table.name!r} does not exist once the files of ddl ="
                f" {list(config.ddl)!r} are loaded into PostgreSQL: fix the name or the ddl globs",
                fingerprint=about,
            )
        ]
    quoted = pg.quote_table(table.name)
    keys = ", ".join(pg.quote_identifier(k) for k in table.key)
    extra = f" AND ({table.active_filter})" if table.active_filter else ""
    reads: list[tuple[str, str, str, list[str], dict[str, Any]]] = []
    by_key = " AND ".join(f"{pg.quote_identifier(k)} = ${i}" for i, k in enumerate(table.key, 1))
    reads.append(
        (
            "CDC202",
            f"reading one row by ({', '.join(table.key)})",
            f"SELECT * FROM {quoted} WHERE {by_key}{extra}",
            list(table.key),
            {"unique": True},
        )
    )
    ts = pg.quote_identifier(table.timestamp) if table.timestamp else None
    if ts and table.timestamp:
        reads.append(
            (
                "CDC203",
                f"the incremental read ({table.timestamp} > $1)",
                f"SELECT {keys} FROM {quoted} WHERE {ts} > $1 AND {ts} <= $2{extra}",
                [table.timestamp],
                {},
            )
        )
    if table.status:
        condition = f"{pg.quote_identifier(table.status)} = $1" + (f" AND {ts} > $2" if ts else "")
        reads.append(
            (
                "CDC204",
                f"the read by {table.status}" + (f" and {table.timestamp}" if ts else ""),
                f"SELECT {keys} FROM {quoted} WHERE {condition}{extra}"
                + (f" ORDER BY {ts}" if ts else ""),
                [table.status, *([table.timestamp] if table.timestamp else [])],
                {},
            )
        )
    findings = []
    for code, what, sql, columns, options in reads:
        try:
            verdict = _unserved(raw, sql, table.name, every=columns, **options)
        except Exception as exc:
            findings.append(_unplanned(where, code, table, what, exc))
            continue
        if verdict is not None:
            message = f"{table.name!r}: {what} {verdict}: {_fix(table.name, columns, **options)}"
            findings.append(Finding(*where, code, message, fingerprint=about))
    return findings


def _unplanned(
    where: tuple[str, int, int], code: str, table: ReconciliationTable, what: str, exc: Exception
) -> Finding:
    reason = _first_line(exc)
    if getattr(exc, "pgcode", None) == "42703":  # undefined_column
        return Finding(
            *where,
            "CDC207",
            f"reconciliation table {table.name!r}: {reason}: fix the columns in"
            " [tool.pytest-cdc.reconciliation-tables]",
            fingerprint=fingerprint(table.name, code),
        )
    return Finding(
        *where, "CDC000", f"{what} on {table.name!r} was not planned: {reason}", "warning"
    )


def _query_file(config: HookConfig, raw: Any, path: Path) -> list[Finding]:
    from pytest_cdc.indexes import split_qualified_name
    from pytest_cdc_hooks.schema import table_key
    from pytest_cdc_hooks.splitting import split_statements
    from pytest_cdc_hooks.usage import file_uses, index_need

    pg = _postgres()
    shown = config.relative(path)
    _data, text, problem = read_text(path, shown)
    if problem is not None:
        return [problem]
    text = text or ""
    statements = [s for s in split_statements(text, pg.sqlglot_dialect)[0] if not s.nested]
    starts = [s.start for s in statements]
    lines = line_starts(text)
    wanted = {table_key(split_qualified_name(t.name), pg.sqlglot_dialect): t for t in config.tables}
    judged: dict[int, list[tuple[dict[str, Any], ReconciliationTable]]] = {}
    for use in file_uses(text, pg.sqlglot_dialect)["uses"]:
        table = wanted.get(use["table"])
        if table is None or not (use["eq"] or use["join"] or use["range"] or use["order"]):
            continue  # a full read is what the statement asks for: nothing to serve
        offset = lines[use["line"] - 1] + use["col"] - 1
        index = bisect.bisect_right(starts, offset) - 1
        if index >= 0:
            judged.setdefault(index, []).append((use, table))
    findings = []
    for index, uses in sorted(judged.items()):
        statement = statements[index]
        for use, table in uses:
            filtered, columns, what = index_need(use)
            order = None if filtered else use["order"][0]
            try:
                verdict = _unserved(raw, statement.text, table.name, any_of=filtered, order=order)
            except Exception as exc:
                line = text.count("\n", 0, statement.start) + 1
                findings.append(
                    Finding(
                        shown,
                        line,
                        1,
                        "CDC000",
                        f"not planned live: {_first_line(exc)}",
                        "warning",
                        use["fingerprint"],
                    )
                )
                break
            if verdict is None:
                continue
            message = f"query on {table.name!r} {what} but {verdict}: {_fix(table.name, columns)}"
            findings.append(
                Finding(
                    shown, use["line"], use["col"], "CDC205", message, "error", use["fingerprint"]
                )
            )
    return findings


def print_notes(prog: str, notes: Sequence[str]) -> None:
    for note in notes:
        print(f"{prog}: {note}", file=sys.stderr)
