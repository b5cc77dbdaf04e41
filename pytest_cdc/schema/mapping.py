"""The replica mapping: which source table and column becomes which target one.

Read from ``[tool.pytest-cdc.replica]`` in pyproject.toml or from a file given on the command
line, as strictly as the hooks read their table: an unknown key is an error with a "did you
mean".  docs/schema.md, "Mapping", shows every key::

    [tool.pytest-cdc.replica]
    schemas = { dbo = "public" }
    name-style = "snake_case"          # exact | lower | snake_case
    include = ["dbo.*"]
    exclude = ["dbo.sysdiagrams"]
    profile = "debezium"
    allow = ["widened", "representation"]

    [tool.pytest-cdc.replica.tables."dbo.OrderLines"]
    target = "sales.order_lines"
    key = ["OrderID", "LineNo"]
    exclude-columns = ["rowguid"]
    columns = { OrderID = "order_ref" }
    where = "ModifiedAt < DATEADD(minute, -5, SYSUTCDATETIME())"
    target-where = "modified_at < now() - interval '5 minutes'"
    lag-column = "ModifiedAt"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pytest_cdc.errors import ConfigError, did_you_mean
from pytest_cdc.schema.files import read_toml
from pytest_cdc.schema.model import Catalog, Column, Table
from pytest_cdc.schema.profiles import AllowRule, allow_rules, load_allow_list
from pytest_cdc.schema.rules import VERDICTS

SECTION = "tool.pytest-cdc.replica"
NAME_STYLES = ("exact", "lower", "snake_case")
TOP_KEYS = frozenset(
    {"schemas", "name-style", "include", "exclude", "tables", "profile", "allow", "allow-list"}
)
TABLE_KEYS = frozenset(
    {"target", "key", "exclude-columns", "columns", "where", "target-where", "lag-column"}
)


def snake_case(name: str) -> str:
    """``OrderLines`` -> ``order_lines``, ``CustomerID`` -> ``customer_id``,
    ``HTTPServer`` -> ``http_server``."""
    text = re.sub(r"[\s.\-]+", "_", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"_+", "_", text).lower()


def styled(name: str, style: str) -> str:
    if style == "lower":
        return name.lower()
    if style == "snake_case":
        return snake_case(name)
    return name


@dataclass(frozen=True)
class TableRule:
    """Overrides for one source table (``[...replica.tables."schema.table"]``)."""

    source: str
    target: str | None = None
    key: tuple[str, ...] | None = None
    exclude_columns: tuple[str, ...] = ()
    #: source column -> target column
    columns: Mapping[str, str] = field(default_factory=dict)
    where: str | None = None
    target_where: str | None = None
    lag_column: str | None = None


@dataclass(frozen=True)
class ReplicaMapping:
    """How source tables and columns are paired with target ones (see the module docs)."""

    #: source schema -> target schema; empty: the default schema of each side.
    schemas: Mapping[str, str] = field(default_factory=dict)
    name_style: str = "exact"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    tables: Mapping[str, TableRule] = field(default_factory=dict)
    profile: str | None = None
    allow: tuple[str, ...] | None = None
    allow_list: tuple[AllowRule, ...] = ()
    #: Where it was read from, for messages.
    origin: str = "the mapping"

    def __post_init__(self) -> None:
        if self.name_style not in NAME_STYLES:
            raise ConfigError(
                f"{self.origin}: name-style {self.name_style!r} is unknown"
                f"{did_you_mean(self.name_style, NAME_STYLES)}; use one of"
                f" {', '.join(NAME_STYLES)}"
            )


# -- reading ---------------------------------------------------------------------------------
def _section(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tool = data.get("tool")
    if not isinstance(tool, Mapping):
        return None
    ours = tool.get("pytest-cdc")
    if not isinstance(ours, Mapping):
        return None
    replica = ours.get("replica")
    return replica if isinstance(replica, Mapping) else None


def load_mapping(path: str | Path | None = None, *, cwd: Path | None = None) -> ReplicaMapping:
    """The mapping in ``path`` (a pyproject.toml, or a file holding the replica keys at its
    top level), or in the nearest pyproject.toml above ``cwd``; the defaults when none."""
    if path is None:
        start = Path.cwd() if cwd is None else cwd
        found = next(
            (
                d / "pyproject.toml"
                for d in (start, *start.parents)
                if (d / "pyproject.toml").is_file()
            ),
            None,
        )
        if found is None:
            return ReplicaMapping()
        section = _section(read_toml(found))
        if section is None:
            return ReplicaMapping()
        return parse_mapping(section, origin=f"{found} [{SECTION}]", base=found.parent)
    file = Path(path)
    data = read_toml(file)
    section = _section(data)
    if section is not None:
        return parse_mapping(section, origin=f"{file} [{SECTION}]", base=file.parent)
    if "tool" in data:
        raise ConfigError(f"{file}: no [{SECTION}] table: add one, or write its keys at the top")
    return parse_mapping(data, origin=str(file), base=file.parent)


def _unknown(key: str, known: Iterable[str], where: str) -> ConfigError:
    known = sorted(known)
    return ConfigError(
        f"{where}: unknown key {key!r}{did_you_mean(key, known)}; known keys: {', '.join(known)}"
    )


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a list of strings, got {value!r}")


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _names(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise ConfigError(f'{what} must map names to names: {{ dbo = "public" }}')
    return dict(value)


def parse_mapping(
    data: Mapping[str, Any], *, origin: str = "the mapping", base: Path | None = None
) -> ReplicaMapping:
    """The mapping from its table; ``base`` resolves a relative allow-list file."""
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS, origin)
    style = data.get("name-style", "exact")
    if not isinstance(style, str):
        raise ConfigError(f"{origin}: name-style must be one of {', '.join(NAME_STYLES)}")
    tables_raw = data.get("tables", {})
    if not isinstance(tables_raw, Mapping) or not all(
        isinstance(v, Mapping) for v in tables_raw.values()
    ):
        raise ConfigError(
            f'{origin}: tables must hold one table a source table: [{SECTION}.tables."dbo.T"]'
        )
    tables = {
        name: _table_rule(name, raw, f'{origin} tables."{name}"')
        for name, raw in tables_raw.items()
    }
    allow = data.get("allow")
    if allow is not None:
        allow = check_verdicts(_strings(allow, f"{origin}: allow"), f"{origin}: allow")
    listed: tuple[AllowRule, ...] = ()
    raw_list = data.get("allow-list")
    if isinstance(raw_list, str):
        file = Path(raw_list)
        listed = load_allow_list(file if file.is_absolute() or base is None else base / file)
    elif raw_list is not None:
        listed = allow_rules(raw_list, origin)
    profile = _text(data.get("profile"), f"{origin}: profile")
    return ReplicaMapping(
        schemas=_names(data.get("schemas", {}), f"{origin}: schemas"),
        name_style=style,
        include=_strings(data["include"], f"{origin}: include") if "include" in data else (),
        exclude=_strings(data["exclude"], f"{origin}: exclude") if "exclude" in data else (),
        tables=tables,
        profile=profile,
        allow=allow,
        allow_list=listed,
        origin=origin,
    )


def _table_rule(name: str, raw: Mapping[str, Any], where: str) -> TableRule:
    for key in raw:
        if key not in TABLE_KEYS:
            raise _unknown(key, TABLE_KEYS, where)
    key_value = raw.get("key")
    return TableRule(
        source=name,
        target=_text(raw.get("target"), f"{where}: target"),
        key=None if key_value is None else _strings(key_value, f"{where}: key"),
        exclude_columns=(
            _strings(raw["exclude-columns"], f"{where}: exclude-columns")
            if "exclude-columns" in raw
            else ()
        ),
        columns=_names(raw.get("columns", {}), f"{where}: columns"),
        where=_text(raw.get("where"), f"{where}: where"),
        target_where=_text(raw.get("target-where"), f"{where}: target-where"),
        lag_column=_text(raw.get("lag-column"), f"{where}: lag-column"),
    )


def check_verdicts(names: Sequence[str], where: str) -> tuple[str, ...]:
    for name in names:
        if name not in VERDICTS:
            raise ConfigError(
                f"{where}: {name!r} is not a verdict{did_you_mean(name, VERDICTS)}; use some of"
                f" {', '.join(VERDICTS[1:])}"
            )
    return tuple(names)


# -- pairing ---------------------------------------------------------------------------------
def split_name(text: str, default_schema: str | None, where: str) -> tuple[str, str]:
    """``schema.table`` (quoted parts allowed) or ``table`` in ``default_schema``."""
    from pytest_cdc.dialects.base import split_qualified

    try:
        parts = split_qualified(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1 and default_schema is not None:
        return default_schema, parts[0]
    raise ConfigError(f"{where}: {text!r} is not 'schema.table'")


def _matches(table: Table, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(table.qualified if "." in p else table.name, p) for p in patterns)


@dataclass
class TablePairing:
    """One source table and what it is paired with."""

    source: Table
    #: Where the mapping says it lives on the target (schema, name).
    target_name: tuple[str, str]
    target: Table | None = None
    rule: TableRule | None = None
    columns: list[tuple[Column, Column]] = field(default_factory=list)
    source_only: list[Column] = field(default_factory=list)
    target_only: list[Column] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    #: Source names of the key columns, and where the key came from.
    key: tuple[str, ...] = ()
    key_origin: str = "none"
    #: What the target has instead, when it is not there ("public.orderlines").
    hint: str = ""


@dataclass
class Pairing:
    pairs: list[TablePairing] = field(default_factory=list)
    source_only: list[TablePairing] = field(default_factory=list)
    target_only: list[Table] = field(default_factory=list)
    excluded: list[Table] = field(default_factory=list)


def schema_lists(
    mapping: ReplicaMapping, src_default: str | None, dst_default: str | None
) -> tuple[list[str], list[str]]:
    """The schemas to read on each side: the mapped ones, and those overrides name."""
    if mapping.schemas:
        src, dst = list(mapping.schemas), list(mapping.schemas.values())
    else:
        src = [src_default] if src_default else []
        dst = [dst_default] if dst_default else []
    for name, rule in mapping.tables.items():
        schema, _ = split_name(name, src_default, f"{mapping.origin} tables")
        src.append(schema)
        if rule.target is not None:
            dst.append(split_name(rule.target, dst_default, f"{mapping.origin} tables")[0])
    return list(dict.fromkeys(src)), list(dict.fromkeys(dst))


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def pair_catalogs(source: Catalog, target: Catalog, mapping: ReplicaMapping) -> Pairing:
    """Pair the source's tables with the target's, and each pair's columns and key."""
    src_default, dst_default = source.default_schema, target.default_schema
    schema_map = dict(mapping.schemas) or (
        {src_default: dst_default} if src_default and dst_default else {}
    )
    rules: dict[tuple[str, str], TableRule] = {}
    for name, rule in mapping.tables.items():
        key = split_name(name, src_default, f"{mapping.origin} tables")
        if source.get(*key) is None:
            known = [t.qualified for t in source]
            raise ConfigError(
                f'{mapping.origin}: table "{name}" is not in the source{did_you_mean(name, known)}'
            )
        rules[key] = rule
    result = Pairing()
    claimed: set[tuple[str, str]] = set()
    candidates = [t for t in source if t.schema in schema_map or (t.schema, t.name) in rules]
    for table in sorted(candidates, key=lambda t: (t.schema, t.name)):
        found = rules.get((table.schema, table.name))
        if found is None and (
            (mapping.include and not _matches(table, mapping.include))
            or _matches(table, mapping.exclude)
        ):
            result.excluded.append(table)
            continue
        if found is not None and found.target is not None:
            target_name = split_name(found.target, dst_default, f"{mapping.origin} tables")
        else:
            target_name = (
                schema_map.get(table.schema, table.schema),
                styled(table.name, mapping.name_style),
            )
        pairing = TablePairing(table, target_name, target.get(*target_name), found)
        if pairing.target is None:
            result.source_only.append(pairing)
            continue
        claimed.add(target_name)
        _pair_columns(pairing, mapping)
        result.pairs.append(pairing)
    target_schemas = set(schema_map.values())
    for table in sorted(target, key=lambda t: (t.schema, t.name)):
        if (table.schema, table.name) in claimed or table.schema not in target_schemas:
            continue
        if _matches(table, mapping.exclude):
            continue
        result.target_only.append(table)
    for pairing in result.source_only:
        wanted = _normal(pairing.target_name[1])
        close = [t.qualified for t in result.target_only if _normal(t.name) == wanted]
        if close:
            pairing.hint = close[0]
    return result


def _pair_columns(pairing: TablePairing, mapping: ReplicaMapping) -> None:
    table, target = pairing.source, pairing.target
    assert target is not None
    rule: TableRule = pairing.rule or TableRule(table.qualified)
    where = f'{mapping.origin} tables."{rule.source}"'
    for name in (*rule.exclude_columns, *rule.columns, *(rule.key or ())):
        if table.column(name) is None:
            known = [c.name for c in table.columns]
            raise ConfigError(
                f"{where}: column {name!r} is not in {table.qualified}{did_you_mean(name, known)}"
            )
    by_name = {c.name: c for c in target.columns}
    used: set[str] = set()
    excluded = set(rule.exclude_columns)
    for col in table.columns:
        if col.name in excluded:
            pairing.excluded.append(col.name)
            continue
        other = by_name.get(rule.columns.get(col.name) or styled(col.name, mapping.name_style))
        if other is None or other.name in used:
            pairing.source_only.append(col)
            continue
        used.add(other.name)
        pairing.columns.append((col, other))
    pairing.target_only = [c for c in target.columns if c.name not in used]
    if rule.key is not None:
        pairing.key, pairing.key_origin = tuple(rule.key), "mapping"
    elif table.primary_key is not None:
        pairing.key, pairing.key_origin = table.primary_key.columns, "primary key"
    else:
        stand_ins = table.key_candidates()
        if stand_ins:
            pairing.key = stand_ins[0].columns
            pairing.key_origin = f"unique index {stand_ins[0].name}"
