"""Split SQL files into statements before sqlglot sees them.

sqlglot parses a whole script or nothing: one statement it cannot read turns the rest of the
file into a parse error or a raw ``Command``.  Splitting here first gives statement-level
recovery (a bad statement costs only itself), exact file offsets for every finding, and a place
for dialect rules sqlglot does not know: ``GO`` batch separators, T-SQL statements without
semicolons, ``BEGIN ... END`` / ``IF`` wrappers and PostgreSQL ``DO $$ ... $$`` blocks, whose
DDL is pulled out and checked like top-level statements.

Long because it is one scanner for both dialects: the tokens they share, and T-SQL's
statements without semicolons and its IF/BEGIN wrappers, are read in one pass.

The scanner only understands what is needed to find statement boundaries: comments (nested
``/* */``), string literals, quoted identifiers, dollar quotes, parentheses and a few keywords.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["ScanIssue", "SqlStatement", "split_batches", "split_statements"]


class SqlStatement(NamedTuple):
    """One statement: ``text`` is ``source[start:end]`` of the whole file."""

    text: str
    start: int
    end: int
    #: True when pulled out of a DO block or an IF/BEGIN wrapper.
    nested: bool = False
    #: Why the statement must not be parsed (then it is "not understood"); empty: parse it.
    problem: str = ""


class ScanIssue(NamedTuple):
    """Something that is wrong whatever the parser: an unterminated literal, a stray paren."""

    offset: int
    message: str


_COMMON = [
    r"(?P<line_comment>--[^\n]*)",
    r"(?P<block_comment>/\*)",
    r"(?P<string>'(?:[^']|'')*')",
    r"(?P<bad_string>')",
    r'(?P<ident>"(?:[^"]|"")*")',
    r'(?P<bad_ident>")',
    r"(?P<open>\()",
    r"(?P<close>\))",
    r"(?P<semi>;)",
    r"(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)",
    # runs of operators and punctuation, so that a statement ends at its last character
    r"(?P<other>(?:[^\s\w'\"()\[\];$/\-]|/(?!\*)|-(?!-))+|[^\s])",
]
# Each pattern is matched (not searched) at the current position after optional blanks: every
# non-blank character starts some token, so the regex engine never tries the alternatives at
# each blank on the way.
_PG = re.compile(
    r"\s*(?:"
    + "|".join(
        [
            # psql meta-commands (\set, \connect, \i ...) run to the end of their line
            r"(?P<meta>\\[^\n]*)",
            # E'...' strings take backslash escapes; must be tried before the plain string.
            r"(?P<estring>(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*')",
            # PostgreSQL needs no keywords to split statements, so a whole run of identifiers,
            # numbers and operators is one token (fewer tokens, faster); identifiers may contain
            # $, which must not start a dollar quote.
            r"(?P<word>(?:[A-Za-z_\x80-\uffff][\w$]*|\d[\w.]*|[^\s\w'\"()$;/\-]|/(?!\*)|-(?!-))+)",
            r"(?P<dollar>\$(?:[A-Za-z_\x80-\uffff][\w]*)?\$)",
            *_COMMON,
        ]
    )
    + ")"
)
_TSQL = re.compile(
    r"\s*(?:"
    + "|".join(
        [
            r"(?P<word>[A-Za-z_@#\x80-\uffff][\w@#$]*)",
            r"(?P<bracket>\[(?:[^\]]|\]\])*\])",
            r"(?P<bad_bracket>\[)",
            # sqlcmd commands (:setvar, :r, :on error ...) when first on their line
            r"(?P<meta>:(?:setvar|r|on|connect|out|error|listvar|exit|quit|reset|servers|xml)\b"
            r"[^\n]*)",
            *_COMMON,
        ]
    )
    + ")"
)
_COMMENT_TOKEN = re.compile(r"/\*|\*/")
_GO_TAIL = re.compile(r"[ \t]*(?:\d+[ \t]*)?(?:--[^\n]*)?(?:\r?\n|$)")

# T-SQL statements need no semicolon: one of these keywords first on a line starts a new
# statement (unless the previous token says the statement goes on, e.g. THEN UPDATE in MERGE).
_TSQL_STARTERS = frozenset(
    [
        "ALTER",
        "BEGIN",
        "COMMIT",
        "CREATE",
        "DECLARE",
        "DELETE",
        "DROP",
        "EXEC",
        "EXECUTE",
        "GRANT",
        "IF",
        "INSERT",
        "MERGE",
        "PRINT",
        "RAISERROR",
        "RETURN",
        "REVOKE",
        "ROLLBACK",
        "SELECT",
        "SET",
        "THROW",
        "TRUNCATE",
        "UPDATE",
        "USE",
        "WAITFOR",
        "WHILE",
        "DENY",
        "BACKUP",
        "DBCC",
    ]
)
_TSQL_CONTINUE_AFTER = frozenset(
    [
        "THEN",
        "ELSE",
        "AS",
        "UNION",
        "ALL",
        "EXCEPT",
        "INTERSECT",
        ",",
        "(",
        "=",
        "INTO",
        "FOR",
        "OR",
        "AND",
        "NOT",
        "ON",
        "BY",
    ]
)
_TSQL_BODY_OBJECTS = frozenset(["PROCEDURE", "PROC", "FUNCTION", "TRIGGER", "VIEW"])
# BEGIN that does not open a block
_TSQL_BEGIN_NOT_BLOCK = frozenset(["TRAN", "TRANSACTION", "DISTRIBUTED", "DIALOG", "CONVERSATION"])


class _Tok(NamedTuple):
    kind: str
    start: int
    end: int
    upper: str  # upper-cased word, or the punctuation itself


def _tokens(text: str, start: int, end: int, tsql: bool, issues: list[ScanIssue]) -> list[_Tok]:
    """Significant tokens of ``text[start:end]``: words, parens, semicolons, dollar bodies.

    Comments are dropped; literals become a single ``lit`` token; ``GO`` separators become
    ``go`` tokens.  Problems (unterminated literals or comments) go to ``issues``.
    """
    pattern = _TSQL if tsql else _PG
    out: list[_Tok] = []
    pos = start
    match = pattern.match
    while pos < end:
        m = match(text, pos, end)
        if m is None:
            break  # only blanks are left
        kind = m.lastgroup or ""
        s = m.start(kind)
        pos = m.end()
        if kind == "line_comment":
            continue
        if kind == "block_comment":
            pos = _skip_block_comment(text, s, end, issues)
            continue
        if kind in ("bad_string", "bad_ident", "bad_bracket"):
            what = {"bad_string": "string literal", "bad_ident": "quoted identifier"}.get(
                kind, "bracketed identifier"
            )
            issues.append(ScanIssue(s, f"unterminated {what}: close it or escape the quote"))
            out.append(_Tok("lit", s, end, ""))
            return out
        if kind == "dollar":
            tag = m.group(kind)
            close = text.find(tag, pos, end)
            if close < 0:
                issues.append(ScanIssue(s, f"unterminated dollar-quoted string {tag}"))
                out.append(_Tok("dollar", s, end, tag))
                return out
            out.append(_Tok("dollar", s, close + len(tag), tag))
            pos = close + len(tag)
            continue
        if kind == "word":
            word = m.group(kind).upper()
            # GO separates batches only alone on its line (optionally with a count)
            if tsql and word == "GO" and _starts_line(text, s):
                tail = _GO_TAIL.match(text, pos, end)
                if tail is not None:
                    out.append(_Tok("go", s, tail.end(), "GO"))
                    pos = tail.end()
                    continue
            out.append(_Tok("word", s, pos, word))
        elif kind == "meta":
            if tsql and not _starts_line(text, s):
                out.append(_Tok("other", s, s + 1, ":"))
                pos = s + 1
            else:
                out.append(_Tok("meta", s, pos, ""))
        elif kind in ("open", "close", "semi", "other"):
            out.append(_Tok(kind, s, pos, m.group(kind)))
        else:
            out.append(_Tok("lit", s, pos, ""))
    return out


def _skip_block_comment(text: str, start: int, end: int, issues: list[ScanIssue]) -> int:
    # Both PostgreSQL and SQL Server nest block comments.
    depth = 0
    pos = start
    while True:
        m = _COMMENT_TOKEN.search(text, pos, end)
        if m is None:
            issues.append(ScanIssue(start, "unterminated /* comment: close it with */"))
            return end
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
        if depth == 0:
            return pos


def _is_begin_tran(toks: list[_Tok], k: int) -> bool:
    return k + 1 < len(toks) and toks[k + 1].upper in _TSQL_BEGIN_NOT_BLOCK


def _starts_line(text: str, offset: int) -> bool:
    line_begin = text.rfind("\n", 0, offset) + 1
    return text[line_begin:offset].strip() == ""


def split_statements(
    text: str, dialect: str, *, start: int = 0, end: int | None = None
) -> tuple[list[SqlStatement], list[ScanIssue]]:
    """Statements of ``text`` (top level first, nested DDL after its wrapper) and scan issues."""
    end = len(text) if end is None else end
    issues: list[ScanIssue] = []
    tsql = dialect == "tsql"
    toks = _tokens(text, start, end, tsql, issues)
    statements: list[SqlStatement] = []
    if tsql:
        _split_tsql(text, toks, statements, issues, nested=False)
    else:
        _split_pg(text, toks, statements, issues)
    return statements, issues


def split_batches(text: str, dialect: str) -> list[tuple[str, int]]:
    """What a client sends one at a time, each with the line it starts on.

    T-SQL: the batches between ``GO`` lines (sqlcmd's rule; a ``GO`` inside a comment or a
    literal separates nothing).  PostgreSQL: each top-level statement (psql's way), so that a
    failure names its own line.  The same scanner as the hooks', so a script is read alike
    when it is linted and when it is loaded.
    """
    issues: list[ScanIssue] = []
    if dialect == "tsql":
        cuts = [0]
        for tok in _tokens(text, 0, len(text), True, issues):
            if tok.kind == "go":
                cuts += [tok.start, tok.end]
        cuts.append(len(text))
        pieces = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)]
    else:
        statements, _ = split_statements(text, dialect)
        pieces = [(s.start, s.end) for s in statements if not s.nested]
    out = []
    for start, end in pieces:
        body = text[start:end]
        if body.strip():
            lead = len(body) - len(body.lstrip())
            out.append((body.strip(), text.count("\n", 0, start + lead) + 1))
    return out


def _emit(
    text: str, toks: list[_Tok], out: list[SqlStatement], issues: list[ScanIssue], nested: bool
) -> None:
    if not toks:
        return
    depth = 0
    for tok in toks:
        if tok.kind == "open":
            depth += 1
        elif tok.kind == "close":
            depth -= 1
            if depth < 0:
                issues.append(ScanIssue(tok.start, "unbalanced ')': remove it or add '('"))
                depth = 0
    if depth > 0:
        issues.append(ScanIssue(toks[0].start, f"{depth} unclosed '(' in this statement"))
    s, e = toks[0].start, toks[-1].end
    out.append(SqlStatement(text[s:e], s, e, nested))


# -- PostgreSQL ----------------------------------------------------------------------------

_PLPGSQL_PREFIX = re.compile(
    r"\s*(?:<<\w+>>|DECLARE\b.*?\bBEGIN\b|BEGIN\b|ELSE\b|ELSIF\b.*?\bTHEN\b|IF\b.*?\bTHEN\b"
    r"|EXCEPTION\b|WHEN\b.*?\bTHEN\b|LOOP\b|FOR\b.*?\bLOOP\b)",
    re.I | re.S,
)
_DDL_START = re.compile(r"(?:CREATE|ALTER|DROP|COMMENT)\b", re.I)


def _split_pg(
    text: str, toks: list[_Tok], out: list[SqlStatement], issues: list[ScanIssue]
) -> None:
    current: list[_Tok] = []
    for tok in toks:
        if tok.kind == "semi":
            _finish_pg(text, current, out, issues)
            current = []
        elif tok.kind == "meta":
            # a client command ends the statement before it and is a statement of its own
            _finish_pg(text, current, out, issues)
            _emit(text, [tok], out, issues, nested=False)
            current = []
        else:
            current.append(tok)
    _finish_pg(text, current, out, issues)


def _finish_pg(
    text: str, toks: list[_Tok], out: list[SqlStatement], issues: list[ScanIssue]
) -> None:
    _emit(text, toks, out, issues, nested=False)
    if toks and toks[0].upper == "DO":
        body = next((t for t in toks if t.kind == "dollar"), None)
        if body is not None:
            tag_len = len(body.upper)
            _plpgsql_ddl(text, body.start + tag_len, body.end - tag_len, out, issues)


def _plpgsql_ddl(
    text: str, start: int, end: int, out: list[SqlStatement], issues: list[ScanIssue]
) -> None:
    """The DDL statements inside a PL/pgSQL block, with their file offsets."""
    inner_issues: list[ScanIssue] = []
    toks = _tokens(text, start, end, False, inner_issues)
    issues.extend(inner_issues)
    pieces: list[list[_Tok]] = [[]]
    for tok in toks:
        if tok.kind == "semi":
            pieces.append([])
        else:
            pieces[-1].append(tok)
    for piece in pieces:
        if not piece:
            continue
        s, e = piece[0].start, piece[-1].end
        pos = s
        # Strip control-flow prefixes (BEGIN, IF ... THEN, EXCEPTION WHEN ... THEN) to reach
        # the statement they guard.
        while True:
            m = _PLPGSQL_PREFIX.match(text, pos, e)
            if m is None or m.end() == pos:
                break
            pos = m.end()
        while pos < e and text[pos].isspace():
            pos += 1
        if _DDL_START.match(text, pos, e):
            sub = [t for t in piece if t.start >= pos]
            _emit(text, sub, out, [], nested=True)


# -- T-SQL ---------------------------------------------------------------------------------


#: IF/WHILE/BEGIN wrappers opened deeper than this are not unwrapped: the block is reported as
#: not understood.  Real scripts nest a handful of levels; each level rescans its block, so an
#: unbounded depth would cost quadratic time (and Python's recursion limit).
MAX_NESTING = 64


def _split_tsql(
    text: str,
    toks: list[_Tok],
    out: list[SqlStatement],
    issues: list[ScanIssue],
    nested: bool,
    level: int = 0,
) -> None:
    """Split a T-SQL token list into statements; unwrap IF/WHILE/BEGIN...END blocks."""
    i = 0
    n = len(toks)
    while i < n:
        tok = toks[i]
        if tok.kind in ("semi", "go"):
            i += 1
            continue
        if tok.kind == "meta":
            _emit(text, [tok], out, issues, nested)
            i += 1
            continue
        j = _tsql_statement_end(text, toks, i)
        stmt = toks[i:j]
        if stmt:
            _tsql_statement(text, stmt, out, issues, nested, level)
        i = j


def _tsql_statement_end(text: str, toks: list[_Tok], i: int) -> int:
    """Index just past the statement starting at ``toks[i]``."""
    n = len(toks)
    first = toks[i].upper
    second = toks[i + 1].upper if i + 1 < n else ""
    # CREATE PROCEDURE and friends run to the end of the batch.
    if first in ("CREATE", "ALTER") and (
        second in _TSQL_BODY_OBJECTS
        or (second == "OR" and toks[i + 3].upper in _TSQL_BODY_OBJECTS if i + 3 < n else False)
    ):
        k = i
        while k < n and toks[k].kind != "go":
            k += 1
        return k
    depth = 0  # parentheses
    block = 0  # BEGIN/CASE ... END
    control = first in ("IF", "WHILE", "ELSE")  # waiting for the body statement
    k = i
    prev = ""
    while k < n:
        tok = toks[k]
        if tok.kind in ("go", "meta"):
            return k
        if tok.kind == "open":
            depth += 1
        elif tok.kind == "close":
            depth = max(depth - 1, 0)
        elif tok.kind == "semi" and depth == 0 and block == 0:
            return k + 1
        elif tok.kind == "word":
            word = tok.upper
            if (
                k > i
                and depth == 0
                and block == 0
                and word in _TSQL_STARTERS
                and prev not in _TSQL_CONTINUE_AFTER
                and _starts_line(text, tok.start)
                and not control
                and not (word == "SET" and first in ("UPDATE", "MERGE"))
                and not (word == "SELECT" and first in ("INSERT", "WITH", "DECLARE"))
                and not (word == "BEGIN" and _is_begin_tran(toks, k))
            ):
                return k
            if (word == "BEGIN" and not _is_begin_tran(toks, k)) or word == "CASE":
                block += 1
            elif word == "END" and block > 0:
                block -= 1
                if block == 0 and depth == 0 and toks[i].upper in ("BEGIN", "IF", "WHILE"):
                    # END closes the block statement unless an ELSE follows
                    nxt = k + 1
                    # END TRY / END CATCH
                    if nxt < n and toks[nxt].upper in ("TRY", "CATCH"):
                        k = nxt
                        nxt += 1
                    if not (nxt < n and toks[nxt].upper == "ELSE"):
                        return nxt
            if control and k > i and depth == 0 and (word in _TSQL_STARTERS or word == "BEGIN"):
                control = False
            if word == "ELSE" and depth == 0 and block == 0:
                control = True
        prev = tok.upper if tok.kind != "lit" else ""
        k += 1
    return k


def _tsql_statement(
    text: str,
    toks: list[_Tok],
    out: list[SqlStatement],
    issues: list[ScanIssue],
    nested: bool,
    level: int,
) -> None:
    first = toks[0].upper
    wrapper = first in ("IF", "WHILE") or (
        first == "BEGIN" and not (len(toks) > 1 and toks[1].upper in _TSQL_BEGIN_NOT_BLOCK)
    )
    if wrapper and level >= MAX_NESTING:
        s, e = toks[0].start, toks[-1].end
        problem = f"IF/WHILE/BEGIN blocks nest deeper than {MAX_NESTING} levels: not split further"
        out.append(SqlStatement(text[s:e], s, e, nested, problem))
        return
    if first in ("IF", "WHILE"):
        # Skip the condition: everything up to the first statement keyword at depth 0.
        depth = 0
        for k in range(1, len(toks)):
            tok = toks[k]
            if tok.kind == "open":
                depth += 1
            elif tok.kind == "close":
                depth = max(depth - 1, 0)
            elif (
                depth == 0
                and tok.kind == "word"
                and (tok.upper in _TSQL_STARTERS or tok.upper == "BEGIN")
            ):
                _unwrap_branches(text, toks[k:], out, issues, level + 1)
                return
        _emit(text, toks, out, issues, nested)
        return
    if wrapper:
        _unwrap_branches(text, toks, out, issues, level + 1)
        return
    _emit(text, toks, out, issues, nested)


def _unwrap_branches(
    text: str, toks: list[_Tok], out: list[SqlStatement], issues: list[ScanIssue], level: int
) -> None:
    """Emit the statements inside ``BEGIN ... END [ELSE ...]`` (or a bare body statement)."""
    if toks and toks[0].upper == "BEGIN":
        block = 0
        depth = 0
        for k, tok in enumerate(toks):
            if tok.kind == "open":
                depth += 1
            elif tok.kind == "close":
                depth = max(depth - 1, 0)
            elif tok.kind == "word":
                nxt = toks[k + 1].upper if k + 1 < len(toks) else ""
                opens = tok.upper == "BEGIN" and nxt not in _TSQL_BEGIN_NOT_BLOCK
                if opens or tok.upper == "CASE":
                    block += 1
                elif tok.upper == "END" and block > 0:
                    block -= 1
                    if block == 0:
                        inner = toks[1:k]
                        if inner and inner[0].upper in ("TRY", "CATCH"):
                            inner = inner[1:]
                        _split_tsql(text, inner, out, issues, True, level)
                        rest = toks[k + 1 :]
                        if rest and rest[0].upper in ("TRY", "CATCH"):
                            rest = rest[1:]
                        if rest and rest[0].upper == "ELSE":
                            rest = rest[1:]
                        if rest:
                            _split_tsql(text, rest, out, issues, True, level)
                        return
        issues.append(ScanIssue(toks[0].start, "BEGIN without END: close the block with END"))
        _split_tsql(text, toks[1:], out, issues, True, level)
        return
    # A single body statement, maybe followed by ELSE <statement>.
    j = _tsql_statement_end(text, toks, 0)
    body = toks[:j]
    if body and body[-1].kind == "semi":
        body = body[:-1]
    rest = toks[j:]
    # The body ends before an ELSE outside parentheses and CASE ... END.
    depth = 0
    for k, tok in enumerate(body):
        if tok.kind == "open" or tok.upper == "CASE":
            depth += 1
        elif tok.kind == "close" or (tok.upper == "END" and depth > 0):
            depth = max(depth - 1, 0)
        elif tok.upper == "ELSE" and k > 0 and depth == 0:
            rest = body[k:] + rest
            body = body[:k]
            break
    if body:
        _tsql_statement(text, body, out, issues, True, level)
    if rest and rest[0].upper == "ELSE":
        rest = rest[1:]
    if rest:
        _split_tsql(text, rest, out, issues, True, level)
