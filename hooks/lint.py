"""The lint engine behind ``cdc-sql-lint``: one file's text in, findings and counts out."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from sqlglot import exp

from pytest_cdc_hooks import workers
from pytest_cdc_hooks.ddl import extract_ops, uncertain_op
from pytest_cdc_hooks.findings import (
    Finding,
    fingerprint,
    line_col,
    line_starts,
    not_understood_message,
)
from pytest_cdc_hooks.parsing import Parsed, parse_statement, statement_kind
from pytest_cdc_hooks.rules import Context, RuleRegistry
from pytest_cdc_hooks.schema import Schema
from pytest_cdc_hooks.source import normalize_newlines, parse_noqa
from pytest_cdc_hooks.splitting import ScanIssue, SqlStatement, split_statements

__all__ = ["Stats", "analyze", "lint_text", "node_offset"]


@dataclass
class Stats:
    statements: int = 0
    ok: int = 0
    skipped: int = 0
    not_understood: int = 0

    def add(self, other: Stats) -> None:
        self.statements += other.statements
        self.ok += other.ok
        self.skipped += other.skipped
        self.not_understood += other.not_understood

    def as_list(self) -> list[int]:
        return [self.statements, self.ok, self.skipped, self.not_understood]


_SPLIT: dict[tuple[str, str], tuple[list[SqlStatement], list[ScanIssue]]] = {}
_PARSED: dict[tuple[str, int, str], Parsed] = {}

#: Statements that can change the schema model; the schema loader parses nothing else.
SCHEMA_KINDS = frozenset(
    {"CREATE TABLE", "CREATE INDEX", "ALTER TABLE", "ALTER INDEX", "DROP INDEX", "DROP TABLE"}
)


def analyze(
    text: str, dialect: str, kinds: frozenset[str] | None = None
) -> tuple[list[Parsed], list[ScanIssue], Stats]:
    """Split ``text`` and parse its statements (only those of ``kinds``, when given; the others
    count as skipped).

    Memoised per process, statement by statement: the schema loader and the lint read the same
    DDL files in one run, and sqlglot is the expensive part.  Callers must not change the trees.
    """
    split_key = (text, dialect)
    split = _SPLIT.get(split_key)
    if split is None:
        split = _SPLIT[split_key] = split_statements(text, dialect)
    statements, issues = split
    parsed: list[Parsed] = []
    stats = Stats(statements=len(statements))
    for stmt in statements:
        if kinds is not None and statement_kind(stmt.text) not in kinds:
            p = Parsed(stmt, [], "skipped", stmt.start, "not needed")
        elif gave_up := workers.statement(stmt.start):
            p = Parsed(stmt, [], "not_understood", stmt.start, gave_up)
        else:
            key = (stmt.text, stmt.start, dialect)
            p = _PARSED.get(key) or _PARSED.setdefault(key, parse_statement(stmt, dialect))
        parsed.append(p)
        if p.status == "ok":
            stats.ok += 1
        elif p.status == "skipped":
            stats.skipped += 1
        else:
            stats.not_understood += 1
    return parsed, issues, stats


def node_offset(node: exp.Expression | None, stmt: SqlStatement) -> int:
    """File offset of the earliest token under ``node`` (the statement start if none is known)."""
    if node is None:
        return stmt.start
    best: int | None = None
    for sub in node.walk():
        meta = getattr(sub, "_meta", None)
        if meta and isinstance(meta.get("start"), int):
            start = meta["start"]
            if best is None or start < best:
                best = start
    if best is None:
        return stmt.start
    return stmt.start + best


def lint_text(
    text: str,
    path: str,
    dialect: str,
    registry: RuleRegistry,
    *,
    is_ddl: bool = False,
    is_query: bool = True,
    schema: Schema | None = None,
    ignore: frozenset[str] = frozenset(),
) -> tuple[list[Finding], Stats]:
    text = normalize_newlines(text)
    parsed, issues, stats = analyze(text, dialect)
    starts = line_starts(text)
    found: list[Finding] = []

    def add(offset: int, code: str, message: str, severity: str, about: str) -> None:
        line, col = line_col(text, offset, starts)
        found.append(Finding(path, line, col, code, message, severity, about))

    # One fingerprint per statement, not per finding: hashing the statement for each of its
    # findings made a statement with many findings quadratic.
    fingerprints: dict[int, str] = {}

    def about(stmt: SqlStatement) -> str:
        known = fingerprints.get(stmt.start)
        if known is None:
            known = fingerprints[stmt.start] = fingerprint(stmt.text)
        return known

    for issue in issues:
        # no statement to name: the issue and the text of its line
        line = line_col(text, issue.offset, starts)[0]
        end = text.find("\n", issue.offset)
        source_line = text[starts[line - 1] : end if end >= 0 else len(text)]
        add(issue.offset, "CDC001", issue.message, "error", fingerprint(issue.message, source_line))

    local = Schema()
    ctx = Context(
        path=path,
        dialect=dialect,
        stmt=SqlStatement("", 0, 0),
        is_ddl=is_ddl,
        is_query=is_query,
        schemas=(local, schema) if schema is not None else (local,),
        statements=[p.stmt for p in parsed],
    )
    rules = [
        r
        for r in registry
        if dialect in r.dialects
        and r.code not in ignore
        and (
            r.applies_to == "any"
            or (r.applies_to == "query" and is_query)
            or (r.applies_to == "ddl" and is_ddl)
        )
    ]
    issue_offsets = sorted(i.offset for i in issues)
    for p in parsed:
        if p.status == "not_understood":
            # a syntax error already reported in this statement explains the parse failure
            first = bisect.bisect_left(issue_offsets, p.stmt.start)
            if not (first < len(issue_offsets) and issue_offsets[first] < p.stmt.end):
                message = not_understood_message(p.reason)
                add(p.offset, "CDC000", message, "warning", about(p.stmt))
            if statement_kind(p.stmt.text) == "CREATE TABLE":
                # indexes on it later in the file may be on a new, empty table
                op = uncertain_op(p.stmt.text, dialect, path, 0)
                ctx.maybe_created.setdefault(op["table"], line_col(text, p.stmt.start, starts)[0])
            continue
        ctx.stmt = p.stmt
        workers.statement(p.stmt.start)
        for tree in p.trees:
            for op in extract_ops(tree, dialect, path, 0):
                if op["op"] == "create_table":
                    ctx.created_tables.add(op["table"])
                local.apply(op)
            for rule in rules:
                try:
                    hits = list(rule.check(ctx, tree))
                except Exception as error:
                    message = f"rule crashed: {error!r}"
                    add(p.stmt.start, rule.code, message, "warning", about(p.stmt))
                    continue
                for node, message, *severity in hits:
                    # a finding about the whole statement points at its first word
                    offset = p.stmt.start if node is tree else node_offset(node, p.stmt)
                    level = severity[0] if severity else rule.severity
                    add(offset, rule.code, message or rule.message, level, about(p.stmt))
    noqa = parse_noqa(text)
    return [f for f in found if f.code not in ignore and not noqa.suppressed(f.line, f.code)], stats
