"""The SQL Server catalog queries against a live SQL Server (skips here: no SQL Server can run
on this machine; the GitHub workflow runs these against its SQL Server service container).

Each test gets a database of its own (``isolation="database"``) and works in it through an
autocommit connection: enabling CDC cannot run inside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import connect, schemas, server_url

from pytest_cdc.schema import compare_schemas, read_catalog

NEEDS = (
    "needs a SQL Server: pass"
    " --cdc-db='mssql=mssql://sa:PASSWORD@HOST:1433/master?TrustServerCertificate=yes'"
)

EVERY_TYPE = """CREATE TABLE dbo.EveryType (
 Id int NOT NULL CONSTRAINT PK_EveryType PRIMARY KEY, Flag bit, Tiny tinyint, Small smallint,
 Big bigint, Price decimal(19,4), Wide numeric(38,10), Cash money, Petty smallmoney,
 Ratio float, Approx real, Day date, Clock time(7), Stamp datetime2(7), Zoned datetimeoffset(7),
 Legacy datetime, Minute smalldatetime, Code char(10), Name varchar(50), Body varchar(max),
 Old text, NCode nchar(10), NName nvarchar(200), NBody nvarchar(max), NOld ntext,
 Sys sysname NULL, Raw binary(16), VarRaw varbinary(100), Blob varbinary(max), Img image,
 Guid uniqueidentifier, Doc xml, Version rowversion, Anything sql_variant, Tree hierarchyid,
 Shape geometry, Place geography, Phone PhoneNumber, Doubled AS (Id * 2) PERSISTED)"""

#: What the Debezium profile's pipeline creates for EveryType, in PostgreSQL.
DEBEZIUM_TARGET = """CREATE TABLE {schema}.everytype (
 id integer PRIMARY KEY, flag boolean, tiny smallint, small smallint, big bigint,
 price numeric(19,4), wide numeric(38,10), cash numeric(19,4), petty numeric(10,4),
 ratio double precision, approx real, day date, clock time, stamp timestamp(6),
 zoned timestamptz(6), legacy timestamp(6), minute timestamp(6), code varchar, name varchar,
 body varchar, old varchar, ncode varchar, nname varchar, nbody varchar, nold varchar,
 sys varchar, raw bytea, varraw bytea, blob bytea, img bytea, guid varchar, doc xml,
 version bytea, anything text, tree bytea, shape bytea, place bytea, phone varchar,
 doubled numeric(19,0))"""


@pytest.fixture
def sqlserver(cdc_databases: dict[str, Any], cdc_connect: Any) -> Iterator[Any]:
    """An autocommit pyodbc connection to this test's own SQL Server database."""
    if "mssql" not in cdc_databases:
        pytest.skip(NEEDS)
    from pytest_cdc.dialects import get_dialect

    name = cdc_connect("mssql").fetchval("SELECT DB_NAME()")
    conn = get_dialect("mssql").connect(cdc_databases["mssql"].url, database=name)
    try:
        yield conn
    finally:
        conn.close()


def run(conn: Any, *statements: str) -> None:
    cur = conn.cursor()
    for sql in statements:
        cur.execute(sql)
    cur.close()


@pytest.mark.mssql
@pytest.mark.cdc(db="mssql", isolation="database")
def test_every_sql_server_type_against_what_debezium_creates(sqlserver: Any) -> None:
    run(
        sqlserver,
        "CREATE TYPE dbo.PhoneNumber FROM varchar(20) NULL",
        EVERY_TYPE,
        "CREATE TABLE dbo.NoKey (A int, B nvarchar(10))",
        "CREATE TABLE dbo.StandIn (Code varchar(10) NOT NULL, Alt int NULL)",
        "CREATE UNIQUE INDEX UX_StandIn_Code ON dbo.StandIn (Code)",
        "CREATE VIEW dbo.Recent AS SELECT Id, Stamp FROM dbo.EveryType",
        "INSERT INTO dbo.NoKey VALUES (1, N'x')",
    )
    catalog = read_catalog(sqlserver, schemas=["dbo"])
    every = catalog.get("dbo", "EveryType")
    assert every.primary_key.columns == ("Id",)
    assert every.column("Phone").user_type == "PhoneNumber"
    assert every.column("Phone").declared == "varchar(20)"
    assert every.column("NName").length == 200 and every.column("NBody").length is None
    assert every.column("Stamp").datetime_precision == 7
    assert every.column("Doubled").computed and every.column("Doubled").persisted
    assert every.cdc_enabled is False
    assert catalog.get("dbo", "NoKey").row_estimate == 1
    assert [i.name for i in catalog.get("dbo", "StandIn").key_candidates()] == ["UX_StandIn_Code"]
    assert catalog.get("dbo", "Recent").kind == "view"
    pg = connect()
    try:
        with schemas(pg, 1) as (schema,):
            run(pg, DEBEZIUM_TARGET.format(schema=schema))
            report = compare_schemas(
                sqlserver,
                server_url(),
                mapping={"schemas": {"dbo": schema}, "name-style": "lower", "include": ["Every*"]},
                profile="debezium",
            )
    finally:
        pg.close()
    columns = {c.source: c for c in report.table("dbo.EveryType").columns}
    verdicts = {name: c.verdict for name, c in columns.items()}
    assert verdicts["Flag"] == "representation"
    assert verdicts["Stamp"] == "lossy"
    assert columns["Stamp"].encoding_options == {
        "timestamp_precision": 6,
        "timestamp_mode": "round",
    }
    assert verdicts["Legacy"] == "representation"
    assert verdicts["Guid"] == "incompatible" and not columns["Guid"].comparable
    assert verdicts["Tree"] == "incompatible" and columns["Tree"].unsupported
    assert verdicts["Phone"] == "widened"
    kinds = {(f.kind, f.source_column) for f in report.findings}
    assert ("computed", "Doubled") in kinds
    assert ("unsupported", "Anything") in kinds
    assert any(q.side == "source" and q.purpose == "columns" for q in report.queries)


@pytest.mark.mssql
@pytest.mark.cdc(db="mssql", isolation="database")
def test_a_column_added_after_cdc_was_enabled_is_not_captured(sqlserver: Any) -> None:
    run(
        sqlserver,
        "CREATE TABLE dbo.Orders (OrderID int NOT NULL PRIMARY KEY, Qty int)",
        "CREATE TABLE dbo.Untracked (Id int NOT NULL PRIMARY KEY)",
        "EXEC sys.sp_cdc_enable_db",
        "EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'Orders',"
        " @role_name = NULL",
        "ALTER TABLE dbo.Orders ADD Added int NULL",
    )
    catalog = read_catalog(sqlserver, schemas=["dbo"])
    orders = catalog.get("dbo", "Orders")
    assert orders.cdc_enabled is True
    assert orders.captured_columns() == {"OrderID", "Qty"}
    assert [i.name for i in orders.capture_instances] == ["dbo_Orders"]
    pg = connect()
    try:
        with schemas(pg, 1) as (schema,):
            run(
                pg,
                f"CREATE TABLE {schema}.orders (orderid int PRIMARY KEY, qty int, added int);"
                f"CREATE TABLE {schema}.untracked (id int PRIMARY KEY)",
            )
            report = compare_schemas(
                sqlserver,
                server_url(),
                mapping={"schemas": {"dbo": schema}, "name-style": "lower"},
            )
    finally:
        pg.close()
    found = {(f.kind, f.source_column or f.source_table) for f in report.findings}
    assert ("cdc", "Added") in found
    assert ("cdc", "dbo.Untracked") in found
    assert any(q.purpose == "captured columns" for q in report.queries)
