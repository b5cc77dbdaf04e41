"""Repair SQL end to end on the running server: a source and a target schema holding every type
class with hostile values, the target corrupted (changed values, deleted rows, extra rows);
validate, write the repair SQL, apply it to the target with psycopg2, validate again: the
replica is validated.  Again on a database whose standard_conforming_strings is off, applied
twice (idempotent), parsed by sqlglot; and the Debezium signal rows (PostgreSQL and T-SQL).
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import connect, schemas, server_url

from pytest_cdc.replica import ReplicaReport, validate_replica
from pytest_cdc.replica.repair import SIGNAL_DATA_LIMIT, repair_script

HOSTILE = [
    "O'Reilly",
    "back\\slash",
    "\\x41 not hex",
    "E'\\'' --",
    "'; DROP TABLE x; --",
    "$$ dollar $$",
    "\u00fcn\u00ef \u6f22\u5b57",
    "emoji \U0001f600\U0001f469\u200d\U0001f4bb",
    "new\nline\r\ttab",
    "trail\\",
    "",
]
FLOATS = [float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324, 0.1, -2.5e-10]
REALS = [float("nan"), float("-inf"), -0.0, 3.4e38, 1.5e-45, 0.1]
NUMERICS = ["NaN", "Infinity", "-Infinity", "1.50", "-0.0001", "123456789012345678901234567890.12"]
ROWS = 24


def float_text(value: float) -> str:
    if value != value:
        return "NaN"
    return {float("inf"): "Infinity", float("-inf"): "-Infinity"}.get(value, repr(value))


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclasses.dataclass
class Replica:
    url: str
    source: str
    target: str

    @property
    def mapping(self) -> dict[str, Any]:
        return {"schemas": {self.source: self.target}}

    def validate(self, **kwargs: Any) -> ReplicaReport:
        return validate_replica(self.url, self.url, mapping=self.mapping, **kwargs)


def build(conn: Any, r: Replica) -> None:
    cur = conn.cursor()
    s, t = q(r.source), q(r.target)
    for schema in (s, t):
        cur.execute(
            f"CREATE TABLE {schema}.kinds (id int PRIMARY KEY, i int, b bigint, n numeric,"
            " f float8, r real, t text, c char(6), by bytea, bo bool, d date, ts timestamp,"
            " tz timestamptz, u uuid, j json, jb jsonb)"
        )
        cur.execute(f"CREATE TABLE {schema}.composite (a int, b text, v text, PRIMARY KEY (a, b))")
        cur.execute(f"CREATE TABLE {schema}.textkey (k text PRIMARY KEY, v int)")
    rows = []
    for i in range(ROWS):
        text = HOSTILE[i % len(HOSTILE)]
        rows.append(
            (
                i,
                -(2**31) + i if i % 2 else 2**31 - 1 - i,
                -(2**63) + i if i % 3 else 2**63 - 1 - i,
                NUMERICS[i % len(NUMERICS)],
                float_text(FLOATS[i % len(FLOATS)]),
                float_text(REALS[i % len(REALS)]),
                text,
                text[:6].replace("\n", " ") if i % 5 else None,
                bytes(range(256)) if i % 2 else bytes([0, 92, 39, 255, i]),
                [True, False, None][i % 3],
                ["0001-01-01", "9999-12-31", "2020-02-29"][i % 3],
                f"2020-01-01 00:00:00.{i:06d}",
                f"2020-06-0{1 + i % 9} 12:34:56.123456+05:30",
                str(uuid.UUID(int=i * 7919)),
                json.dumps({"b": i, "a": text}) + "  ",
                json.dumps({"k": [text, i, None]}),
            )
        )
    from psycopg2.extras import execute_values

    for schema in (s, t):
        # Numbers as text: psycopg2 writes -0.0 as a numeric (which has no -0) and a Decimal
        # infinity as NaN.
        template = "(%s, %s, %s, %s::numeric, %s::float8, %s::real" + ", %s" * 10 + ")"
        execute_values(cur, f"INSERT INTO {schema}.kinds VALUES %s", rows, template=template)
        execute_values(
            cur,
            f"INSERT INTO {schema}.composite VALUES %s",
            [(i, HOSTILE[i], f"v{i}") for i in range(len(HOSTILE))],
        )
        execute_values(
            cur,
            f"INSERT INTO {schema}.textkey VALUES %s",
            [(k or "(empty)", n) for n, k in enumerate(HOSTILE)],
        )
    # Identity and generated columns on the target, and a column only the target has.
    cur.execute(f"CREATE TABLE {s}.ident (id int PRIMARY KEY, v text, g int)")
    cur.execute(
        f"CREATE TABLE {t}.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text,"
        " g int GENERATED ALWAYS AS (length(v)) STORED, own text DEFAULT 'kept')"
    )
    cur.execute(
        f"INSERT INTO {s}.ident SELECT g, 'v' || g, length('v' || g) FROM generate_series(1, 20) g"
    )
    cur.execute(
        f"INSERT INTO {t}.ident (id, v) OVERRIDING SYSTEM VALUE"
        " SELECT g, 'v' || g FROM generate_series(1, 20) g"
    )
    cur.execute(f"UPDATE {t}.ident SET own = 'mine' WHERE id = 3")
    # A table that cannot be repaired (compared columns of no common format): left out.
    for schema in (s, t):
        cur.execute(f"CREATE TABLE {schema}.shapes (id int PRIMARY KEY, p point)")
        cur.execute(f"INSERT INTO {schema}.shapes VALUES (1, point(1, 2))")


def corrupt(conn: Any, r: Replica) -> None:
    cur = conn.cursor()
    t = q(r.target)
    # Every column of some rows changed, rows deleted, rows only the target has.
    cur.execute(
        f"UPDATE {t}.kinds SET i = i + 1, b = b / 2, n = 7, f = 1.25, r = 2, t = t || 'x',"
        " c = 'zz', by = 'x', bo = NOT bo, d = d - 1, ts = ts + interval '1 us',"
        " tz = tz + interval '1 s', u = gen_random_uuid(), j = '{}', jb = '[]' WHERE id % 4 = 1"
    )
    cur.execute(f"UPDATE {t}.kinds SET t = NULL, n = NULL, f = NULL WHERE id = 2")
    cur.execute(f"DELETE FROM {t}.kinds WHERE id % 5 = 3")
    cur.execute(
        f"INSERT INTO {t}.kinds (id, t, f) VALUES (1000, E'extra''\\\\', 'NaN'), (1001, NULL, NULL)"
    )
    cur.execute(f"UPDATE {t}.composite SET v = 'changed' WHERE a IN (1, 4)")
    cur.execute(f"DELETE FROM {t}.composite WHERE a IN (2, 7)")
    cur.execute(
        f"INSERT INTO {t}.composite VALUES (2, E'stray''\\\\', 'x'), (99, '\U0001f600', 'y')"
    )
    cur.execute(f"UPDATE {t}.textkey SET v = -1 WHERE k IN ('O''Reilly', E'trail\\\\')")
    cur.execute(f"DELETE FROM {t}.textkey WHERE k = E'back\\\\slash' OR k LIKE 'emoji%'")
    cur.execute(f"INSERT INTO {t}.textkey VALUES (E'only\\\\here''', 1), ('', 2)")
    cur.execute(f"UPDATE {t}.ident SET v = 'changed' WHERE id IN (3, 4)")
    cur.execute(f"DELETE FROM {t}.ident WHERE id = 5")
    cur.execute(f"INSERT INTO {t}.ident (id, v) OVERRIDING SYSTEM VALUE VALUES (99, 'extra')")


MISMATCHED = {"kinds", "composite", "textkey", "ident"}


def states(r: Replica, report: ReplicaReport) -> dict[str, str]:
    return {t.source_table.split(".", 1)[1]: t.state for t in report.tables}


@pytest.fixture(scope="module")
def replica(pg: Any) -> Iterator[Replica]:
    with schemas(pg, 2) as (source, target):
        r = Replica(server_url(), source, target)
        build(pg, r)
        corrupt(pg, r)
        yield r


@pytest.fixture
def own_replica(pg: Any) -> Iterator[Replica]:
    """A corrupted replica of the test's own, for a test that must not see what the module's
    other tests did to theirs (a repair applied, or not yet, depending on the scheduling)."""
    with schemas(pg, 2) as (source, target):
        r = Replica(server_url(), source, target)
        build(pg, r)
        corrupt(pg, r)
        yield r


@pytest.fixture(scope="module")
def scs_off_url() -> Iterator[str]:
    """A throwaway database whose standard_conforming_strings is off."""
    name = f"repair_scs_off_{uuid.uuid4().hex[:8]}"
    admin = connect()
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE {name}")
    cur.execute(f"ALTER DATABASE {name} SET standard_conforming_strings = off")
    parts = urllib.parse.urlsplit(server_url())
    url = urllib.parse.urlunsplit(parts._replace(path="/" + name))
    try:
        yield url
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def apply(url: str, script: str) -> None:
    conn = connect(url)
    try:
        conn.cursor().execute(script)
    finally:
        conn.close()


def round_trip(r: Replica, tmp_path: Path) -> tuple[str, ReplicaReport]:
    path = tmp_path / "repair.sql"
    first = r.validate(repair_sql=path)
    assert not first.error, first.error
    found = states(r, first)
    assert {name for name, state in found.items() if state == "mismatched"} == MISMATCHED, found
    script = path.read_text(encoding="utf-8")
    apply(r.url, script)
    second = r.validate()
    assert {name for name, state in states(r, second).items() if state != "validated"} == {
        "shapes"
    }, second.to_text()
    return script, second


def test_round_trip_makes_the_target_equal(replica: Replica, tmp_path: Path) -> None:
    script, _ = round_trip(replica, tmp_path)
    assert "ON CONFLICT" in script and "DELETE FROM" in script
    assert "OVERRIDING SYSTEM VALUE" in script
    assert script.count("BEGIN;") == len(MISMATCHED) == script.count("COMMIT;")
    # The table it cannot repair is named with its reason; it gets no statements.
    assert re.search(r"--   \S+\.shapes -> \S+ \(incompatible\): only mismatched", script)
    assert f"{q(replica.target)}.{q('shapes')}" not in script
    # Applied twice: the same target (every statement idempotent).
    apply(replica.url, script)
    again = replica.validate()
    assert {t.state for t in again.tables if not t.source_table.endswith("shapes")} == {"validated"}
    # The column only the target has keeps its value; the generated column is left to it.
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT own, g FROM {q(replica.target)}.ident WHERE id IN (3, 4) ORDER BY id")
        assert cur.fetchall() == [("mine", 2), ("kept", 2)]
    assert "generated by the target, not written: g" in script
    # Values the canonical text cannot tell apart are still copied exactly.
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT f::text, r::text FROM {q(replica.target)}.kinds WHERE id = 3")
        assert cur.fetchone() == ("-0", "3.4e+38")


def test_hostile_values_survive_with_standard_conforming_strings_off(
    scs_off_url: str, tmp_path: Path
) -> None:
    conn = connect(scs_off_url)
    try:
        cur = conn.cursor()
        cur.execute("SHOW standard_conforming_strings")
        assert cur.fetchone() == ("off",)
        with schemas(conn, 2) as (source, target):
            r = Replica(scs_off_url, source, target)
            build(conn, r)
            corrupt(conn, r)
            script, _ = round_trip(r, tmp_path)
            assert "standard_conforming_strings = off" in script
            assert "E'" in script  # backslashes written as escapes, right for this database
    finally:
        conn.close()


def test_the_script_parses_as_postgresql(own_replica: Replica) -> None:
    sqlglot = pytest.importorskip("sqlglot")
    replica = own_replica
    with connect() as conn:
        cur = conn.cursor()
        cur.execute(f"UPDATE {q(replica.target)}.textkey SET v = 42 WHERE k = '$$ dollar $$'")
    report = replica.validate()
    script = repair_script(
        replica.url, replica.url, report, _pairs(replica), signal_table="public.dbz_signal"
    )
    # sqlglot's postgres dialect has no INSERT ... OVERRIDING SYSTEM VALUE (the identity
    # table's insert); the round trip above runs that statement on the server itself.
    assert script.count(" OVERRIDING SYSTEM VALUE") == 1
    parsed = script.replace(" OVERRIDING SYSTEM VALUE", "")
    statements = [s for s in sqlglot.parse(parsed, read="postgres") if s is not None]
    kinds = {type(s).__name__ for s in statements}
    assert {"Insert", "Delete", "Transaction", "Commit"} <= kinds, kinds
    assert sum(isinstance(s, sqlglot.exp.Insert) for s in statements) >= len(MISMATCHED)


def _pairs(r: Replica) -> list[Any]:
    from pytest_cdc.schema.api import compare_schemas

    return list(compare_schemas(r.url, r.url, mapping=r.mapping).pairs)


# -- Debezium signals -----------------------------------------------------------------------------
def signal_rows(script: str, dialect: str) -> list[dict[str, Any]]:
    import sqlglot
    from sqlglot import exp

    out = []
    for stmt in sqlglot.parse(script, read=dialect):
        if isinstance(stmt, exp.Insert) and "signal" in stmt.this.sql(dialect).lower():
            values = [v.this for v in stmt.expression.expressions[0].expressions]
            assert values[1] == "execute-snapshot"
            assert len(values[2]) <= SIGNAL_DATA_LIMIT
            out.append(json.loads(values[2]))
    return out


def test_signal_rows_snapshot_exactly_the_differing_source_keys(pg: Any) -> None:
    pytest.importorskip("sqlglot")
    with schemas(pg, 2) as (source, target):
        r = Replica(server_url(), source, target)
        cur = pg.cursor()
        for schema in (source, target):
            cur.execute(f"CREATE TABLE {q(schema)}.many (k text, n int, v int, PRIMARY KEY (k, n))")
            cur.execute(
                f"INSERT INTO {q(schema)}.many SELECT 'k''\\' || g, g, g"
                " FROM generate_series(1, 400) AS g"
            )
        cur.execute(f"UPDATE {q(target)}.many SET v = -v WHERE n % 2 = 0")
        cur.execute(f"DELETE FROM {q(target)}.many WHERE n = 1")
        cur.execute(f"INSERT INTO {q(target)}.many VALUES ('only', 0, 0)")
        report = r.validate()
        script = repair_script(r.url, r.url, report, _pairs(r), signal_table="public.dbz_signal")
        rows = signal_rows(script, "postgres")
        assert len(rows) > 1  # 201 keys do not fit one signal's data
        filters = []
        for data in rows:
            assert data["type"] == "incremental"
            assert data["data-collections"] == [f"{source}.many"]
            (condition,) = data["additional-conditions"]
            assert condition["data-collection"] == f"{source}.many"
            filters.append(condition["filter"])
        # The filters, run on the source as Debezium would, select exactly the keys to repair.
        picked = []
        for f in filters:
            cur.execute(f"SELECT n FROM {q(source)}.many WHERE {f}")
            picked += [n for (n,) in cur.fetchall()]
        assert sorted(picked) == [1, *range(2, 401, 2)]
        # More keys than a statement takes: several INSERTs, and the target ends equal.
        repair = script.split("-- Debezium execute-snapshot signals")[0]
        assert repair.count("INSERT INTO") > 1
        apply(r.url, repair)
        assert states(r, r.validate()) == {"many": "validated"}


def test_signal_rows_for_a_sql_server_source_are_tsql() -> None:
    """SQL generation only: no SQL Server runs here, so the T-SQL is parsed, not run."""
    pytest.importorskip("sqlglot")
    from pytest_cdc.checksums.connections import Opened
    from pytest_cdc.checksums.encoding import Column, ColumnPair, EncodingOptions, TypeClass
    from pytest_cdc.dialects.mssql import SqlServerDialect
    from pytest_cdc.replica.repair import TableRepair, _signals
    from pytest_cdc.replica.report import TableResult

    dialect = SqlServerDialect()
    gen = dialect.checksum_sql(EncodingOptions()).bare()
    key = [
        ColumnPair(
            Column("id", "int", TypeClass.INTEGER, nullable=False),
            Column("id", "integer", TypeClass.INTEGER, nullable=False),
            TypeClass.INTEGER,
            is_key=True,
        ),
        ColumnPair(
            Column("name", "nvarchar", TypeClass.TEXT, nullable=False),
            Column("name", "text", TypeClass.TEXT, nullable=False),
            TypeClass.TEXT,
            is_key=True,
        ),
    ]
    keys = [[str(i), HOSTILE[i % len(HOSTILE)]] for i in range(60)]
    repair = TableRepair(
        TableResult("dbo.orders", "public.orders"),
        conditions=[gen.key_match(key, "source", [k]) for k in keys],
        collection="shop.dbo.orders",
    )
    script = "\n".join(
        _signals(Opened(None, dialect, "qmark", "mssql"), "dbo.dbz_signal", [repair])
    )
    assert "[dbo].[dbz_signal]" in script
    rows = signal_rows(script, "tsql")
    assert len(rows) > 1
    text = " ".join(r["additional-conditions"][0]["filter"] for r in rows)
    for i, name in keys:
        assert f"[id] = {i} AND" in text
        if "\n" not in name:
            assert "N'" + name.replace("'", "''") + "'" in text
    assert "t.[" not in text  # bare column names: Debezium's query has no alias


# -- mistakes -----------------------------------------------------------------------------------
def test_a_signal_table_without_repair_sql_is_a_config_error(replica: Replica) -> None:
    from pytest_cdc.errors import ConfigError

    with pytest.raises(ConfigError, match="pass repair_sql"):
        replica.validate(signal_table="dbz")


def test_a_target_psycopg2_does_not_drive_is_one_line(replica: Replica, tmp_path: Path) -> None:
    pyodbc = pytest.importorskip("pyodbc")
    from helpers import odbc_connection_string

    try:
        odbc = pyodbc.connect(odbc_connection_string(), autocommit=True)
    except pyodbc.Error as exc:
        pytest.skip(f"needs psqlODBC: {exc}")
    try:
        report = validate_replica(
            replica.url, odbc, mapping=replica.mapping, repair_sql=tmp_path / "x.sql"
        )
    finally:
        odbc.close()
    assert "repair SQL quotes values with psycopg2" in report.error
    assert "\n" not in report.error


# -- the command ----------------------------------------------------------------------------------
def test_validate_command_writes_the_repair_sql_and_signals(
    replica: Replica, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_cdc.cli import main

    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {q(replica.target)}.composite WHERE a = 0")
    config = tmp_path / "replica.toml"
    config.write_text(f'schemas = {{ {replica.source} = "{replica.target}" }}\n')
    out = tmp_path / "fix.sql"
    url = replica.url
    common = ["validate", "--source", url, "--target", url, "--config", str(config)]
    args = [*common, "--repair-sql", str(out), "--signal-table", "public.dbz_signal"]
    assert main(args) == 1
    script = out.read_text(encoding="utf-8")
    assert "INSERT INTO" in script and "execute-snapshot" in script
    apply(url, script.split("-- Debezium execute-snapshot signals")[0])
    assert states(replica, replica.validate())["composite"] == "validated"
    capsys.readouterr()
    # A signal table alone is a mistake: one line, exit 2.
    assert main([*common, "--signal-table", "dbz"]) == 2
    err = capsys.readouterr().err
    assert "--signal-table is written into the repair SQL: pass --repair-sql FILE" in err
    assert len(err.strip().splitlines()) == 1


def test_keys_gone_from_the_source_are_deleted_and_suspended_tables_left_out(pg: Any) -> None:
    with schemas(pg, 2) as (source, target):
        r = Replica(server_url(), source, target)
        cur = pg.cursor()
        for schema in (source, target):
            for name in ("a", "b"):
                cur.execute(f"CREATE TABLE {q(schema)}.{name} (id int PRIMARY KEY, v text)")
                cur.execute(
                    f"INSERT INTO {q(schema)}.{name} SELECT g, 'v' FROM generate_series(1, 9) g"
                )
        cur.execute(f"UPDATE {q(target)}.a SET v = 'x' WHERE id IN (1, 2)")
        cur.execute(f"UPDATE {q(target)}.b SET v = 'x' WHERE id = 1")
        report = r.validate()
        # Since the run: the source lost row 2 (its target copy must go too), and table b
        # is taken as still moving (live CDC): neither is written from a stale report.
        cur.execute(f"DELETE FROM {q(source)}.a WHERE id = 2")
        b = next(t for t in report.tables if t.source_table.endswith(".b"))
        b.state = "suspended"
        script = repair_script(r.url, r.url, report, _pairs(r))
        assert "1 of the keys are gone from the source: deleted" in script
        assert re.search(r"\.b -> \S+ \(suspended\): rows still changing", script)
        assert f"{q(target)}.{q('b')}" not in script
        apply(r.url, script)
        after = states(r, r.validate())
        assert after == {"a": "validated", "b": "mismatched"}
