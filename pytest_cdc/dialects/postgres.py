"""PostgreSQL: psycopg2 by default, or pyodbc through psqlODBC (``postgresql+odbc://``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_cdc.dialects.base import Dialect

if TYPE_CHECKING:
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.urls import DatabaseURL

ODBC_SCHEME = "postgresql+odbc"
DEFAULT_ODBC_DRIVER = "PostgreSQL Unicode"


class PostgresDialect(Dialect):
    name = "postgresql"
    display_name = "PostgreSQL"
    schemes = ("postgresql", "postgres", ODBC_SCHEME)
    sqlglot_dialect = "postgres"
    default_port = 5432
    identifier_quotes = ('"', '"')
    supports_templates = True
    max_identifier_length = 63
    version_query = "SHOW server_version"
    # trim_scale (checksums) and DROP DATABASE ... WITH (FORCE) are 13; newer features are
    # guarded by a version check (CREATE DATABASE ... STRATEGY, 15).
    min_major_version = 13

    def connector(self, url: DatabaseURL, *, database: str | None = None) -> Connector:
        if database is not None:
            url = url.with_database(database)
        if url.raw.lower().startswith(ODBC_SCHEME + "://"):
            return self._odbc_connector(url)
        from pytest_cdc.connectors.psycopg2 import Psycopg2Connector

        # Keywords, not the URI: libpq splits a URI's authority at its first "@", so a password
        # holding one would be read as part of the host (and quoted in the error message).
        # Query parameters are libpq keywords too (sslmode, options, host=/socket/dir).
        params: dict[str, str] = {}
        if url.host:
            params["host"] = url.host
        if url.port:
            params["port"] = str(url.port)
        if url.user:
            params["user"] = url.user
        if url.password is not None:
            params["password"] = url.password
        if url.database:
            params["dbname"] = url.database
        params.update(url.query)
        return Psycopg2Connector(display=url.masked, **params)

    def _odbc_connector(self, url: DatabaseURL) -> Connector:
        from pytest_cdc.connectors.odbc import OdbcConnector, url_connection_string

        connection_string = url_connection_string(
            url,
            default_driver=DEFAULT_ODBC_DRIVER,
            default_database="postgres",
            default_port=self.default_port or 5432,
        )
        return OdbcConnector(connection_string, dialect=self.name)

    def create_database_sql(
        self, name: str, template: str | None, *, version_num: int | None = None
    ) -> list[str]:
        sql = f"CREATE DATABASE {self.quote_identifier(name)}"
        if template:
            sql += f" TEMPLATE {self.quote_identifier(template)}"
            # PostgreSQL 15 made WAL_LOG the default, which writes every block of the template
            # to WAL: for the small databases tests use, FILE_COPY plus one checkpoint is faster.
            if version_num is None or version_num >= 150000:
                sql += " STRATEGY FILE_COPY"
        return [sql]

    def drop_database_sql(self, name: str) -> list[str]:
        # FORCE (13+) ends sessions a test forgot to close instead of failing the teardown.
        return [f"DROP DATABASE IF EXISTS {self.quote_identifier(name)} WITH (FORCE)"]
