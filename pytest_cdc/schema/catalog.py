"""What every engine's catalog reader provides.

A reader is SQL text plus pure functions: it builds the catalog statements (one per catalog
aspect, for all the schemas asked for at once, never one per table) and turns their rows into
the model.  It never touches a cursor: :mod:`pytest_cdc.schema.api` sends the statements
through the checksum executor, which records and bounds them.  Engines differ in the
constants and the few functions they override, as sqlglot's dialects do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pytest_cdc.schema.model import Catalog, Column, Index
from pytest_cdc.schema.types import Domain

Rows = Sequence[Sequence[Any]]


def flag(value: Any) -> bool:
    """A catalog boolean as any driver returns it: psqlODBC sends '1'/'0' text by default."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(value)


def index_columns(key_rows: Rows) -> dict[tuple[str, str], list[Index]]:
    """(schema, table) -> its unique indexes, from rows of (schema, table, index, primary,
    position, column) in any order."""
    found: dict[tuple[str, str], dict[str, tuple[bool, list[tuple[int, str]]]]] = {}
    for schema, table, index, primary, position, column in key_rows:
        per_table = found.setdefault((str(schema), str(table)), {})
        per_table.setdefault(str(index), (flag(primary), []))[1].append(
            (int(position), str(column))
        )
    return {
        key: [
            Index(name, tuple(c for _, c in sorted(cols)), primary)
            for name, (primary, cols) in sorted(per_table.items())
        ]
        for key, per_table in found.items()
    }


def marks(paramstyle: str, count: int) -> str:
    """``%s, %s`` or ``?, ?``: one placeholder a bound value."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return ", ".join([mark] * max(count, 1))


class CatalogReader:
    """One engine's catalog statements and row decoders (overridden per engine)."""

    #: The dialect name (``pytest_cdc.dialects``) this reader serves.
    engine: ClassVar[str] = ""
    #: One row: the connection's default schema and the database's default collation.
    session_sql: ClassVar[str] = ""
    #: The names of the database's schemas (to name a missing one, with a "did you mean").
    schemas_sql: ClassVar[str] = ""
    #: Every type name of the engine, when the set is closed (SQL Server's); empty when
    #: users can make types of their own (PostgreSQL's).
    type_names: ClassVar[tuple[str, ...]] = ()
    #: The engine has a change data capture catalog (:meth:`capture_sql`).
    change_capture: ClassVar[bool] = False

    def columns_sql(self, paramstyle: str, count: int) -> str:
        """Every column of every table and view in ``count`` bound schemas."""
        raise NotImplementedError

    def keys_sql(self, paramstyle: str, count: int) -> str:
        """Every key column of every primary key and unique index in ``count`` schemas."""
        raise NotImplementedError

    def estimates_sql(self, paramstyle: str, count: int, catalog: Catalog) -> str | None:
        """Row estimates the columns statement cannot give cheaply (None: none needed)."""
        return None

    def with_estimates(self, catalog: Catalog, rows: Rows) -> Catalog:
        return catalog

    def capture_sql(self, paramstyle: str, count: int) -> str | None:
        """The captured columns of every CDC capture instance (None: the engine has none)."""
        return None

    def build(
        self, session: Sequence[Any], schema_rows: Rows, column_rows: Rows, key_rows: Rows
    ) -> Catalog:
        raise NotImplementedError

    def with_captures(self, catalog: Catalog, rows: Rows) -> Catalog:
        return catalog

    def domain(self, column: Column) -> Domain:
        """The values ``column`` can hold."""
        raise NotImplementedError

    def pattern_name(self, name: str) -> str:
        """A type name as a pattern may write it, in this engine's canonical spelling."""
        return name.strip().lower()

    def known_type(self, name: str) -> bool:
        """Whether a pattern's (canonical) type name is one this engine has."""
        return not self.type_names or name in self.type_names
