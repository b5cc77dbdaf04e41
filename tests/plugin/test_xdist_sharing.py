"""Under pytest-xdist each database is prepared once, by the controller, for every worker
(issue 17: ``-n 2`` was slower than serial, each worker starting its own servers and building
its own templates).  Each worker still gets databases of its own."""

from __future__ import annotations

import pytest

pytest.importorskip("xdist")

CONFTEST = """
import os

def pytest_cdc_load_schema(handle, connection, path):
    with open("loads.txt", "a") as out:
        out.write(f"{os.getpid()} {handle.name} {os.path.basename(path)}\\n")
"""

TESTS = """
import os, pytest

@pytest.mark.parametrize("n", range(6))
@pytest.mark.parametrize("db", ["source", "target"])
def test_x(cdc_connect, db, n):
    conn = cdc_connect(db)
    assert conn.fetchval("select count(*) from seeded") == 2
    conn.execute("create table mine (id int)")  # would wait on another worker's if shared
    where = conn.fetchval("select current_setting('unix_socket_directories')")
    with open("used.txt", "a") as out:  # (a worker's output does not reach the controller's)
        database = conn.fetchval("select current_database()")
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {db} {where} {database}\\n")

@pytest.mark.cdc(isolation="database")
def test_database_isolation(cdc_target):
    assert cdc_target.fetchval("select count(*) from seeded") == 2
"""


def test_templates_are_built_once_for_all_workers(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shared=TESTS)
    schema = pytester.makefile(
        ".sql", schema="create table seeded (id int);\ninsert into seeded values (1), (2);"
    )
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--cdc-db=source=embedded",
        "--cdc-db=target=embedded",
        f"--cdc-load={schema}",
    )
    result.assert_outcomes(passed=13)
    result.stdout.fnmatch_lines(
        ["cdc: source = embedded PostgreSQL (started now, for the xdist workers)*"]
    )
    loads = (pytester.path / "loads.txt").read_text().split("\n")[:-1]
    # one load per database (the implicit default too: it has a load file), all by one
    # process: the controller
    assert sorted(line.split()[1] for line in loads) == ["default", "source", "target"]
    assert len({line.split()[0] for line in loads}) == 1
    used = [line.split() for line in (pytester.path / "used.txt").read_text().splitlines()]
    workers = {worker for worker, *_ in used}
    assert workers == {"gw0", "gw1"}, "both workers ran tests"
    for db in ("source", "target"):
        servers = {where for _, name, where, _ in used if name == db}
        assert len(servers) == 1, f"the workers share {db}'s server"
        per_worker = {worker: database for worker, name, _, database in used if name == db}
        assert len(set(per_worker.values())) == 2, f"each worker has a {db} database of its own"
