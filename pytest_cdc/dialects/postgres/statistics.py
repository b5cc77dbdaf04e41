"""Planner statistics as a file: exported from any supported PostgreSQL, loaded into 18 or newer.

PostgreSQL 18 added ``pg_restore_relation_stats`` and ``pg_restore_attribute_stats`` (what
pg_dump's ``--statistics`` uses): with them a test database plans with production's
distributions (most common values, histograms, distinct counts, correlation).  Older servers
have no way to set statistics, so loading refuses them in one line.  The row count the planner
works with is still scaled by the table's real size on disk (``reltuples / relpages`` times the
current number of pages), so the loaded statistics shape selectivities, not the table's size.

The SQL is built by pure functions (:func:`restore_calls`, :func:`export_queries`); values
are always bound, never spliced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_cdc.errors import PlanError

#: What the file says it is, so a file of something else is refused by name.
FORMAT = "pytest-cdc-statistics/1"
#: The oldest server that can load statistics.
LOAD_SINCE = 18

#: Argument -> SQL type, as pg_restore_relation_stats / pg_restore_attribute_stats want them
#: (a value of another type is refused with a warning, so each is cast).
RELATION_ARGS: dict[str, str] = {
    "relpages": "integer",
    "reltuples": "real",
    "relallvisible": "integer",
    "relallfrozen": "integer",  # 18
}
ATTRIBUTE_ARGS: dict[str, str] = {
    "inherited": "boolean",
    "null_frac": "real",
    "avg_width": "integer",
    "n_distinct": "real",
    "most_common_vals": "text",
    "most_common_freqs": "real[]",
    "histogram_bounds": "text",
    "correlation": "real",
    "most_common_elems": "text",
    "most_common_elem_freqs": "real[]",
    "elem_count_histogram": "real[]",
    "range_length_histogram": "text",  # 17
    "range_empty_frac": "real",  # 17
    "range_bounds_histogram": "text",  # 17
}
_ARRAYS_AS_TEXT = frozenset(
    {
        "most_common_vals",
        "histogram_bounds",
        "most_common_elems",
        "range_length_histogram",
        "range_bounds_histogram",
    }
)
_RANGE_SINCE = 17


def export_queries(major: int) -> tuple[str, str]:
    """The relation and attribute queries for a server of version ``major`` (each takes the
    table name as its one bound parameter; anyarray columns are read as their text form,
    which is what the restore functions take)."""
    relation = (
        "SELECT n.nspname, c.relname, c.relpages, c.reltuples, c.relallvisible"
        + (", c.relallfrozen" if major >= LOAD_SINCE else "")
        + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = to_regclass(%s)"
    )
    columns = [k for k in ATTRIBUTE_ARGS if major >= _RANGE_SINCE or not k.startswith("range_")]
    selected = ", ".join(f"s.{k}::text" if k in _ARRAYS_AS_TEXT else f"s.{k}" for k in columns)
    attributes = (
        f"SELECT s.schemaname, s.tablename, s.attname, {selected}"
        " FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename"
        " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname"
        " WHERE c.oid = to_regclass(%s) ORDER BY s.attname, s.inherited"
    )
    return relation, attributes


def _bound(raw: Any, sql: str) -> str:
    """``sql`` in the driver's parameter style (psqlODBC through pyodbc takes ``?``)."""
    return sql.replace("%s", "?") if type(raw).__module__ == "pyodbc" else sql


def _major(raw: Any) -> int:
    cur = raw.cursor()
    try:
        cur.execute("SELECT current_setting('server_version_num')::int")
        return int(cur.fetchone()[0]) // 10000
    finally:
        cur.close()


def export_statistics(raw: Any, tables: Sequence[str]) -> dict[str, Any]:
    """The statistics of ``tables`` on this server (any supported version), as the file holds
    them.  A table never analysed has no attribute statistics: analyse it first."""
    relation_sql, attribute_sql = export_queries(_major(raw))
    relations: list[dict[str, Any]] = []
    attributes: list[dict[str, Any]] = []
    cur = raw.cursor()
    try:
        for table in tables:
            cur.execute(_bound(raw, relation_sql), (table,))
            row = cur.fetchone()
            if row is None:
                raise PlanError(f"table {table!r} does not exist: check the name and search_path")
            names = ["schemaname", "relname", *RELATION_ARGS][: len(row)]
            relations.append(_present(dict(zip(names, row, strict=True))))
            cur.execute(_bound(raw, attribute_sql), (table,))
            columns = [d[0] for d in cur.description]
            for found in cur.fetchall():
                entry = dict(zip(columns, found, strict=True))
                entry["relname"] = entry.pop("tablename")
                attributes.append(_present(entry))
    finally:
        cur.close()
    return {"format": FORMAT, "relations": relations, "attributes": attributes}


def _present(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if value is not None}


def _checked(stats: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    if not isinstance(stats, Mapping) or stats.get("format") != FORMAT:
        raise PlanError(
            f"not a statistics file: expected {{'format': {FORMAT!r}, ...}}; write one with"
            " pytest-cdc export-stats"
        )
    relations, attributes = stats.get("relations", []), stats.get("attributes", [])
    if not isinstance(relations, list) or not isinstance(attributes, list):
        raise PlanError("statistics file: 'relations' and 'attributes' must be lists")
    return relations, attributes


def restore_calls(stats: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """``(sql, params)`` calls that load ``stats`` (the file's content) on PostgreSQL 18+."""
    relations, attributes = _checked(stats)
    calls: list[tuple[str, list[Any]]] = []
    for kind, entries, known, identity in (
        ("relation", relations, RELATION_ARGS, ("schemaname", "relname")),
        ("attribute", attributes, ATTRIBUTE_ARGS, ("schemaname", "relname", "attname")),
    ):
        for entry in entries:
            if not isinstance(entry, Mapping) or not all(
                isinstance(entry.get(k), str) for k in identity
            ):
                raise PlanError(
                    f"statistics file: a {kind} entry lacks {', '.join(identity)}: {entry!r}"[:200]
                )
            args: list[str] = []
            params: list[Any] = []
            for key in identity:
                args.append(f"'{key}', %s::text")
                params.append(entry[key])
            for key, sql_type in known.items():
                if entry.get(key) is not None:
                    args.append(f"'{key}', %s::{sql_type}")
                    params.append(entry[key])
            calls.append((f"SELECT pg_restore_{kind}_stats({', '.join(args)})", params))
    return calls


def load_statistics(raw: Any, stats: Mapping[str, Any]) -> int:
    """Load ``stats`` into the connection's database, in its transaction (a rollback undoes
    it); returns how many relations and columns were loaded."""
    calls = restore_calls(stats)
    major = _major(raw)
    if major < LOAD_SINCE:
        raise PlanError(
            f"loading planner statistics needs PostgreSQL {LOAD_SINCE} or newer"
            f" (pg_restore_relation_stats); this server is {major}: snapshot in mode"
            " 'index-possible', or run the test on PostgreSQL 18"
        )
    notices = getattr(raw, "notices", None)
    seen = len(notices) if isinstance(notices, list) else 0
    cur = raw.cursor()
    try:
        for sql, params in calls:
            cur.execute(_bound(raw, sql), params)
            if cur.fetchone()[0] is not True:
                said = [n.strip() for n in (notices or [])[seen:]] if notices is not None else []
                what = ", ".join(str(p) for p in params[:3])
                raise PlanError(
                    f"statistics for {what} were not all loaded: {'; '.join(said) or 'no reason'}"
                )
    finally:
        cur.close()
    return len(calls)
