"""Planner statistics files: export them from production, load them before snapshotting plans
in ``planner`` mode, so a test database plans with production's distributions.

The engine object does the work (:meth:`~pytest_cdc.dialects.base.Dialect.export_statistics`,
:meth:`~pytest_cdc.dialects.base.Dialect.load_statistics`); PostgreSQL loads statistics from
18 on, and says so plainly on older servers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_cdc.errors import PlanError

__all__ = ["export_statistics", "load_statistics", "read_statistics"]


def _engine(db: Any) -> tuple[Any, Any]:
    from pytest_cdc.database import CdcConnection, dialect_of

    try:
        dialect = dialect_of(db)
    except TypeError as exc:
        raise PlanError(f"{exc}: pass a CdcConnection, psycopg2 or pyodbc connection") from None
    return dialect, db.raw if isinstance(db, CdcConnection) else db


def read_statistics(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A statistics file's content (one-line errors naming the file)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"statistics file {str(p)!r} does not exist") from None
    except OSError as exc:
        raise PlanError(f"cannot read statistics file {str(p)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise PlanError(f"statistics file {str(p)!r} is not valid json: {exc}") from None
    if not isinstance(data, dict):
        raise PlanError(f"statistics file {str(p)!r} does not hold a json object")
    return data


def load_statistics(db: Any, stats: str | os.PathLike[str] | Mapping[str, Any]) -> int:
    """Load a statistics file (its path, or its content) into ``db``'s database, in its
    transaction; returns how many relations and columns were loaded."""
    data = stats if isinstance(stats, Mapping) else read_statistics(stats)
    dialect, raw = _engine(db)
    return int(dialect.load_statistics(raw, data))


def export_statistics(db: Any, tables: Sequence[str]) -> dict[str, Any]:
    """The planner statistics of ``tables`` on ``db``, as a statistics file holds them."""
    if isinstance(tables, str):
        tables = [tables]
    dialect, raw = _engine(db)
    return dict(dialect.export_statistics(raw, list(tables)))
