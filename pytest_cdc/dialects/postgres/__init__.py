"""PostgreSQL: psycopg2 by default, or pyodbc through psqlODBC (``postgresql+odbc://``).

The engine object binds what pytest-cdc knows of PostgreSQL; its bulkier parts live beside it
and load on first use: :mod:`.checksum` (the checksum and catalog SQL), :mod:`.plans`
(EXPLAIN JSON) and :mod:`.explain` (running EXPLAIN and counting rows in a sandbox).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_cdc.dialects.base import Batch, Dialect, IndexRead, run_quietly, testcontainers_class
from pytest_cdc.errors import ReconcileError

if TYPE_CHECKING:
    from pytest_cdc.checksums.encoding import EncodingOptions
    from pytest_cdc.checksums.execution import Executor
    from pytest_cdc.checksums.sqlgen import ServerFacts, SqlGenerator
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.plans.model import MissingIndex, Plan
    from pytest_cdc.plans.shape import ShapeConventions
    from pytest_cdc.replica.repair import RepairWriter
    from pytest_cdc.schema.catalog import CatalogReader
    from pytest_cdc.urls import DatabaseURL

ODBC_SCHEME = "postgresql+odbc"
DEFAULT_ODBC_DRIVER = "PostgreSQL Unicode"
#: The first key of pytest-cdc's advisory locks (b"cdct" as an integer).
OWNER_LOCK_CLASS = 0x63646374
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9 .:_=-]*")


class PostgresDialect(Dialect):
    name = "postgresql"
    display_name = "PostgreSQL"
    aliases = ("postgres", "pg", "psql", "pgsql")
    schemes = ("postgresql", "postgres", ODBC_SCHEME)
    sqlglot_dialect = "postgres"
    default_user = "postgres"
    default_database = "postgres"
    default_port = 5432
    identifier_quotes = ('"', '"')
    supports_templates = True
    max_identifier_length = 63
    version_query = "SHOW server_version"
    # trim_scale (checksums) and DROP DATABASE ... WITH (FORCE) are 13; newer features are
    # guarded by a version check (CREATE DATABASE ... STRATEGY, 15).
    min_major_version = 13
    driver_modules = ("psycopg2", "psycopg")
    odbc_dbms_names = ("postgres",)
    # IMMUTABLE whatever the argument's type: date_trunc() or a cast of a timestamptz is not,
    # and an index on it would be refused.
    indexable_functions = frozenset(
        {
            "LOWER",
            "UPPER",
            "TRIM",
            "BTRIM",
            "LTRIM",
            "RTRIM",
            "ABS",
            "LENGTH",
            "MD5",
            "SUBSTRING",
            "SUBSTR",
            "LEFT",
            "RIGHT",
            "REPLACE",
            "COALESCE",
        }
    )
    index_possible_how = "enable_seqscan = off"
    plan_file_hint = "save it with EXPLAIN (FORMAT JSON)"

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

    docker_image = "postgres"
    docker_tag = "18"  # the newest major the suite runs on

    def start_container(self, tag: str) -> tuple[Any, str]:
        import secrets
        from urllib.parse import quote

        password = secrets.token_urlsafe(16)
        pg = testcontainers_class("postgres", "PostgresContainer")(
            f"{self.docker_image}:{tag}",
            username="postgres",
            password=password,
            dbname="postgres",
            driver=None,
        )
        pg.start()
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        return pg, f"postgresql://postgres:{quote(password)}@{host}:{port}/postgres"

    # -- throwaway databases and scripts ----------------------------------------------------
    def create_database_sql(
        self, name: str, template: str | None, *, server_version: str = ""
    ) -> list[str]:
        sql = f"CREATE DATABASE {self.quote_identifier(name)}"
        if template:
            sql += f" TEMPLATE {self.quote_identifier(template)}"
            # PostgreSQL 15 made WAL_LOG the default, which writes every block of the template
            # to WAL: for the small databases tests use, FILE_COPY plus one checkpoint is faster.
            major = self.major_version(server_version)
            if major is None or major >= 15:
                sql += " STRATEGY FILE_COPY"
        return [sql]

    def drop_database_sql(self, name: str) -> list[str]:
        # FORCE (13+) ends sessions a test forgot to close instead of failing the teardown.
        return [f"DROP DATABASE IF EXISTS {self.quote_identifier(name)} WITH (FORCE)"]

    # Advisory locks live in the server's memory and go with the connection that holds them,
    # so a session killed with -9 (or a host that vanished) loses its lock at once.  The
    # two-integer form, with a class of its own, keeps clear of an application's own keys.
    def owner_lock_sql(self, key: int) -> str | None:
        return f"SELECT pg_advisory_lock_shared({OWNER_LOCK_CLASS}, {int(key)})"

    def owner_locks_sql(self) -> str | None:
        return (
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            f" AND classid = {OWNER_LOCK_CLASS} AND objsubid = 2"
        )

    def comment_database_sql(self, name: str, comment: str) -> list[str]:
        return [f"COMMENT ON DATABASE {self.quote_identifier(name)} IS {_literal(comment)}"]

    def test_databases_sql(self, prefix: str) -> str | None:
        return (
            "SELECT d.datname, shobj_description(d.oid, 'pg_database'),"
            " EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)"
            f" FROM pg_database d WHERE left(d.datname, {len(prefix)}) = {_literal(prefix)}"
            " ORDER BY d.datname"
        )

    def sessions_sql(self, name: str) -> str | None:
        return f"SELECT count(*) FROM pg_stat_activity WHERE datname = {_literal(name)}"

    def rename_database_sql(self, old: str, new: str) -> list[str]:
        return [
            f"ALTER DATABASE {self.quote_identifier(old)} RENAME TO {self.quote_identifier(new)}"
        ]

    def drop_idle_database_sql(self, name: str) -> list[str]:
        return [f"DROP DATABASE IF EXISTS {self.quote_identifier(name)}"]

    def split_script(self, script: str) -> list[Batch]:
        # One statement at a time (psql's way), so that a failure names its line.
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
        from pytest_cdc.dialects.postgres.explain import explain_plan

        return explain_plan(raw, sql, params, analyze=analyze, buffers=buffers)

    def scan_check_plan(
        self, raw: Any, sql: str, params: Any, mode: str
    ) -> tuple[Plan, str | None]:
        from pytest_cdc.dialects.postgres.explain import explain_plan

        # Partitions are mapped to their parent only for the scans to name (fast path).
        seqscan_off = mode == "index-possible"
        return explain_plan(raw, sql, params, seqscan_off=seqscan_off, map_all=False), None

    def index_advice(
        self, sql: str, plan: Plan, relations: set[str]
    ) -> tuple[list[MissingIndex], str]:
        # PostgreSQL reports no missing indexes: derive one from what the query filters on.
        from pytest_cdc.plans.suggest import filter_columns

        derived = filter_columns(sql, self.sqlglot_dialect, indexable=self.indexable_functions)
        found = [mi for name, mi in derived.items() if name.lower() in relations]
        return found, "from the query's filter columns: equality first, then range"

    def looks_like_plan(self, head: str, suffix: str) -> bool:
        return suffix == ".json" or head.lstrip().startswith(("[", "{"))

    def parse_plan(self, data: bytes | str, *, source: str | None = None) -> Plan:
        from pytest_cdc.dialects.postgres.plans import parse_explain_json

        return parse_explain_json(data, source=source)

    def row_count(self, raw: Any, table: str, *, exact: bool = False) -> int:
        from pytest_cdc.dialects.postgres.explain import row_count

        return row_count(raw, table, exact=exact)

    # -- plan snapshots -----------------------------------------------------------------------
    def shape_conventions(self) -> ShapeConventions:
        from pytest_cdc.dialects.postgres.shape import CONVENTIONS

        return CONVENTIONS

    def snapshot_plan(self, raw: Any, sql: str, params: Any, mode: str) -> Plan:
        from pytest_cdc.dialects.postgres.shape import snapshot_plan

        return snapshot_plan(raw, sql, params, seqscan_off=mode == "index-possible")

    def generic_plan(self, raw: Any, sql: str, mode: str, *, seek_joins: bool = False) -> Plan:
        from pytest_cdc.dialects.postgres.shape import generic_plan

        possible = mode == "index-possible"
        return generic_plan(raw, sql, seqscan_off=possible, seek_joins=possible and seek_joins)

    def index_reads(self, raw: Any, plan: Plan, table: str) -> list[IndexRead]:
        from pytest_cdc.dialects.postgres.seeks import index_reads

        return index_reads(raw, plan, table)

    def load_statistics(self, raw: Any, stats: Mapping[str, Any]) -> int:
        from pytest_cdc.dialects.postgres.statistics import load_statistics

        return load_statistics(raw, stats)

    def export_statistics(self, raw: Any, tables: Sequence[str]) -> dict[str, Any]:
        from pytest_cdc.dialects.postgres.statistics import export_statistics

        return export_statistics(raw, tables)

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
        # CONCURRENTLY because reconciliation tables are live replication targets that must
        # keep taking writes while the index builds.  The grammar puts WITH (storage
        # parameters) before WHERE.
        cols, incl = self.index_columns(columns, include)
        storage = f" WITH (fillfactor = {fillfactor})" if fillfactor is not None else ""
        return (
            f"CREATE {'UNIQUE ' if unique else ''}INDEX {'CONCURRENTLY ' if concurrently else ''}"
            f"IF NOT EXISTS {self.quote_identifier(name)} ON {self.quote_table(table)} ({cols})"
            f"{incl}{storage}{f' WHERE {where}' if where else ''}"
        )

    # -- checksums ------------------------------------------------------------------------
    def checksum_sql(self, options: EncodingOptions) -> SqlGenerator:
        from pytest_cdc.dialects.postgres.checksum import PostgresGenerator

        return PostgresGenerator(options, dialect=self)

    def catalog_reader(self) -> CatalogReader | None:
        from pytest_cdc.dialects.postgres.catalog import READER

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
        """A read-only REPEATABLE READ transaction of our own (so every statement, and every
        lane through ``snapshot``, sees the same rows), or a savepoint of the caller's open
        transaction; the settings are local to it, so its rollback undoes them."""
        from pytest_cdc.checksums.sqlgen import ServerFacts
        from pytest_cdc.dialects.postgres import checksum

        raw = ex.raw
        if _in_transaction(raw, ex.label):
            ex.run("savepoint", "SAVEPOINT cdc_reconcile")
            stack.callback(
                run_quietly,
                raw,
                ["ROLLBACK TO SAVEPOINT cdc_reconcile", "RELEASE SAVEPOINT cdc_reconcile"],
            )
        else:
            autocommit = raw.autocommit
            raw.autocommit = False
            stack.callback(_end_transaction, raw, autocommit)
            ex.run("snapshot", checksum.BEGIN_SNAPSHOT)
            if snapshot is not None:
                ex.run("snapshot", checksum.import_snapshot_sql(snapshot))
        encoding, version_num, identity, workers, *_ = ex.run(
            "session settings", checksum.prepare_sql(timeout, lock_timeout)
        )[0]
        return ServerFacts(
            major=int(version_num) // 10000,
            encoding=str(encoding).upper(),
            identity=str(identity),
            workers=int(workers),
        )

    def repair_writer(self) -> RepairWriter:
        from pytest_cdc.dialects.postgres.repair import PostgresRepair

        return PostgresRepair(self)

    def export_snapshot(self, ex: Executor) -> str | None:
        from pytest_cdc.dialects.postgres.checksum import EXPORT_SNAPSHOT

        return str(ex.run("snapshot", EXPORT_SNAPSHOT)[0][0])

    def share_workers(self, ex: Executor, workers: int) -> None:
        from pytest_cdc.dialects.postgres.checksum import workers_sql

        ex.run("session settings", workers_sql(workers))


def _literal(text: str) -> str:
    # Only our own names and owner marks get here, and they are checked to hold no quote or
    # backslash, so the result reads the same whatever standard_conforming_strings says.
    if not _PLAIN_TEXT.fullmatch(text):
        raise ValueError(f"refusing to quote {text!r} as a literal: unexpected characters")
    return f"'{text}'"


def _in_transaction(raw: Any, side: str) -> bool:
    status = getattr(raw, "get_transaction_status", None)
    if status is None:  # pyodbc (psqlODBC): with autocommit off a transaction is open
        return not raw.autocommit
    state = int(status())
    if state == 3:  # psycopg2 TRANSACTION_STATUS_INERROR
        raise ReconcileError(
            f"the {side} connection's transaction is aborted by an earlier error: roll it back"
            " before reconciling"
        )
    return state != 0


def _end_transaction(raw: Any, autocommit: bool) -> None:
    with contextlib.suppress(Exception):
        raw.rollback()
    with contextlib.suppress(Exception):
        raw.autocommit = autocommit
