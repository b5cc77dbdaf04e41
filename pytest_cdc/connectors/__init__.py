"""Driver connectors: how one DB-API driver opens, checks and resets a connection.

The pool (:mod:`pytest_cdc.pool`) is generic over a :class:`Connector`, so the same pool code
serves psycopg2 and pyodbc.  Dialects (SQL flavour) pick a connector (driver) from the URL.
"""

from __future__ import annotations

from pytest_cdc.connectors.base import Connector

__all__ = ["Connector"]
