"""A hook never hangs: a statement the parser does not finish is given up after a bound.

sqlglot 30 loops forever on the statement below (one flipped byte of a real T-SQL file).  The
hooks run in a subprocess here with a timeout of their own, so that a regression fails the
test instead of hanging the suite; the bound under test is small (0.3 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_cdc_hooks import sql_lint, workers
from pytest_cdc_hooks.workers import JobFailed, WorkerPool

NEVER_PARSED = "CREATE TABLE t (id INT) WITH (SYSTEM_VERSIONING = ON (X@ = 1));\n"
DIALECTS = ("postgres", "tsql")


def hook(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_CDC_CACHE_DIR": str(cwd / ".cache")}
    return subprocess.run(
        [sys.executable, "-m", f"pytest_cdc_hooks.{module}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_lint_gives_up_on_a_statement_and_checks_the_rest(isolated: Path, dialect: str) -> None:
    f = isolated / "q.sql"
    f.write_text(NEVER_PARSED + "SELECT * FROM t;\n", encoding="utf-8")
    done = hook("sql_lint", ["--statement-timeout", "0.3", "--dialect", dialect, "q.sql"], isolated)
    assert done.stderr == ""
    assert done.returncode == 1  # the CDC101 on line 2; the give-up itself is a warning
    assert done.stdout.splitlines() == [
        "q.sql:1:1: CDC000 not understood (gave up after 0.3 s), not checked: the parser did "
        "not finish; statement-timeout in [tool.pytest-cdc] sets the bound",
        "q.sql:2:8: CDC101 SELECT * in a query: name the columns",
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_index_coverage_gives_up_on_a_migration_statement(isolated: Path, dialect: str) -> None:
    (isolated / "pyproject.toml").write_text(
        f'[tool.pytest-cdc]\ndefault-dialect = "{dialect}"\nstatement-timeout = 0.3\n'
        'ddl = ["m/*.sql"]\nqueries = ["q/*.sql"]\n'
        '[[tool.pytest-cdc.reconciliation-tables]]\nname = "t"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    (isolated / "m").mkdir()
    (isolated / "q").mkdir()
    (isolated / "m" / "V1.sql").write_text(NEVER_PARSED, encoding="utf-8")
    (isolated / "q" / "q.sql").write_text(NEVER_PARSED + "SELECT id FROM t WHERE id = 1;\n")
    done = hook("index_coverage", [], isolated)
    assert done.stderr == ""
    assert done.returncode == 0, done.stdout  # warnings only: nothing is known to be wrong
    lines = done.stdout.splitlines()
    gave_up = [line for line in lines if "CDC000 not understood (gave up after 0.3 s)" in line]
    assert [line.split(":")[0] for line in gave_up] == ["m/V1.sql", "q/q.sql"]
    # the table may well exist: the statement that creates it was never read
    assert any("CDC201" in line and "(uncertain:" in line for line in lines), lines


def test_the_bound_can_be_switched_off_and_is_checked(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = isolated / "q.sql"
    f.write_text("SELECT * FROM t;\n", encoding="utf-8")
    # 0: no bound, the work runs in this process
    assert sql_lint.main(["--statement-timeout", "0", str(f)]) == 1
    assert "CDC101" in capsys.readouterr().out
    (isolated / "pyproject.toml").write_text('[tool.pytest-cdc]\nstatement-timeout = "10s"\n')
    assert sql_lint.main([str(f)]) == 2
    assert "statement-timeout must be a number of seconds (0: no bound), got '10s'" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        sql_lint.main(["--statement-timeout", "-1", str(f)])
    assert "'-1' is not a number of seconds" in capsys.readouterr().err


def test_a_gave_up_result_is_not_cached(isolated: Path) -> None:
    f = isolated / "q.sql"
    f.write_text(NEVER_PARSED, encoding="utf-8")
    first = hook("sql_lint", ["--statement-timeout", "0.2", "q.sql"], isolated)
    assert "gave up after 0.2 s" in first.stdout
    # a larger bound is honoured at once: the time-out was not cached as the file's result
    second = hook("sql_lint", ["--statement-timeout", "0.4", "q.sql"], isolated)
    assert "gave up after 0.4 s" in second.stdout


# -- the pool itself: module-level jobs, so that spawned workers can import them ------------


def spin(offsets: list[int]) -> list[int]:
    """Statements at ``offsets``; the odd ones never finish."""
    done = []
    for offset in offsets:
        if workers.statement(offset):
            continue  # given up by an earlier worker
        while offset % 2:
            pass
        done.append(offset)
    return done


def crash(offset: int) -> str:
    if workers.statement(offset):
        return "skipped"
    os._exit(3)


def fail() -> None:
    raise ValueError("no such thing\nsecond line")


def exit_outside_a_statement() -> None:
    os._exit(4)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_kills_a_stuck_worker_and_goes_on(method: str) -> None:
    with WorkerPool(timeout=0.2, start_method=method, preload=()) as pool:
        results = pool.map(spin, [("a", ([0, 1, 2, 3, 4],)), ("b", ([6],))])
    assert results == [[0, 2, 4], [6]]
    reason = "gave up after 0.2 s"
    assert pool.gave_up == {"a": {1: reason, 3: reason}}


def test_pool_reports_failures_as_results() -> None:
    with WorkerPool(timeout=5, preload=()) as pool:
        results = [
            pool.map(crash, [("c", (8,))])[0],
            pool.map(fail, [("f", ())])[0],
            pool.map(exit_outside_a_statement, [("x", ())])[0],
        ]
    assert results == [
        "skipped",
        JobFailed("ValueError: no such thing"),
        JobFailed("the worker process died (exit code 4)"),
    ]
    assert pool.gave_up == {"c": {8: "the worker process died on it (exit code 3)"}}


def test_unbounded_pool_runs_in_this_process() -> None:
    with WorkerPool(timeout=None) as pool:
        assert pool.map(os.getpid, [("p", ())]) == [os.getpid()]
        assert pool.map(fail, [("f", ())]) == [JobFailed("ValueError: no such thing")]
