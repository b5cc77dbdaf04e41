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
                kind = item.args.get("kind")
                columns[name] = _type_name(kind)
                for constraint in item.args.get("constraints") or []:
                    ckind = constraint.args.get("kind")
                    if isinstance(ckind, exp.PrimaryKeyColumnConstraint):
                        indexes.append({"name": None, "columns": (name,), "primary": True})
                    elif isinstance(ckind, exp.UniqueColumnConstraint):
                        indexes.append({"name": None, "columns": (name,), "unique": True})
            elif isinstance(item, exp.Constraint):
                indexes.extend(_constraints(item.expressions, item.name.lower() or None))
            else:
                made = _constraint_index(item, None)
                if made:
                    indexes.append(made)
    for index in indexes:
        index.update(path=path, line=line)
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
    key = table_key(_table_parts(tree.this), dialect)
    ops: list[Op] = []
    for action in tree.args.get("actions") or []:
        if isinstance(action, exp.ColumnDef):
            kind = action.args.get("kind")
            ops.append(
                {
                    "op": "add_column",
                    "table": key,
                    "column": action.name.lower(),
                    "type": _type_name(kind),
                }
            )
        elif isinstance(action, exp.AddConstraint):
            for constraint in action.expressions:
                if isinstance(constraint, exp.Constraint):
                    for made in _constraints(constraint.expressions, constraint.name.lower()):
                        made.update(path=path, line=line)
                        ops.append({"op": "create_index", "table": key, "index": made})
    return ops
