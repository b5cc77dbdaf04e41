"""Repair SQL for a PostgreSQL target: what the target's catalog says about the columns a
repair writes, literals quoted by psycopg2 itself, and the statements.

The values come from the source (any engine) as the driver's Python objects and are quoted by
psycopg2 on a connection to the target, so a literal is right for that database's
``standard_conforming_strings``; each is cast to the target column's type.  psycopg2 is only
asked to quote what it quotes exactly: a float goes as the text of its shortest round trip
(``-0.0``, ``NaN`` and the infinities included) and a non-finite Decimal as its name
(psycopg2 writes ``Decimal('Infinity')`` as ``'NaN'::numeric``).
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_cdc.errors import ConfigError, QueryFailed

if TYPE_CHECKING:
    from pytest_cdc.checksums.execution import Executor
    from pytest_cdc.dialects.base import Dialect

_LINE_BREAK = re.compile(r"([\r\n])")
#: The target's columns: type (as a cast names it), identity kind ('a' always, 'd' by
#: default, '' none) and generated kind ('s' stored, '' none).
COLUMNS_SQL = (
    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attidentity::text,"
    " a.attgenerated::text"
    " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
    " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY a.attnum"
)
#: The column sets of the table's unique indexes that ON CONFLICT can infer (no predicate, no
#: expression).
UNIQUE_SQL = (
    "SELECT array_agg(a.attname::text ORDER BY a.attname)"
    " FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid"
    " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)"
    " WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indpred IS NULL"
    " AND i.indexprs IS NULL GROUP BY i.indexrelid"
)


@dataclass(frozen=True)
class TargetColumn:
    name: str
    type: str
    identity: str = ""
    generated: str = ""

    @property
    def always_identity(self) -> bool:
        return self.identity == "a"


@dataclass(frozen=True)
class TargetTable:
    """What a repair must know of the target table."""

    columns: dict[str, TargetColumn]
    #: Whether a unique index covers exactly the key columns (ON CONFLICT needs one).
    unique_key: bool


class PostgresRepair:
    """Writes repair statements for a PostgreSQL target."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    # -- the target -------------------------------------------------------------------------
    def check(self, raw: Any) -> None:
        """Refuse a connection psycopg2 does not drive: only it renders the literals."""
        if not type(raw).__module__.startswith("psycopg2"):
            raise ConfigError(
                "repair SQL quotes values with psycopg2: give the target as a postgresql://"
                f" URL or a psycopg2 connection (not a {type(raw).__module__}.{type(raw).__name__})"
            )

    def table(self, ex: Executor, schema: str, name: str, key: Sequence[str]) -> TargetTable:
        rows = ex.run("repair columns", COLUMNS_SQL, (schema, name))
        columns = {
            str(n): TargetColumn(str(n), str(t), str(i or ""), str(g or "")) for n, t, i, g in rows
        }
        uniques = ex.run("repair unique indexes", UNIQUE_SQL, (schema, name))
        unique = any(set(cols) == set(key) for (cols,) in uniques)
        return TargetTable(columns, unique)

    def conforming_strings(self, raw: Any) -> str:
        return str(raw.get_parameter_status("standard_conforming_strings") or "on")

    # -- literals ---------------------------------------------------------------------------
    def literal(self, cur: Any, value: Any, type_name: str) -> str:
        """``value`` (a driver's Python object) as a literal of ``type_name``, quoted by
        psycopg2 on ``cur``'s connection (so for its standard_conforming_strings)."""
        if value is None:
            return "NULL"
        plain = _plain(value)
        if isinstance(plain, str) and _LINE_BREAK.search(plain):
            # A line break inside a literal would be at the mercy of whatever carries the file
            # (an editor, git's autocrlf, Python's universal newlines turn \r into \n): the
            # text goes as quoted pieces joined by chr(10) and chr(13).
            pieces = [
                f"chr({ord(p)})" if _LINE_BREAK.fullmatch(p) else self._quote(cur, p, type_name)
                for p in _LINE_BREAK.split(plain)
                if p
            ]
            return f"CAST(({' || '.join(pieces)}) AS {type_name})"
        return f"CAST({self._quote(cur, plain, type_name)} AS {type_name})"

    def _quote(self, cur: Any, value: Any, type_name: str) -> str:
        try:
            quoted = cur.mogrify("%s", (value,))
        except (ValueError, TypeError) as exc:
            raise QueryFailed(
                f"a {type(value).__name__} value cannot be written to a {type_name} column"
                f" ({exc}): leave the column out of the comparison or repair it by hand",
                side="target",
                purpose="repair",
            ) from None
        return _decode(cur, quoted)

    # -- statements -------------------------------------------------------------------------
    def begin(self) -> list[str]:
        # Naive timestamps (a datetimeoffset read as UTC, a timestamp paired with a
        # timestamptz) are UTC in the comparison: cast to timestamptz they must be too.
        return ["BEGIN;", "SET LOCAL TimeZone = 'UTC';"]

    def commit(self) -> list[str]:
        return ["COMMIT;"]

    def upsert(
        self,
        table: str,
        target: TargetTable,
        columns: Sequence[str],
        key: Sequence[str],
        rows: Sequence[Sequence[str]],
    ) -> list[str]:
        """INSERT ... ON CONFLICT (key) DO UPDATE of ``rows`` (literals, in ``columns``
        order); columns the target generates are never written.  Without a unique index on
        exactly the key, the rows are deleted and inserted instead (as idempotent)."""
        q = self.dialect.quote_identifier
        keep = [i for i, c in enumerate(columns) if not target.columns[c].generated]
        names = [columns[i] for i in keep]
        overriding = any(target.columns[c].always_identity for c in names)
        head = f"INSERT INTO {table} ({', '.join(q(c) for c in names)})"
        if overriding:
            # GENERATED ALWAYS AS IDENTITY refuses a given value unless told.
            head += " OVERRIDING SYSTEM VALUE"
        values = ",\n  ".join("(" + ", ".join(row[i] for i in keep) + ")" for row in rows)
        if not target.unique_key:
            keys = [[row[columns.index(k)] for k in key] for row in rows]
            return [self.delete(table, key, keys), f"{head}\nVALUES\n  {values};"]
        updated = [c for c in names if c not in key and not target.columns[c].always_identity]
        conflict = f"ON CONFLICT ({', '.join(q(k) for k in key)})"
        if updated:
            sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in updated)
            action = f"{conflict} DO UPDATE SET {sets}"
        else:
            action = f"{conflict} DO NOTHING"
        return [f"{head}\nVALUES\n  {values}\n{action};"]

    def delete(self, table: str, key: Sequence[str], keys: Sequence[Sequence[str]]) -> str:
        """DELETE of the rows whose key columns ``key`` hold the literals ``keys``."""
        q = self.dialect.quote_identifier
        if len(key) == 1:
            lhs, rows = q(key[0]), [k[0] for k in keys]
        else:
            lhs = "(" + ", ".join(q(k) for k in key) + ")"
            rows = ["(" + ", ".join(k) + ")" for k in keys]
        return f"DELETE FROM {table}\nWHERE {lhs} IN (\n  " + ",\n  ".join(rows) + "\n);"


def _plain(value: Any) -> Any:
    """What psycopg2 quotes exactly, for ``value``."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)  # the shortest round trip, "-0.0" kept
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        if value.is_nan():
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.timezone.utc)
    return value


def _decode(cur: Any, quoted: bytes | str) -> str:
    if isinstance(quoted, str):
        return quoted
    from psycopg2.extensions import encodings

    return quoted.decode(encodings.get(cur.connection.encoding, "utf-8"))
