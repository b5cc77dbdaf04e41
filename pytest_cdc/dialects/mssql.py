"""Microsoft SQL Server through pyodbc."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pytest_cdc.dialects.base import Dialect

if TYPE_CHECKING:
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.urls import DatabaseURL

DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
# sqlcmd and SSMS split scripts on GO alone on a line (optionally with a repeat count); the
# server itself never sees it.
_GO = re.compile(r"^[ \t]*GO(?:[ \t]+\d+)?[ \t]*(?:--[^\n]*)?$", re.I | re.M)


class SqlServerDialect(Dialect):
    name = "mssql"
    display_name = "SQL Server"
    schemes = ("mssql", "sqlserver")
    sqlglot_dialect = "tsql"
    default_port = 1433
    identifier_quotes = ("[", "]")
    supports_templates = False
    max_identifier_length = 128
    version_query = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))"

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

    def create_database_sql(
        self, name: str, template: str | None, *, version_num: int | None = None
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

    def split_script(self, script: str) -> list[str]:
        return [batch for batch in _GO.split(script) if batch.strip()]
