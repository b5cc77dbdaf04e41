"""Planner statistics files: exported from any PostgreSQL, loaded on 18 (pg_restore_*_stats),
refused in one line on older servers; and the ``pytest-cdc export-stats`` command."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import server_url

from pytest_cdc.cli import main
from pytest_cdc.database import CdcConnection
from pytest_cdc.dialects.postgres.statistics import FORMAT, restore_calls
from pytest_cdc.errors import PlanError
from pytest_cdc.plans.snapshot import take_shape
from pytest_cdc.plans.statistics import export_statistics, load_statistics

SKEWED = (
    "insert into orders select g, case when g % 100 = 0 then 'open' else 'done' end"
    " from generate_series(1, 5000) g"
)


def make_orders(db: CdcConnection, data: str) -> None:
    db.execute("create table orders (id int primary key, status text)")
    db.execute("create index ix_orders_status on orders (status)")
    db.execute(data)


def major(db: CdcConnection) -> int:
    return int(db.fetchval("select current_setting('server_version_num')")) // 10000


def test_restore_calls_bind_every_value_with_its_type() -> None:
    stats = {
        "format": FORMAT,
        "relations": [{"schemaname": "public", "relname": "o'rders", "reltuples": 10.0}],
        "attributes": [
            {
                "schemaname": "public",
                "relname": "o'rders",
                "attname": "status",
                "inherited": False,
                "most_common_vals": "{open,done}",
                "most_common_freqs": [0.01, 0.99],
                "unknown_key": 1,
            }
        ],
    }
    (relation, relation_params), (attribute, attribute_params) = restore_calls(stats)
    assert relation == (
        "SELECT pg_restore_relation_stats('schemaname', %s::text, 'relname', %s::text,"
        " 'reltuples', %s::real)"
    )
    assert relation_params == ["public", "o'rders", 10.0]
    assert "'most_common_freqs', %s::real[]" in attribute and "unknown_key" not in attribute
    assert attribute_params[-2:] == ["{open,done}", [0.01, 0.99]]
    with pytest.raises(PlanError, match="not a statistics file"):
        restore_calls({"relations": []})
    with pytest.raises(PlanError, match="lacks schemaname, relname, attname"):
        restore_calls({"format": FORMAT, "attributes": [{"relname": "x"}]})


def test_loading_needs_postgresql_18_and_says_so(cdc_db: CdcConnection) -> None:
    make_orders(cdc_db, SKEWED)
    cdc_db.execute("analyze orders")
    stats = export_statistics(cdc_db, ["orders"])
    assert stats["format"] == FORMAT and stats["relations"][0]["relname"] == "orders"
    assert {a["attname"] for a in stats["attributes"]} == {"id", "status"}
    if major(cdc_db) >= 18:
        assert load_statistics(cdc_db, stats) == 3
        return
    with pytest.raises(PlanError) as info:
        load_statistics(cdc_db, stats)
    assert str(info.value) == (
        "loading planner statistics needs PostgreSQL 18 or newer (pg_restore_relation_stats);"
        f" this server is {major(cdc_db)}: snapshot in mode 'index-possible', or run the test"
        " on PostgreSQL 18"
    )


@pytest.fixture
def both(cdc_connect: Any, cdc_databases: dict[str, Any]) -> tuple[CdcConnection, CdcConnection]:
    if "pg18" not in cdc_databases:
        pytest.skip("needs the PostgreSQL 'pg18': pass --cdc-db=pg18=embedded:wheel")
    return cdc_connect("default"), cdc_connect("pg18")


def test_statistics_from_production_steer_the_plan_on_18(
    both: tuple[CdcConnection, CdcConnection],
) -> None:
    production, test = both
    make_orders(production, SKEWED)  # "open" is rare there
    production.execute("analyze orders")
    stats = export_statistics(production, "orders")
    # The test database holds as many rows, but half of them "open".
    make_orders(
        test,
        "insert into orders select g, case when g % 2 = 0 then 'open' else 'done' end"
        " from generate_series(1, 5000) g",
    )
    test.execute("analyze orders")
    sql = "select * from orders where status = 'open'"
    before = take_shape(test, sql, mode="planner", keep_gather=False)
    assert [n.op for n in before.nodes()] == ["Seq Scan"]
    load_statistics(test, stats)
    after = take_shape(test, sql, mode="planner", keep_gather=False)
    assert [(n.op, n.index) for n in after.nodes()] == [("Index Scan", "ix_orders_status")]
    assert after.rows is not None and after.rows < 100  # production's 1 %, not the test's half


@pytest.fixture
def scratch(admin: Any) -> Iterator[str]:
    schema = f"cdc_test_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f"create schema {schema}; create table {schema}.orders (id int, status text)")
        cur.execute(f"insert into {schema}.orders select g, 'x' from generate_series(1, 50) g")
        cur.execute(f"analyze {schema}.orders")
    yield schema
    with admin.cursor() as cur:
        cur.execute(f"drop schema {schema} cascade")


def test_export_stats_command_writes_a_file_the_fixture_loads(
    scratch: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pytester: pytest.Pytester,
    cdc_databases: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = server_url()
    out = tmp_path / "stats.json"
    assert main(["export-stats", "--db", url, "--table", f"{scratch}.orders", "-o", str(out)]) == 0
    stats = json.loads(out.read_text())
    assert stats["relations"][0] == {
        "schemaname": scratch,
        "relname": "orders",
        "relpages": 1,
        "reltuples": 50.0,
        "relallvisible": 0,
    }
    assert main(["export-stats", "--db", url, "--table", "nope"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pytest-cdc export-stats: error: table 'nope' does not exist: check the name and"
        " search_path"
    )
    if "pg18" not in cdc_databases:
        pytest.skip("needs the PostgreSQL 'pg18': pass --cdc-db=pg18=embedded:wheel")
    monkeypatch.setenv("PYTEST_CDC_DB", str(cdc_databases["pg18"].prepare().url.raw))
    (pytester.path / "stats.json").write_text(out.read_text())
    pytester.makepyfile(
        f"""
        def test_load(cdc_db, cdc_plan_snapshot):
            cdc_db.execute("create schema {scratch}")
            cdc_db.execute("create table {scratch}.orders (id int, status text)")
            assert cdc_plan_snapshot.load_statistics(cdc_db, "stats.json") == 3
            assert cdc_db.fetchval(
                "select reltuples from pg_class where oid = '{scratch}.orders'::regclass"
            ) == 50
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
