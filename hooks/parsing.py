"""Parse one split statement with sqlglot, repairing what sqlglot is known to misread.

Every statement ends up in one of three states:

- ``ok``: sqlglot built a real expression tree; rules run on it.
- ``skipped``: sqlglot returned a raw ``Command`` for a statement no rule needs (GRANT, PRINT,
  CREATE EXTENSION, a DO block whose DDL was pulled out by the splitter, ...).
- ``not_understood``: a parse error, or a ``Command`` for a statement the hooks do need (a query,
  CREATE TABLE/INDEX, ALTER TABLE, DROP INDEX).  Reported as a warning with its location, never
  turned into a guess.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError

from pytest_cdc_hooks.splitting import SqlStatement

__all__ = ["Parsed", "parse_statement", "statement_kind"]

# sqlglot logs a warning for every statement it falls back to Command on; the hooks report
# those themselves, with a location.
logging.getLogger("sqlglot").setLevel(logging.CRITICAL)

_FIRST_WORDS = re.compile(r"\s*(\w+)(?:\s+(\w+))?(?:\s+(\w+))?(?:\s+(\w+))?")
_RELEVANT_FIRST = frozenset({"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE"})
_RELEVANT_OBJECTS = frozenset({"TABLE", "INDEX"})
_ISOLATION = re.compile(
    r"\s*(?:SET|BEGIN|START)\b[^;]*?\bISOLATION\s+LEVEL\s+"
    r"(READ\s+UNCOMMITTED|READ\s+COMMITTED|REPEATABLE\s+READ|SERIALIZABLE|SNAPSHOT)",
    re.I,
)
# T-SQL index options after the filter (``WHERE ... WITH (ONLINE = ON)``) or on DROP INDEX:
# sqlglot cannot read them there, so they are cut off, parsed alone and put back as metadata.
_TRAILING_WITH = re.compile(
    r"\s+WITH\s*\((?P<options>[^()]*)\)(?:\s+ON\s+[\w\[\]\"]+)?\s*;?\s*\Z", re.I
)


_TOKEN_REPR = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: \d+.*?>")


class Parsed(NamedTuple):
    stmt: SqlStatement
    trees: list[exp.Expression]
    status: str  # "ok" | "skipped" | "not_understood"
    offset: int  # absolute file offset of the problem (for not_understood)
    reason: str


def statement_kind(text: str) -> str:
    """``"CREATE INDEX"``, ``"SELECT"``, ... from the first words (for reports and relevance)."""
    m = _FIRST_WORDS.match(text)
    if not m:
        return ""
    words = [w.upper() for w in m.groups() if w]
    if not words:
        return ""
    if words[0] == "UPDATE" and len(words) > 1 and words[1] == "STATISTICS":
        return "UPDATE STATISTICS"
    if words[0] in ("CREATE", "ALTER", "DROP"):
        for word in words[1:]:
            if word not in ("UNIQUE", "CLUSTERED", "NONCLUSTERED", "OR", "REPLACE", "GLOBAL"):
                return f"{words[0]} {word}"
        return words[0]
    return words[0]


# Maintenance that changes no index definition: not worth a "not understood" warning.
_HARMLESS_ALTER_INDEX = re.compile(
    r"\s*ALTER\s+INDEX\b.*?\b(?:REBUILD|REORGANIZE|SET\b|ALTER\s+COLUMN|RESET\b|ATTACH\b)",
    re.I | re.S,
)


# Statements no rule looks into: when sqlglot cannot parse one (function bodies, operators,
# languages...), nothing is lost, so it is skipped rather than reported.  Statements of unknown
# kinds (a typo such as "SELEC") are still reported.
_NO_RULE_OBJECTS = frozenset(
    [
        "FUNCTION",
        "PROCEDURE",
        "PROC",
        "TRIGGER",
        "OPERATOR",
        "TYPE",
        "DOMAIN",
        "AGGREGATE",
        "LANGUAGE",
        "TRUSTED",
        "EXTENSION",
        "SCHEMA",
        "SEQUENCE",
        "ROLE",
        "USER",
        "LOGIN",
        "POLICY",
        "RULE",
        "CAST",
        "COLLATION",
        "CONVERSION",
        "TEXT",
        "ACCESS",
        "PUBLICATION",
        "SUBSCRIPTION",
        "SERVER",
        "FOREIGN",
        "STATISTICS",
        "EVENT",
        "TABLESPACE",
        "DATABASE",
        "SYNONYM",
        "ASSEMBLY",
        "CERTIFICATE",
    ]
)
_NO_RULE_STATEMENTS = frozenset(
    [
        "COMMENT",
        "GRANT",
        "REVOKE",
        "DENY",
        "SECURITY",
        "RESET",
        "SHOW",
        "ANALYZE",
        "VACUUM",
        "REINDEX",
        "CLUSTER",
        "LOCK",
        "CHECKPOINT",
        "DISCARD",
        "LISTEN",
        "NOTIFY",
        "PRINT",
        "RAISERROR",
        "DBCC",
        "USE",
    ]
)


def _no_rule_reads(kind: str) -> bool:
    parts = kind.split()
    if not parts:
        return False
    if parts[0] in ("CREATE", "ALTER", "DROP"):
        return len(parts) > 1 and parts[1] in _NO_RULE_OBJECTS
    return parts[0] in _NO_RULE_STATEMENTS


def _relevant(kind: str, text: str = "") -> bool:
    if kind == "ALTER INDEX" and _HARMLESS_ALTER_INDEX.match(text):
        return False
    parts = kind.split()
    if not parts:
        return False
    if kind in _RELEVANT_FIRST:
        return True
    return (
        parts[0] in ("CREATE", "ALTER", "DROP")
        and len(parts) > 1
        and (parts[1] in _RELEVANT_OBJECTS)
    )


def _error_offset(stmt: SqlStatement, error: ParseError) -> tuple[int, str]:
    info = error.errors[0] if error.errors else {}
    message = str(info.get("description") or error).splitlines()[0]
    # "... but got <Token token_type: TokenType.WHERE, text: WHERE, line: 1, ...>" -> 'WHERE'
    message = _TOKEN_REPR.sub(lambda m: repr(m.group(1)), message)
    line = info.get("line")
    col = info.get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return stmt.start, message
    highlight = str(info.get("highlight") or "")
    pos = 0
    for _ in range(line - 1):
        nl = stmt.text.find("\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    # sqlglot reports the column where the offending token ends.
    col_start = max(col - len(highlight), 0)
    return stmt.start + min(pos + col_start, len(stmt.text)), message


def _parse(text: str, dialect: str) -> list[exp.Expression]:
    trees = sqlglot.parse(text, read=dialect, error_level=ErrorLevel.RAISE)
    return [t for t in trees if isinstance(t, exp.Expression)]


# Client-side variables: psql ``:name`` / ``:'name'`` / ``:"name"`` and sqlcmd ``$(Name)``.
# They are replaced by text of the same length (so offsets stay right) that sqlglot reads as a
# string, an identifier or a name.
_PSQL_VAR = re.compile(r"(?<![:\w]):(?:'(\w+)'|\"(\w+)\"|([A-Za-z_]\w*))")
_SQLCMD_VAR = re.compile(r"\$\((\w+)\)")


def _psql_var(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return f" '{m.group(1)}'"
    if m.group(2) is not None:
        return f' "{m.group(2)}"'
    return f"_{m.group(3)}"


def without_client_variables(text: str, dialect: str) -> str:
    if dialect == "tsql":
        return _SQLCMD_VAR.sub(lambda m: f"v_{m.group(1)}_", text) if "$(" in text else text
    return _PSQL_VAR.sub(_psql_var, text) if ":" in text else text


def parse_statement(stmt: SqlStatement, dialect: str) -> Parsed:
    if stmt.problem:
        return Parsed(stmt, [], "not_understood", stmt.start, stmt.problem)
    if stmt.text.startswith(("\\", ":")):
        return Parsed(stmt, [], "skipped", stmt.start, "client command (psql / sqlcmd)")
    text = without_client_variables(stmt.text, dialect)
    kind = statement_kind(text)
    if kind == "DO" and dialect == "postgres":
        return Parsed(stmt, [], "skipped", stmt.start, "DO block (its DDL is checked separately)")
    iso = _ISOLATION.match(text)
    if iso:
        level = " ".join(iso.group(1).upper().split())
        tree = exp.Command(this="ISOLATION LEVEL", expression=exp.Literal.string(level))
        return Parsed(stmt, [tree], "ok", stmt.start, "")
    try:
        trees = _parse(text, dialect)
        error: str | None = None
        error_at = stmt.start
    except ParseError as e:
        trees = []
        error_at, error = _error_offset(stmt, e)
    except RecursionError:
        return Parsed(stmt, [], "not_understood", stmt.start, "statement nests too deeply to parse")
    except Exception as e:
        return Parsed(stmt, [], "not_understood", stmt.start, f"parser failed: {e}".split("\n")[0])

    if (
        dialect == "tsql"
        and (error is not None or _is_command(trees))
        and kind
        in (
            "CREATE INDEX",
            "DROP INDEX",
        )
    ):
        repaired = _repair_trailing_with(text, dialect)
        if repaired is not None:
            return Parsed(stmt, repaired, "ok", stmt.start, "")

    if error is not None:
        if _no_rule_reads(kind):
            return Parsed(stmt, [], "skipped", error_at, f"{kind}: {error} (no rule reads it)")
        return Parsed(stmt, [], "not_understood", error_at, error)
    if _is_command(trees):
        if _relevant(kind, text):
            return Parsed(
                stmt, trees, "not_understood", stmt.start, f"{kind} is not modelled by sqlglot"
            )
        return Parsed(stmt, trees, "skipped", stmt.start, f"{kind or 'statement'} not checked")
    return Parsed(stmt, trees, "ok", stmt.start, "")


def _is_command(trees: list[exp.Expression]) -> bool:
    return not trees or any(isinstance(t, exp.Command) for t in trees)


def _repair_trailing_with(text: str, dialect: str) -> list[exp.Expression] | None:
    m = _TRAILING_WITH.search(text)
    if m is None:
        return None
    try:
        trees = _parse(text[: m.start()], dialect)
    except Exception:
        return None
    if len(trees) != 1 or isinstance(trees[0], exp.Command):
        return None
    trees[0].meta["with_options"] = m.group("options")
    return trees
