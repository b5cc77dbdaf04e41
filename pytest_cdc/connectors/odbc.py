"""Any ODBC data source through pyodbc (SQL Server; PostgreSQL through psqlODBC)."""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

from pytest_cdc.errors import DatabaseUnavailable
from pytest_cdc.urls import mask_password

if TYPE_CHECKING:
    from pytest_cdc.urls import DatabaseURL


def _disable_odbc_pooling() -> None:
    # The driver manager's own pooling would keep "closed" connections alive behind our pool's
    # back; it must be off before the first connect, which is why this runs on every connect.
    import pyodbc

    if pyodbc.pooling:
        pyodbc.pooling = False


def odbc_value(value: str) -> str:
    """Quote an ODBC connection-string value when it holds ``;``, braces or blanks."""
    if value == "" or any(c in value for c in ";{}= ") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def build_connection_string(params: dict[str, str]) -> str:
    return ";".join(f"{key}={odbc_value(val)}" for key, val in params.items() if val is not None)


def is_freetds(driver: str) -> bool:
    """FreeTDS (Debian's ``tdsodbc``), by its registered name or its library path."""
    lowered = driver.lower()
    return "freetds" in lowered or "libtdsodbc" in lowered


def url_connection_string(
    url: DatabaseURL,
    *,
    default_driver: str,
    default_database: str,
    default_port: int,
    database: str | None = None,
    comma_port: bool = False,
) -> str:
    """The ODBC connection string for a database URL; the one place that builds them.

    Every query parameter is an ODBC keyword (``driver`` picks the driver).  ``comma_port``:
    the driver takes Microsoft's ``SERVER=host,port``; FreeTDS (and psqlODBC) take
    ``SERVER=host;PORT=port`` instead, and FreeTDS gets ``TDS_Version=7.4`` unless given, the
    version SQL Server 2012 and later speak (its own default is too old for them).
    """
    params = dict(url.query)
    driver = _pop(params, "driver") or default_driver
    host = _pop(params, "host") or url.host or "localhost"
    port = str(url.port or default_port)
    out: dict[str, str] = {"DRIVER": driver}
    if comma_port and not is_freetds(driver):
        out["SERVER"] = f"{host},{port}"
    else:
        out["SERVER"] = host
        out["PORT"] = port
        if is_freetds(driver) and not any(k.lower() == "tds_version" for k in params):
            out["TDS_Version"] = "7.4"
    out["DATABASE"] = database or url.database or default_database
    if url.user:
        out["UID"] = url.user
    if url.password is not None:
        out["PWD"] = url.password
    out.update(params)
    return build_connection_string(out)


def _pop(params: dict[str, str], key: str) -> str | None:
    for name in list(params):
        if name.lower() == key:
            return params.pop(name)
    return None


def _driver_of(connection_string: str) -> str | None:
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "driver":
            return value.strip().strip("{}").replace("}}", "}")
    return None


def missing_driver(exc: BaseException, connection_string: str) -> DatabaseUnavailable | None:
    """A clear error when the ODBC driver manager cannot load the driver, else None."""
    text = " ".join(str(a) for a in getattr(exc, "args", ()))
    if "Can't open lib" not in text and "IM002" not in text and "Data source name" not in text:
        return None
    import pyodbc

    driver = _driver_of(connection_string) or "?"
    installed = ", ".join(repr(d) for d in pyodbc.drivers()) or "none"
    return DatabaseUnavailable(
        f"the ODBC driver {driver!r} is not installed (installed: {installed}): install"
        " Microsoft's msodbcsql18, or use FreeTDS (Debian package tdsodbc) with"
        " ?driver=FreeTDS in the mssql:// URL"
    )


class OdbcConnector:
    """Connections through one ODBC connection string."""

    paramstyle = "qmark"

    def __init__(self, connection_string: str, *, dialect: str = "mssql") -> None:
        self.connection_string = connection_string
        self.dialect = dialect

    def connect(self, *, timeout: float | None = None) -> Any:
        _disable_odbc_pooling()
        import pyodbc

        kwargs: dict[str, Any] = {"autocommit": True}
        if timeout is not None:
            kwargs["timeout"] = max(1, round(timeout))
        try:
            return pyodbc.connect(self.connection_string, **kwargs)
        except pyodbc.Error as exc:
            clear = missing_driver(exc, self.connection_string)
            if clear is not None:
                raise clear from None
            raise

    def close(self, conn: Any) -> None:
        # Closing a broken connection may fail; there is nothing left to do about it.
        with suppress(Exception):
            conn.close()

    def check(self, conn: Any) -> None:
        cur = conn.cursor()
        try:
            cur.execute("SELECT 1")
            cur.fetchone()
        finally:
            cur.close()

    def is_broken(self, conn: Any) -> bool:
        # pyodbc has no cheap "closed" flag; a closed connection raises on attribute access.
        try:
            _ = conn.autocommit
        except Exception:
            return True
        return False

    def in_transaction(self, conn: Any) -> bool:
        # With autocommit off, pyodbc always has an implicit transaction open.
        return not bool(conn.autocommit)

    def rollback(self, conn: Any) -> None:
        """Roll back whatever is open and put ``conn`` back in autocommit mode."""
        conn.rollback()
        conn.autocommit = True

    def describe(self) -> str:
        return mask_password(self.connection_string)
