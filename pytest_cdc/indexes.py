"""Index recommendations for reconciliation tables, and the DDL that creates them.

Reconciliation reads a replicated table in a few fixed shapes: look rows up by key, read the
rows changed since a watermark, compare checksums of selected columns, and filter by a status or
an "active" flag.  :func:`recommend_indexes_for_reconciliation` turns a table description into one
:class:`IndexRecommendation` per shape, and :func:`generate_index_ddl` prints the statement for
PostgreSQL or SQL Server.

This module is imported by library users and by pytest failure messages, so it stays free of
heavy imports: nothing here needs sqlglot.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_cdc.dialects import Dialect, resolve_dialect
from pytest_cdc.dialects.base import split_qualified
from pytest_cdc.errors import ConfigError

__all__ = [
    "IndexRecommendation",
    "generate_index_ddl",
    "index_name",
    "normalize_dialect",
    "quote_identifier",
    "quote_table",
    "recommend_indexes_for_reconciliation",
    "resolve_dialect",
    "split_qualified_name",
]


@dataclass(frozen=True)
class IndexRecommendation:
    """One index that would serve a reconciliation access path.

    ``table`` may be qualified (``"sales.orders"``; quote parts containing dots as the dialect
    does: ``'"my.schema".orders'`` or ``"[my.schema].orders"``).  ``where`` is a predicate in
    the target dialect's SQL, copied verbatim into the DDL, as is a column given as an
    expression in parentheses (``"(lower(email))"``: a PostgreSQL expression index).  ``name`` is
    derived from the table, columns and filter when not given.
    """

    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where: str | None = None
    unique: bool = False
    name: str | None = None
    reason: str = ""
    estimated_impact: str = ""
    kind: str = "custom"

    def __post_init__(self) -> None:
        # Accept lists (and a bare string for one column) but store tuples so that the
        # dataclass stays hashable and immutable.
        object.__setattr__(self, "columns", _as_tuple(self.columns, "columns"))
        object.__setattr__(self, "include", _as_tuple(self.include, "include"))
        if not self.columns:
            raise ConfigError(f"index on {self.table!r} has no columns: give at least one column")
        if not self.table.strip():
            raise ConfigError("index recommendation has an empty table name: pass table='schema.t'")

    def ddl(
        self,
        dialect: str | Dialect,
        *,
        concurrently: bool = True,
        online: bool = True,
        fillfactor: int | None = None,
    ) -> str:
        """Shortcut for :func:`generate_index_ddl`."""
        return generate_index_ddl(
            self, dialect, concurrently=concurrently, online=online, fillfactor=fillfactor
        )


def _as_tuple(value: str | Iterable[str], what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ConfigError(f"index {what} must be non-empty strings, got {item!r}")
    return items


def normalize_dialect(dialect: str | Dialect) -> str:
    """sqlglot's name for a dialect: ``pg`` -> ``postgres``, ``mssql`` -> ``tsql``."""
    return resolve_dialect(dialect).sqlglot_dialect


def quote_identifier(name: str, dialect: str | Dialect) -> str:
    """Quote one identifier so that any characters in it survive: ``"a""b"`` / ``[a]]b]``."""
    if "\x00" in name:
        raise ConfigError(f"identifier {name!r} contains a NUL character: no database accepts it")
    return resolve_dialect(dialect).quote_identifier(name)


def split_qualified_name(qualified: str) -> tuple[str, ...]:
    """Split ``schema.table`` into parts, honouring ``"..."`` and ``[...]`` quoting.

    >>> split_qualified_name('"my.schema"."t"')
    ('my.schema', 't')
    """
    try:
        parts = split_qualified(qualified.strip())
    except ValueError:
        parts = []
    if not parts or len(parts) > 3:
        raise ConfigError(f"cannot read table name {qualified!r}: write it as schema.table")
    return tuple(parts)


def quote_table(qualified: str, dialect: str | Dialect) -> str:
    """Quote every part of a (possibly schema-qualified) table name."""
    split_qualified_name(qualified)  # one clear error for a name that cannot be read
    return resolve_dialect(dialect).quote_table(qualified.strip())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def index_name(rec: IndexRecommendation, dialect: str | Dialect = "postgresql") -> str:
    """The deterministic name for ``rec``: ``ix_<table>_<columns>`` within the dialect's limit.

    Names longer than the limit (63 bytes for PostgreSQL) keep a readable prefix and end in a
    hash of the full definition, so two different indexes never truncate to the same name.
    """
    if rec.name:
        return rec.name
    # PostgreSQL truncates names to 63 bytes (with only a NOTICE), so two long names could
    # collide after truncation: stay within the limit ourselves and keep a hash of the rest.
    limit = resolve_dialect(dialect).max_identifier_length
    table = split_qualified_name(rec.table)[-1]
    pieces = ["ux" if rec.unique else "ix", _slug(table), *(_slug(c) for c in rec.columns)]
    if rec.include:
        pieces.append("incl")
    if rec.where:
        pieces.append("partial")
    base = "_".join(piece for piece in pieces if piece)
    definition = "\x1f".join(
        [rec.table, *rec.columns, "|", *rec.include, "|", rec.where or "", str(rec.unique)]
    )
    digest = hashlib.sha1(definition.encode("utf-8")).hexdigest()[:8]
    # Slugging drops characters, so two different definitions could share a readable name
    # ("a b" and "a-b"): add the hash whenever the slug lost information, too.
    lossless = all(_slug(c) == c.lower() for c in (table, *rec.columns))
    if len(base) <= limit and lossless:
        return base
    # The slug is ASCII, so characters and bytes agree.
    return f"{base[: limit - len(digest) - 1].rstrip('_')}_{digest}"


def _key_part(column: str, dialect: Dialect) -> str:
    """A column name, quoted; ``"(lower(email))"``, an expression in parentheses, verbatim
    (PostgreSQL expression indexes)."""
    if column.startswith("(") and column.endswith(")"):
        return column
    return quote_identifier(column, dialect)


def generate_index_ddl(
    rec: IndexRecommendation,
    dialect: str | Dialect,
    *,
    concurrently: bool = True,
    online: bool = True,
    fillfactor: int | None = None,
) -> str:
    """The ``CREATE INDEX`` statement for ``rec`` (no trailing semicolon).

    PostgreSQL: ``CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS "name" ON "s"."t" (...)
    INCLUDE (...) WITH (fillfactor = n) WHERE ...`` -- CONCURRENTLY because reconciliation
    tables are live replication targets that must keep taking writes while the index builds.

    SQL Server: ``CREATE [UNIQUE] NONCLUSTERED INDEX [name] ON [s].[t] (...) INCLUDE (...)
    WHERE ... WITH (ONLINE = ON, FILLFACTOR = n)`` (ONLINE needs Enterprise or Azure SQL).
    """
    resolved = resolve_dialect(dialect)
    if fillfactor is not None and not (isinstance(fillfactor, int) and 10 <= fillfactor <= 100):
        raise ConfigError(f"fillfactor {fillfactor!r} is out of range: give a percentage 10..100")
    split_qualified_name(rec.table)  # a table name that cannot be read is an error here
    return resolved.index_ddl(
        name=index_name(rec, resolved),
        table=rec.table,
        columns=rec.columns,
        include=rec.include,
        where=rec.where.strip() if rec.where and rec.where.strip() else None,
        unique=rec.unique,
        concurrently=concurrently,
        online=online,
        fillfactor=fillfactor,
    )


def _unique_order(columns: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for column in columns:
        seen.setdefault(column, None)
    return tuple(seen)


def recommend_indexes_for_reconciliation(
    table: str,
    primary_keys: Sequence[str] | str,
    timestamp_column: str | None = None,
    status_column: str | None = None,
    checksum_columns: Sequence[str] = (),
    active_filter: str | None = None,
    *,
    primary_key_exists: bool = False,
) -> list[IndexRecommendation]:
    """Indexes that serve the usual reconciliation queries on ``table``, most important first.

    - ``primary_key``: unique index on the key; every row comparison looks rows up by key.
      Left out with ``primary_key_exists=True``: the table's PRIMARY KEY (or unique
      constraint) on those columns already has that index, and a second one would only cost
      writes and space.
    - ``timestamp``: incremental runs read ``WHERE <timestamp> > :watermark``.
    - ``checksum_covering``: key plus INCLUDE of the checksummed columns, so the checksum pass
      reads the index only (index-only scan / no key lookups).
    - ``status_timestamp``: equality column first, then the range column, so one seek finds
      ``status = ? AND ts > ?``.
    - ``active_partial``: a partial (PostgreSQL) / filtered (SQL Server) index holding only the
      rows the filter keeps, smaller and cheaper to maintain.
    """
    keys = _as_tuple(primary_keys, "primary_keys")
    if not keys:
        raise ConfigError(f"table {table!r} has no primary key columns: pass primary_keys=[...]")
    key_index = IndexRecommendation(
        table=table,
        columns=keys,
        unique=True,
        kind="primary_key",
        reason=(
            f"reconciliation matches source and target rows on {', '.join(keys)}; a unique "
            "index makes each match a seek and guarantees the key really is unique"
        ),
        estimated_impact="high: row lookups go from a full scan per batch to O(log n) seeks",
    )
    recs = [] if primary_key_exists else [key_index]
    if timestamp_column:
        recs.append(
            IndexRecommendation(
                table=table,
                columns=(timestamp_column,),
                kind="timestamp",
                reason=(
                    f"incremental reconciliation reads rows with {timestamp_column} after the "
                    "last watermark; an index leading with it turns that into a range seek"
                ),
                estimated_impact=(
                    "high: each incremental run reads only the changed rows instead of the table"
                ),
            )
        )
    extra = tuple(c for c in _unique_order(checksum_columns) if c not in keys)
    if extra:
        recs.append(
            IndexRecommendation(
                table=table,
                columns=keys,
                include=extra,
                kind="checksum_covering",
                reason=(
                    f"checksum comparison reads {', '.join(keys)} and {', '.join(extra)}; "
                    "including them lets the pass read the index alone, without table lookups"
                ),
                estimated_impact="medium: index-only reads for the checksum pass",
            )
        )
    if status_column:
        columns = (status_column, timestamp_column) if timestamp_column else (status_column, *keys)
        recs.append(
            IndexRecommendation(
                table=table,
                columns=_unique_order(columns),
                kind="status_timestamp",
                reason=(
                    f"queries filter {status_column} by equality and then by range or order on "
                    f"{columns[1]}; the equality column goes first so one seek finds the range"
                ),
                estimated_impact="medium: status-filtered reads seek instead of scanning",
            )
        )
    if active_filter and active_filter.strip():
        lead = (timestamp_column,) if timestamp_column else keys
        recs.append(
            IndexRecommendation(
                table=table,
                columns=lead,
                where=active_filter.strip(),
                kind="active_partial",
                reason=(
                    f"reconciliation reads only rows where {active_filter.strip()}; an index "
                    "holding just those rows is smaller and cheaper to keep up to date"
                ),
                estimated_impact=(
                    "medium: smaller index, fewer pages read; queries must repeat the filter"
                ),
            )
        )
    return recs
