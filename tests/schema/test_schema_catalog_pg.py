"""PostgreSQL catalogs read for real, both sides, on schemas built in the test: every type
family, partitioned tables, views, a table without a key, quoted mixed-case names."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import server_url

from pytest_cdc.dialects.postgres.catalog import domain
from pytest_cdc.schema import compare_schemas, read_catalog
from pytest_cdc.schema.model import PARTITIONED, TABLE, VIEW
from pytest_cdc.schema.types import Family

#: One column of each PostgreSQL type family: (DDL type, canonical display, family).
FAMILIES = [
    ("smallint", "smallint", Family.INTEGER),
    ("integer", "integer", Family.INTEGER),
    ("bigint", "bigint", Family.INTEGER),
    ("numeric(18,4)", "numeric(18,4)", Family.DECIMAL),
    ("numeric", "numeric", Family.DECIMAL),
    ("money", "money", Family.DECIMAL),
    ("real", "real", Family.FLOAT),
    ("double precision", "double precision", Family.FLOAT),
    ("boolean", "boolean", Family.BOOLEAN),
    ("varchar(40)", "varchar(40)", Family.TEXT),
    ("varchar", "varchar", Family.TEXT),
    ("text", "text", Family.TEXT),
    ("char(3)", "char(3)", Family.CHAR),
    ("bytea", "bytea", Family.BINARY),
    ("date", "date", Family.DATE),
    ("time(3)", "time(3)", Family.TIME),
    ("timestamp", "timestamp", Family.TIMESTAMP),
    ("timestamp(0)", "timestamp(0)", Family.TIMESTAMP),
    ("timestamptz(6)", "timestamptz(6)", Family.TIMESTAMPTZ),
    ("interval", "interval", Family.OTHER),
    ("uuid", "uuid", Family.UUID),
    ("json", "json", Family.JSON),
    ("jsonb", "jsonb", Family.JSON),
    ("xml", "xml", Family.XML),
    ("inet", "inet", Family.OTHER),
    ("integer[]", "integer[]", Family.OTHER),
    ("bit(4)", "bit(4)", Family.OTHER),
    ("tsrange", "tsrange", Family.OTHER),
]


def build(pg: Any, schema: str) -> None:
    cur = pg.cursor()
    columns = ", ".join(f"c{i} {ddl}" for i, (ddl, _, _) in enumerate(FAMILIES))
    cur.execute(f'SET search_path = "{schema}"')
    cur.execute(
        "CREATE DOMAIN positive AS numeric(10,2) NOT NULL CHECK (VALUE > 0);"
        " CREATE TYPE mood AS ENUM ('ok', 'sad');"
        f" CREATE TABLE every_type (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        f" {columns}, price positive, feeling mood,"
        " doubled bigint GENERATED ALWAYS AS (id * 2) STORED);"
        ' CREATE TABLE "OrderLines" ("OrderID" int NOT NULL, "Line No" int NOT NULL,'
        ' "Amount" numeric(12,2) DEFAULT 0, CONSTRAINT "OrderLines_pk"'
        ' PRIMARY KEY ("OrderID", "Line No"));'
        ' CREATE TABLE no_key (a int, b text COLLATE "C");'
        " CREATE TABLE stand_in (code text NOT NULL, alt text, n int);"
        " CREATE UNIQUE INDEX stand_in_alt ON stand_in (alt);"
        " CREATE UNIQUE INDEX stand_in_code ON stand_in (code);"
        " CREATE UNIQUE INDEX stand_in_partial ON stand_in (n) WHERE n > 0;"
        " CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, what text,"
        " PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
        " CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01')"
        " TO ('2025-01-01');"
        " CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01')"
        " TO ('2026-01-01');"
        " INSERT INTO events SELECT g, DATE '2024-06-01' + (g % 400), 'x'"
        " FROM generate_series(1, 500) AS g;"
        " ANALYZE events_2024; ANALYZE events_2025;"
        ' CREATE VIEW "Recent Events" AS SELECT id, at FROM events;'
        " CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM events;"
        " RESET search_path"
    )


@pytest.fixture
def catalogs(pg: Any, pair: list[str]) -> tuple[Any, Any, list[str]]:
    for schema in pair:
        build(pg, schema)
    return read_catalog(pg, schemas=[pair[0]]), read_catalog(pg, schemas=[pair[1]]), pair


def test_every_type_family_is_read_with_its_modifiers(catalogs: Any) -> None:
    source, _, pair = catalogs
    table = source.get(pair[0], "every_type")
    assert table.kind == TABLE
    for i, (ddl, display, family) in enumerate(FAMILIES):
        column = table.column(f"c{i}")
        found = domain(column)
        assert (found.display, found.family) == (display, family), ddl
    assert domain(table.column("c3")).params == (18, 4)
    assert domain(table.column("c17")).fraction == 0
    assert domain(table.column("c16")).fraction == 6  # timestamp without precision keeps 6
    price = table.column("price")
    assert (price.declared, price.user_type, price.nullable) == ("numeric(10,2)", "positive", False)
    assert domain(table.column("feeling")).family is Family.OTHER
    ident, doubled = table.column("id"), table.column("doubled")
    assert ident.identity and ident.has_default and not ident.computed
    assert doubled.computed and doubled.persisted
    assert [c.name for c in table.columns][:2] == ["id", "c0"]


def test_quoted_mixed_case_names_and_composite_primary_key(catalogs: Any) -> None:
    source, _, pair = catalogs
    table = source.get(pair[0], "OrderLines")
    assert [c.name for c in table.columns] == ["OrderID", "Line No", "Amount"]
    assert table.primary_key.name == "OrderLines_pk"
    assert table.primary_key.columns == ("OrderID", "Line No")
    assert table.column("Amount").has_default


def test_keyless_table_and_unique_not_null_index_standing_in(catalogs: Any) -> None:
    source, _, pair = catalogs
    no_key = source.get(pair[0], "no_key")
    assert no_key.primary_key is None and no_key.key_candidates() == []
    assert no_key.column("b").collation == "C"
    stand_in = source.get(pair[0], "stand_in")
    # alt is nullable and the partial index is conditional: only code can stand in.
    assert [i.name for i in stand_in.key_candidates()] == ["stand_in_code"]
    assert {i.name for i in stand_in.unique_indexes} == {"stand_in_alt", "stand_in_code"}


def test_partitioned_parent_stands_for_its_partitions(catalogs: Any) -> None:
    source, _, pair = catalogs
    names = {t.name for t in source}
    assert "events" in names
    assert not names & {"events_2024", "events_2025"}
    events = source.get(pair[0], "events")
    assert events.kind == PARTITIONED
    assert events.primary_key.columns == ("id", "at")
    assert events.row_estimate == 500  # the leaf partitions' statistics, summed


def test_views_are_read_without_keys_or_estimates(catalogs: Any) -> None:
    source, _, pair = catalogs
    view = source.get(pair[0], "Recent Events")
    assert view.kind == VIEW and view.row_estimate is None and view.primary_key is None
    assert [c.name for c in view.columns] == ["id", "at"]
    assert source.get(pair[0], "totals").kind == "materialized view"


def test_both_sides_compare_as_the_same_schema(catalogs: Any) -> None:
    _, _, pair = catalogs
    report = compare_schemas(server_url(), server_url(), mapping={"schemas": {pair[0]: pair[1]}})
    assert report.profile == "identity"
    assert len(report.pairs) == 7
    assert {c.verdict for p in report.pairs for c in p.columns} == {"same"}
    by_kind = {(f.kind, f.source_table.split(".")[1]) for f in report.findings}
    # Only what a person must know: two tables without a usable key (one of them a view).
    assert by_kind == {("key", "no_key"), ("key", "Recent Events"), ("key", "totals")}
    stand_in = report.table(f"{pair[0]}.stand_in")
    assert (stand_in.key, stand_in.key_origin) == (["code"], "unique index stand_in_code")
    interval = report.table(f"{pair[0]}.every_type").columns[20]
    assert interval.source_type == "interval" and not interval.comparable


def test_one_query_per_catalog_aspect_whatever_the_number_of_tables(catalogs: Any) -> None:
    _, _, pair = catalogs
    report = compare_schemas(server_url(), server_url(), mapping={"schemas": {pair[0]: pair[1]}})
    aspects = ["session", "schemas", "columns", "keys", "partition estimates"]
    for side in ("source", "target"):
        # Seven tables, a partitioned one among them: still one statement an aspect.
        assert [q.purpose for q in report.queries if q.side == side] == aspects
