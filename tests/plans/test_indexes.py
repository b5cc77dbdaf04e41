"""Index recommendations and DDL: quoting, naming, sqlglot round trips and a live PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlglot
from helpers import server_url, skip_reason
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from pytest_cdc.dialects import get_dialect
from pytest_cdc.errors import ConfigError, UnsupportedDialect
from pytest_cdc.indexes import (
    IndexRecommendation,
    generate_index_ddl,
    index_name,
    normalize_dialect,
    quote_identifier,
    quote_table,
    recommend_indexes_for_reconciliation,
    split_qualified_name,
)

PG_URL = server_url()


def parse_strict(sql: str, dialect: str) -> exp.Create:
    """Parse with errors raised; a raw Command would mean sqlglot did not understand it."""
    tree = sqlglot.parse_one(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Create), f"{sql!r} parsed as {type(tree).__name__}"
    return tree


def parse_tsql(sql: str) -> exp.Create:
    """sqlglot 30 cannot read ``WHERE ... WITH (...)`` on a T-SQL index (the real order), so
    check the statement without the trailing option list and the option list on its own."""
    head, sep, options = sql.rpartition(" WITH (")
    if sep and " WHERE " in head:
        with_only = parse_strict(f"CREATE INDEX x ON t (a) WITH ({options}", "tsql")
        assert with_only.find(exp.Property) is not None
        return parse_strict(head, "tsql")
    return parse_strict(sql, "tsql")


def names_in(tree: exp.Expression) -> tuple[str, str, list[str]]:
    index = tree.this
    assert isinstance(index, exp.Index)
    table = index.args["table"]
    params = index.args["params"]
    columns = [o.this.name for o in params.args["columns"]]
    return index.this.name, table.name, columns


RECS = recommend_indexes_for_reconciliation(
    "sales.orders",
    ["order_id"],
    timestamp_column="updated_at",
    status_column="status",
    checksum_columns=["amount", "customer_id", "order_id"],
    active_filter="deleted_at IS NULL",
)


def test_recommendations_cover_every_access_path() -> None:
    kinds = [r.kind for r in RECS]
    assert kinds == [
        "primary_key",
        "timestamp",
        "checksum_covering",
        "status_timestamp",
        "active_partial",
    ]
    by_kind = {r.kind: r for r in RECS}
    assert by_kind["primary_key"].unique
    assert by_kind["primary_key"].columns == ("order_id",)
    assert by_kind["timestamp"].columns == ("updated_at",)
    # the key is already the index key: it must not be repeated in INCLUDE
    assert by_kind["checksum_covering"].include == ("amount", "customer_id")
    # equality column first, range column second
    assert by_kind["status_timestamp"].columns == ("status", "updated_at")
    assert by_kind["active_partial"].where == "deleted_at IS NULL"
    for rec in RECS:
        assert rec.reason
        assert rec.estimated_impact


def test_minimal_table_gets_only_a_key_index() -> None:
    recs = recommend_indexes_for_reconciliation("t", "id")
    assert [(r.kind, r.columns) for r in recs] == [("primary_key", ("id",))]


def test_status_without_timestamp_leads_with_status_then_key() -> None:
    recs = recommend_indexes_for_reconciliation("t", ["a", "b"], status_column="s")
    assert recs[-1].columns == ("s", "a", "b")


def test_no_primary_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no primary key"):
        recommend_indexes_for_reconciliation("t", [])


def test_recommendation_is_frozen_and_hashable() -> None:
    rec = IndexRecommendation(table="t", columns=["a"])  # type: ignore[arg-type]
    assert rec.columns == ("a",)
    assert rec == IndexRecommendation(table="t", columns=("a",))
    assert len({rec, IndexRecommendation(table="t", columns=("a",))}) == 1
    with pytest.raises(AttributeError):
        rec.table = "u"  # type: ignore[misc]


def test_postgres_ddl_text() -> None:
    rec = IndexRecommendation(
        table="sales.orders",
        columns=("status", "updated_at"),
        include=("amount",),
        where="deleted_at IS NULL",
    )
    ddl = generate_index_ddl(rec, "postgresql", fillfactor=90)
    assert ddl == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_orders_status_updated_at_incl_partial" '
        'ON "sales"."orders" ("status", "updated_at") INCLUDE ("amount") '
        "WITH (fillfactor = 90) WHERE deleted_at IS NULL"
    )
    tree = parse_strict(ddl, "postgres")
    assert tree.args.get("concurrently")
    assert tree.args.get("exists")


def test_postgres_without_concurrently() -> None:
    rec = IndexRecommendation(table="t", columns=("a",), unique=True)
    ddl = generate_index_ddl(rec, "postgres", concurrently=False)
    assert ddl == 'CREATE UNIQUE INDEX IF NOT EXISTS "ux_t_a" ON "t" ("a")'
    assert parse_strict(ddl, "postgres").args.get("unique")


def test_sqlserver_ddl_text() -> None:
    rec = IndexRecommendation(
        table="dbo.orders",
        columns=("status", "updated_at"),
        include=("amount",),
        where="[deleted_at] IS NULL",
    )
    ddl = generate_index_ddl(rec, "mssql", fillfactor=80)
    assert ddl == (
        "CREATE NONCLUSTERED INDEX [ix_orders_status_updated_at_incl_partial] ON [dbo].[orders] "
        "([status], [updated_at]) INCLUDE ([amount]) WHERE [deleted_at] IS NULL "
        "WITH (ONLINE = ON, FILLFACTOR = 80)"
    )
    parse_tsql(ddl)


def test_sqlserver_offline_without_options() -> None:
    rec = IndexRecommendation(table="t", columns=("a",), unique=True)
    ddl = generate_index_ddl(rec, "tsql", online=False)
    assert ddl == "CREATE UNIQUE NONCLUSTERED INDEX [ux_t_a] ON [t] ([a])"
    parse_strict(ddl, "tsql")


@pytest.mark.parametrize("dialect", ["postgres", "tsql"])
def test_every_recommendation_parses(dialect: str) -> None:
    for rec in RECS:
        ddl = generate_index_ddl(rec, dialect, fillfactor=90)
        tree = parse_tsql(ddl) if dialect == "tsql" else parse_strict(ddl, dialect)
        name, table, columns = names_in(tree)
        assert name == index_name(rec, dialect)
        assert table == "orders"
        assert columns == list(rec.columns)


def test_hostile_identifiers_are_quoted() -> None:
    assert quote_identifier('a"b', "postgres") == '"a""b"'
    assert quote_identifier("a]b", "mssql") == "[a]]b]"
    assert quote_table('"my.schema"."t""x"', "postgres") == '"my.schema"."t""x"'
    assert quote_table("[my.schema].[t]]x]", "tsql") == "[my.schema].[t]]x]"
    assert split_qualified_name("db.sch.t") == ("db", "sch", "t")
    with pytest.raises(ConfigError):
        quote_identifier("a\x00b", "postgres")
    for bad in ["", "a..b", "a.", '"unterminated', "a.b.c.d"]:
        with pytest.raises(ConfigError, match=r"schema\.table"):
            split_qualified_name(bad)


def test_unknown_dialect_suggests_a_name() -> None:
    with pytest.raises(UnsupportedDialect, match="did you mean 'postgres'"):
        normalize_dialect("postgress")

    assert normalize_dialect(get_dialect("mssql")) == "tsql"
    assert normalize_dialect("pg") == "postgres"
    assert normalize_dialect("SQLServer") == "tsql"


def test_bad_fillfactor() -> None:
    rec = IndexRecommendation(table="t", columns=("a",))
    with pytest.raises(ConfigError, match="fillfactor"):
        generate_index_ddl(rec, "postgres", fillfactor=5)


def test_long_names_are_truncated_with_a_hash() -> None:
    long_cols = tuple(f"column_number_{i}_with_a_long_name" for i in range(4))
    a = IndexRecommendation(table="t", columns=long_cols)
    b = IndexRecommendation(table="t", columns=(*long_cols[:3], long_cols[3] + "x"))
    name_a, name_b = index_name(a, "postgres"), index_name(b, "postgres")
    assert len(name_a.encode()) <= 63
    assert name_a != name_b
    assert name_a.startswith("ix_t_column_number_0")
    assert index_name(a, "postgres") == name_a  # deterministic
    assert len(index_name(a, "tsql")) <= 128


def test_slug_collisions_get_distinct_names() -> None:
    a = IndexRecommendation(table="t", columns=("a b",))
    b = IndexRecommendation(table="t", columns=("a-b",))
    assert index_name(a) != index_name(b)


def test_explicit_name_is_kept() -> None:
    rec = IndexRecommendation(table="t", columns=("a",), name='my "index"')
    assert generate_index_ddl(rec, "postgres").startswith(
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "my ""index""" ON'
    )


# Any character a database accepts in a quoted identifier except NUL; surrogates cannot be
# encoded, so they are excluded too.
IDENT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s.strip() != "")


# A key column written as one parenthesised whole, "(...)", is an expression copied as is
# (Dialect.index_columns); any other name, "(" or "(a) b" included, is quoted.
COLUMN = IDENT.filter(lambda s: not (s.startswith("(") and s.endswith(")")))


@settings(max_examples=150, deadline=None)
@given(schema=IDENT, table=IDENT, columns=st.lists(COLUMN, min_size=1, max_size=3), inc=IDENT)
def test_generated_identifiers_round_trip_through_sqlglot(
    schema: str, table: str, columns: list[str], inc: str
) -> None:
    qualified = f"{quote_identifier(schema, 'postgres')}.{quote_identifier(table, 'postgres')}"
    rec = IndexRecommendation(table=qualified, columns=tuple(columns), include=(inc,))
    for dialect in ("postgres", "tsql"):
        ddl = generate_index_ddl(rec, dialect, fillfactor=70)
        tree = parse_tsql(ddl) if dialect == "tsql" else parse_strict(ddl, dialect)
        name, parsed_table, parsed_columns = names_in(tree)
        # In T-SQL a leading # marks a temporary table even inside brackets, and sqlglot
        # reads it as that marker rather than as part of the name.
        if not (dialect == "tsql" and table.startswith("#")):
            assert parsed_table == table
        assert tree.this.args["table"].db == schema
        assert parsed_columns == columns
        assert name == index_name(rec, dialect)
    assert len(index_name(rec, "postgres").encode()) <= 63


# -- live PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[Any]:
    """A throwaway database: CREATE INDEX CONCURRENTLY waits for every older transaction in
    its database, and a shared test database always has some open."""
    psycopg2 = pytest.importorskip("psycopg2")
    from psycopg2.extensions import make_dsn, parse_dsn

    try:
        admin = psycopg2.connect(PG_URL, connect_timeout=5)
    except psycopg2.OperationalError as error:  # pragma: no cover - depends on the machine
        pytest.skip(skip_reason(PG_URL, error))
    admin.autocommit = True
    name = f"cdc_idx_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    dsn = make_dsn(**{**parse_dsn(PG_URL), "dbname": name})
    conn = psycopg2.connect(dsn, connect_timeout=5)
    # CREATE INDEX CONCURRENTLY refuses to run inside a transaction block.
    conn.autocommit = True
    schema = f"cdc idx {uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {quote_identifier(schema, 'postgres')}")
    try:
        yield conn, schema
    finally:
        conn.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_recommended_indexes_create_on_postgres(pg: tuple[Any, str]) -> None:
    conn, schema = pg
    table = f'{quote_identifier(schema, "postgres")}."Orders ""live"""'
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (order_id int NOT NULL, updated_at timestamptz, "
            "status text, amount numeric, deleted_at timestamptz)"
        )
    recs = recommend_indexes_for_reconciliation(
        table,
        ["order_id"],
        timestamp_column="updated_at",
        status_column="status",
        checksum_columns=["amount"],
        active_filter="deleted_at IS NULL",
    )
    with conn.cursor() as cur:
        for rec in recs:
            cur.execute(generate_index_ddl(rec, "postgresql", fillfactor=90))
            # IF NOT EXISTS: running the same DDL twice is harmless
            cur.execute(generate_index_ddl(rec, "postgresql"))
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
            (schema,),
        )
        rows = dict(cur.fetchall())
    assert sorted(rows) == sorted(index_name(r) for r in recs)
    unique = next(d for n, d in rows.items() if n.startswith("ux_orders_live_order_id_"))
    assert unique.startswith("CREATE UNIQUE INDEX")
    partial = next(d for n, d in rows.items() if "partial" in n)
    assert "WHERE (deleted_at IS NULL)" in partial


@pytest.mark.parametrize(
    ("column", "written"),
    [
        ("(lower(email))", "(lower(email))"),  # an expression: copied
        ("(", '"("'),  # names that only start with a parenthesis are quoted
        ("(a) b", '"(a) b"'),
        ("(a) + (b)", '"(a) + (b)"'),
    ],
)
def test_only_a_whole_parenthesised_key_is_an_expression(column: str, written: str) -> None:
    from pytest_cdc.dialects import default_registry

    keys, _ = default_registry().get("postgresql").index_columns([column])
    assert keys == written
