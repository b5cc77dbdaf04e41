"""The replica mapping: name styles, strict reading, pairing, keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_helpers import pg_row

from pytest_cdc.dialects.postgres import catalog as catalog_postgres
from pytest_cdc.errors import ConfigError
from pytest_cdc.schema.mapping import (
    ReplicaMapping,
    load_mapping,
    pair_catalogs,
    parse_mapping,
    snake_case,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("OrderLines", "order_lines"),
        ("CustomerID", "customer_id"),
        ("HTTPServer", "http_server"),
        ("already_snake", "already_snake"),
        ("Order2Lines", "order2_lines"),
        ("ID", "id"),
        ("Line No", "line_no"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def test_a_full_mapping_reads_every_key(tmp_path: Path) -> None:
    (tmp_path / "allow.toml").write_text(
        '[[allow]]\nsource = "datetime2(7)"\ntarget = "timestamp(6)"\nverdict = "representation"\n'
    )
    (tmp_path / "pyproject.toml").write_text(
        """
[tool.pytest-cdc]
dialects = { "db/**" = "tsql" }

[tool.pytest-cdc.replica]
schemas = { dbo = "public" }
name-style = "snake_case"
include = ["dbo.*"]
exclude = ["dbo.sysdiagrams"]
profile = "debezium"
allow = ["widened"]
allow-list = "allow.toml"

[tool.pytest-cdc.replica.tables."dbo.OrderLines"]
target = "sales.order_lines"
key = ["OrderID", "LineNo"]
exclude-columns = ["rowguid"]
columns = { OrderID = "order_ref" }
where = "1 = 1"
target-where = "true"
lag-column = "ModifiedAt"
"""
    )
    mapping = load_mapping(cwd=tmp_path)
    assert mapping.schemas == {"dbo": "public"}
    assert (mapping.name_style, mapping.profile, mapping.allow) == (
        "snake_case",
        "debezium",
        ("widened",),
    )
    rule = mapping.tables["dbo.OrderLines"]
    assert (rule.target, rule.key, rule.exclude_columns) == (
        "sales.order_lines",
        ("OrderID", "LineNo"),
        ("rowguid",),
    )
    assert (rule.columns, rule.where, rule.target_where, rule.lag_column) == (
        {"OrderID": "order_ref"},
        "1 = 1",
        "true",
        "ModifiedAt",
    )
    assert mapping.allow_list[0].verdict == "representation"
    assert load_mapping(tmp_path / "pyproject.toml") == mapping


def test_the_hooks_accept_the_replica_table(tmp_path: Path) -> None:
    from pytest_cdc_hooks.config import load_config

    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.pytest-cdc]\nstrict = true\n[tool.pytest-cdc.replica]\nprofile = "dms"\n'
    )
    assert load_config(path).strict


def test_a_standalone_file_holds_the_keys_at_its_top(tmp_path: Path) -> None:
    path = tmp_path / "replica.toml"
    path.write_text('schemas = { dbo = "public" }\nname-style = "lower"\n')
    assert load_mapping(path).name_style == "lower"


def test_no_pyproject_gives_the_defaults(tmp_path: Path) -> None:
    assert load_mapping(cwd=tmp_path) == ReplicaMapping()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schemes": {}}, "the mapping: unknown key 'schemes' (did you mean 'schemas'?)"),
        ({"name-style": "snake"}, "name-style 'snake' is unknown (did you mean 'snake_case'?)"),
        ({"allow": ["lossey"]}, "'lossey' is not a verdict (did you mean 'lossy'?)"),
        (
            {"tables": {"dbo.T": {"exclude-column": ["a"]}}},
            "unknown key 'exclude-column' (did you mean 'exclude-columns'?)",
        ),
        ({"tables": {"dbo.T": {"key": 3}}}, "key must be a list of strings"),
        (
            {"allow-list": [{"source": "int", "taget": "bigint"}]},
            "unknown key 'taget' (did you mean 'target'?)",
        ),
        ({"allow-list": [{"source": "int(", "target": "bigint"}]}, "is not a type pattern"),
        (
            {"allow-list": [{"source": "int", "target": "x", "verdict": "ok"}]},
            "verdict 'ok' is unknown",
        ),
        ({"schemas": {"dbo": 1}}, "schemas must map names to names"),
    ],
)
def test_bad_mappings_are_one_line_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mapping(data)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_unknown_key_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.pytest-cdc.replica]\nprofil = "dms"\n')
    with pytest.raises(
        ConfigError,
        match=r"pyproject.toml \[tool.pytest-cdc.replica\]: unknown"
        r" key 'profil' \(did you mean 'profile'\?\)",
    ):
        load_mapping(path)


def catalog(
    tables: dict[str, list[tuple[object, ...]]],
    schema: str = "public",
    keys: list[tuple[object, ...]] | None = None,
) -> object:
    rows = []
    for name, columns in tables.items():
        for position, column in enumerate(columns, 1):
            rows.append((schema, name, "r", 10, column[0], position, *column[2:]))
    return catalog_postgres.build_catalog((schema, "C"), [(schema,)], rows, keys or [])


def test_pairing_with_name_style_overrides_and_globs() -> None:
    source = catalog(
        {
            "OrderLines": [
                pg_row("integer", "OrderID", nullable=False),
                pg_row("text", "Note"),
                pg_row("text", "rowguid"),
            ],
            "Customers": [pg_row("integer", "CustomerID", nullable=False)],
            "sysdiagrams": [pg_row("integer", "id")],
            "Legacy": [pg_row("integer", "a")],
        },
        schema="dbo",
        keys=[("dbo", "OrderLines", "pk", True, 1, "OrderID")],
    )
    target = catalog(
        {
            "order_lines": [
                pg_row("integer", "order_ref", nullable=False),
                pg_row("text", "note"),
                pg_row("integer", "added"),
            ],
            "customers": [pg_row("integer", "customer_id", nullable=False)],
            "legacy_table": [pg_row("integer", "a")],
        }
    )
    mapping = parse_mapping(
        {
            "schemas": {"dbo": "public"},
            "name-style": "snake_case",
            "exclude": ["sysdiagrams"],
            "tables": {
                "dbo.OrderLines": {
                    "columns": {"OrderID": "order_ref"},
                    "exclude-columns": ["rowguid"],
                },
            },
        }
    )
    pairing = pair_catalogs(source, target, mapping)
    assert [(p.source.name, p.target.name) for p in pairing.pairs] == [
        ("Customers", "customers"),
        ("OrderLines", "order_lines"),
    ]
    lines = pairing.pairs[1]
    assert [(s.name, d.name) for s, d in lines.columns] == [
        ("OrderID", "order_ref"),
        ("Note", "note"),
    ]
    assert lines.excluded == ["rowguid"]
    assert [c.name for c in lines.target_only] == ["added"]
    assert (lines.key, lines.key_origin) == (("OrderID",), "primary key")
    assert [p.source.name for p in pairing.source_only] == ["Legacy"]
    assert [t.name for t in pairing.target_only] == ["legacy_table"]
    assert [t.name for t in pairing.excluded] == ["sysdiagrams"]
    customers = pairing.pairs[0]
    assert (customers.key, customers.key_origin) == ((), "none")


def test_a_missing_target_table_names_the_near_miss() -> None:
    source = catalog({"OrderLines": [pg_row("integer", "id")]}, schema="dbo")
    target = catalog({"orderlines": [pg_row("integer", "id")]})
    pairing = pair_catalogs(source, target, ReplicaMapping(schemas={"dbo": "public"}))
    assert pairing.source_only[0].hint == "public.orderlines"


def test_overrides_naming_what_the_source_lacks_are_errors() -> None:
    source = catalog({"Orders": [pg_row("integer", "OrderID")]}, schema="dbo")
    target = catalog({"orders": [pg_row("integer", "order_id")]})
    bad_table = parse_mapping({"schemas": {"dbo": "public"}, "tables": {"dbo.Ordrs": {}}})
    with pytest.raises(
        ConfigError,
        match=r"table \"dbo.Ordrs\" is not in the source \(did you"
        r" mean 'dbo.Orders'\?\)",
    ):
        pair_catalogs(source, target, bad_table)
    bad_column = parse_mapping(
        {
            "schemas": {"dbo": "public"},
            "name-style": "snake_case",
            "tables": {"dbo.Orders": {"key": ["OrderId"]}},
        }
    )
    with pytest.raises(
        ConfigError,
        match=r"column 'OrderId' is not in dbo.Orders \(did you"
        r" mean 'OrderID'\?\)",
    ):
        pair_catalogs(source, target, bad_column)
