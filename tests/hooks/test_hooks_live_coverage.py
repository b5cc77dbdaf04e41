"""``cdc-index-coverage --live``: the DDL loaded into an embedded PostgreSQL, the reconciliation
reads and queries checked with the real planner, reported as the static check reports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pytest_cdc_hooks.index_coverage import main

FILES = Path(__file__).resolve().parent / "files"
PROJECTS = FILES / "coverage"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer"
FINDING = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>CDC\d{3}) (?P<msg>.+)$")
#: What a static finding is about, and the codes a live finding about it may carry: a query the
#: static check rejects (or only warns about: a partial index it cannot use) needs a scan live.
SAME_THING = {"CDC205": "CDC205", "CDC206": "CDC205"}


def copy(source: Path, into: Path) -> Path:
    target = into / source.name
    shutil.copytree(source, target)
    return target


def findings(
    where: Path, args: list[str], capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch
) -> tuple[int, list[dict[str, object]], str]:
    mp.chdir(where)
    code = main(["--no-cache", "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


@pytest.mark.parametrize("name", ["bad_postgres", "ok_postgres", "consumer"])
def test_what_the_static_check_rejects_the_live_check_rejects_too(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = copy(EXAMPLE if name == "consumer" else PROJECTS / name, tmp_path)
    static_code, static, _ = findings(where, [], capsys, monkeypatch)
    live_code, live, _ = findings(where, ["--live"], capsys, monkeypatch)
    rejected = {
        (SAME_THING.get(str(f["code"]), str(f["code"])), f["fingerprint"])
        for f in static
        if f["code"] != "CDC000"
    }
    found = {(str(f["code"]), f["fingerprint"]) for f in live if f["severity"] == "error"}
    assert rejected <= found, f"static: {static}\nlive: {live}"
    assert live_code == static_code == (0 if name == "ok_postgres" else 1)
    if name == "bad_postgres":
        assert len(rejected) == 7  # CDC201-205 of the static check, and its CDC206 warning


def test_live_findings_name_the_plan_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(copy(PROJECTS / "bad_postgres", tmp_path))
    assert main(["--no-cache", "--live"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert all(FINDING.match(line) for line in lines), lines
    assert (
        "queries/recon.sql:1:30: CDC205 query on 'public.orders' filters or joins on updated_at"
        " but needs a table scan (Seq Scan on orders, planned with enable_seqscan = off): CREATE"
        ' INDEX CONCURRENTLY IF NOT EXISTS "ix_orders_updated_at" ON "public"."orders"'
        ' ("updated_at")'
    ) in lines
    assert (
        "pyproject.toml:13:1: CDC201 reconciliation table 'public.missing_table' does not exist"
        " once the files of ddl = ['migrations/*.sql'] are loaded into PostgreSQL: fix the name"
        " or the ddl globs"
    ) in lines
    assert any(
        line.startswith("pyproject.toml:7:1: CDC202 'public.orders': reading one row by (order_id)")
        and 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ux_orders_order_id"' in line
        for line in lines
    )


def test_an_index_that_seeks_on_only_one_of_two_columns_does_not_serve_the_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example repository has an index on updated_at alone: the planner can read by
    (status, updated_at) through it without a scan, but it seeks on updated_at only."""
    monkeypatch.chdir(copy(EXAMPLE, tmp_path))
    assert main(["--no-cache", "--live"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "pyproject.toml:8:1: CDC204 'public.orders': the read by status and updated_at goes"
        " through ix_orders_updated_at (updated_at), which seeks on updated_at only: CREATE INDEX"
        ' CONCURRENTLY IF NOT EXISTS "ix_orders_status_updated_at" ON "public"."orders"'
        ' ("status", "updated_at")'
    ]
    assert err.strip() == (
        "cdc-index-coverage: 1 files in other dialects are left to the static check (--live runs"
        " on PostgreSQL): db/mssql/migrations/V1__orders.sql"
    )


def _project(root: Path, ddl: str, queries: str, table: str) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nddl = ["ddl/*.sql"]\nqueries = ["q/*.sql"]\n\n'
        f"[[tool.pytest-cdc.reconciliation-tables]]\n{table}\n"
    )
    (root / "ddl").mkdir()
    (root / "ddl" / "V1__schema.sql").write_text(ddl)
    (root / "q").mkdir()
    (root / "q" / "recon.sql").write_text(queries)
    return root


def test_joins_an_index_can_serve_and_full_reads_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = _project(
        tmp_path / "p",
        "CREATE TABLE orders (order_id bigint PRIMARY KEY, updated_at timestamptz);\n"
        "CREATE INDEX CONCURRENTLY ix_orders_updated ON orders (updated_at);\n"
        "CREATE TABLE staging (order_id bigint, loaded_at timestamptz);\n",
        "SELECT s.order_id FROM staging AS s JOIN orders AS o ON o.order_id = s.order_id;\n"
        "SELECT count(*) FROM orders;\n"
        "SELECT order_id FROM orders ORDER BY updated_at LIMIT 10;\n"
        "SELECT order_id FROM orders WHERE updated_at > $1 AND updated_at <= $2;\n",
        'name = "orders"\nkey = ["order_id"]\ntimestamp = "updated_at"',
    )
    code, live, _ = findings(where, ["--live", "--strict"], capsys, monkeypatch)
    assert (code, live) == (0, [])


def test_ddl_the_server_refuses_and_queries_it_cannot_plan_are_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = _project(
        tmp_path / "p",
        "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text);\n"
        "CREATE INDEX ix_orders_nope ON orders (nope);\n",
        "SELECT order_id FROM orders WHERE order_id = $1 AND missing = 1;\n"
        "SELECT order_id FROM orders WHERE status = 'x'; -- noqa: CDC205\n",
        'name = "orders"\nkey = ["order_id"]\nstatus = "state"',
    )
    code, live, _ = findings(where, ["--live"], capsys, monkeypatch)
    shown = sorted((f["path"], f["line"], f["code"], f["severity"]) for f in live)
    assert shown == [
        ("ddl/V1__schema.sql", 2, "CDC000", "warning"),
        ("pyproject.toml", 6, "CDC207", "error"),
        ("q/recon.sql", 1, "CDC000", "warning"),
    ]
    messages = {str(f["code"]): str(f["message"]) for f in live}
    assert messages["CDC000"].startswith("not ") and 'column "' in messages["CDC000"]
    assert messages["CDC207"].startswith("reconciliation table 'orders': column \"state\"")
    assert code == 1


@pytest.mark.parametrize("fmt", ["github", "sarif"])
def test_live_findings_in_the_hook_formats(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(copy(EXAMPLE, tmp_path))
    assert main(["--no-cache", "--live", "--format", fmt]) == 1
    out = capsys.readouterr().out
    if fmt == "github":
        assert out.startswith("::error file=pyproject.toml,line=8,col=1,title=CDC204::")
    else:
        (result,) = json.loads(out)["runs"][0]["results"]
        assert (
            result["ruleId"] == "CDC204" and "seeks on updated_at only" in result["message"]["text"]
        )


def test_t_sql_only_projects_are_left_to_the_static_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, live, err = findings(
        copy(PROJECTS / "bad_tsql", tmp_path), ["--live"], capsys, monkeypatch
    )
    assert (code, live) == (0, [])
    assert "2 files in other dialects are left to the static check" in err
    monkeypatch.chdir(tmp_path / "bad_tsql")
    assert main(["--live", "--dialect", "tsql"]) == 2
    assert capsys.readouterr().err.strip() == (
        "cdc-index-coverage: error: --live loads the DDL into PostgreSQL: --dialect 'tsql' files"
        " cannot be loaded; run the static check for them"
    )


def test_no_server_binaries_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(copy(PROJECTS / "ok_postgres", tmp_path))
    monkeypatch.setenv("PYTEST_CDC_PG_BIN", str(tmp_path / "nowhere"))
    assert main(["--live"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cdc-index-coverage: error: ") and err.count("\n") == 1
    assert "nowhere" in err
