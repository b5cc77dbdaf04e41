"""compare_schemas() and assert_schema_compatible() end to end on the running server."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import odbc_connection_string, server_url

from pytest_cdc.schema import (
    ReplicaMapping,
    SchemaReport,
    assert_schema_compatible,
    compare_schemas,
)
from pytest_cdc.schema.profiles import allow_rules


@pytest.fixture
def tables(pg: Any, pair: list[str]) -> dict[str, str]:
    cur = pg.cursor()
    cur.execute(
        f"CREATE TABLE {pair[0]}.orders (id int PRIMARY KEY, total numeric(12,2) NOT NULL,"
        " placed timestamp(6), code varchar(20) NOT NULL UNIQUE, note text);"
        f"CREATE TABLE {pair[1]}.orders (id bigint PRIMARY KEY, total numeric(12,2) NOT NULL,"
        " placed timestamp(3), code varchar(10) NOT NULL, note text)"
    )
    return {pair[0]: pair[1]}


def test_report_pairs_columns_keys_and_encoding_options(pg: Any, tables: dict[str, str]) -> None:
    report = compare_schemas(pg, pg, mapping={"schemas": tables})
    (pair,) = report.pairs
    assert (pair.key, pair.target_key, pair.key_origin) == (["id"], ["id"], "primary key")
    assert pair.column_map == {c: c for c in ("id", "total", "placed", "code", "note")}
    verdicts = {c.source: c.verdict for c in pair.columns}
    assert verdicts == {
        "id": "widened",
        "total": "same",
        "placed": "lossy",
        "code": "lossy",
        "note": "same",
    }
    assert pair.encoding_options == {"timestamp_precision": 3}
    assert pair.comparable_columns == ["id", "total", "placed", "code", "note"]
    assert not report.compatible()
    assert {(f.kind, f.source_column) for f in report.failing()} == {
        ("type", "placed"),
        ("type", "code"),
    }
    # One statement per catalog aspect and side, whatever the number of tables.
    for side in ("source", "target"):
        purposes = [q.purpose for q in report.queries if q.side == side]
        assert purposes == ["session", "schemas", "columns", "keys"]
    assert SchemaReport.from_json(report.to_json()) == report


def test_the_failure_message_is_the_table_of_what_is_not_allowed(
    pg: Any, tables: dict[str, str]
) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_schema_compatible(server_url(), server_url(), mapping={"schemas": tables})
    message = str(failed.value)
    assert message.startswith("schemas are not compatible: schema ")
    assert "source column" in message and "verdict" in message
    lines = [line for line in message.splitlines() if ".orders." in line]
    assert len(lines) == 2  # the widened id is allowed, so not listed
    assert any("code" in line and "values longer than 10 characters" in line for line in lines)
    assert "allow=(...)" in message


def test_allowing_lossy_or_accepting_the_pair_passes(pg: Any, tables: dict[str, str]) -> None:
    mapping = {"schemas": tables}
    assert_schema_compatible(pg, pg, mapping=mapping, allow=("widened", "lossy"))
    rules = allow_rules(
        [
            {
                "source": "timestamp(4-6)",
                "target": "timestamp(3)",
                "verdict": "representation",
                "why": "millisecond target",
            },
            {"source": "varchar(11-40)", "target": "varchar(10)", "verdict": "widened"},
        ],
        "test",
    )
    report = assert_schema_compatible(pg, pg, mapping=mapping, allow_list=rules)
    placed = next(c for c in report.pairs[0].columns if c.source == "placed")
    assert (placed.verdict, placed.allowed_by) == ("representation", "test")
    assert "millisecond target" in placed.why
    assert placed.encoding_options == {"timestamp_precision": 3}  # the hint stays


def test_mapping_object_and_default_schemas(pg: Any, pair: list[str]) -> None:
    cur = pg.cursor()
    cur.execute(f"CREATE TABLE {pair[0]}.t (a int); CREATE TABLE {pair[1]}.t (a int)")
    mapping = ReplicaMapping(schemas={pair[0]: pair[1]}, include=("t",))
    report = compare_schemas(server_url(), server_url(), mapping=mapping)
    assert [p.source_table for p in report.pairs] == [f"{pair[0]}.t"]
    assert report.source == report.target  # masked URL labels
    # Without a mapping each side's default schema is compared.
    default = compare_schemas(
        server_url() + f"?options=-csearch_path%3D{pair[0]}",
        server_url() + f"?options=-csearch_path%3D{pair[1]}",
    )
    assert [p.source_table for p in default.pairs] == [f"{pair[0]}.t"]
    assert default.profile == "identity"  # the default between two PostgreSQL databases
    assert compare_schemas(pg, pg, mapping=mapping, profile="none").profile is None


def test_psqlodbc_connections_bind_with_question_marks(pg: Any, tables: dict[str, str]) -> None:
    pyodbc = pytest.importorskip("pyodbc")
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        pytest.skip("needs the psqlODBC driver 'PostgreSQL Unicode' (apt install odbc-postgresql)")
    conn = pyodbc.connect(odbc_connection_string(), autocommit=True)
    try:
        via_odbc = compare_schemas(conn, pg, mapping={"schemas": tables})
    finally:
        conn.close()
    via_psycopg2 = compare_schemas(pg, pg, mapping={"schemas": tables})
    assert via_odbc.pairs == via_psycopg2.pairs
    assert "?" in next(q.sql for q in via_odbc.queries if q.purpose == "columns")


def test_assertion_shows_no_traceback(pytester: pytest.Pytester, pair: list[str], pg: Any) -> None:
    cur = pg.cursor()
    cur.execute(f"CREATE TABLE {pair[0]}.t (a numeric(9,2)); CREATE TABLE {pair[1]}.t (a int)")
    pytester.makepyfile(
        f"""
        from pytest_cdc.schema import assert_schema_compatible

        def test_replica():
            assert_schema_compatible({server_url()!r}, {server_url()!r},
                                     mapping={{"schemas": {{{pair[0]!r}: {pair[1]!r}}}}})
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "integer holds no fractions" in out
    assert "assert_schema_compatible(" not in out  # pytrace=False: no code excerpt


def test_importing_the_schema_package_costs_nothing() -> None:
    """No pytest (only the plugin may import it), no driver, no SQL parser at import."""
    import subprocess
    import sys

    code = (
        "import sys, pytest_cdc.schema, pytest_cdc.cli.schema\n"
        "heavy = {'pytest', 'psycopg2', 'pyodbc', 'sqlglot', 'hypothesis'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
