"""Public entry points: compare_schemas(), assert_schema_compatible(), read_catalog().

``source`` and ``target`` may each be a database URL string, a CdcConnection, anything with a
``connection()`` context manager (a DatabaseHandle or ConnectionPool), or a raw psycopg2 /
pyodbc connection, as for :func:`pytest_cdc.checksums.reconcile`.  Only catalog SELECTs run;
connections opened here are closed here.  Every statement goes through the checksum
executor, so the report lists it with its time, and a driver error is one line naming the
side.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_cdc.checksums.connections import open_both, opened
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.errors import ConfigError, did_you_mean, fail
from pytest_cdc.schema.catalog import CatalogReader
from pytest_cdc.schema.compare import check_profile, compare_catalogs
from pytest_cdc.schema.mapping import (
    ReplicaMapping,
    check_verdicts,
    load_mapping,
    parse_mapping,
    schema_lists,
)
from pytest_cdc.schema.model import Catalog
from pytest_cdc.schema.profiles import (
    AllowRule,
    Expectations,
    check_names,
    default_profile,
    get_profile,
    load_allow_list,
)
from pytest_cdc.schema.readers import reader_for
from pytest_cdc.schema.report import SchemaReport
from pytest_cdc.schema.rules import DEFAULT_ALLOW

#: Catalog reads are small; a statement that runs this long is stuck behind a lock.
DEFAULT_TIMEOUT = 120.0


class SchemaError(ConfigError):
    """The schemas cannot be compared as asked (a missing schema, a bad mapping)."""


def _mapping(value: ReplicaMapping | Mapping[str, Any] | str | Path | None) -> ReplicaMapping:
    if value is None:
        return ReplicaMapping()
    if isinstance(value, ReplicaMapping):
        return value
    if isinstance(value, (str, Path)):
        return load_mapping(value)
    return parse_mapping(value, origin="the mapping")


def _read(ex: Executor, reader: CatalogReader, session: Any, schemas: list[str]) -> Catalog:
    existing = {str(r[0]) for r in ex.run("schemas", reader.schemas_sql)}
    for name in schemas:
        if name not in existing:
            raise SchemaError(
                f"schema {name!r} does not exist on the {ex.label}"
                f"{did_you_mean(name, sorted(existing))}: check the mapping's schemas"
            )
    if not schemas:
        raise SchemaError(
            f"the {ex.label} connection has no default schema: name the schemas to compare"
            ' with schemas = { source = "target" } in the mapping'
        )
    count = len(schemas)
    columns = ex.run("columns", reader.columns_sql(ex.paramstyle, count), schemas)
    keys = ex.run("keys", reader.keys_sql(ex.paramstyle, count), schemas)
    catalog = reader.build(session, [(s,) for s in sorted(existing)], columns, keys)
    estimates = reader.estimates_sql(ex.paramstyle, count, catalog)
    if estimates is not None:
        catalog = reader.with_estimates(catalog, ex.run("partition estimates", estimates, schemas))
    capture = reader.capture_sql(ex.paramstyle, count)
    if capture is not None and any(t.cdc_enabled for t in catalog):
        catalog = reader.with_captures(catalog, ex.run("captured columns", capture, schemas))
    return catalog


def read_catalog(
    conn: Any, *, schemas: Iterable[str] | None = None, timeout: float | None = DEFAULT_TIMEOUT
) -> Catalog:
    """The catalog of ``schemas`` (default: the connection's default schema) on ``conn``."""
    with opened(conn, "database") as side:
        ex = Executor("database", side.raw, side.dialect, side.paramstyle, timeout)
        reader = reader_for(side.dialect.name)
        session = ex.run("session", reader.session_sql)[0]
        wanted = list(schemas) if schemas is not None else [session[0]] if session[0] else []
        return _read(ex, reader, session, wanted)


def _expectations(
    profile: str | None,
    allow_list: Iterable[AllowRule] | str | Path | None,
    mapping: ReplicaMapping,
    source: CatalogReader,
    target: CatalogReader,
) -> Expectations:
    name = profile if profile is not None else mapping.profile
    if name is None:
        chosen = default_profile(source.engine, target.engine)
    else:
        chosen = None if name == "none" else get_profile(name)
    check_profile(chosen, source.engine, target.engine)
    if isinstance(allow_list, (str, Path)):
        rules = load_allow_list(allow_list)
    else:
        rules = tuple(allow_list or ())
    rules = rules + mapping.allow_list
    check_names(rules, source, target)
    return Expectations(chosen, rules)


def compare_schemas(
    source: Any,
    target: Any,
    *,
    mapping: ReplicaMapping | Mapping[str, Any] | str | Path | None = None,
    profile: str | None = None,
    allow: Iterable[str] | None = None,
    allow_list: Iterable[AllowRule] | str | Path | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> SchemaReport:
    """Read both catalogs, pair tables and columns, and judge every column pair.

    ``mapping``: a :class:`ReplicaMapping`, its table as a dict, or a file (pyproject.toml
    or a replica TOML file); default: the default schema of each side, names as they are.
    ``profile``: ``debezium``, ``dms``, ``pgloader``, ``identity`` or ``none`` (default: the
    mapping's, or ``identity`` between two PostgreSQL databases).  ``allow``: the verdicts
    the report calls compatible (default: the mapping's, or widened and representation).
    ``allow_list``: extra accepted type pairs (rules or an allow-list file).
    """
    replica = _mapping(mapping)
    if allow is not None:
        allowed = check_verdicts(tuple(allow), "allow")
    else:
        allowed = DEFAULT_ALLOW if replica.allow is None else replica.allow
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        src, dst = open_both(stack, source, target)
        src_ex = Executor("source", src.raw, src.dialect, src.paramstyle, timeout)
        dst_ex = Executor("target", dst.raw, dst.dialect, dst.paramstyle, timeout)
        if dst.raw is src.raw:
            dst_ex.lock = src_ex.lock
        src_reader, dst_reader = reader_for(src.dialect.name), reader_for(dst.dialect.name)
        expectations = _expectations(profile, allow_list, replica, src_reader, dst_reader)
        src_session = src_ex.run("session", src_reader.session_sql)[0]
        dst_session = dst_ex.run("session", dst_reader.session_sql)[0]
        src_schemas, dst_schemas = schema_lists(replica, src_session[0], dst_session[0])
        if dst.raw is src.raw:
            catalogs = [
                _read(src_ex, src_reader, src_session, src_schemas),
                _read(dst_ex, dst_reader, dst_session, dst_schemas),
            ]
        else:
            # Two servers (or two connections): read both at once.
            with ThreadPoolExecutor(max_workers=1) as pool:
                later = pool.submit(_read, dst_ex, dst_reader, dst_session, dst_schemas)
                catalogs = [_read(src_ex, src_reader, src_session, src_schemas), later.result()]
        read = time.perf_counter()
        report = compare_catalogs(catalogs[0], catalogs[1], replica, expectations, allow=allowed)
    report.source, report.target = src.label, dst.label
    report.queries = [*src_ex.queries, *dst_ex.queries]
    finished = time.perf_counter()
    report.timings = {
        "catalogs": round(read - started, 6),
        "compare": round(finished - read, 6),
        "total": round(finished - started, 6),
    }
    return report


def assert_schema_compatible(
    source: Any,
    target: Any,
    *,
    allow: Iterable[str] = DEFAULT_ALLOW,
    **kwargs: Any,
) -> SchemaReport:
    """Fail the test (no traceback) unless every finding's verdict is in ``allow``.

    The message is the table of the findings that are not allowed: source column, type ->
    target column, type, verdict, why.  Takes the keyword arguments of
    :func:`compare_schemas`.
    """
    allowed = tuple(allow)
    report = compare_schemas(source, target, allow=allowed, **kwargs)
    if not report.compatible(allowed):
        fail(
            "schemas are not compatible: "
            + report.to_text(allowed, only_failing=True)
            + "\n(accept a verdict with allow=(...), or a type pair with an allow-list entry)"
        )
    return report
