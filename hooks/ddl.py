"""Schema operations from parsed DDL statements (see :mod:`pytest_cdc_hooks.schema`)."""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from pytest_cdc_hooks.schema import Op, table_key

__all__ = ["extract_ops", "uncertain_op"]


def _table_parts(table: exp.Expression | None) -> list[str]:
    if not isinstance(table, exp.Table):
        return []
    return [table.catalog, table.db, table.name]


def _ident_names(items: list[exp.Expression] | None) -> tuple[str, ...]:
    names: list[str] = []
    for item in items or []:
        node = item.this if isinstance(item, exp.Ordered) else item
        if isinstance(node, exp.Column | exp.Identifier):
            names.append(node.name.lower())
        else:
            names.append(node.sql().lower())  # expression index: never matches a column
    return tuple(names)


def _type_name(kind: exp.Expression | None) -> str:
    """``VARCHAR``, ``NVARCHAR``, ``INT``...: enough for the type rules, and far cheaper than
    generating the full SQL of every column type."""
    if isinstance(kind, exp.DataType):
        return str(kind.this.name if hasattr(kind.this, "name") else kind.this).upper()
    return ""


def _constraint_index(node: exp.Expression, name: str | None) -> dict[str, Any] | None:
    """A PRIMARY KEY / UNIQUE table constraint as an index dict, else None."""
    if isinstance(node, exp.PrimaryKey):
        return {"name": name, "columns": _ident_names(node.expressions), "primary": True}
    if isinstance(node, exp.UniqueColumnConstraint):
        inner = node.this
        if isinstance(inner, exp.Schema):
            cols = _ident_names(inner.expressions)
        elif isinstance(inner, exp.NonClusteredColumnConstraint | exp.ClusteredColumnConstraint):
            cols = _ident_names(inner.this)
        else:
            return None
        return {"name": name, "columns": cols, "unique": True}
    return None


def _constraints(parts: list[exp.Expression], name: str | None) -> list[dict[str, Any]]:
    """Indexes declared by the pieces of one ``CONSTRAINT name ...`` (T-SQL splits them)."""
    out = []
    primary = any(isinstance(p, exp.PrimaryKeyColumnConstraint) for p in parts)
    unique = any(isinstance(p, exp.UniqueColumnConstraint) and p.this is None for p in parts)
    for part in parts:
        made = _constraint_index(part, name)
        if made:
            out.append(made)
        elif isinstance(part, exp.ClusteredColumnConstraint | exp.NonClusteredColumnConstraint):
            cols = _ident_names(part.this)
            if primary:
                out.append({"name": name, "columns": cols, "primary": True})
            elif unique:
                out.append({"name": name, "columns": cols, "unique": True})
    return out


def extract_ops(tree: exp.Expression, dialect: str, path: str, line: int) -> list[Op]:
    """The schema operations one parsed statement performs (none for queries)."""
    if isinstance(tree, exp.Create):
        kind = (tree.args.get("kind") or "").upper()
        if kind == "TABLE":
            return [_create_table(tree, dialect, path, line)]
        if kind.endswith("INDEX"):
            op = _create_index(tree, dialect, path, line)
            return [op] if op else []
        return []
    if isinstance(tree, exp.Alter):
        return _alter(tree, dialect, path, line)
    if isinstance(tree, exp.Drop):
        kind = (tree.args.get("kind") or "").upper()
        ops: list[Op] = []
        for table in tree.args.get("tables") or tree.expressions:
            if not isinstance(table, exp.Table):
                continue
            if kind == "INDEX":
                on = tree.args.get("cluster")
                if isinstance(on, exp.OnProperty):
                    owner = table_key(_table_parts(on.this), dialect)
                elif table.catalog:  # DROP INDEX schema.table.index (T-SQL)
                    owner = table_key([table.catalog, table.db], dialect)
                elif table.db and dialect == "tsql":  # DROP INDEX table.index
                    owner = table_key([table.db], dialect)
                else:
                    owner = ""
                ops.append({"op": "drop_index", "name": table.name.lower(), "table": owner})
            elif kind == "TABLE":
                ops.append({"op": "drop_table", "table": table_key(_table_parts(table), dialect)})
        return ops
    return []


_NAME = r'(?:"[^"]+"|\[[^\]]+\]|[\w$#@]+)'
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})"
_DDL_TARGET = re.compile(
    r"\s*(?:CREATE\s+(?:UNIQUE\s+)?(?:(?:NON)?CLUSTERED\s+)?(?:COLUMNSTORE\s+)?INDEX\b.*?\bON\s+"
    r"(?:ONLY\s+)?"
    r"|ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?"
    r"|(?:ALTER|DROP)\s+INDEX\b.*?\bON\s+"
    r"|CREATE\s+(?:(?:UNLOGGED|TEMP|TEMPORARY)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)" + _QUALIFIED,
    re.I | re.S,
)


def uncertain_op(text: str, dialect: str, path: str, line: int) -> Op:
    """A not-understood DDL statement: remember which table it may have changed."""
    from pytest_cdc.indexes import split_qualified_name

    key = ""
    m = _DDL_TARGET.match(text)
    if m:
        try:
            key = table_key(split_qualified_name(re.sub(r"\s+", "", m.group(1))), dialect)
        except Exception:
            key = ""
    return {"op": "uncertain", "table": key, "path": path, "line": line}


def _create_table(tree: exp.Create, dialect: str, path: str, line: int) -> Op:
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    parts = _table_parts(table)
    columns: dict[str, str] = {}
    indexes: list[dict[str, Any]] = []
    if isinstance(target, exp.Schema):
        for item in target.expressions:
            if isinstance(item, exp.ColumnDef):
                name = item.name.lower()
                columns[name] = _type_name(item.args.get("kind"))
                indexes.extend(_column_constraints(item, name))
            elif isinstance(item, exp.Constraint):
                indexes.extend(_constraints(item.expressions, item.name.lower() or None))
            else:
                made = _constraint_index(item, None)
                if made:
                    indexes.append(made)
    for index in indexes:
        index.update(path=path, line=line)
        if not index.get("name"):
            index["name"] = _default_name(parts, index, dialect)
    return {
        "op": "create_table",
        "table": table_key(parts, dialect),
        "name": ".".join(p for p in parts if p),
        "dialect": dialect,
        "columns": columns,
        "indexes": indexes,
        "if_not_exists": bool(tree.args.get("exists")),
        "path": path,
        "line": line,
    }


def _create_index(tree: exp.Create, dialect: str, path: str, line: int) -> Op | None:
    index = tree.this
    if not isinstance(index, exp.Index):
        return None
    params = index.args.get("params")
    columns = _ident_names(params.args.get("columns") if params else None)
    include = _ident_names(params.args.get("include") if params else None)
    where = params.args.get("where") if params else None
    return {
        "op": "create_index",
        "table": table_key(_table_parts(index.args.get("table")), dialect),
        "index": {
            "name": index.name.lower() or None,
            "columns": columns,
            "include": include,
            "where": where.this.sql(dialect=dialect) if isinstance(where, exp.Where) else None,
            "unique": bool(tree.args.get("unique")),
            "path": path,
            "line": line,
        },
    }


def _alter(tree: exp.Alter, dialect: str, path: str, line: int) -> list[Op]:
    if (tree.args.get("kind") or "TABLE").upper() != "TABLE":
        return []
    parts = _table_parts(tree.this)
    key = table_key(parts, dialect)
    ops: list[Op] = []

    def index(made: dict[str, Any]) -> None:
        made.update(path=path, line=line)
        if not made.get("name"):
            made["name"] = _default_name(parts, made, dialect)
        ops.append({"op": "create_index", "table": key, "index": made})

    for action in tree.args.get("actions") or []:
        if isinstance(action, exp.ColumnDef):
            name = action.name.lower()
            ops.append(
                {
                    "op": "add_column",
                    "table": key,
                    "column": name,
                    "type": _type_name(action.args.get("kind")),
                }
            )
            # ADD COLUMN [IF NOT EXISTS] id uuid ... PRIMARY KEY / UNIQUE
            for made in _column_constraints(action, name):
                index(made)
        elif isinstance(action, exp.AddConstraint):
            for constraint in action.expressions:
                if isinstance(constraint, exp.Constraint):
                    for made in _constraints(constraint.expressions, constraint.name.lower()):
                        index(made)
                else:  # ADD PRIMARY KEY (a) / ADD UNIQUE (a, b): named by the server
                    made_or_none = _constraint_index(constraint, None)
                    if made_or_none:
                        index(made_or_none)
        elif isinstance(action, exp.Drop):
            kind = str(action.args.get("kind") or "").upper()
            targets = action.args.get("tables") or []
            for target in targets:
                if kind == "CONSTRAINT":
                    # the index behind a PRIMARY KEY / UNIQUE constraint goes with it
                    ops.append({"op": "drop_index", "table": key, "name": target.name.lower()})
                elif kind == "COLUMN":
                    ops.append({"op": "drop_column", "table": key, "column": target.name.lower()})
    return ops


def _column_constraints(column: exp.ColumnDef, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for constraint in column.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.PrimaryKeyColumnConstraint):
            out.append({"name": None, "columns": (name,), "primary": True})
        elif isinstance(kind, exp.UniqueColumnConstraint):
            out.append({"name": None, "columns": (name,), "unique": True})
    return out


def _default_name(parts: list[str], index: dict[str, Any], dialect: str) -> str | None:
    """The name PostgreSQL gives an unnamed PRIMARY KEY / UNIQUE constraint (and its index),
    so that a later DROP CONSTRAINT finds it; SQL Server's names are random: None."""
    if dialect != "postgres" or not parts:
        return None
    table = parts[-1].lower()
    if index.get("primary"):
        return f"{table}_pkey"
    return "_".join([table, *index["columns"], "key"])
