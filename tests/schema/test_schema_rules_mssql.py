"""SQL Server -> PostgreSQL type rules, tested from catalog rows.

No SQL Server can run here, so the rows stand in for what the catalog queries return (the
same tuple shape, sizes as sys.columns reports them); the live test in
test_schema_mssql_live.py runs the queries themselves against a SQL Server.
"""

from __future__ import annotations

from typing import Any

import pytest
from schema_helpers import mssql_column, mssql_row, pg_column, pg_row

from pytest_cdc.dialects.mssql import catalog as catalog_mssql
from pytest_cdc.dialects.postgres import catalog as catalog_postgres
from pytest_cdc.schema.compare import compare_catalogs
from pytest_cdc.schema.mapping import ReplicaMapping
from pytest_cdc.schema.profiles import PROFILES, Expectations
from pytest_cdc.schema.rules import judge
from pytest_cdc.schema.types import Family


def verdict(source: str, target: str) -> Any:
    return judge(
        catalog_mssql.domain(mssql_column(source)), catalog_postgres.domain(pg_column(target))
    )


@pytest.mark.parametrize(
    ("source", "target", "expected", "encoding"),
    [
        # The examples, one of each verdict.
        ("int", "bigint", "widened", {}),
        ("varchar(50)", "text", "widened", {}),
        ("bit", "boolean", "representation", {}),
        ("uniqueidentifier", "uuid", "representation", {}),
        ("datetimeoffset(6)", "timestamptz", "representation", {}),
        ("datetime2(7)", "timestamp(6)", "lossy", {"timestamp_precision": 6}),
        ("decimal(38,10)", "numeric(18,2)", "lossy", {}),
        ("nvarchar(200)", "varchar(50)", "lossy", {}),
        ("float", "real", "lossy", {"float_digits": 6}),
        (
            "datetime",
            "timestamp(0)",
            "lossy",
            {"timestamp_precision": 0, "timestamp_mode": "round"},
        ),
        ("money", "integer", "incompatible", {}),
        ("uniqueidentifier", "integer", "incompatible", {}),
        # And the rest of the edges.
        ("int", "integer", "same", {}),
        ("decimal(18,2)", "numeric(18,2)", "same", {}),
        ("decimal(10,2)", "numeric(12,2)", "widened", {}),
        ("decimal(10,2)", "numeric(10,3)", "lossy", {}),
        ("decimal(10,2)", "numeric", "widened", {}),
        ("decimal(10,2)", "integer", "incompatible", {}),
        ("decimal(9,0)", "integer", "widened", {}),
        ("decimal(10,0)", "integer", "lossy", {}),
        ("tinyint", "smallint", "widened", {}),
        ("int", "smallint", "lossy", {}),
        ("int", "numeric(10,0)", "widened", {}),
        ("bigint", "numeric(18,0)", "lossy", {}),
        ("money", "numeric(19,4)", "widened", {}),
        ("money", "money", "lossy", {}),
        ("smallmoney", "numeric(10,4)", "widened", {}),
        ("smallmoney", "numeric(9,4)", "lossy", {}),
        ("bit", "numeric(1,0)", "representation", {}),
        ("bit", "smallint", "representation", {}),
        ("bit", "numeric(1,1)", "lossy", {}),
        ("real", "double precision", "widened", {}),
        ("real", "real", "same", {}),
        ("float", "numeric", "lossy", {"float_digits": 14}),
        ("int", "double precision", "representation", {}),
        ("bigint", "double precision", "lossy", {"float_digits": 14}),
        ("float", "integer", "incompatible", {}),
        ("date", "date", "same", {}),
        ("date", "timestamp", "incompatible", {}),
        ("time(7)", "time", "lossy", {"timestamp_precision": 6}),
        ("time(3)", "time(3)", "same", {}),
        ("time(0)", "time", "widened", {}),
        ("datetime2(3)", "timestamp(3)", "same", {}),
        ("datetime2(3)", "timestamp(6)", "widened", {}),
        ("datetime2(6)", "timestamptz(6)", "representation", {}),
        ("datetime2(7)", "timestamp(3)", "lossy", {"timestamp_precision": 3}),
        (
            "datetime",
            "timestamp(3)",
            "representation",
            {"timestamp_precision": 3, "timestamp_mode": "round"},
        ),
        ("smalldatetime", "timestamp(0)", "widened", {}),
        ("smalldatetime", "timestamptz", "representation", {}),
        ("datetimeoffset(7)", "timestamptz", "lossy", {"timestamp_precision": 6}),
        ("datetimeoffset(3)", "timestamp(3)", "representation", {}),
        ("char(10)", "char(10)", "widened", {}),  # code page -> Unicode
        ("nchar(10)", "char(10)", "same", {}),
        ("nchar(10)", "varchar(10)", "representation", {}),
        ("nchar(10)", "char(5)", "lossy", {}),
        ("nvarchar(200)", "varchar(200)", "same", {}),
        ("nvarchar(max)", "text", "same", {}),
        ("nvarchar(max)", "varchar(4000)", "lossy", {}),
        ("varchar(max)", "text", "widened", {}),
        ("text", "text", "widened", {}),
        ("ntext", "text", "same", {}),
        ("sysname", "varchar(128)", "same", {}),
        ("nvarchar(20)", "char(20)", "representation", {}),
        ("xml", "xml", "representation", {}),
        ("xml", "text", "representation", {}),
        ("nvarchar(max)", "xml", "lossy", {}),
        ("nvarchar(max)", "jsonb", "lossy", {}),
        ("binary(16)", "bytea", "widened", {}),
        ("varbinary(max)", "bytea", "same", {}),
        ("image", "bytea", "same", {}),
        ("uniqueidentifier", "varchar(36)", "incompatible", {}),
        ("rowversion", "bytea", "widened", {}),
        ("sql_variant", "text", "incompatible", {}),
        ("hierarchyid", "bytea", "incompatible", {}),
        ("geometry", "bytea", "incompatible", {}),
        ("geography", "text", "incompatible", {}),
    ],
)
def test_verdict_and_what_it_means_for_the_data_check(
    source: str, target: str, expected: str, encoding: dict[str, Any]
) -> None:
    found = verdict(source, target)
    assert (found.verdict, dict(found.encoding)) == (expected, encoding), found.why
    if expected != "same":
        assert found.why


def test_the_reasons_say_what_to_do() -> None:
    assert "timestamp_precision=6" in verdict("datetime2(7)", "timestamp(6)").why
    assert "float_digits=6" in verdict("float", "real").why
    assert "longer than 50 characters" in verdict("nvarchar(200)", "varchar(50)").why
    money = verdict("money", "integer").why
    assert "fraction" in money
    unsupported = verdict("hierarchyid", "bytea")
    assert unsupported.unsupported and "exclude the column" in unsupported.why
    as_text = verdict("uniqueidentifier", "varchar(36)")
    assert not as_text.comparable and "USING col::uuid" in as_text.why
    rowversion = verdict("rowversion", "bytea")
    assert not rowversion.comparable and "leave the column out" in rowversion.why


#: Every SQL Server type of docs/schema.md's table, as the profiles map it: the first target
#: type each profile creates (- when its documentation says nothing), and the verdict.
PROFILE_TABLE = {
    "bit": ("boolean representation", "numeric(1,0) representation", "boolean representation"),
    "tinyint": ("smallint widened", "smallint widened", "smallint widened"),
    "smallint": ("smallint same", "smallint same", "smallint same"),
    "int": ("integer same", "integer same", "integer same"),
    "bigint": ("bigint same", "bigint same", "bigint same"),
    "decimal(19,4)": ("numeric(19,4) same", "numeric(19,4) same", "numeric(19,4) same"),
    "numeric(38,10)": ("numeric(38,10) same", "numeric(38,10) same", "numeric(38,10) same"),
    "money": ("numeric(19,4) widened", "numeric(19,4) widened", "numeric widened"),
    "smallmoney": ("numeric(10,4) widened", "numeric(10,4) widened", "numeric widened"),
    "float": ("double precision same", "double precision same", "double precision same"),
    "real": ("real same", "real same", "real same"),
    "date": ("date same", "date same", "date same"),
    "time(7)": ("time(6) lossy", "time(6) lossy", "time lossy"),
    "time(3)": ("time(6) widened", "time(6) widened", "time widened"),
    "datetime2(7)": ("timestamp(6) lossy", "timestamp(6) lossy", "timestamptz lossy"),
    "datetime2(3)": ("timestamp(6) widened", "timestamp(3) same", "timestamptz representation"),
    "datetimeoffset(7)": ("timestamptz(6) lossy", "timestamptz(6) lossy", "timestamptz lossy"),
    "datetime": (
        "timestamp(6) representation",
        "timestamp(6) representation",
        "timestamptz representation",
    ),
    "smalldatetime": ("timestamp(6) widened", "timestamp(6) widened", "timestamptz representation"),
    "char(10)": ("varchar representation", "char(10) widened", "text representation"),
    "varchar(50)": ("varchar widened", "varchar(50) widened", "text widened"),
    "varchar(max)": ("varchar widened", "text widened", "text widened"),
    "text": ("varchar widened", "text widened", "text widened"),
    "nchar(10)": ("varchar representation", "char(10) same", "text representation"),
    "nvarchar(200)": ("varchar widened", "varchar(200) same", "text widened"),
    "nvarchar(max)": ("varchar same", "text same", "text same"),
    "ntext": ("varchar same", "text same", "text same"),
    "sysname": ("varchar widened", "varchar(128) same", "text widened"),
    "binary(16)": ("bytea widened", "bytea widened", "bytea widened"),
    "varbinary(100)": ("bytea widened", "bytea widened", "bytea widened"),
    "varbinary(max)": ("bytea same", "bytea same", "bytea same"),
    "image": ("bytea same", "bytea same", "bytea same"),
    "uniqueidentifier": ("varchar incompatible", "uuid representation", "uuid representation"),
    "xml": ("xml representation", "xml representation", "xml representation"),
    "rowversion": ("bytea widened", "bytea widened", "timestamp incompatible"),
    "sql_variant": ("-", "-", "-"),
    "hierarchyid": ("-", "varchar(250) incompatible", "bytea incompatible"),
    "geometry": ("-", "text incompatible", "-"),
    "geography": ("-", "text incompatible", "bytea incompatible"),
}


def profile_row(source: str) -> tuple[str, ...]:
    src = catalog_mssql.domain(mssql_column(source))
    cells = []
    for name in ("debezium", "dms", "pgloader"):
        expected = PROFILES[name].expected(src, catalog_mssql.READER)
        if expected is None:
            cells.append("-")
            continue
        dst = catalog_postgres.domain(pg_column(expected[0]))
        cells.append(f"{expected[0]} {judge(src, dst).verdict}")
    return tuple(cells)


@pytest.mark.parametrize("source", list(PROFILE_TABLE))
def test_what_each_profile_creates_and_its_verdict(source: str) -> None:
    assert profile_row(source) == PROFILE_TABLE[source]


def test_the_table_covers_every_sql_server_type() -> None:
    covered = {mssql_column(s).type_name for s in PROFILE_TABLE}
    assert covered == set(catalog_mssql.KNOWN_TYPES)


def test_docs_list_every_sql_server_type_and_profile(docs: str) -> None:
    for source, cells in PROFILE_TABLE.items():
        line = next((row for row in docs.splitlines() if row.startswith(f"| `{source}` |")), None)
        assert line is not None, f"docs/schema.md has no row for {source}"
        for cell in cells:
            if cell != "-":
                target, verdict_name = cell.rsplit(" ", 1)
                assert f"`{target}` {verdict_name}" in line, (source, cell)
    for name in PROFILES:
        assert f"`{name}`" in docs


@pytest.fixture
def docs() -> str:
    from pathlib import Path

    return (Path(__file__).parents[2] / "docs" / "schema.md").read_text(encoding="utf-8")


# -- catalogs from rows ----------------------------------------------------------------------
def mssql_catalog(tables: dict[str, list[tuple[Any, ...]]], **flags: Any) -> Any:
    session = ("dbo", "SQL_Latin1_General_CP1_CI_AS")
    rows = []
    for name, columns in tables.items():
        tracked = flags.get("tracked", {}).get(name, False)
        for position, column in enumerate(columns, 1):
            rows.append(("dbo", name, "U ", 1000, tracked, column[0], position, *column[2:]))
    keys = flags.get("keys", [])
    catalog = catalog_mssql.build_catalog(session, [("dbo",)], rows, keys)
    if "captures" in flags:
        catalog = catalog_mssql.with_captures(catalog, flags["captures"])
    return catalog


def pg_catalog(tables: dict[str, list[tuple[Any, ...]]], keys: list[Any] | None = None) -> Any:
    rows = []
    for name, columns in tables.items():
        for position, column in enumerate(columns, 1):
            rows.append(("public", name, "r", 1000, column[0], position, *column[2:]))
    return catalog_postgres.build_catalog(("public", "en_US.utf8"), [("public",)], rows, keys or [])


def test_sql_server_catalog_rows_become_the_model() -> None:
    catalog = mssql_catalog(
        {
            "Orders": [
                mssql_row("int", "OrderID", nullable=False, identity=True),
                mssql_row("nvarchar(40)", "Code", nullable=False),
                mssql_row("decimal(19,4)", "Total", computed=True),
            ]
        },
        keys=[
            ("dbo", "Orders", "PK_Orders", True, 1, "OrderID"),
            ("dbo", "Orders", "UX_Code", False, 1, "Code"),
        ],
        tracked={"Orders": True},
        captures=[
            ("dbo", "Orders", "dbo_Orders", "OrderID"),
            ("dbo", "Orders", "dbo_Orders", "Code"),
        ],
    )
    orders = catalog.get("dbo", "Orders")
    assert orders.primary_key.columns == ("OrderID",)
    assert [i.name for i in orders.key_candidates()] == ["UX_Code"]
    assert orders.column("Code").length == 40
    assert orders.column("Code").insensitive_collation
    assert orders.column("OrderID").identity and orders.column("Total").computed
    assert orders.captured_columns() == {"OrderID", "Code"}
    assert orders.row_estimate == 1000 and orders.cdc_enabled


def test_alias_types_read_as_their_base_type() -> None:
    row = list(mssql_row("varchar(20)", "Phone"))
    row[3] = "PhoneNumber"
    column = catalog_mssql.column(tuple(row))
    assert (column.declared, column.user_type) == ("varchar(20)", "PhoneNumber")
    assert catalog_mssql.domain(column).family is Family.TEXT


def test_cdc_gaps_computed_columns_nullability_and_key_collations_are_findings() -> None:
    source = mssql_catalog(
        {
            "Orders": [
                mssql_row("nvarchar(20)", "OrderNo", nullable=False),
                mssql_row("int", "Qty"),
                mssql_row("int", "Added"),
                mssql_row("decimal(19,4)", "Total", computed=True),
            ],
            "Audit": [mssql_row("int", "Id", nullable=False)],
        },
        keys=[
            ("dbo", "Orders", "PK_Orders", True, 1, "OrderNo"),
            ("dbo", "Audit", "PK_Audit", True, 1, "Id"),
        ],
        tracked={"Orders": True},
        captures=[("dbo", "Orders", "dbo_Orders", c) for c in ("OrderNo", "Qty", "Total")],
    )
    target = pg_catalog(
        {
            "orders": [
                pg_row("varchar(20)", "order_no", nullable=False, collation="C"),
                pg_row("integer", "qty", nullable=False),
                pg_row("integer", "added"),
                pg_row("numeric(19,4)", "total"),
            ],
            "audit": [pg_row("integer", "id", nullable=False)],
        },
        keys=[
            ("public", "orders", "orders_pkey", True, 1, "order_no"),
            ("public", "audit", "audit_pkey", True, 1, "id"),
        ],
    )
    mapping = ReplicaMapping(schemas={"dbo": "public"}, name_style="snake_case")
    report = compare_catalogs(source, target, mapping, Expectations(PROFILES["debezium"]))
    found = {(f.kind, f.source_column or f.source_table, f.verdict) for f in report.findings}
    assert found == {
        ("nullability", "Qty", "lossy"),
        ("cdc", "Added", "lossy"),
        ("computed", "Total", "lossy"),
        ("cdc", "dbo.Audit", "lossy"),
        ("collation", "OrderNo", "representation"),
    }
    orders = report.table("dbo.Orders")
    assert orders.capture_instances == ["dbo_Orders"]
    assert orders.key == ["OrderNo"] and orders.target_key == ["order_no"]
    assert report.profile == "debezium"


def test_a_target_made_otherwise_says_what_the_profile_creates() -> None:
    source = mssql_catalog(
        {"T": [mssql_row("int", "Id", nullable=False), mssql_row("datetime2(7)", "At")]},
        keys=[("dbo", "T", "PK_T", True, 1, "Id")],
    )
    target = pg_catalog(
        {"t": [pg_row("integer", "id", nullable=False), pg_row("timestamp(3)", "at")]},
        keys=[("public", "t", "t_pkey", True, 1, "id")],
    )
    report = compare_catalogs(
        source,
        target,
        ReplicaMapping(schemas={"dbo": "public"}, name_style="lower"),
        Expectations(PROFILES["debezium"]),
    )
    at = report.table("dbo.T").columns[1]
    assert at.verdict == "lossy"
    assert at.expected == ["timestamp(6)"]
    assert "profile debezium creates timestamp(6)" in at.why
    # Debezium writes through pgjdbc, which rounds nanoseconds: the hint says so.
    assert at.encoding_options == {"timestamp_precision": 3, "timestamp_mode": "round"}
    assert "timestamp_mode='round' (profile debezium does)" in at.why
    assert report.table("dbo.T").encoding_options == at.encoding_options


def test_an_allow_list_entry_overrides_the_profile_and_says_so() -> None:
    from pytest_cdc.schema.profiles import allow_rules

    source = mssql_catalog(
        {"T": [mssql_row("int", "Id", nullable=False), mssql_row("datetime2(7)", "At")]},
        keys=[("dbo", "T", "PK_T", True, 1, "Id")],
    )
    target = pg_catalog(
        {"t": [pg_row("integer", "id", nullable=False), pg_row("timestamp(6)", "at")]},
        keys=[("public", "t", "t_pkey", True, 1, "id")],
    )
    rules = allow_rules(
        [{"source": "datetime2(7)", "target": "timestamp(3)", "verdict": "representation"}],
        "allow.toml",
    )
    report = compare_catalogs(
        source,
        target,
        ReplicaMapping(schemas={"dbo": "public"}, name_style="lower"),
        Expectations(PROFILES["debezium"], rules),
    )
    at = report.table("dbo.T").columns[1]
    # The entry does not match timestamp(6), so the rules' verdict stands, and the note says
    # what the allow-list (not the profile) expects.
    assert at.verdict == "lossy" and at.allowed_by is None
    assert at.why.endswith("(allow.toml creates timestamp(3))")
