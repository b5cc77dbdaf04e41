"""``cdc-index-coverage``: are the reconciliation tables and queries served by indexes?

The schema is rebuilt from *all* configured DDL files on every run (pre-commit passes only the
changed files, and a migration that drops an index matters to queries nobody touched); per-file
results are cached by content, so that costs little.  Checks, per configured reconciliation
table:

- CDC201 the table is created by some DDL file;
- CDC202 a primary key or unique index on the key columns;
- CDC203 an index whose leading column is the timestamp column;
- CDC204 an index leading with (status, timestamp) when a status column is configured;
- CDC205 every query that filters, joins or orders the table is served by the leading column of
  some index (INCLUDE columns never count);
- CDC206 (warning) the only index that would serve it is partial/filtered and the query does
  not repeat the index's filter;
- CDC207 a configured column (key, timestamp, status) the table does not have.

``--live`` checks the same with the real planner on an embedded PostgreSQL
(:mod:`.live_coverage`).

Exit status: 0 clean, 1 findings, 2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_cdc.errors import CdcError
from pytest_cdc_hooks.cache import ResultCache, content_key
from pytest_cdc_hooks.cli import (
    base_parser,
    dialect_option,
    exit_code,
    fail_usage,
    finish,
    internal_error,
    print_stats,
    report,
    statement_timeout,
)
from pytest_cdc_hooks.codes import check_codes
from pytest_cdc_hooks.config import HookConfig, ReconciliationTable, load_config
from pytest_cdc_hooks.findings import Finding, not_understood_message
from pytest_cdc_hooks.project import LoadedSchema, failed_finding, load_schema, read_text

__all__ = ["check_coverage", "main"]

PROG = "cdc-index-coverage"


def check_coverage(
    config: HookConfig,
    paths: Sequence[str] = (),
    *,
    dialect: str | None = None,
    use_cache: bool = True,
    timeout: float | None = None,
) -> tuple[list[Finding], list[int], int]:
    """Findings, statement counts and files read for ``config``'s reconciliation tables.

    ``paths`` (what pre-commit passed) narrows the queries checked, unless a DDL file is among
    them: then every configured query is checked against the new schema.  ``timeout`` bounds
    each statement (seconds; None: the config's or the default; 0: none).
    """
    from pytest_cdc_hooks.workers import JobFailed, WorkerPool

    cache = ResultCache("coverage", config.root, enabled=use_cache and config.cache)
    with WorkerPool(timeout=statement_timeout(timeout, config)) as pool:
        loaded = load_schema(config, cache, pool)
        findings = list(loaded.findings)
        totals = list(loaded.stats)
        files = loaded.files
        if not config.tables:
            cache.save()
            return _suppressed(config, findings, {}), totals, files
        for table in config.tables:
            findings.extend(
                _doubt(loaded, f, table) for f in _table_findings(config, loaded, table, dialect)
            )
        queries: list[tuple[str, str, str, Any]] = []  # shown, dialect, cache key, entry
        texts: dict[str, str] = {}
        missing: list[tuple[str, tuple[str, str]]] = []
        for shown, path in _queries_to_check(config, paths):
            data, text, problem = read_text(path, shown)
            if problem is not None:
                findings.append(problem)
                continue
            texts[shown] = text or ""
            file_dialect = dialect or config.dialect_for(path)
            key = content_key(data, shown, file_dialect, "query-uses")
            entry = cache.get(key)
            if entry is None:
                missing.append((shown, (text or "", file_dialect)))
            queries.append((shown, file_dialect, key, entry))
        computed = dict(zip([m[0] for m in missing], pool.map(_file_uses, missing), strict=True))
    for shown, file_dialect, key, entry in queries:
        if entry is None:
            entry = computed[shown]
            if isinstance(entry, JobFailed):
                findings.append(failed_finding(shown, entry, "checked"))
                continue
            if shown not in pool.gave_up:  # a time-out depends on the machine
                cache.put(key, entry)
        totals = [a + b for a, b in zip(totals, entry["stats"], strict=True)]
        files += 1
        for line, col, reason, about in entry["not_understood"]:
            message = not_understood_message(reason)
            findings.append(Finding(shown, line, col, "CDC000", message, "warning", about))
        for use in entry["uses"]:
            findings.extend(_query_findings(config, loaded, shown, file_dialect, use))
    cache.save()
    return _suppressed(config, findings, texts), totals, files


def _suppressed(
    config: HookConfig, findings: list[Finding], texts: dict[str, str]
) -> list[Finding]:
    """Drop findings ``ignore`` names or a ``-- noqa`` (``# noqa`` in pyproject.toml) covers
    on their line, or a ``-- cdc: noqa`` in their file."""
    from pytest_cdc_hooks.source import parse_noqa

    ignored = set(config.ignore)
    noqa: dict[str, Any] = {}
    kept = []
    for finding in findings:
        if finding.code in ignored:
            continue
        if finding.path not in noqa:
            text = texts.get(finding.path)
            if text is None:
                _, text, _ = read_text(config.root / finding.path, finding.path)
            noqa[finding.path] = parse_noqa(text or "")
        if not noqa[finding.path].suppressed(finding.line, finding.code):
            kept.append(finding)
    return kept


def _file_uses(text: str, dialect: str) -> dict[str, Any]:
    from pytest_cdc_hooks.usage import file_uses

    return file_uses(text, dialect)


def _doubt(loaded: LoadedSchema, finding: Finding, table: ReconciliationTable) -> Finding:
    """Downgrade a "missing table/index" finding when DDL for its table was not understood.

    A statement the parser could not read may well have created the table or the index:
    reporting it as missing would be a false positive, so the finding becomes a warning that
    says why.
    """
    from pytest_cdc.indexes import split_qualified_name
    from pytest_cdc_hooks.schema import table_key

    parts = split_qualified_name(table.name)
    doubt = None
    for flavour in ("postgres", "tsql"):
        doubt = doubt or loaded.schema.doubt(table_key(parts, flavour))
    if doubt is None:
        return finding
    path, line = doubt
    what = {"CDC201": "table", "CDC207": "column"}.get(finding.code, "index")
    note = f" (uncertain: DDL at {path}:{line} was not understood, the {what} may exist)"
    return finding._replace(message=finding.message + note, severity="warning")


def _queries_to_check(config: HookConfig, paths: Sequence[str]) -> list[tuple[str, Path]]:
    chosen: dict[str, Path] = {}
    config_file = config.relative(config.pyproject) if config.pyproject else None
    changed_config = any(config.relative(p) == config_file for p in paths)
    sql = [p for p in paths if not p.endswith(".toml")]
    if not paths or changed_config or any(config.is_ddl(p) for p in sql):
        # no files given, or the reconciliation tables or the schema changed: every
        # configured query may be affected
        for path in config.query_files():
            chosen[config.relative(path)] = path
    for name in sql:
        if not config.is_ddl(name) and config.is_query(name):
            chosen.setdefault(config.relative(name), Path(name))
    return sorted(chosen.items())


def _schema_table(loaded: LoadedSchema, table: ReconciliationTable, dialect: str) -> Any:
    return loaded.schema.table(table.name, dialect)


def _table_dialect(config: HookConfig, table: ReconciliationTable, dialect: str | None) -> str:
    return dialect or table.dialect or config.default_dialect


def _fix(table: str, columns: Sequence[str], dialect: str, **kw: Any) -> str:
    from pytest_cdc.indexes import IndexRecommendation, generate_index_ddl

    return generate_index_ddl(
        IndexRecommendation(table=table, columns=tuple(columns), **kw), dialect
    )


def _leading(index: Any, n: int) -> tuple[str, ...]:
    return tuple(index.columns[:n])


def _table_findings(
    config: HookConfig, loaded: LoadedSchema, table: ReconciliationTable, dialect: str | None
) -> list[Finding]:
    from pytest_cdc_hooks.findings import fingerprint

    pyproject = config.relative(config.pyproject) if config.pyproject else "pyproject.toml"
    about = fingerprint(table.name)
    guess = _table_dialect(config, table, dialect)
    model = _schema_table(loaded, table, guess)
    if model is None:
        for other in ("postgres", "tsql"):
            model = model or _schema_table(loaded, table, other)
    if model is None:
        return [
            Finding(
                pyproject,
                table.line,
                1,
                "CDC201",
                f"reconciliation table {table.name!r} is not created by any file matching "
                f"ddl = {list(config.ddl)!r}: fix the name or the ddl globs",
                fingerprint=about,
            )
        ]
    from pytest_cdc.errors import did_you_mean

    out = []
    missing = set()
    for setting, column in _missing_columns(table, model):
        missing.add(column.lower())
        hint = did_you_mean(column.lower(), sorted(model.columns))
        out.append(
            Finding(
                pyproject,
                table.line,
                1,
                "CDC207",
                f"reconciliation table {table.name!r} has no column {column!r}{hint}: "
                f"fix {setting} in [tool.pytest-cdc.reconciliation-tables]",
                fingerprint=fingerprint(table.name, column),
            )
        )

    def known(*columns: str | None) -> bool:
        # no index advice on a column the table does not have: CDC207 says so
        return not any(c and c.lower() in missing for c in columns)

    where = (model.path or pyproject, model.line or 1, 1)
    ddl_dialect = dialect or table.dialect or model.dialect
    full = [i for i in model.indexes if not i.where]
    key = {c.lower() for c in table.key}
    if known(*table.key) and not any(
        (i.unique or i.primary) and set(i.columns) <= key and i.columns for i in full
    ):
        out.append(
            Finding(
                *where,
                "CDC202",
                f"{table.name!r} has no primary key or unique index on ({', '.join(table.key)}): "
                + _fix(table.name, table.key, ddl_dialect, unique=True),
                fingerprint=about,
            )
        )
    ts = table.timestamp.lower() if table.timestamp else None
    if ts and known(ts) and not any(_leading(i, 1) == (ts,) for i in full):
        out.append(
            Finding(
                *where,
                "CDC203",
                f"{table.name!r} has no index leading with {table.timestamp!r} for incremental "
                "reconciliation: " + _fix(table.name, [table.timestamp or ""], ddl_dialect),
                fingerprint=about,
            )
        )
    if table.status and known(table.status, ts):
        wanted = (table.status.lower(), ts) if ts else (table.status.lower(),)
        if not any(_leading(i, len(wanted)) == wanted for i in full):
            cols = [table.status] + ([table.timestamp] if table.timestamp else [])
            out.append(
                Finding(
                    *where,
                    "CDC204",
                    f"{table.name!r} has no index leading with ({', '.join(cols)}), equality "
                    "column first: " + _fix(table.name, cols, ddl_dialect),
                    fingerprint=about,
                )
            )
    return out


def _missing_columns(table: ReconciliationTable, model: Any) -> list[tuple[str, str]]:
    """(setting, column) of every configured column the table does not have."""
    if not model.columns:
        return []  # the model knows no columns (CREATE TABLE ... AS, LIKE): nothing to say
    settings = [("key", c) for c in table.key]
    settings += [("timestamp", table.timestamp or ""), ("status", table.status or "")]
    return [(s, c) for s, c in settings if c and c.lower() not in model.columns]


def _conjuncts_imply(query: Sequence[str], index_where: str) -> bool:
    from pytest_cdc_hooks.usage import normalize_predicate

    wanted = [normalize_predicate(p) for p in index_where.split(" AND ")]
    have = set(query)
    return all(w in have for w in wanted)


def _query_findings(
    config: HookConfig, loaded: LoadedSchema, shown: str, dialect: str, use: dict[str, Any]
) -> list[Finding]:
    from pytest_cdc_hooks.schema import table_key
    from pytest_cdc_hooks.usage import index_need

    findings: list[Finding] = []
    for table in config.tables:
        from pytest_cdc.indexes import split_qualified_name

        if table_key(split_qualified_name(table.name), dialect) != use["table"]:
            continue
        model = loaded.schema.tables.get(use["table"])
        if model is None:
            continue  # CDC201 already says so
        filtered, wanted, what = index_need(use)
        lowered = {c.lower() for c in filtered}
        if filtered:
            serving = [i for i in model.indexes if i.columns and i.columns[0] in lowered]
            them = "any of them" if len(filtered) > 1 else "it"
        elif use["order"]:
            first = use["order"][0].lower()
            serving = [i for i in model.indexes if i.columns[:1] == (first,)]
            them = use["order"][0]
        else:
            continue
        usable = [i for i in serving if not i.where or _conjuncts_imply(use["conjuncts"], i.where)]
        if usable:
            continue
        fix = _fix(table.name, wanted, table.dialect or model.dialect)
        if serving:
            partial = serving[0]
            code, severity = "CDC206", "warning"
            message = (
                f"query on {table.name!r} {what}; only partial index {partial.name!r} "
                f"(WHERE {partial.where}) could serve it and the query does not repeat its "
                f"filter: add the filter to the query or {fix}"
            )
        else:
            code, severity = "CDC205", "error"
            message = f"query on {table.name!r} {what} but no index leads with {them}: {fix}"
        finding = Finding(
            shown, use["line"], use["col"], code, message, severity, use["fingerprint"]
        )
        findings.append(_doubt(loaded, finding, table))
    return findings


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(
        PROG, "Check that reconciliation tables and queries are served by indexes (CDC2xx)."
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="load the ddl files into an embedded PostgreSQL and check the reconciliation reads"
        " and queries with the real planner (for CI: starts a server; PostgreSQL files only;"
        " PYTEST_CDC_PG_BIN picks its binaries)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        dialect = dialect_option(args)
        check_codes(config.ignore, f"ignore in {config.pyproject}")
        if args.live:
            return _main_live(args, config, dialect)
        if not config.ddl and config.tables:
            raise CdcError(
                f"{config.pyproject}: reconciliation-tables are configured but ddl is empty: "
                'set ddl = ["db/migrations/**/*.sql"] in [tool.pytest-cdc]'
            )
        findings, stats, files = check_coverage(
            config,
            args.filenames,
            dialect=dialect,
            use_cache=not args.no_cache,
            timeout=args.statement_timeout,
        )
        done = finish(args, config, findings, PROG)
    except CdcError as error:
        return fail_usage(PROG, str(error))
    except Exception as error:  # a commit hook never ends in a traceback
        return fail_usage(PROG, internal_error(error))
    if done is not None:
        return done
    report(findings, args.format, PROG)
    if args.stats:
        print_stats(PROG, stats, files)
    strict = config.strict if args.strict is None else args.strict
    return exit_code(findings, strict)


def _main_live(args: Any, config: HookConfig, dialect: str | None) -> int:
    """``--live``: the same findings, from the real planner (see :mod:`.live_coverage`)."""
    from pytest_cdc_hooks.live_coverage import check_live, print_notes

    findings, notes = check_live(config, dialect=dialect)
    findings = _suppressed(config, findings, {})
    done = finish(args, config, findings, PROG)
    if done is not None:
        return done
    print_notes(PROG, notes)
    report(findings, args.format, PROG)
    strict = config.strict if args.strict is None else args.strict
    return exit_code(findings, strict)


if __name__ == "__main__":
    sys.exit(main())
