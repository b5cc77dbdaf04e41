"""What every database engine provides: :class:`Dialect`.

One object per engine binds everything about it, as a sqlglot ``Dialect`` binds its parser and
generator: names and URL schemes, quoting and name splitting, connecting and version rules,
transactions and throwaway databases, script splitting, EXPLAIN/showplan capture and parsing,
index DDL, the checksum SQL and the catalog reads.  Code above it asks the object and never
compares engine names.  A third-party dialect overrides what its engine supports; the rest
raises :class:`~pytest_cdc.errors.UnsupportedDialect` with the engine's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pytest_cdc.errors import DatabaseUnavailable, UnsupportedDialect

if TYPE_CHECKING:
    import contextlib

    from pytest_cdc.checksums.encoding import EncodingOptions
    from pytest_cdc.checksums.execution import Executor
    from pytest_cdc.checksums.sqlgen import ServerFacts, SqlGenerator
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.plans.model import MissingIndex, Plan
    from pytest_cdc.plans.shape import ShapeConventions
    from pytest_cdc.replica.repair import RepairWriter
    from pytest_cdc.schema.catalog import CatalogReader
    from pytest_cdc.urls import DatabaseURL


class Batch(NamedTuple):
    """One piece of a script a client sends at a time, and the line it starts on."""

    text: str
    line: int


class IndexRead(NamedTuple):
    """One read of a table through an index in a plan: the index's name, its key columns in
    order (None for an expression), whether it is unique, and the columns (lower case) its
    condition constrains."""

    name: str
    columns: tuple[str | None, ...]
    unique: bool
    sought: frozenset[str]

    @property
    def seeks(self) -> bool:
        """Whether the read is bounded on the index's leading column (a B-tree seek)."""
        lead = self.columns[0] if self.columns else None
        return lead is not None and lead.lower() in self.sought


class Dialect:
    #: Canonical name, used in reports and by get_dialect().
    name: ClassVar[str] = ""
    #: Human name for messages.
    display_name: ClassVar[str] = ""
    #: Other names people use for it (any case): every surface accepts them.
    aliases: ClassVar[tuple[str, ...]] = ()
    #: URL schemes served by this dialect.
    schemes: ClassVar[tuple[str, ...]] = ()
    #: sqlglot dialect name for parsing and generating SQL.
    sqlglot_dialect: ClassVar[str] = ""
    default_port: ClassVar[int | None] = None
    #: Who and where to connect when a config names neither (the engine's own defaults).
    default_user: ClassVar[str] = ""
    default_database: ClassVar[str] = ""
    #: Quote characters for identifiers (opening, closing).
    identifier_quotes: ClassVar[tuple[str, str]] = ('"', '"')
    #: Whether CREATE DATABASE ... can copy a template database.
    supports_templates: ClassVar[bool] = False
    #: False for file-based engines whose URLs have no host (sqlite:///path).
    requires_host: ClassVar[bool] = True
    #: Maximum identifier length in bytes, for generated names.
    max_identifier_length: ClassVar[int] = 128
    version_query: ClassVar[str] = "SELECT 1"
    #: Oldest server major version the generated SQL runs on (None: no floor).
    min_major_version: ClassVar[int | None] = None
    #: Python modules of the drivers whose connections speak to this engine directly.
    driver_modules: ClassVar[tuple[str, ...]] = ()
    #: Words of the ODBC ``SQL_DBMS_NAME`` of this engine (lower case), for pyodbc.
    odbc_dbms_names: ClassVar[tuple[str, ...]] = ()
    #: Functions (upper case) an expression index can hold whatever the column's type: index
    #: advice proposes ``((LOWER(email)))`` for them.  Empty: no expression indexes.
    indexable_functions: ClassVar[frozenset[str]] = frozenset()

    # -- names ----------------------------------------------------------------------------
    def quote_identifier(self, name: str) -> str:
        """Quote one identifier; the closing quote inside the name is doubled."""
        opening, closing = self.identifier_quotes
        if "\x00" in name:
            raise ValueError(f"identifier {name!r} contains a NUL character")
        return opening + name.replace(closing, closing * 2) + closing

    def quote_table(self, table: str) -> str:
        """Quote ``schema.table`` (split on the first unquoted dot) or ``table``."""
        return ".".join(self.quote_identifier(part) for part in split_qualified(table))

    # -- connections ----------------------------------------------------------------------
    def connector(self, url: DatabaseURL, *, database: str | None = None) -> Connector:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot connect to {url.masked!r}")

    def connect(self, url: DatabaseURL, *, database: str | None = None) -> Any:
        """A new driver connection with autocommit on."""
        return self.connector(url, database=database).connect()

    def owns(self, conn: Any) -> bool:
        """Whether ``conn``, a driver connection, talks to this engine."""
        module = type(conn).__module__
        if any(module == m or module.startswith(m + ".") for m in self.driver_modules):
            return True
        if module == "pyodbc" and self.odbc_dbms_names:
            import pyodbc

            dbms = str(conn.getinfo(pyodbc.SQL_DBMS_NAME)).lower()
            return any(word in dbms for word in self.odbc_dbms_names)
        return False

    def server_version(self, conn: Any) -> str:
        cur = conn.cursor()
        try:
            cur.execute(self.version_query)
            row = cur.fetchone()
        finally:
            cur.close()
        return str(row[0]) if row else "unknown"

    @staticmethod
    def major_version(version: str) -> int | None:
        """The major version in a server_version() text (``"15.4 (Debian...)"`` -> 15)."""
        head = version.split()[0] if version.split() else ""
        major = head.split(".")[0]
        return int(major) if major.isdigit() else None

    def check_server_version(self, version: str, *, name: str) -> None:
        """Refuse a server older than ``min_major_version`` (``version`` as server_version()
        returned it), in one line naming database ``name``."""
        major = self.major_version(version)
        floor = self.min_major_version
        if floor is not None and major is not None and major < floor:
            raise DatabaseUnavailable(
                f"database {name!r} is {self.display_name} {version.split()[0]}, older than"
                f" pytest-cdc supports ({floor} or newer): upgrade it or pass"
                f" --cdc-db={name}=URL of a newer server"
            )

    #: The image ``docker:NAME[:TAG]`` starts through testcontainers (None: none), and its tag.
    docker_image: ClassVar[str | None] = None
    docker_tag: ClassVar[str] = "latest"

    def start_container(self, tag: str) -> tuple[Any, str]:
        """Start a container of ``docker_image:tag``; return it and a URL to it."""
        raise UnsupportedDialect(f"dialect {self.name!r} has no docker image")

    # -- transactions ---------------------------------------------------------------------
    def begin(self, conn: Any) -> None:
        """Leave autocommit so the next statement opens a transaction."""
        conn.autocommit = False

    def rollback(self, conn: Any) -> None:
        conn.rollback()
        conn.autocommit = True

    def savepoint_sql(self, name: str) -> str:
        return f"SAVEPOINT {name}"

    def release_savepoint_sql(self, name: str) -> str | None:
        return f"RELEASE SAVEPOINT {name}"

    def rollback_to_savepoint_sql(self, name: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {name}"

    # -- throwaway databases and scripts ----------------------------------------------------
    def create_database_sql(
        self, name: str, template: str | None, *, server_version: str = ""
    ) -> list[str]:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot create databases")

    def drop_database_sql(self, name: str) -> list[str]:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot drop databases")

    def split_script(self, script: str) -> list[Batch]:
        """A load script as the pieces a client sends one at a time."""
        return [Batch(script, 1)] if script.strip() else []

    # -- who owns a throwaway database ------------------------------------------------------
    #
    # On a server given by URL every throwaway database carries a comment naming the session
    # that made it, and each connection of that session holds a lock keyed by the session:
    # a later session can then tell the leftovers of a dead one (no holder) from the
    # databases of a live one, from any host.  An engine without these leaves the sweep off.

    def owner_lock_sql(self, key: int) -> str | None:
        """A statement that marks this connection's session as alive while it lasts, several
        connections of one session at once (None: the engine cannot)."""
        return None

    def owner_locks_sql(self) -> str | None:
        """A query of the keys (one column) of every session marked alive on the server."""
        return None

    def comment_database_sql(self, name: str, comment: str) -> list[str]:
        """Statements that attach ``comment`` (``[A-Za-z0-9 .:_=-]``) to database ``name``."""
        return []

    def test_databases_sql(self, prefix: str) -> str | None:
        """A query of (name, comment, whether anyone is connected) of the databases whose
        names start with ``prefix`` (``[a-z0-9_]``; None: the engine cannot list them)."""
        return None

    def sessions_sql(self, name: str) -> str | None:
        """A query of how many sessions are connected to database ``name`` (one row, one
        column; None: the engine cannot say)."""
        return None

    def rename_database_sql(self, old: str, new: str) -> list[str]:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot rename databases")

    def drop_idle_database_sql(self, name: str) -> list[str]:
        """Drop ``name`` only if nobody is connected to it (the sweep never ends a session)."""
        raise UnsupportedDialect(f"dialect {self.name!r} cannot drop databases")

    # -- plans ------------------------------------------------------------------------------
    #: How "index-possible" plans are taken, for failure messages.
    index_possible_how: ClassVar[str] = ""
    #: How to save a plan file this dialect reads, for failure messages.
    plan_file_hint: ClassVar[str] = ""

    def explain(
        self,
        raw: Any,
        sql: str,
        params: Any = None,
        *,
        analyze: bool = False,
        buffers: bool = False,
    ) -> Plan:
        """The plan of ``sql``; with ``analyze`` the statement runs (its changes undone)."""
        raise UnsupportedDialect(f"plans for dialect {self.name!r} are not available")

    def scan_check_plan(
        self, raw: Any, sql: str, params: Any, mode: str
    ) -> tuple[Plan, str | None]:
        """The plan a scan assertion judges in ``mode`` ("index-possible": taken so that any
        usable index is used; "planner": as chosen), and a note on how it was taken when that
        matters for the verdict."""
        raise UnsupportedDialect(f"plans for dialect {self.name!r} are not available")

    def index_advice(
        self, sql: str, plan: Plan, relations: set[str]
    ) -> tuple[list[MissingIndex], str]:
        """Indexes that would serve ``sql`` on the scanned ``relations`` (lower-case names),
        and where the advice comes from."""
        return [], ""

    def looks_like_plan(self, head: str, suffix: str) -> bool:
        """Whether a saved file (its first characters, its suffix) holds this dialect's plan."""
        return False

    def parse_plan(self, data: bytes | str, *, source: str | None = None) -> Plan:
        raise UnsupportedDialect(f"plans for dialect {self.name!r} are not available")

    def row_count(self, raw: Any, table: str, *, exact: bool = False) -> int:
        """Rows of ``table``: statistics, or ``COUNT(*)`` when ``exact`` or none are kept."""
        raise UnsupportedDialect(f"row counts for dialect {self.name!r} are not available")

    # -- plan snapshots -----------------------------------------------------------------------
    def shape_conventions(self) -> ShapeConventions:
        """How plan shapes normalise this engine's plans (:mod:`pytest_cdc.plans.shape`):
        which operators are gathers, decorations, joins; what differs between versions."""
        from pytest_cdc.plans.shape import ShapeConventions

        return ShapeConventions()

    def snapshot_plan(self, raw: Any, sql: str, params: Any, mode: str) -> Plan:
        """The plan a snapshot records in ``mode`` (as :meth:`scan_check_plan` takes it), with
        partitions named by their parent table."""
        return self.scan_check_plan(raw, sql, params, mode)[0]

    def generic_plan(self, raw: Any, sql: str, mode: str, *, seek_joins: bool = False) -> Plan:
        """The plan of ``sql`` as a query file holds it, its placeholders left unbound; with
        ``seek_joins`` (in "index-possible" mode) joins must seek the inner side by index
        where any index allows it, so a join a nested loop could serve never shows a walk of
        the whole index (engines whose index-possible mode already forces seeks ignore it)."""
        return self.snapshot_plan(raw, sql, None, mode)

    def index_reads(self, raw: Any, plan: Plan, table: str) -> list[IndexRead]:
        """The reads of ``table`` through an index in ``plan``, with what each seeks on."""
        raise UnsupportedDialect(f"index reads for dialect {self.name!r} are not available")

    def load_statistics(self, raw: Any, stats: Mapping[str, Any]) -> int:
        """Load planner statistics (a statistics file's content) in the connection's
        transaction; returns how many relations and columns were loaded."""
        raise UnsupportedDialect(
            f"loading planner statistics is not available for {self.display_name or self.name}"
        )

    def export_statistics(self, raw: Any, tables: Sequence[str]) -> dict[str, Any]:
        """The planner statistics of ``tables``, as a statistics file holds them."""
        raise UnsupportedDialect(
            f"exporting planner statistics is not available for {self.display_name or self.name}"
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
        """``CREATE INDEX`` with quoted identifiers (``columns`` may hold ``(expression)``)."""
        raise UnsupportedDialect(f"index ddl for dialect {self.name!r} is not available")

    def index_columns(self, columns: Sequence[str], include: Sequence[str] = ()) -> tuple[str, str]:
        """An index's quoted key list (an ``(expression)`` is copied as is) and its
        `` INCLUDE (...)`` clause, or ``""``."""
        keys = ", ".join(c if _expression(c) else self.quote_identifier(c) for c in columns)
        if not include:
            return keys, ""
        return keys, f" INCLUDE ({', '.join(self.quote_identifier(c) for c in include)})"

    # -- checksums ------------------------------------------------------------------------
    def checksum_sql(self, options: EncodingOptions) -> SqlGenerator:
        """The generator of this engine's checksum, catalog and key SQL (docs/checksum.md)."""
        raise UnsupportedDialect(
            f"reconciliation does not support the {self.name!r} dialect: use postgresql or mssql"
        )

    def begin_comparison(
        self,
        stack: contextlib.ExitStack,
        ex: Executor,
        *,
        timeout: float | None,
        lock_timeout: float | None,
        snapshot: str | None = None,
    ) -> ServerFacts:
        """Prepare one connection for a comparison (undone when ``stack`` closes) and say what
        the comparison must know of the server."""
        raise UnsupportedDialect(
            f"reconciliation does not support the {self.name!r} dialect: use postgresql or mssql"
        )

    def repair_writer(self) -> RepairWriter:
        """What writes repair SQL for a target of this engine (docs/replica.md, "Repair")."""
        raise UnsupportedDialect(
            f"repair SQL is written for a PostgreSQL target; the target is {self.display_name}:"
            " leave out --repair-sql (a --signal-table snapshot repairs through the pipeline)"
        )

    #: A query of the connection's database name when Debezium names this engine's tables
    #: ``database.schema.table`` (its ``signal.data.collection`` format); None: ``schema.table``.
    debezium_database_query: ClassVar[str | None] = None

    def catalog_reader(self) -> CatalogReader | None:
        """What reads this engine's catalogs for schema validation (None: not supported)."""
        return None

    def export_snapshot(self, ex: Executor) -> str | None:
        """An id other connections can read the comparison's snapshot with (None: none)."""
        return None

    def share_workers(self, ex: Executor, workers: int) -> None:
        """Give this connection's queries ``workers`` parallel workers (when two sides share
        one server); engines without that knob do nothing."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def testcontainers_class(module: str, name: str) -> Any:
    """A container class of testcontainers, from where its release keeps it: 4.x moved the
    modules under ``testcontainers.community`` and the old paths warn (DeprecationWarning) on
    import, which a suite running with ``-W error`` turns into a failure; before that move
    only the old paths exist.  Raises ImportError without testcontainers."""
    import importlib

    try:
        found = importlib.import_module(f"testcontainers.community.{module}")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("testcontainers.community"):
            raise
        found = importlib.import_module(f"testcontainers.{module}")
    return getattr(found, name)


def run_quietly(raw: Any, statements: Sequence[str]) -> None:
    """Clean-up statements: they must never hide the error that ended the work they undo."""
    import contextlib

    with contextlib.suppress(Exception):
        cur = raw.cursor()
        try:
            for sql in statements:
                cur.execute(sql)
        finally:
            cur.close()


def split_qualified(name: str) -> list[str]:
    """``'dbo.orders'`` -> ``['dbo', 'orders']``; quoted parts keep their dots.

    Accepts "double quoted" and [bracketed] parts, so names copied from either engine work.
    Raises ValueError for an empty part or a quote that is never closed.
    """
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch in '"[' and not buf:
            closing = '"' if ch == '"' else "]"
            i += 1
            while i < len(name):
                if name[i] == closing:
                    if i + 1 < len(name) and name[i + 1] == closing:
                        buf.append(closing)
                        i += 2
                        continue
                    break
                buf.append(name[i])
                i += 1
            if i >= len(name):
                raise ValueError(f"the {ch!r} opened in {name!r} is never closed with {closing!r}")
            i += 1
            if i < len(name) and name[i] != ".":
                raise ValueError(f"{name!r} continues after a quoted part without a '.'")
            continue
        if ch == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    if any(p.strip() == "" for p in parts):
        raise ValueError(f"bad qualified name {name!r}")
    return parts


def _expression(column: str) -> bool:
    """Whether an index key is an ``(expression)``: one parenthesised whole, not a column
    whose name merely starts with a parenthesis (that one is quoted like any other)."""
    if not (column.startswith("(") and column.endswith(")")):
        return False
    depth = 0
    for i, char in enumerate(column):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and i < len(column) - 1:
            return False
    return depth == 0
