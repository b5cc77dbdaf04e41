"""SQL Server side without a SQL Server: generated T-SQL parsed by sqlglot, and the showplan
protocol driven through a stand-in pyodbc connection (the only mock here: no SQL Server runs
in this environment; the live tests at the bottom skip with what they need)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from pytest_cdc.analysis import row_count
from pytest_cdc.asserts import assert_no_table_scan, explain
from pytest_cdc.database import CdcConnection
from pytest_cdc.dialects.mssql.plans import (
    SHOWPLAN_COLUMN,
    add_forceseek,
    explain_sqlserver,
    is_no_plan_with_hints,
)
from pytest_cdc.errors import CdcError, PlanError
from pytest_cdc.indexes import generate_index_ddl, recommend_indexes_for_reconciliation
from pytest_cdc.plans.load import load_plan
from pytest_cdc.plans.model import MissingIndex
from pytest_cdc.plans.suggest import suggest_ddl

HERE = Path(__file__).resolve().parent
SHOWPLANS = Path(__file__).resolve().parents[2] / ".." / "shared" / "showplans"
SQL_DIR = Path(__file__).resolve().parents[2] / "scripts" / "sql"


def parses_as_tsql(sql: str) -> exp.Expr:
    """Parse strictly; a raw Command would mean sqlglot did not understand the statement.

    sqlglot 30 cannot read a filtered index's ``WHERE`` followed by ``WITH (...)`` (valid
    T-SQL), so such a statement is checked in two halves that it can read.
    """
    tree = sqlglot.parse_one(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    if isinstance(tree, exp.Command) and " WHERE " in sql and " WITH (" in sql:
        head, options = sql.rsplit(" WITH (", 1)
        parses_as_tsql(f"CREATE INDEX x ON t (a) WITH ({options}")
        return parses_as_tsql(head)
    assert tree is not None
    assert not isinstance(tree, exp.Command), f"{sql!r} parsed as a raw Command"
    return tree


def _hinted_tables(sql: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for tree in sqlglot.parse(sql, read="tsql"):
        assert tree is not None
        for table in tree.find_all(exp.Table):
            hints = [
                h.sql("tsql").upper()
                for hint in table.args.get("hints") or []
                for h in hint.expressions
            ]
            found[table.name] = hints
    return found


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM dbo.Orders WHERE CustomerId = ?", {"Orders": ["FORCESEEK"]}),
        (
            "SELECT o.Id FROM dbo.Orders AS o JOIN dbo.Customers c ON c.Id = o.CustomerId"
            " WHERE c.Region = @r",
            {"Orders": ["FORCESEEK"], "Customers": ["FORCESEEK"]},
        ),
        (
            "SELECT * FROM dbo.Orders WITH (NOLOCK) WHERE Id = 1",
            {"Orders": ["NOLOCK", "FORCESEEK"]},
        ),
        ("SELECT * FROM dbo.Orders WITH (FORCESEEK) WHERE Id = 1", {"Orders": ["FORCESEEK"]}),
        (
            "WITH recent AS (SELECT Id FROM dbo.Orders WHERE UpdatedAt > @t)"
            " SELECT * FROM recent JOIN dbo.Lines l ON l.OrderId = recent.Id",
            {"Orders": ["FORCESEEK"], "recent": [], "Lines": ["FORCESEEK"]},
        ),
        ("UPDATE dbo.Orders SET Status = 'x' WHERE Id = ?", {"Orders": ["FORCESEEK"]}),
        ("DELETE FROM dbo.Orders WHERE Id = ?", {"Orders": ["FORCESEEK"]}),
        (
            "INSERT INTO dbo.Archive (Id) SELECT Id FROM dbo.Orders WHERE Status = 'old'",
            {"Archive": [], "Orders": ["FORCESEEK"]},
        ),
        ("SELECT * FROM [Sales Data].[Change Log] WHERE [Key] = 1", {"Change Log": ["FORCESEEK"]}),
    ],
)
def test_forceseek_rewrite_parses_and_hints_every_read_table(
    sql: str, expected: dict[str, list[str]]
) -> None:
    rewritten = add_forceseek(sql)
    parses_as_tsql(rewritten)
    assert _hinted_tables(rewritten) == expected


def test_forceseek_rewrite_refuses_unparseable_sql() -> None:
    with pytest.raises(ValueError, match="cannot add FORCESEEK"):
        add_forceseek("SELECT FROM WHERE (")


def test_missing_index_ddl_from_plans_parses() -> None:
    plans = [load_plan(HERE / "ok_mssql_table_scan.sqlplan")]
    real = SHOWPLANS / "html-query-plan__stack_overflow~inequality_index.sqlplan"
    if real.exists():
        plans.append(load_plan(real))
    statements = [
        ddl for plan in plans for ddl in suggest_ddl(plan.missing_indexes, "mssql", reason="test")
    ]
    assert statements[0].startswith("CREATE NONCLUSTERED INDEX [ix_change_log_status_updated")
    assert "ON [dbo].[Change Log] ([Status], [Updated]) INCLUDE ([Id])" in statements[0]
    for ddl in statements:
        tree = parses_as_tsql(ddl)
        assert isinstance(tree, exp.Create)


def test_missing_index_without_key_columns_gives_no_ddl() -> None:
    assert suggest_ddl([MissingIndex(table="t", include=("a",))], "mssql", reason="x") == []


def test_recommended_ddl_parses_in_both_dialects() -> None:
    recs = recommend_indexes_for_reconciliation(
        "sales.Orders",
        ["Id"],
        timestamp_column="UpdatedAt",
        status_column="Status",
        checksum_columns=["Amount"],
        active_filter="IsDeleted = 0",
    )
    for rec in recs:
        parses_as_tsql(generate_index_ddl(rec, "mssql", fillfactor=90))
        assert sqlglot.parse_one(generate_index_ddl(rec, "postgresql"), read="postgres")


def test_error_8622_is_recognised() -> None:
    msg = (
        "('42000', '[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Query"
        " processor could not produce a query plan because of the hints defined in this"
        " query. (8622) (SQLExecDirectW)')"
    )
    assert is_no_plan_with_hints(Exception(msg))
    assert not is_no_plan_with_hints(Exception("Invalid object name 'x'. (208)"))


# -- scripts/sql templates for SQL Server --------------------------------------------------

SQLCMD_VARS = {
    "Schema": "dbo",
    "Table": "Orders",
    "KeyCol": "Id",
    "TsCol": "UpdatedAt",
    "StatusCol": "Status",
    "ChecksumCols": "[Amount], [Note]",
    "ActiveFilter": "IsDeleted = 0",
}


def _batches(path: Path) -> list[str]:
    text = re.sub(r"\$\((\w+)\)", lambda m: SQLCMD_VARS[m.group(1)], path.read_text())
    return [b for b in re.split(r"^GO\s*$", text, flags=re.M) if re.search(r"^\s*[A-Z]", b, re.M)]


@pytest.mark.parametrize(
    "name", ["mssql_index_usage.sql", "mssql_fragmentation.sql", "mssql_stats_freshness.sql"]
)
def test_mssql_maintenance_queries_parse(name: str) -> None:
    for batch in _batches(SQL_DIR / name):
        for tree in sqlglot.parse(batch, read="tsql", error_level=sqlglot.ErrorLevel.RAISE):
            assert isinstance(tree, exp.Select), batch


def test_mssql_reconciliation_template_parses() -> None:
    creates = []
    for batch in _batches(SQL_DIR / "mssql_reconciliation_indexes.sql"):
        body = "\n".join(line for line in batch.splitlines() if not line.strip().startswith("--"))
        if body.strip().startswith("UPDATE STATISTICS"):
            continue  # sqlglot has no grammar for it; it is one fixed statement
        condition, _, create = body.partition("CREATE ")
        guard = condition.strip().removeprefix("IF ")
        parses_as_tsql(guard.replace("NOT EXISTS", "SELECT 1 WHERE NOT EXISTS", 1))
        creates.append(parses_as_tsql("CREATE " + " ".join(create.split())))
    assert len(creates) == 5


# -- the showplan protocol through a stand-in connection -------------------------------------


class StandInError(Exception):
    """Plays pyodbc.Error."""


class StandInCursor:
    def __init__(self, server: StandInServer) -> None:
        self.server = server
        self.description: list[tuple[str]] | None = None
        self.rows: list[tuple[str]] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.server.batches.append(sql)
        upper = sql.upper()
        if upper.startswith("SET SHOWPLAN_XML") or upper.startswith("SET STATISTICS XML"):
            self.server.showplan = upper.endswith(" ON")
            self.description = None
            return
        if self.server.look_alike is not None:  # ignores SHOWPLAN and runs the statement
            self.description = [("id",)] if self.server.look_alike else None
            self.rows = [(self.server.look_alike,)] if self.server.look_alike else []
            return
        if not self.server.showplan:
            raise AssertionError(f"statement ran without SHOWPLAN: {sql!r}")
        if "FORCESEEK" in upper and not self.server.seekable:
            raise StandInError(
                "[42000] Query processor could not produce a query plan because"
                " of the hints defined in this query. (8622)"
            )
        plan = self.server.seek_plan if "FORCESEEK" in upper else self.server.plan
        self.description = [(SHOWPLAN_COLUMN,)]
        self.rows = [(plan,)]

    def fetchall(self) -> list[tuple[str]]:
        rows, self.rows = self.rows, []
        return rows

    def nextset(self) -> bool:
        return False

    def close(self) -> None:
        pass


class StandInServer:
    """A pyodbc-shaped connection to a pretend SQL Server that answers with saved showplans."""

    dialect = "mssql"

    def __init__(self, *, seekable: bool, look_alike: str | None = None) -> None:
        self.seekable = seekable
        #: Plays a SQL Server look-alike that accepts SET SHOWPLAN_XML ON but runs the
        #: statement: its first row's text ("" for no result set at all).
        self.look_alike = look_alike
        self.showplan = False
        self.batches: list[str] = []
        self.plan = (HERE / "ok_mssql_table_scan.sqlplan").read_text()
        self.seek_plan = (HERE / "ok_mssql_seek_lookup.sqlplan").read_text()

    def cursor(self) -> StandInCursor:
        return StandInCursor(self)


def test_stand_in_showplan_set_on_and_off_in_own_batches() -> None:
    server = StandInServer(seekable=True)
    plan = explain_sqlserver(server, "SELECT * FROM dbo.[Change Log] WHERE Status = ?", ["x"])
    assert plan.dialect == "mssql"
    assert server.batches[0] == "SET SHOWPLAN_XML ON"
    assert server.batches[-1] == "SET SHOWPLAN_XML OFF"
    assert not server.showplan


def test_stand_in_showplan_is_switched_off_after_an_error() -> None:
    server = StandInServer(seekable=False)
    with pytest.raises(StandInError):
        explain_sqlserver(server, "SELECT * FROM dbo.T WITH (FORCESEEK)")
    assert server.batches[-1] == "SET SHOWPLAN_XML OFF"
    assert not server.showplan


def test_stand_in_forceseek_success_passes() -> None:
    server = StandInServer(seekable=True)
    assert_no_table_scan(server, "SELECT * FROM dbo.Orders WHERE CustomerId = ?", ["c"])
    assert any("WITH (FORCESEEK)" in b for b in server.batches)


def test_stand_in_8622_fails_with_missing_index_ddl() -> None:
    server = StandInServer(seekable=False)
    sql = "SELECT Id FROM dbo.[Change Log] WHERE Status = N'open' AND Updated > @since"
    with pytest.raises(pytest.fail.Exception) as info:
        assert_no_table_scan(server, sql)
    text = str(info.value)
    assert "sql server error 8622 with WITH (FORCESEEK)" in text
    assert ">> Table Scan on dbo.Change Log" in text
    assert "from the plan's MissingIndexes" in text
    ddl = next(line.strip() for line in text.splitlines() if "CREATE NONCLUSTERED" in line)
    parses_as_tsql(ddl)


def test_stand_in_planner_mode_uses_the_plain_statement() -> None:
    server = StandInServer(seekable=True)
    with pytest.raises(pytest.fail.Exception, match="the planner chose it"):
        assert_no_table_scan(server, "SELECT Id FROM dbo.[Change Log]", mode="planner")
    assert not any("FORCESEEK" in b for b in server.batches)


def test_stand_in_unparseable_statement_says_use_planner_mode() -> None:
    server = StandInServer(seekable=True)
    with pytest.raises(PlanError, match="use mode='planner'"):
        assert_no_table_scan(server, "SELECT FROM WHERE (")
    assert server.batches == []


@pytest.mark.parametrize("answer", ["42", ""], ids=["rows", "nothing"])
def test_stand_in_server_without_showplans_is_told_plainly(answer: str) -> None:
    server = StandInServer(seekable=True, look_alike=answer)
    with pytest.raises(CdcError, match="no showplan XML came back") as info:
        explain_sqlserver(server, "SELECT id FROM dbo.T")
    assert "not well-formed" not in str(info.value)
    assert server.batches[-1] == "SET SHOWPLAN_XML OFF"


class StandInCounts:
    """A pyodbc-shaped connection to a pretend SQL Server for row counts: the statistics view
    is refused (no VIEW DATABASE STATE, or a look-alike without it), sys.partitions answers."""

    dialect = "mssql"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def cursor(self) -> Any:
        outer = self

        class Cursor:
            def execute(self, sql: str, *params: Any) -> None:
                outer.asked.append(sql)
                if "dm_db_partition_stats" in sql:
                    raise StandInError("[42000] VIEW DATABASE STATE permission denied (300)")
                self.row = (
                    ("[dbo].[T]",)
                    if "QUOTENAME" in sql
                    else (7,)
                    if "sys.partitions" in sql
                    else (9,)
                )

            def fetchone(self) -> tuple[Any, ...]:
                return self.row

            def close(self) -> None:
                pass

        return Cursor()


def test_stand_in_row_count_falls_back_and_exact_counts_at_once() -> None:
    server = StandInCounts()
    assert row_count(server, "dbo.T") == 7  # the statistics view refused, sys.partitions read
    server.asked.clear()
    assert row_count(server, "dbo.T", exact=True) == 9
    assert not any("partition" in sql for sql in server.asked)  # --exact counts, nothing else
    assert server.asked[-1] == "SELECT COUNT_BIG(*) FROM [dbo].[T]"
    for sql in server.asked:
        parses_as_tsql(sql)


# -- live SQL Server -------------------------------------------------------------------------

NEEDS_MSSQL = (
    "needs a SQL Server: pass"
    " --cdc-db='mssql=mssql://sa:PASSWORD@HOST:1433/master?TrustServerCertificate=yes'"
)


@pytest.fixture
def mssql_db(cdc_databases: dict[str, Any], cdc_connect: Any) -> CdcConnection:
    if "mssql" not in cdc_databases:
        pytest.skip(NEEDS_MSSQL)
    return cdc_connect("mssql")  # type: ignore[no-any-return]


def test_live_sqlserver_estimated_and_actual_plans(mssql_db: CdcConnection) -> None:
    mssql_db.execute("CREATE TABLE #t (id int PRIMARY KEY, v int)")
    estimated = explain(mssql_db, "SELECT * FROM #t WHERE id = 1")
    assert estimated.seeks()
    actual = explain(mssql_db, "SELECT * FROM #t WHERE id = 1", analyze=True)
    assert actual.actual
    with pytest.raises(pytest.fail.Exception, match="8622"):
        assert_no_table_scan(mssql_db, "SELECT * FROM #t WHERE v = 1")
    assert_no_table_scan(mssql_db, "SELECT * FROM #t WHERE id = 1")
