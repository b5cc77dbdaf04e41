"""The catalog readers by engine name (the registry the rest of the package asks)."""

from __future__ import annotations

from pytest_cdc.errors import UnsupportedDialect, did_you_mean
from pytest_cdc.schema.catalog import CatalogReader
from pytest_cdc.schema.catalog_mssql import READER as MSSQL
from pytest_cdc.schema.catalog_postgres import READER as POSTGRES

READERS: dict[str, CatalogReader] = {reader.engine: reader for reader in (POSTGRES, MSSQL)}


def reader_for(engine: str) -> CatalogReader:
    """The catalog reader of a dialect name (``postgresql``, ``mssql``)."""
    found = READERS.get(engine)
    if found is None:
        raise UnsupportedDialect(
            f"schema validation does not support the {engine!r} dialect"
            f"{did_you_mean(engine, READERS)}: use postgresql or mssql"
        )
    return found
