"""The catalog reader of an engine: the engine object binds it
(:meth:`~pytest_cdc.dialects.base.Dialect.catalog_reader`)."""

from __future__ import annotations

from pytest_cdc.errors import UnsupportedDialect
from pytest_cdc.schema.catalog import CatalogReader


def reader_for(engine: str) -> CatalogReader:
    """The catalog reader of a dialect name (``postgresql``, ``mssql``, or an alias)."""
    from pytest_cdc.dialects import get_dialect

    dialect = get_dialect(engine)
    reader = dialect.catalog_reader()
    if reader is None:
        raise UnsupportedDialect(
            f"schema validation does not support the {dialect.name!r} dialect: use postgresql"
            " or mssql"
        )
    return reader
