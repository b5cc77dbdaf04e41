"""Microsoft SQL Server through pyodbc (Microsoft's msodbcsql18, or FreeTDS).

The engine object binds what pytest-cdc knows of SQL Server; its bulkier parts live beside it
and load on first use: :mod:`.checksum` (the checksum and catalog T-SQL) and :mod:`.plans`
(showplan XML, the live showplan protocol, FORCESEEK and row counts).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_cdc.dialects.base import Batch, Dialect, run_quietly, testcontainers_class

if TYPE_CHECKING:
    from pytest_cdc.checksums.encoding import EncodingOptions
    from pytest_cdc.checksums.execution import Executor
    from pytest_cdc.checksums.sqlgen import ServerFacts, SqlGenerator
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.plans.model import MissingIndex, Plan
    from pytest_cdc.plans.shape import ShapeConventions
    from pytest_cdc.schema.catalog import CatalogReader
    from pytest_cdc.urls import DatabaseURL

#: Microsoft's ODBC driver, the default when a URL names none.
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"


class SqlServerDialect(Dialect):
    name = "mssql"
    display_name = "SQL Server"
    aliases = ("sqlserver", "sql_server", "sql-server", "tsql", "t-sql")
    schemes = ("mssql", "sqlserver")
    sqlglot_dialect = "tsql"
    default_user = "sa"
    default_database = "master"
    default_port = 1433
    identifier_quotes = ("[", "]")
    supports_templates = False
    max_identifier_length = 128
    version_query = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))"
    odbc_dbms_names = ("sql server",)
    index_possible_how = "WITH (FORCESEEK)"
    plan_file_hint = "save it from SSMS/ADS as .sqlplan or with SET SHOWPLAN_XML ON"
    # Debezium's SQL Server connector names tables database.schema.table.
    debezium_database_query = "SELECT DB_NAME()"

    def connector(self, url: DatabaseURL, *, database: str | None = None) -> Connector:
        from pytest_cdc.connectors.odbc import OdbcConnector, url_connection_string

        connection_string = url_connection_string(
            url,
            default_driver=DEFAULT_DRIVER,
            default_database="master",
            default_port=self.default_port or 1433,
            database=database,
            comma_port=True,
        )
        return OdbcConnector(connection_string, dialect=self.name)

    docker_image = "mcr.microsoft.com/mssql/server"
    docker_tag = "2022-latest"

    def start_container(self, tag: str) -> tuple[Any, str]:
        import secrets
        from urllib.parse import quote

        # SQL Server insists on a complex password: upper, lower, digit and symbol.
        password = "Cdc!" + secrets.token_hex(12) + "a"
        ms = testcontainers_class("mssql", "SqlServerContainer")(
            f"{self.docker_image}:{tag}", password=password
        )
        ms.start()
        host, port = ms.get_container_host_ip(), ms.get_exposed_port(1433)
        url = f"mssql://sa:{quote(password)}@{host}:{port}/master"
        return ms, url + "?TrustServerCertificate=yes&Encrypt=no"

    # -- transactions ---------------------------------------------------------------------
    def begin(self, conn: Any) -> None:
        conn.autocommit = False
        # With autocommit off ODBC only opens a transaction at the first statement that needs
        # one, and SAVE TRANSACTION is not such a statement: open it explicitly.
        cur = conn.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
        finally:
            cur.close()

    def savepoint_sql(self, name: str) -> str:
        return f"SAVE TRANSACTION {name}"

    def release_savepoint_sql(self, name: str) -> str | None:
        return None  # T-SQL has no RELEASE; the savepoint simply stays until the transaction ends

    def rollback_to_savepoint_sql(self, name: str) -> str:
        return f"ROLLBACK TRANSACTION {name}"

    # -- throwaway databases and scripts ----------------------------------------------------
    def create_database_sql(
        self, name: str, template: str | None, *, server_version: str = ""
    ) -> list[str]:
        # No templates on SQL Server: the caller loads the schema into each new database.
        return [f"CREATE DATABASE {self.quote_identifier(name)}"]

    def drop_database_sql(self, name: str) -> list[str]:
        q = self.quote_identifier(name)
        literal = name.replace("'", "''")
        return [
            f"IF DB_ID(N'{literal}') IS NOT NULL "
            f"ALTER DATABASE {q} SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
            f"DROP DATABASE IF EXISTS {q}",
        ]

    def split_script(self, script: str) -> list[Batch]:
        # sqlcmd's batches: GO alone on its line, never inside a comment or a literal.
        from pytest_cdc_hooks.splitting import split_batches

        return [Batch(text, line) for text, line in split_batches(script, self.sqlglot_dialect)]

    # -- plans ------------------------------------------------------------------------------
    def explain(
        self,
        raw: Any,
        sql: str,
        params: Any = None,
        *,
        analyze: bool = False,
        buffers: bool = False,
    ) -> Plan:
        from pytest_cdc.dialects.mssql.plans import explain_sqlserver

        return explain_sqlserver(raw, sql, params, actual=analyze)

    def scan_check_plan(
        self, raw: Any, sql: str, params: Any, mode: str
    ) -> tuple[Plan, str | None]:
        from pytest_cdc.dialects.mssql.plans import (
            add_forceseek,
            explain_sqlserver,
            is_no_plan_with_hints,
        )
        from pytest_cdc.errors import PlanError

        if mode == "planner":
            return explain_sqlserver(raw, sql, params), None
        try:
            hinted = add_forceseek(sql)
        except ValueError as exc:
            raise PlanError(f"{exc}; use mode='planner' for this statement") from None
        try:
            return explain_sqlserver(raw, hinted, params), None
        except Exception as exc:
            if not is_no_plan_with_hints(exc):
                raise
        # FORCESEEK found no index to seek: show what the planner does instead, with its
        # MissingIndexes, and mark every scan.
        note = "sql server error 8622 with WITH (FORCESEEK): no index can seek this predicate"
        return explain_sqlserver(raw, sql, params), note

    def index_advice(
        self, sql: str, plan: Plan, relations: set[str]
    ) -> tuple[list[MissingIndex], str]:
        found = [
            mi for mi in plan.missing_indexes if not relations or mi.table.lower() in relations
        ]
        return found, "from the plan's MissingIndexes"

    def looks_like_plan(self, head: str, suffix: str) -> bool:
        return suffix in (".sqlplan", ".xml") or head.lstrip().startswith("<")

    def parse_plan(self, data: bytes | str, *, source: str | None = None) -> Plan:
        from pytest_cdc.dialects.mssql.plans import parse_showplan

        return parse_showplan(data, source=source)

    def row_count(self, raw: Any, table: str, *, exact: bool = False) -> int:
        from pytest_cdc.dialects.mssql.plans import row_count

        return row_count(raw, table, exact=exact)

    def shape_conventions(self) -> ShapeConventions:
        from pytest_cdc.plans.shape import ShapeConventions

        return ShapeConventions(
            # Exchange operators move rows between threads; how many depends on the cores
            # and MAXDOP of the machine.  A Bitmap filter only exists in parallel plans.
            gather_operators=frozenset({"Parallelism"}),
            decorations=frozenset({"Compute Scalar", "Bitmap"}),
            partial_logical=frozenset({"Partial Aggregate"}),
            join_operators=frozenset({"Nested Loops", "Hash Match", "Merge Join", "Adaptive Join"}),
            join_marker="Join",  # Hash Match also aggregates
            mirrored_joins={
                "Right Outer Join": "Left Outer Join",
                "Right Semi Join": "Left Semi Join",
                "Right Anti Semi Join": "Left Anti Semi Join",
            },
        )

    # -- index DDL --------------------------------------------------------------------------
    def index_ddl(
        self,
        *,
        name: str,
        table: str,
        columns: Sequence[str],
        include: Sequence[str] = (),
        where: str | None = None,
        unique: bool = False,
        concurrently: bool = True,
        online: bool = True,
        fillfactor: int | None = None,
    ) -> str:
        # ONLINE = ON keeps the table writable while the index builds (Enterprise edition and
        # Azure SQL; other editions refuse it, and then the DDL needs online=False).
        cols, incl = self.index_columns(columns, include)
        options = (["ONLINE = ON"] if online else []) + (
            [f"FILLFACTOR = {fillfactor}"] if fillfactor is not None else []
        )
        with_clause = f" WITH ({', '.join(options)})" if options else ""
        return (
            f"CREATE {'UNIQUE ' if unique else ''}NONCLUSTERED INDEX"
            f" {self.quote_identifier(name)} ON {self.quote_table(table)} ({cols})"
            f"{incl}{f' WHERE {where}' if where else ''}{with_clause}"
        )

    # -- checksums ------------------------------------------------------------------------
    def checksum_sql(self, options: EncodingOptions) -> SqlGenerator:
        from pytest_cdc.dialects.mssql.checksum import TsqlGenerator

        return TsqlGenerator(options, dialect=self)

    def catalog_reader(self) -> CatalogReader | None:
        from pytest_cdc.dialects.mssql.catalog import READER

        return READER

    def begin_comparison(
        self,
        stack: contextlib.ExitStack,
        ex: Executor,
        *,
        timeout: float | None,
        lock_timeout: float | None,
        snapshot: str | None = None,
    ) -> ServerFacts:
        """The session's lock timeout (restored after) and the driver's query timeout, which
        bounds each statement; SQL Server sides read under the server's default isolation."""
        from pytest_cdc.checksums.sqlgen import ServerFacts
        from pytest_cdc.dialects.mssql.checksum import PREPARE_QUERY, lock_timeout_sql

        raw = ex.raw
        major, old_lock = ex.run("session settings", PREPARE_QUERY)[0]
        ex.run("session settings", lock_timeout_sql(lock_timeout))
        stack.callback(run_quietly, raw, [f"SET LOCK_TIMEOUT {int(old_lock)}"])
        if hasattr(raw, "timeout"):
            old_timeout = raw.timeout
            raw.timeout = 0 if timeout is None else max(1, math.ceil(timeout))
            stack.callback(setattr, raw, "timeout", old_timeout)
        return ServerFacts(major=int(major))
