"""The cdc-sql-lint rules and the registry third-party plugins add to.

A rule is a code, a one-line message, and a function that receives a :class:`Context` and one
parsed statement and yields ``(node, message)`` pairs (``node`` locates the finding; ``message``
``None`` means the rule's own).  Example files for every rule live in ``tests/hooks/files``
as ``ok_<code>_<dialect>.sql`` / ``bad_<code>_<dialect>.sql``.

Plugins register rules through the ``pytest_cdc_register_lint_rules(registry)`` hook, found via
the ``pytest_cdc`` setuptools entry-point group::

    def pytest_cdc_register_lint_rules(registry):
        registry.add(Rule("XYZ001", "no-foo", "do not use foo", check_foo))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from pytest_cdc.errors import ConfigError, did_you_mean
from pytest_cdc_hooks.schema import Schema, Table, table_key
from pytest_cdc_hooks.splitting import Statement

__all__ = ["Context", "Rule", "RuleRegistry", "builtin_registry"]

#: ``(node, message)``, or ``(node, message, severity)`` to override the rule's severity
Hit = tuple[Any, ...]
Check = Callable[["Context", exp.Expression], Iterable[Hit]]


@dataclass
class Context:
    """What a rule may know about the statement it checks."""

    path: str
    dialect: str  # sqlglot name: "postgres" or "tsql"
    stmt: Statement
    is_ddl: bool = False
    is_query: bool = True
    #: tables created earlier in this file (table keys): new, empty, no need to build online
    created_tables: set[str] = field(default_factory=set)
    #: the file's own CREATE TABLEs, then the configured DDL files
    schemas: tuple[Schema, ...] = ()
    #: every statement of the file, in order (for rules about the file as a whole)
    statements: Sequence[Statement] = ()
    #: tables a not-understood CREATE TABLE earlier in this file may create -> its line
    maybe_created: dict[str, int] = field(default_factory=dict)

    def table(self, parts: list[str]) -> Table | None:
        key = table_key(parts, self.dialect)
        for schema in self.schemas:
            if key in schema.tables:
                return schema.tables[key]
        return None


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    message: str
    check: Check
    severity: str = "error"
    #: which files: "any", "query" (reconciliation queries) or "ddl" (migrations)
    applies_to: str = "any"
    dialects: frozenset[str] = frozenset({"postgres", "tsql"})


class RuleRegistry:
    """Rules by code; ``add`` refuses duplicates so a plugin cannot silently replace a rule."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def add(self, rule: Rule) -> Rule:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2,9}", rule.code):
            raise ConfigError(f"rule code {rule.code!r} must look like ABC123 (upper case)")
        if rule.code in self._rules:
            raise ConfigError(f"lint rule {rule.code!r} is registered twice: pick another code")
        self._rules[rule.code] = rule
        return rule

    def rule(
        self, code: str, name: str, message: str, **options: object
    ) -> Callable[[Check], Check]:
        """Decorator form of :meth:`add`."""

        def decorate(check: Check) -> Check:
            self.add(Rule(code, name, message, check, **options))  # type: ignore[arg-type]
            return check

        return decorate

    def get(self, code: str) -> Rule:
        try:
            return self._rules[code]
        except KeyError:
            hint = did_you_mean(code, self._rules)
            raise ConfigError(f"unknown rule code {code!r}{hint}") from None

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: r.code))

    def __contains__(self, code: object) -> bool:
        return code in self._rules

    def __len__(self) -> int:
        return len(self._rules)


# -- helpers ---------------------------------------------------------------------------------

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)


def _conditions(tree: exp.Expression) -> Iterator[exp.Expression]:
    """WHERE and JOIN ... ON conditions anywhere in the statement (not a partial index's WHERE:
    that predicate says which rows the index holds, no query seeks with it)."""
    for where in tree.find_all(exp.Where):
        if isinstance(where.parent, exp.IndexParameters):
            continue
        if isinstance(where.this, exp.Expression):
            yield where.this
    for join in tree.find_all(exp.Join):
        on = join.args.get("on")
        if on is not None:
            yield on


def _predicates(tree: exp.Expression) -> Iterator[Any]:
    """Comparisons in WHERE / JOIN ON conditions, each once: a WHERE inside a subquery of
    another WHERE is found by both walks."""
    seen: set[int] = set()
    for condition in _conditions(tree):
        for predicate in condition.find_all(*_COMPARISONS, exp.In, exp.Between):
            if id(predicate) not in seen:
                seen.add(id(predicate))
                yield predicate


def _sides(predicate: exp.Expression) -> list[exp.Expression]:
    sides: list[exp.Expression] = []
    candidates = [predicate.this]
    if not isinstance(predicate, exp.Between):
        candidates.append(predicate.args.get("expression"))
    for side in candidates:
        if isinstance(side, exp.Paren):
            side = side.unnest()
        if isinstance(side, exp.Expression):
            sides.append(side)
    return sides


def _wraps_column(node: exp.Expression) -> bool:
    if isinstance(node, exp.Subquery | exp.Select):
        return False
    return node.find(exp.Column) is not None


def _aliases(select: exp.Expression) -> dict[str, list[str]]:
    """alias or table name (lower) -> table name parts, for the tables a query reads."""
    out: dict[str, list[str]] = {}
    for table in select.find_all(exp.Table):
        parts = [table.catalog, table.db, table.name]
        out[table.name.lower()] = parts
        if table.alias:
            out[table.alias.lower()] = parts
    return out


class _ColumnTypes:
    """Column types for one statement.  The tables it reads are collected once: per column,
    that walk made a rule quadratic in statement size (4,000 OR terms: 88 s)."""

    def __init__(self, ctx: Context, tree: exp.Expression) -> None:
        self.ctx = ctx
        self.aliases = _aliases(tree)
        distinct = {tuple(parts): parts for parts in self.aliases.values()}
        self.tables = [ctx.table(parts) for parts in distinct.values()]

    def get(self, column: exp.Column) -> str | None:
        name = column.name.lower()
        if column.table:
            parts = self.aliases.get(column.table.lower())
            tables = [self.ctx.table(parts)] if parts else []
        else:
            tables = self.tables
        types = [t.columns[name] for t in tables if t is not None and name in t.columns]
        return types[0] if len(types) == 1 else None


def _string_prefix(node: exp.Expression) -> str | None:
    """The leading string literal of a LIKE pattern (through ``||`` / ``+`` / CONCAT)."""
    while isinstance(node, exp.DPipe | exp.Add | exp.Concat):
        node = node.this if not isinstance(node, exp.Concat) else node.expressions[0]
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, exp.National):
        return str(node.this)
    return None


# -- built-in rules ------------------------------------------------------------------------


def _select_star(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    # EXISTS (SELECT * ...) reads no columns.  Collected once: looking up from every SELECT
    # costs the depth of the tree each time (quadratic for a long OR of subqueries).
    in_exists = {id(s) for e in tree.find_all(exp.Exists) for s in e.find_all(exp.Select)}
    for select in tree.find_all(exp.Select):
        if id(select) in in_exists:
            continue
        for projection in select.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                yield projection, None


def _no_where(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    for node in tree.find_all(exp.Update, exp.Delete):
        if node.args.get("where") is not None:
            continue
        if isinstance(node.parent, exp.When):
            continue  # MERGE ... WHEN MATCHED THEN UPDATE: the ON clause picks the rows
        if node.args.get("from_") is not None or node.args.get("using"):
            continue  # joined: the join restricts the rows
        verb = "UPDATE" if isinstance(node, exp.Update) else "DELETE"
        yield node, f"{verb} without WHERE changes every row: add a WHERE (or use TRUNCATE)"


_CATALOG_SCHEMAS = frozenset({"sys", "pg_catalog", "information_schema"})


def _catalog_only(tree: exp.Expression) -> bool:
    """True when every table read is a system catalog view (sys.*, pg_catalog, ...): monitoring
    queries like that have no indexes of yours to miss."""
    tables = list(tree.find_all(exp.Table))
    return bool(tables) and all(
        t.db.lower() in _CATALOG_SCHEMAS or (not t.db and t.name.lower().startswith("pg_"))
        for t in tables
    )


def _function_on_column(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if _catalog_only(tree):
        return
    tables: dict[str, list[str]] | None = None
    for predicate in _predicates(tree):
        for side in _sides(predicate):
            if isinstance(side, exp.Cast | exp.TryCast) and _wraps_column(side):
                yield (
                    side,
                    (
                        f"cast of a column in a predicate ({side.sql(dialect=ctx.dialect)[:60]}) "
                        "cannot use an index: cast the other side instead"
                    ),
                )
            elif (
                isinstance(side, exp.Func)
                and not isinstance(side, exp.AggFunc)
                and (_wraps_column(side))
            ):
                tables = tables if tables is not None else _aliases(tree)
                fix = _expression_index(ctx, side, tables)
                yield (
                    side,
                    (
                        f"function {written_name(ctx, side)}() on a column in a predicate cannot "
                        f"use an index: compare the bare column, {fix}"
                    ),
                )


def written_name(ctx: Context, func: exp.Func) -> str:
    """The function's name as the file spells it (``date_trunc``, not sqlglot's
    ``TIMESTAMP_TRUNC``)."""
    meta = func.meta
    start, end = meta.get("start"), meta.get("end")
    if isinstance(start, int) and isinstance(end, int):
        text = ctx.stmt.text[start : end + 1]
        if re.fullmatch(r"[\w.\[\]\"]+", text):
            return text
    return func.name if isinstance(func, exp.Anonymous) else func.sql_name()


def _expression_index(ctx: Context, func: exp.Func, tables: dict[str, list[str]]) -> str:
    """Advice to index the expression itself, with the DDL where it can be written."""
    columns = list(func.find_all(exp.Column))
    if ctx.dialect != "postgres":
        return "or index a computed column holding the expression"
    parts = tables.get(columns[0].table.lower()) if columns[0].table else None
    if parts is None and not columns[0].table and len({tuple(p) for p in tables.values()}) == 1:
        parts = next(iter(tables.values()))
    if parts is None or len({c.name.lower() for c in columns}) != 1:
        return "or index the expression"
    from pytest_cdc.plans.suggest import INDEXABLE_FUNCTIONS

    if written_name(ctx, func).upper() not in INDEXABLE_FUNCTIONS:
        # PostgreSQL indexes only IMMUTABLE expressions: date_trunc() of a timestamptz is not
        return "or index the expression (PostgreSQL needs it IMMUTABLE)"
    from pytest_cdc.indexes import IndexRecommendation, generate_index_ddl

    bare = func.transform(
        lambda n: exp.column(n.name, quoted=n.this.quoted) if isinstance(n, exp.Column) else n
    )
    table = ".".join(p for p in parts if p)
    key = f"({bare.sql(dialect='postgres')})"
    return "or index the expression: " + generate_index_ddl(
        IndexRecommendation(table=table, columns=(key,)), "postgresql"
    )


def _leading_wildcard(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if _catalog_only(tree):
        return
    for node in tree.find_all(exp.Like, exp.ILike):
        pattern = node.args.get("expression")
        prefix = _string_prefix(pattern) if pattern is not None else None
        if prefix is not None and prefix[:1] in ("%", "_"):
            yield node, f"LIKE {prefix[:20]!r} starts with a wildcard and cannot seek an index"


_STRING_TYPES = ("CHAR", "VARCHAR", "TEXT", "NCHAR", "NVARCHAR", "NTEXT", "CHARACTER", "CITEXT")


def _implicit_conversion(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    types: _ColumnTypes | None = None
    for predicate in _predicates(tree):
        sides = _sides(predicate)
        if len(sides) != 2:
            continue
        for column, other in (sides, sides[::-1]):
            if not isinstance(column, exp.Column):
                continue
            types = types or _ColumnTypes(ctx, tree)
            type_ = types.get(column)
            if not type_:
                continue
            base = type_.split("(")[0].strip()
            is_string = base in _STRING_TYPES or base.startswith(("VARCHAR", "CHAR"))
            if not is_string:
                continue
            if isinstance(other, exp.Literal) and not other.is_string:
                yield (
                    column,
                    (
                        f"column {column.name!r} ({type_}) compared with a number: the column is "
                        "converted row by row and no index is used; quote the literal"
                    ),
                )
            elif (
                ctx.dialect == "tsql"
                and isinstance(other, exp.National)
                and not base.startswith("N")
            ):
                yield (
                    column,
                    (
                        f"column {column.name!r} ({type_}) compared with N'...': the column is "
                        "converted to nvarchar and no index is used; drop the N prefix"
                    ),
                )


def _index_options(tree: exp.Expression) -> str:
    parts = [str(tree.meta.get("with_options", ""))]
    index = tree.this if isinstance(tree, exp.Create) else None
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    storage = params.args.get("with_storage") if params is not None else None
    if isinstance(storage, list):
        parts.extend(p.sql() for p in storage)
    return " ".join(parts)


_ONLINE = re.compile(r"\bONLINE\s*=\s*ON\b", re.I)


def _index_locking(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper().endswith("INDEX"):
        index = tree.this
        table = index.args.get("table") if isinstance(index, exp.Index) else None
        doubt = ""
        if isinstance(table, exp.Table):
            key = table_key([table.catalog, table.db, table.name], ctx.dialect)
            if key in ctx.created_tables:
                return  # the table is new in this migration: nothing to block
            if key in ctx.maybe_created:
                doubt = (
                    f" (uncertain: the CREATE TABLE at line {ctx.maybe_created[key]} was not "
                    "understood; if it creates this table, the index blocks nothing)"
                )
        hit = _blocking_create(ctx, tree)
        if hit is not None:
            yield (tree, hit + doubt, "warning") if doubt else (tree, hit)
    elif isinstance(tree, exp.Drop) and str(tree.args.get("kind") or "").upper() == "INDEX":
        if ctx.dialect == "postgres" and not tree.args.get("concurrently"):
            if ctx.stmt.nested:
                yield (
                    tree,
                    (
                        "DROP INDEX takes an exclusive lock on the table, and CONCURRENTLY "
                        "cannot run inside a DO block (a function): move it out of the block as "
                        "DROP INDEX CONCURRENTLY IF EXISTS, in a migration of its own"
                    ),
                )
            else:
                yield (
                    tree,
                    (
                        "DROP INDEX without CONCURRENTLY takes an exclusive lock on the table: "
                        "use DROP INDEX CONCURRENTLY"
                    ),
                )
        elif ctx.dialect == "tsql" and not _ONLINE.search(str(tree.meta.get("with_options", ""))):
            yield tree, "DROP INDEX without ONLINE = ON locks the table: add WITH (ONLINE = ON)"


def _blocking_create(ctx: Context, tree: exp.Create) -> str | None:
    if ctx.dialect == "postgres" and not tree.args.get("concurrently"):
        if ctx.stmt.nested:
            # PostgreSQL refuses CONCURRENTLY inside a function, and a DO block is one
            return (
                "CREATE INDEX blocks writes to the table while it builds, and CONCURRENTLY "
                "cannot run inside a DO block (a function): move it out of the block as "
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS, in a migration of its own"
            )
        return (
            "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds: "
            "use CREATE INDEX CONCURRENTLY (outside a transaction)"
        )
    if ctx.dialect == "tsql" and not _ONLINE.search(_index_options(tree)):
        return (
            "CREATE INDEX without ONLINE = ON locks the table while it builds: "
            "add WITH (ONLINE = ON)"
        )
    return None


_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.I)
_SESSION_SETTING = re.compile(r"(?:SET|RESET)\b(?!\s+LOCAL\b)", re.I)


def _concurrently_in_transaction(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    """CREATE/DROP/REINDEX ... CONCURRENTLY in a file with other statements.

    PostgreSQL refuses CONCURRENTLY inside a transaction block, and ``psql -1`` or a migration
    tool that runs each file in one transaction puts every statement of the file in one.
    """
    if ctx.stmt.nested or not _CONCURRENTLY.search(ctx.stmt.text):
        return
    concurrent = isinstance(tree, exp.Create | exp.Drop) and tree.args.get("concurrently")
    if not concurrent and not isinstance(tree, exp.Command):
        return
    # A file of CONCURRENTLY statements only is meant to run outside a transaction; session
    # settings (SET lock_timeout ...) and psql commands run there as well.
    others = [
        s
        for s in ctx.statements
        if not (
            s.nested
            or s.text.startswith(("\\", ":"))
            or _SESSION_SETTING.match(s.text)
            or _CONCURRENTLY.search(s.text)
        )
    ]
    if not others:
        return
    verb = " ".join(ctx.stmt.text.split()[:2]).upper()
    yield (
        tree,
        (
            f"{verb} ... CONCURRENTLY cannot run inside a transaction block, and this file has "
            f"{len(others)} other statement{'s' if len(others) > 1 else ''}: under psql -1 or a "
            "migration tool that runs a file in one transaction it fails; give it a migration "
            "file of its own (marked non-transactional where the tool needs that)"
        ),
    )


_DIRTY_HINTS = {"NOLOCK", "READUNCOMMITTED"}


def _dirty_reads(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    if isinstance(tree, exp.Command) and tree.this == "ISOLATION LEVEL":
        level = tree.expression.name if tree.expression is not None else ""
        if level == "READ UNCOMMITTED":
            yield (
                None,
                (
                    "READ UNCOMMITTED reads rows that may be rolled back: reconciliation results "
                    "would be wrong; use READ COMMITTED or SNAPSHOT"
                ),
            )
        return
    for hint in tree.find_all(exp.WithTableHint):
        for item in hint.expressions:
            if item.name.upper() in _DIRTY_HINTS:
                table = hint.find_ancestor(exp.Table)
                yield (
                    table,
                    (
                        f"{item.name.upper()} reads uncommitted rows: reconciliation would compare "
                        "data that may be rolled back; remove the hint (use SNAPSHOT isolation)"
                    ),
                )


_CHECKSUMS = {"CHECKSUM", "BINARY_CHECKSUM", "CHECKSUM_AGG"}


def _checksum(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    found = [f for f in tree.find_all(exp.Anonymous) if f.name.upper() in _CHECKSUMS]
    # CHECKSUM_AGG(BINARY_CHECKSUM(*)) is one checksum: report the outermost call only
    inner = {id(i) for f in found for i in f.find_all(exp.Anonymous) if i is not f}
    for func in found:
        if id(func) in inner:
            continue
        yield (
            func,
            (
                f"{written_name(ctx, func)}() collides easily (32-bit, order- and "
                "case-insensitive cases): do not reconcile with it; compare a cryptographic hash "
                "such as HASHBYTES('SHA2_256', ...) / md5() or the rows themselves"
            ),
        )


def _offset_pagination(ctx: Context, tree: exp.Expression) -> Iterable[Hit]:
    for select in tree.find_all(exp.Select):
        if select.args.get("offset") is None:
            continue
        order = select.args.get("order")
        if order is None:
            yield (
                select,
                (
                    "OFFSET without ORDER BY returns rows in no defined order: pages overlap and "
                    "skip rows; ORDER BY a unique key"
                ),
            )
            continue
        source = select.args.get("from_")
        table = source.this if source is not None else None
        if not isinstance(table, exp.Table) or select.args.get("joins"):
            continue
        known = ctx.table([table.catalog, table.db, table.name])
        if known is None or not known.unique_keys():
            continue
        ordered = {o.this.name.lower() for o in order.expressions if isinstance(o.this, exp.Column)}
        if not any(set(key) <= ordered for key in known.unique_keys()):
            keys = " or ".join("(" + ", ".join(k) + ")" for k in known.unique_keys())
            yield (
                order,
                (
                    f"OFFSET pagination ordered by non-unique columns: rows with equal values move "
                    f"between pages; add the unique key {keys} to ORDER BY"
                ),
            )


def builtin_registry() -> RuleRegistry:
    registry = RuleRegistry()
    for rule in BUILTIN_RULES:
        registry.add(rule)
    return registry


BUILTIN_RULES = (
    Rule(
        "CDC101",
        "select-star",
        "SELECT * in a query: name the columns",
        _select_star,
        applies_to="query",
    ),
    Rule("CDC102", "update-delete-without-where", "UPDATE/DELETE without WHERE", _no_where),
    Rule(
        "CDC103",
        "function-on-column",
        "function or cast on a column in a predicate",
        _function_on_column,
        applies_to="query",
    ),
    Rule(
        "CDC104",
        "leading-wildcard-like",
        "LIKE pattern starting with a wildcard",
        _leading_wildcard,
        applies_to="query",
    ),
    Rule(
        "CDC105",
        "implicit-conversion",
        "implicit conversion of a column in a predicate",
        _implicit_conversion,
        applies_to="query",
    ),
    Rule(
        "CDC106",
        "index-blocks-writes",
        "CREATE/DROP INDEX without CONCURRENTLY (PostgreSQL) / ONLINE = ON (SQL Server)",
        _index_locking,
    ),
    Rule(
        "CDC110",
        "concurrently-in-transaction",
        "CREATE/DROP INDEX CONCURRENTLY in a file with other statements (PostgreSQL)",
        _concurrently_in_transaction,
        dialects=frozenset({"postgres"}),
    ),
    Rule(
        "CDC107",
        "dirty-read",
        "NOLOCK / READ UNCOMMITTED in a reconciliation query",
        _dirty_reads,
        applies_to="query",
    ),
    Rule(
        "CDC108",
        "checksum-reconciliation",
        "CHECKSUM/BINARY_CHECKSUM/CHECKSUM_AGG",
        _checksum,
        applies_to="query",
    ),
    Rule(
        "CDC109",
        "offset-without-unique-order",
        "OFFSET pagination without ORDER BY a unique key",
        _offset_pagination,
        applies_to="query",
    ),
)

#: Findings the lint itself produces (not rules that can be registered or replaced).
CORE_CODES = {
    "CDC000": "statement not understood by the parser (warning; an error with --strict)",
    "CDC001": "syntax error: unterminated literal or comment, unbalanced parentheses",
    "CDC002": "file cannot be read as SQL text (binary, or not UTF-8/UTF-16)",
}
