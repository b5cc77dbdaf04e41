"""A schema model built from DDL files, in migration order.

Each file is reduced (by :mod:`pytest_cdc_hooks.ddl`) to a list of JSON-able operations (create
table, create index, add constraint, drop index, drop table); the operations are cached per file
content and replayed in order to build the model.  Names are compared case-insensitively with
the dialect's default schema filled in (``public`` / ``dbo``), as both engines resolve
unqualified names that way for the usual single-schema migration.

This module does not import sqlglot: a run served from the cache replays cached operations and
never needs the parser.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Index", "Op", "Schema", "Table", "table_key"]

DEFAULT_SCHEMA = {"postgres": "public", "tsql": "dbo"}

Op = dict[str, Any]


def table_key(parts: list[str] | tuple[str, ...], dialect: str) -> str:
    """``("Orders",)`` -> ``"public.orders"``; three-part names drop the database."""
    parts = [p for p in parts if p]
    if len(parts) == 1:
        parts = [DEFAULT_SCHEMA.get(dialect, "public"), parts[0]]
    return ".".join(parts[-2:]).lower()


class Index(NamedTuple):
    name: str | None
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where: str | None = None
    unique: bool = False
    primary: bool = False
    path: str = ""
    line: int = 0


class Table:
    def __init__(self, key: str, name: str, dialect: str, *, path: str = "", line: int = 0) -> None:
        self.key = key
        self.name = name
        self.dialect = dialect
        self.columns: dict[str, str] = {}
        self.indexes: list[Index] = []
        self.path = path
        self.line = line

    def unique_keys(self) -> list[tuple[str, ...]]:
        return [i.columns for i in self.indexes if (i.unique or i.primary) and not i.where]


def _index(data: dict[str, Any]) -> Index:
    # ops come back from the JSON cache with lists where tuples were
    fields = dict(data)
    fields["columns"] = tuple(fields.get("columns", ()))
    fields["include"] = tuple(fields.get("include", ()))
    return Index(**fields)


class Schema:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        #: table key ("" for unknown tables) -> where DDL touching it was not understood
        self.uncertain: dict[str, tuple[str, int]] = {}

    def _index_owner(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        for key, table in self.tables.items():
            for index in table.indexes:
                if index.name:
                    owners.setdefault(index.name.lower(), key)
        return owners

    def doubt(self, key: str) -> tuple[str, int] | None:
        """Where a not-understood DDL statement may have changed table ``key``, if anywhere."""
        return self.uncertain.get(key) or self.uncertain.get("")

    def table(self, name: str | list[str] | tuple[str, ...], dialect: str) -> Table | None:
        from pytest_cdc.indexes import split_qualified_name

        parts = split_qualified_name(name) if isinstance(name, str) else name
        return self.tables.get(table_key(parts, dialect))

    def apply(self, op: Op) -> None:
        kind = op["op"]
        key = op.get("table", "")
        if kind == "create_table":
            table = self.tables.get(key)
            if table is None or not op.get("if_not_exists"):
                table = Table(key, op["name"], op["dialect"], path=op["path"], line=op["line"])
                self.tables[key] = table
            for column, type_ in op["columns"].items():
                table.columns.setdefault(column, type_)
            for index in op["indexes"]:
                table.indexes.append(_index(index))
        elif kind == "add_column":
            table = self.tables.get(key)
            if table is not None:
                table.columns.setdefault(op["column"], op["type"])
        elif kind == "create_index":
            table = self.tables.get(key)
            if table is not None:
                index = _index(op["index"])
                if index.name and any(i.name == index.name for i in table.indexes):
                    return  # IF NOT EXISTS, or a re-run: the first definition stands
                table.indexes.append(index)
        elif kind == "drop_index":
            name = op["name"]
            if key not in self.tables:
                # PostgreSQL's DROP INDEX names no table: find the owner by index name
                key = self._index_owner().get(name, "")
            table = self.tables.get(key)
            if table is not None:
                table.indexes = [i for i in table.indexes if (i.name or "").lower() != name]
        elif kind == "drop_column":
            table = self.tables.get(key)
            if table is not None:
                column = op["column"]
                table.columns.pop(column, None)
                # the server drops every index on a dropped column
                table.indexes = [i for i in table.indexes if column not in i.columns]
        elif kind == "drop_table":
            self.tables.pop(key, None)
        elif kind == "uncertain":
            self.uncertain.setdefault(key, (op["path"], op["line"]))
