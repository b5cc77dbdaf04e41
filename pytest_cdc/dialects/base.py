"""What every database dialect provides.

A dialect is data plus a few small methods: the URL schemes it serves, how to quote, how to
connect, and how to make and drop the throwaway databases that ``database`` isolation uses.
Subclasses override constants and the pieces that really differ (see sqlglot's dialects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pytest_cdc.errors import DatabaseUnavailable, UnsupportedDialect

if TYPE_CHECKING:
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.urls import DatabaseURL


class Dialect:
    #: Canonical name, used in reports and by get_dialect().
    name: ClassVar[str] = ""
    #: Human name for messages.
    display_name: ClassVar[str] = ""
    #: URL schemes served by this dialect.
    schemes: ClassVar[tuple[str, ...]] = ()
    #: sqlglot dialect name for parsing and generating SQL.
    sqlglot_dialect: ClassVar[str] = ""
    default_port: ClassVar[int | None] = None
    #: Quote characters for identifiers (opening, closing).
    identifier_quotes: ClassVar[tuple[str, str]] = ('"', '"')
    #: Whether CREATE DATABASE ... can copy a template database.
    supports_templates: ClassVar[bool] = False
    #: False for file-based engines whose URLs have no host (sqlite:///path).
    requires_host: ClassVar[bool] = True
    #: Maximum identifier length in bytes, for generated names.
    max_identifier_length: ClassVar[int] = 128

    def quote_identifier(self, name: str) -> str:
        """Quote one identifier; the closing quote inside the name is doubled."""
        opening, closing = self.identifier_quotes
        if "\x00" in name:
            raise ValueError(f"identifier {name!r} contains a NUL character")
        return opening + name.replace(closing, closing * 2) + closing

    def quote_table(self, table: str) -> str:
        """Quote ``schema.table`` (split on the first unquoted dot) or ``table``."""
        return ".".join(self.quote_identifier(part) for part in split_qualified(table))

    # -- connections --------------------------------------------------------------------
    def connector(self, url: DatabaseURL, *, database: str | None = None) -> Connector:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot connect to {url.masked!r}")

    def connect(self, url: DatabaseURL, *, database: str | None = None) -> Any:
        """A new driver connection with autocommit on."""
        return self.connector(url, database=database).connect()

    def server_version(self, conn: Any) -> str:
        cur = conn.cursor()
        try:
            cur.execute(self.version_query)
            row = cur.fetchone()
        finally:
            cur.close()
        return str(row[0]) if row else "unknown"

    version_query: ClassVar[str] = "SELECT 1"
    #: Oldest server major version the generated SQL runs on (None: no floor).
    min_major_version: ClassVar[int | None] = None

    def check_server_version(self, version: str, *, name: str) -> None:
        """Refuse a server older than ``min_major_version`` (``version`` as server_version()
        returned it), in one line naming database ``name``."""
        if self.min_major_version is None:
            return
        head = version.split()[0] if version.split() else ""
        major = head.split(".")[0]
        if major.isdigit() and int(major) < self.min_major_version:
            raise DatabaseUnavailable(
                f"database {name!r} is {self.display_name} {head}, older than pytest-cdc"
                f" supports ({self.min_major_version} or newer): upgrade it or pass"
                f" --cdc-db={name}=URL of a newer server"
            )

    # -- transactions -------------------------------------------------------------------
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

    # -- throwaway databases ------------------------------------------------------------
    def create_database_sql(
        self, name: str, template: str | None, *, version_num: int | None = None
    ) -> list[str]:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot create databases")

    def drop_database_sql(self, name: str) -> list[str]:
        raise UnsupportedDialect(f"dialect {self.name!r} cannot drop databases")

    def split_script(self, script: str) -> list[str]:
        """Split a load script into batches the driver can run one at a time."""
        return [script] if script.strip() else []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def split_qualified(name: str) -> list[str]:
    """``'dbo.orders'`` -> ``['dbo', 'orders']``; quoted parts keep their dots.

    Accepts "double quoted" and [bracketed] parts, so names copied from either engine work.
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
    if any(p == "" for p in parts):
        raise ValueError(f"bad qualified name {name!r}")
    return parts
