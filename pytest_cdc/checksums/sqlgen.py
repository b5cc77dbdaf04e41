"""What the PostgreSQL and T-SQL generators share: the query shapes.

Long because every query shape both engines run is written here, one method each: kept in
one place, the two engines' statements stay structurally identical.

A generator knows how one engine quotes, renders each type class, hashes and sums; the query
builders here put those pieces together, so both engines run structurally identical queries.
Every value that ends up in SQL text is either an identifier (quoted by the generator) or a
literal built from a key value read back from the database (escaped by the generator).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pytest_cdc.checksums.encoding import (
    LENGTH_PREFIXED,
    Column,
    ColumnPair,
    EncodingOptions,
    TypeClass,
)
from pytest_cdc.checksums.keys import NULL_SEGMENT
from pytest_cdc.checksums.rowtext import Choice, Const, Expr, Piece, merge, to_sql

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect

#: Type classes whose minimum and maximum are compared (their order is the same everywhere).
ORDERED_VALUES = frozenset(
    {
        TypeClass.INTEGER,
        TypeClass.DECIMAL,
        TypeClass.FLOAT,
        TypeClass.DATE,
        TypeClass.TIME,
        TypeClass.TIMESTAMP,
        TypeClass.TIMESTAMPTZ,
    }
)

#: Alias of the scanned table in every generated query.
TABLE_ALIAS = "t"
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_HEX = re.compile(r"^[0-9a-f]*$")


@dataclass(frozen=True)
class ServerFacts:
    """What the session preparation read about one side's server."""

    #: Major version (SQL Server's ProductMajorVersion, PostgreSQL's server_version_num // 10000).
    major: int | None = None
    #: Server text encoding (PostgreSQL), upper case.
    encoding: str | None = None
    #: Tells two connections to one server apart from connections to two servers.
    identity: str | None = None
    #: Parallel workers a query may use (PostgreSQL's max_parallel_workers_per_gather).
    workers: int = 0


@dataclass(frozen=True)
class TableRef:
    """A table as ``schema.name`` (schema may be None: the connection's default)."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass
class Scope:
    """Collects per-row helper expressions (CROSS APPLY / LATERAL) while rendering columns.

    Naming an intermediate value once keeps long renderings (floats) readable and stops the
    engine from re-evaluating a sub-expression at every place it is used.
    """

    keyword: str
    applies: list[str] = field(default_factory=list)

    def bind(self, expr: str) -> str:
        alias = f"cdc_a{len(self.applies)}"
        self.applies.append(f"{self.keyword} (SELECT {expr} AS cdc_v) AS {alias}")
        return f"{alias}.cdc_v"

    def from_clause(self, table_sql: str, sample: str = "") -> str:
        head = f"{table_sql} AS {TABLE_ALIAS}" + (f" {sample}" if sample else "")
        return " ".join([head, *self.applies])


class SqlGenerator:
    """Base of the per-engine generators; subclasses override the small pieces."""

    apply_keyword: ClassVar[str] = "CROSS JOIN LATERAL"
    concat_operator: ClassVar[str] = " || "
    #: Key column types (catalog data_type -> the type class it must be compared as) whose
    #: index order the other engine shares: the keys :meth:`digest_query` serves.  The name
    #: is also the bound literals' cast, so it must be a plain type name.
    ordered_key_types: ClassVar[Mapping[str, TypeClass]] = {}
    #: Whether the engine compares row values, ``(a, b) < (x, y)``, through an index on
    #: (a, b): then composite keys can take the ordered aggregation too.
    composite_ordered_keys: ClassVar[bool] = False
    #: Whether every rendering is NULL for a NULL value and concatenation with NULL is NULL,
    #: so that COALESCE(field, 'N') can replace a CASE (cheaper on PostgreSQL).
    null_propagating: ClassVar[bool] = False
    #: Formats this engine can write as their probe text (encoding.PROBE_FORMATS): a pass
    #: compares probe texts where both engines can, then confirms differences canonically.
    probe_formats: ClassVar[frozenset[TypeClass]] = frozenset()

    def __init__(self, options: EncodingOptions | None = None, *, dialect: Dialect) -> None:
        self.options = options or EncodingOptions()
        #: The engine whose SQL this writes: it owns identifier quoting (and its NUL check),
        #: one rule for the fixtures, the index DDL and the checksum SQL.
        self.dialect = dialect
        #: The scanned table's alias before every column ("": bare names, see :meth:`bare`).
        self.alias = TABLE_ALIAS

    # -- what the comparison reads from the engine's catalogs (each engine overrides) -----
    #: The connection's default schema, for unqualified table names.
    current_schema_sql: ClassVar[str] = "SELECT current_schema()"

    def columns_sql(self, paramstyle: str) -> str:
        """The table's columns; two parameters: schema, table (see :meth:`columns`)."""
        raise NotImplementedError

    def columns(self, rows: Sequence[Sequence[Any]]) -> list[Column]:
        raise NotImplementedError

    def key_indexes_sql(self, paramstyle: str) -> str:
        """The table's index key columns; one parameter, the quoted table name."""
        raise NotImplementedError

    def estimate_sql(self, paramstyle: str) -> str:
        """The table's size from statistics, summed over its partitions: one row of (rows,
        sample units: what :meth:`sample_query`'s fraction is of); one parameter, the quoted
        table name."""
        raise NotImplementedError

    def ordered_unavailable(self, major: int | None) -> str | None:
        """Why a server of this major version cannot run :meth:`digest_query` (None: it can)."""
        return None

    def server_problem(
        self, facts: ServerFacts, pairs: Sequence[ColumnPair], side: str
    ) -> str | None:
        """Why this server cannot encode ``pairs`` like the other engine (None: it can)."""
        return None

    # -- small pieces each engine overrides ------------------------------------------------
    def quote(self, name: str) -> str:
        return self.dialect.quote_identifier(name)

    def string_literal(self, text: str) -> str:
        """A string literal of ``text`` that reads back as ``text`` whatever the session's
        settings (each engine overrides it; this is the SQL standard's form)."""
        if "\x00" in text:
            raise ValueError(f"literal {text!r} contains a NUL character")
        return "'" + text.replace("'", "''") + "'"

    def render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        """SQL text of the canonical rendering of a (non-NULL) column value."""
        raise NotImplementedError

    def probe_render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        """The probe text of a value (encoding.PROBE_FORMATS) for a format this engine lists
        in :attr:`probe_formats`."""
        raise NotImplementedError

    def octet_length(self, expr: str) -> str:
        raise NotImplementedError

    def int_to_text(self, expr: str) -> str:
        raise NotImplementedError

    def row_hash(self, row_text: str) -> str:
        raise NotImplementedError

    def exact_sum(self, expr: str) -> str:
        raise NotImplementedError

    def sort_expr(self, pair: ColumnPair, side: str) -> str:
        """The key column as compared and ordered in a collation-independent way."""
        raise NotImplementedError

    def typed_literal(self, pair: ColumnPair, side: str, text: str) -> str:
        """A literal comparable with :meth:`sort_expr`, from a key's canonical text."""
        raise NotImplementedError

    def ordered_key(self, keys: Sequence[ColumnPair], side: str) -> bool:
        """Whether :meth:`digest_query` suits this key: columns whose index both orders the
        rows like the other engine does and serves ``key >= lo AND key < hi`` ranges."""
        if len(keys) > 1 and not self.composite_ordered_keys:
            return False
        for key in keys:
            col = key.on(side)
            if self.ordered_key_types.get(col.data_type) is not key.fmt:
                return False
        return bool(keys)

    def key_row(self, parts: Sequence[str]) -> str:
        """A key of one or more columns as one comparable value (a row value when more)."""
        return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"

    def bound_literal(self, pair: ColumnPair, side: str, text: str) -> str:
        """A key literal of exactly the key column's type, so comparing with it keeps the
        index usable (a wider literal would cast the column instead)."""
        col = pair.on(side)
        if col.data_type not in self.ordered_key_types:
            raise ValueError(f"a {col.data_type!r} key has no ordered aggregation")
        return f"CAST({self.typed_literal(pair, side, text)} AS {col.data_type})"

    def segment_digest(self, row_text: str, key: str, from_where: str) -> str:
        """``SELECT COUNT(*) AS n, <md5 hex of the rows' texts concatenated in key order>
        AS total FROM ...`` over the rows of ``from_where``; ``key`` is the key columns'
        ORDER BY list."""
        raise NotImplementedError

    def limit(self, select_body: str, rows: int) -> str:
        return f"{select_body} LIMIT {int(rows)}"

    # -- shared building blocks -------------------------------------------------------------
    def table(self, ref: TableRef) -> str:
        if ref.schema:
            return f"{self.quote(ref.schema)}.{self.quote(ref.name)}"
        return self.quote(ref.name)

    def column(self, pair: ColumnPair, side: str) -> str:
        col = pair.on(side)
        if not self.alias:
            return self.quote(col.name)
        return f"{self.alias}.{self.quote(col.name)}"

    def bare(self) -> SqlGenerator:
        """This generator writing bare column names: for a condition another tool puts in a
        query of its own (a Debezium snapshot's filter), where the table has no alias."""
        import copy

        out = copy.copy(self)
        out.alias = ""
        return out

    def concat(self, parts: Sequence[str]) -> str:
        return "(" + self.concat_operator.join(parts) + ")"

    def constant_choices(self, pair: ColumnPair, side: str) -> list[tuple[str, str]] | None:
        """Conditions and the rendering each gives, when a column renders to one of a few
        constants (a boolean: '1' or '0'); the row text then picks the field's whole text
        instead of building it.  None: render it."""
        return None

    def reusable(self, pair: ColumnPair, side: str, value: str) -> bool:
        """Whether ``value``, a rendering, is cheap enough to evaluate twice (a length-prefixed
        field uses it twice); otherwise it is computed once in a LATERAL/APPLY."""
        return False

    def literal_piece(self, text: str) -> str:
        """A constant of the encoding (``V``, ``;``, ``:``, ``N``, digits) as SQL text."""
        return f"'{text}'"

    def chain(self, parts: Sequence[str]) -> str:
        """Text pieces concatenated into one value."""
        return self.concat(parts)

    def field_pieces(
        self, pair: ColumnPair, side: str, scope: Scope, probe: bool = False
    ) -> list[Piece]:
        """One field of the canonical row (``N``, ``V<value>;`` or ``V<octets>:<text>``) as
        pieces of the row's chain; only a column that may hold NULL gets the NULL test.
        ``probe``: the value's probe text instead of its canonical text."""
        nullable = pair.on(side).nullable
        choices = self.constant_choices(pair, side)
        if choices is not None:
            branches = tuple((cond, f"V{text};") for cond, text in choices)
            if nullable:
                return [Choice(branches, "N")]
            return [Choice(branches[:-1], branches[-1][1])]
        value = self.probe_render(pair, side, scope) if probe else self.render(pair, side, scope)
        body: list[Piece]
        if pair.fmt in LENGTH_PREFIXED:
            if not self.reusable(pair, side, value):
                value = scope.bind(value)
            length = self.int_to_text(self.octet_length(value))
            body = [Const("V"), Expr(length), Const(":"), Expr(value)]
        else:
            body = [Const("V"), Expr(value), Const(";")]
        if not nullable:
            return body
        text = self.concat(to_sql(merge(body), self.literal_piece))
        if self.null_propagating:
            return [Expr(f"COALESCE({text}, 'N')")]
        return [Expr(f"CASE WHEN {self.column(pair, side)} IS NULL THEN 'N' ELSE {text} END")]

    def row_text(
        self,
        pairs: Sequence[ColumnPair],
        side: str,
        scope: Scope,
        probe: Collection[ColumnPair] = (),
    ) -> str:
        """The canonical row text: every field's pieces in one flat chain (see
        :mod:`pytest_cdc.checksums.rowtext` for why, and what it saves).  The fields of
        ``probe`` are written as their probe texts."""
        pieces = [piece for p in pairs for piece in self.field_pieces(p, side, scope, p in probe)]
        return self.chain(to_sql(merge(pieces), self.literal_piece))

    def nullable_render(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        value = self.render(pair, side, scope)
        return f"CASE WHEN {self.column(pair, side)} IS NULL THEN NULL ELSE {value} END"

    def key_literals(
        self, keys: Sequence[ColumnPair], side: str, bound: Sequence[str]
    ) -> list[str]:
        return [self.typed_literal(k, side, text) for k, text in zip(keys, bound, strict=False)]

    def key_less(self, keys: Sequence[ColumnPair], side: str, bound: Sequence[str]) -> str:
        """``key < bound`` in lexicographic order, spelled out (T-SQL has no row values)."""
        exprs = [self.sort_expr(k, side) for k in keys]
        lits = self.key_literals(keys, side, bound)
        terms = []
        for i in range(len(keys)):
            equal = [f"{exprs[j]} = {lits[j]}" for j in range(i)]
            terms.append(" AND ".join([*equal, f"{exprs[i]} < {lits[i]}"]))
        return "(" + " OR ".join(f"({t})" for t in terms) + ")"

    def segment_case(
        self, keys: Sequence[ColumnPair], side: str, bounds: Sequence[Sequence[str]], first: int
    ) -> str:
        """Segment number of a row: a balanced CASE tree, log2(segments) comparisons a row.

        ``bounds`` are the lower bounds of segments ``first+1 ..``; the segment below the first
        bound is number ``first``.
        """

        def tree(lo: int, hi: int) -> str:
            if lo == hi:
                return str(first + lo)
            mid = (lo + hi + 1) // 2
            less = self.key_less(keys, side, bounds[mid - 1])
            return f"CASE WHEN {less} THEN {tree(lo, mid - 1)} ELSE {tree(mid, hi)} END"

        return tree(0, len(bounds))

    def segment_expr(
        self, keys: Sequence[ColumnPair], side: str, bounds: Sequence[Sequence[str]], first: int
    ) -> str:
        """Segment number of a row; rows whose key holds a NULL get :data:`NULL_SEGMENT`, so
        the checksum pass counts them at no extra cost (a NULL key is refused)."""
        seg = self.segment_case(keys, side, bounds, first) if bounds else str(int(first))
        nullable = [k for k in keys if k.on(side).nullable]
        if not nullable:
            return seg
        test = " OR ".join(f"{self.column(k, side)} IS NULL" for k in nullable)
        return f"CASE WHEN {test} THEN {NULL_SEGMENT} ELSE {seg} END"

    def range_condition(
        self,
        keys: Sequence[ColumnPair],
        side: str,
        lo: Sequence[str] | None,
        hi: Sequence[str] | None,
    ) -> str:
        parts = []
        if lo is not None:
            parts.append(f"NOT {self.key_less(keys, side, lo)}")
        if hi is not None:
            parts.append(self.key_less(keys, side, hi))
        return " AND ".join(parts) if parts else "1 = 1"

    def where(self, user_where: str | None, *conditions: str) -> str:
        parts = [f"({user_where})"] if user_where else []
        parts.extend(c for c in conditions if c)
        return " WHERE " + " AND ".join(parts) if parts else ""

    def order_by(self, keys: Sequence[ColumnPair], side: str) -> str:
        return ", ".join(self.sort_expr(k, side) for k in keys)

    # -- the queries ------------------------------------------------------------------------
    def checksum_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        pairs: Sequence[ColumnPair],
        side: str,
        bounds: Sequence[Sequence[str]],
        *,
        first: int = 0,
        user_where: str | None = None,
        restrict: str | None = None,
        probe: Collection[ColumnPair] = (),
    ) -> str:
        """One pass: (segment, row count, exact sum of row hashes) for every segment."""
        scope = Scope(self.apply_keyword)
        h = self.row_hash(self.row_text(pairs, side, scope, probe))
        seg = self.segment_expr(keys, side, bounds, first)
        inner = (
            f"SELECT {seg} AS seg, {h} AS h FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where, restrict or '')}"
        )
        return (
            f"SELECT s.seg, COUNT(*) AS n, {self.exact_sum('s.h')} AS total"
            f" FROM ({inner}) AS s GROUP BY s.seg"
        )

    def digest_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        pairs: Sequence[ColumnPair],
        side: str,
        bounds: Sequence[Sequence[str]],
        *,
        first: int = 0,
        user_where: str | None = None,
        restrict: str | None = None,
        probe: Collection[ColumnPair] = (),
    ) -> str:
        """One pass: (segment, row count, MD5 of the segment's rows in key order).

        The ordered aggregation of docs/checksum.md: one MD5 over a whole segment instead of
        one a row.  Each segment is an index range scan that already yields key order (a
        LATERAL / CROSS APPLY over a VALUES list of the bounds), so no row is sorted and only
        one segment's text is held at a time.  Only for :meth:`ordered_key` keys.
        """
        key = self.key_row([self.sort_expr(k, side) for k in keys])
        order = self.order_by(keys, side)

        def branch(*conditions: str) -> str:
            scope = Scope(self.apply_keyword)
            text = self.row_text(pairs, side, scope, probe)
            from_where = scope.from_clause(self.table(table)) + self.where(
                user_where, restrict or "", *conditions
            )
            return self.segment_digest(text, order, from_where)

        def alone(seg: int, *conditions: str) -> str:
            return f"SELECT {seg} AS seg, x.n, x.total FROM ({branch(*conditions)}) AS x"

        if not bounds:
            return alone(first)
        lits = [
            [self.bound_literal(k, side, text) for k, text in zip(keys, b, strict=True)]
            for b in bounds
        ]
        parts = [alone(first, f"{key} < {self.key_row(lits[0])}")]
        if len(lits) > 1:
            names = [f"lo{j}" for j in range(len(keys))] + [f"hi{j}" for j in range(len(keys))]
            lo = [f"b.{name}" for name in names[: len(keys)]]
            hi = [f"b.{name}" for name in names[len(keys) :]]
            rows = ", ".join(
                f"({', '.join([str(first + i), *lits[i - 1], *lits[i]])})"
                for i in range(1, len(lits))
            )
            parts.append(
                f"SELECT b.seg, x.n, x.total FROM (VALUES {rows})"
                f" AS b(seg, {', '.join(names)}) {self.apply_keyword}"
                f" ({branch(f'{key} >= {self.key_row(lo)}', f'{key} < {self.key_row(hi)}')})"
                " AS x"
            )
        parts.append(alone(first + len(lits), f"{key} >= {self.key_row(lits[-1])}"))
        return " UNION ALL ".join(parts)

    def width_query(
        self,
        table: TableRef,
        pairs: Sequence[ColumnPair],
        side: str,
        rows: int,
        *,
        user_where: str | None = None,
    ) -> str:
        """Average byte length of the canonical row text over the first ``rows`` rows."""
        scope = Scope(self.apply_keyword)
        text = self.row_text(pairs, side, scope)
        inner = self.limit(
            f"SELECT {text} AS r FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where)}",
            rows,
        )
        return f"SELECT AVG({self.octet_length('q.r')}) FROM ({inner}) AS q"

    def key_texts(self, keys: Sequence[ColumnPair], side: str, scope: Scope) -> list[str]:
        return [self.nullable_render(k, side, scope) for k in keys]

    def sample_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        side: str,
        fraction: float,
        *,
        user_where: str | None = None,
    ) -> str:
        """Canonical key texts of a sample of about ``fraction`` of the table's sample units
        (:meth:`estimate_sql`), in key order: the boundaries of a big table."""
        scope = Scope(self.apply_keyword)
        cols = ", ".join(self.key_texts(keys, side, scope))
        sample = self.sample_clause(fraction)
        return (
            f"SELECT {cols} FROM {scope.from_clause(self.table(table), sample)}"
            f"{self.where(user_where, self.sample_condition(fraction))}"
            f" ORDER BY {self.order_by(keys, side)}"
        )

    def sample_clause(self, fraction: float) -> str:
        """The FROM-clause part of the sample (``TABLESAMPLE ...``), or ``""``."""
        return ""

    def sample_condition(self, fraction: float) -> str:
        """The WHERE-clause part of the sample, or ``""``."""
        return ""

    def quantile_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        side: str,
        step: int,
        *,
        user_where: str | None = None,
        restrict: str | None = None,
    ) -> str:
        """Every ``step``-th key in key order: exact row-count boundaries of a (small) range."""
        scope = Scope(self.apply_keyword)
        texts = self.key_texts(keys, side, scope)
        names = [f"k{i}" for i in range(len(keys))]
        cols = ", ".join(f"{t} AS {n}" for t, n in zip(texts, names, strict=False))
        inner = (
            f"SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {self.order_by(keys, side)}) AS rn"
            f" FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where, restrict or '')}"
        )
        return (
            f"SELECT {', '.join('q.' + n for n in names)} FROM ({inner}) AS q"
            f" WHERE q.rn % {int(step)} = 0 ORDER BY q.rn"
        )

    def fetch_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        pairs: Sequence[ColumnPair],
        side: str,
        *,
        user_where: str | None = None,
        restrict: str | None = None,
    ) -> str:
        """Canonical key texts and row hash of every row in a range (the leaf diff input)."""
        scope = Scope(self.apply_keyword)
        texts = self.key_texts(keys, side, scope)
        h = self.row_hash(self.row_text(pairs, side, scope))
        return (
            f"SELECT {', '.join(texts)}, {h} FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where, restrict or '')}"
        )

    def values_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        pairs: Sequence[ColumnPair],
        side: str,
        key_rows: Sequence[Sequence[str]],
        *,
        user_where: str | None = None,
    ) -> str:
        """Canonical text of every compared column for the given keys (side-by-side report)."""
        scope = Scope(self.apply_keyword)
        texts = [self.nullable_render(p, side, scope) for p in pairs]
        return (
            f"SELECT {', '.join(texts)} FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where, self.key_match(keys, side, key_rows))}"
        )

    def key_match(
        self, keys: Sequence[ColumnPair], side: str, key_rows: Sequence[Sequence[str]]
    ) -> str:
        """A condition true for exactly the rows whose keys' canonical texts are ``key_rows``
        (each literal built by :meth:`typed_literal`, so the data never becomes SQL text)."""
        wanted = " OR ".join(
            "("
            + " AND ".join(
                f"{self.sort_expr(k, side)} = {lit}"
                for k, lit in zip(keys, self.key_literals(keys, side, row), strict=False)
            )
            + ")"
            for row in key_rows
        )
        return "(" + (wanted or "1 = 0") + ")"

    def repair_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        pairs: Sequence[ColumnPair],
        side: str,
        key_rows: Sequence[Sequence[str]],
        *,
        user_where: str | None = None,
    ) -> str:
        """The canonical key texts, then every column of ``pairs`` as :meth:`repair_value`
        reads it, of the rows whose keys are ``key_rows`` (the source rows a repair writes)."""
        scope = Scope(self.apply_keyword)
        cols = [
            *self.key_texts(keys, side, scope),
            *(self.repair_value(p, side, scope) for p in pairs),
        ]
        return (
            f"SELECT {', '.join(cols)} FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where, self.key_match(keys, side, key_rows))}"
        )

    def repair_value(self, pair: ColumnPair, side: str, scope: Scope) -> str:
        """A column as a repair reads it: a value the driver returns whole.  A JSON document
        is read as its text (drivers parse it into objects, which would lose the text a
        ``json`` column keeps); the rest as the column aggregates read them (a datetimeoffset
        as UTC, which pyodbc cannot read otherwise)."""
        col = pair.on(side)
        if col.type_class is TypeClass.JSON:
            return self.nullable_render(pair, side, scope)
        return self.aggregate_value(pair, side)

    def duplicate_query(
        self,
        table: TableRef,
        keys: Sequence[ColumnPair],
        side: str,
        *,
        user_where: str | None = None,
    ) -> str:
        """One key value held by more than one row (its canonical text and its count), if any.

        Grouped by the canonical text, which is what pairs rows: two values an engine calls
        different but that render alike (never, for the key types allowed) would pair too.
        """
        scope = Scope(self.apply_keyword)
        names = [f"k{i}" for i in range(len(keys))]
        cols = ", ".join(
            f"{t} AS {n}" for t, n in zip(self.key_texts(keys, side, scope), names, strict=True)
        )
        inner = f"SELECT {cols} FROM {scope.from_clause(self.table(table))}{self.where(user_where)}"
        grouped = ", ".join(f"q.{n}" for n in names)
        return self.limit(
            f"SELECT {grouped}, COUNT(*) FROM ({inner}) AS q GROUP BY {grouped}"
            " HAVING COUNT(*) > 1",
            1,
        )

    # -- column aggregates (the replica check's "aggregates" tier) ------------------------------
    def count(self, expr: str = "*") -> str:
        """A count over a whole table (T-SQL's COUNT is an int: 2^31 rows overflow it)."""
        return f"COUNT({expr})"

    def aggregate_value(self, pair: ColumnPair, side: str) -> str:
        """The column as its minimum and maximum are taken: a value the driver returns in a
        type the oracle renders (each engine overrides what needs converting)."""
        return self.column(pair, side)

    def total(self, pair: ColumnPair, side: str) -> str:
        """The exact sum of a numeric (or boolean, as 1 and 0) column."""
        return self.exact_sum(self.column(pair, side))

    def value_count(self, pair: ColumnPair, side: str) -> str:
        """The count of the column's non-NULL values."""
        return self.count(self.column(pair, side))

    def aggregates(
        self, pairs: Sequence[ColumnPair], side: str, scope: Scope
    ) -> list[tuple[str, str, str]]:
        """(column, aggregate, SQL) for every aggregate of :meth:`aggregate_query`: the count
        of non-NULL values of every column; the exact sum, minimum and maximum of numbers; the
        minimum and maximum of dates and times and floats; the total, shortest and longest
        canonical text of strings (in bytes).  Both engines compute the same ones, so their
        values compare once rendered in the canonical formats."""
        out = []
        for pair in pairs:
            fmt = pair.fmt
            out.append((pair.name, "count", self.value_count(pair, side)))
            if fmt in (TypeClass.INTEGER, TypeClass.DECIMAL, TypeClass.BOOLEAN):
                out.append((pair.name, "sum", self.total(pair, side)))
            if fmt in ORDERED_VALUES:
                value = self.aggregate_value(pair, side)
                out += [(pair.name, "min", f"MIN({value})"), (pair.name, "max", f"MAX({value})")]
            if fmt in LENGTH_PREFIXED:
                length = self.octet_length(scope.bind(self.render(pair, side, scope)))
                out += [
                    (pair.name, "total length", self.exact_sum(length)),
                    (pair.name, "shortest", f"MIN({length})"),
                    (pair.name, "longest", f"MAX({length})"),
                ]
        return out

    def aggregate_query(
        self,
        table: TableRef,
        pairs: Sequence[ColumnPair],
        side: str,
        *,
        user_where: str | None = None,
    ) -> str:
        """One row: the row count, then :meth:`aggregates` in order; one scan of the table."""
        scope = Scope(self.apply_keyword)
        exprs = [self.count(), *(sql for _, _, sql in self.aggregates(pairs, side, scope))]
        return (
            f"SELECT {', '.join(exprs)} FROM {scope.from_clause(self.table(table))}"
            f"{self.where(user_where)}"
        )

    def count_query(self, table: TableRef, *, user_where: str | None = None) -> str:
        return (
            f"SELECT {self.count()} FROM {self.table(table)} AS {TABLE_ALIAS}"
            f"{self.where(user_where)}"
        )

    # -- literal helpers shared by both engines ----------------------------------------------
    @staticmethod
    def checked_number(text: str) -> str:
        if not _NUMBER.match(text):
            raise ValueError(f"key value {text!r} is not a plain number")
        return text

    @staticmethod
    def checked_hex(text: str) -> str:
        if not _HEX.match(text):
            raise ValueError(f"key value {text!r} is not lower-case hex")
        return text
