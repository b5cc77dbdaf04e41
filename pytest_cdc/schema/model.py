"""The catalog model: what a database says about its tables, whatever the engine.

Each engine's catalog reader (``catalog.py`` in its package under ``pytest_cdc/dialects/``)
turns its catalog rows into these objects; everything above (the type rules, the pairing, the
report) reads only
these.  Plain frozen dataclasses: cheap to build for thousands of columns, and easy to write
by hand in a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

#: Table kinds, as the report names them.
TABLE, VIEW, PARTITIONED, MATERIALIZED_VIEW, FOREIGN_TABLE = (
    "table",
    "view",
    "partitioned table",
    "materialized view",
    "foreign table",
)


@dataclass(frozen=True)
class Column:
    """One column as the catalog declares it.

    ``type_name`` is the engine's base type name, lower case (``nvarchar``, ``numeric``,
    ``timestamp without time zone``); ``declared`` is how the type reads in DDL
    (``nvarchar(200)``, ``numeric(18,2)``).  ``length`` counts characters for text and bytes
    for binary, None when unbounded (``max``, ``text``, ``varchar`` without a length).
    """

    name: str
    position: int
    type_name: str
    declared: str
    nullable: bool = True
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    #: Fractional second digits of time and timestamp types.
    datetime_precision: int | None = None
    collation: str | None = None
    #: The collation compares case- or accent-insensitively (SQL Server ``_CI``/``_AI``,
    #: PostgreSQL nondeterministic collations).
    insensitive_collation: bool = False
    identity: bool = False
    #: Computed (SQL Server) or generated (PostgreSQL) from other columns.
    computed: bool = False
    #: Whether a computed column is stored (PERSISTED / STORED).
    persisted: bool = False
    #: A default, identity or generation expression fills the column when an insert omits it.
    has_default: bool = False
    #: An alias or domain type's own name when ``type_name`` is its base type.
    user_type: str | None = None


@dataclass(frozen=True)
class Index:
    """A primary key or unique index: the candidates to identify rows by."""

    name: str
    columns: tuple[str, ...]
    primary: bool = False
    unique: bool = True


@dataclass(frozen=True)
class CaptureInstance:
    """A SQL Server CDC capture instance of a table and the columns it captures."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str = TABLE
    columns: tuple[Column, ...] = ()
    primary_key: Index | None = None
    unique_indexes: tuple[Index, ...] = ()
    #: Planner / partition statistics; None when the engine has none (never analysed, views).
    row_estimate: int | None = None
    #: SQL Server: tracked by CDC (``sys.tables.is_tracked_by_cdc``); None elsewhere.
    cdc_enabled: bool | None = None
    capture_instances: tuple[CaptureInstance, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    def key_candidates(self) -> list[Index]:
        """Unique indexes whose columns are all NOT NULL: each could stand in for a key.

        Fewest columns first, then by name, so the choice is stable.
        """
        nullable = {c.name for c in self.columns if c.nullable}
        found = [i for i in self.unique_indexes if not nullable.intersection(i.columns)]
        return sorted(found, key=lambda i: (len(i.columns), i.name))

    def captured_columns(self) -> frozenset[str] | None:
        """Columns any capture instance captures; None when the table is not tracked."""
        if not self.cdc_enabled:
            return None
        return frozenset(c for inst in self.capture_instances for c in inst.columns)


@dataclass(frozen=True)
class Catalog:
    """The tables of one database (the schemas that were read), keyed by (schema, name)."""

    engine: str
    tables: Mapping[tuple[str, str], Table] = field(default_factory=dict)
    #: The connection's default schema (``current_schema()`` / ``SCHEMA_NAME()``).
    default_schema: str | None = None
    #: Schemas that exist (of those asked for), so a missing one can be named.
    schemas: frozenset[str] = frozenset()
    #: Why a part of the catalog could not be read (permissions), for the report.
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables.values())

    def __len__(self) -> int:
        return len(self.tables)

    def get(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))

    def in_schemas(self, schemas: Iterable[str]) -> list[Table]:
        wanted = set(schemas)
        return [t for t in self.tables.values() if t.schema in wanted]
